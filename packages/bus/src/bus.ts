import type { StreamKey } from './subjects.ts';

export interface BusMessage {
  readonly subject: string;
  readonly data: Uint8Array;
  readonly headers: Readonly<Record<string, string>>;
  /** Delivered before and not acknowledged then. */
  readonly redelivered: boolean;
  /** Stream sequence (NATS) or arrival number (memory): unique per stream. */
  readonly seq: number;
}

export interface PublishOptions {
  /** Duplicate ids within the stream's window are dropped by the bus. */
  readonly msgId?: string;
  readonly headers?: Readonly<Record<string, string>>;
}

export interface ConsumeOptions {
  readonly stream: StreamKey;
  /** Durable consumer name: replicas sharing it split the messages. */
  readonly durable: string;
  readonly filter: string;
  /** Messages handed out and not yet acknowledged. */
  readonly maxInFlight?: number;
  /**
   * Called per message. The message is acknowledged when the promise
   * resolves and redelivered later when it rejects: only finished work is
   * acknowledged. Handlers may run concurrently up to maxInFlight.
   */
  readonly handler: (msg: BusMessage) => Promise<void>;
}

export interface Subscription {
  /** Stops taking messages and waits for in-flight handlers. */
  stop(): Promise<void>;
}

/**
 * `del`: the key was deleted; `purge`: deleted with its history. Both leave
 * the key absent. flowhound uses the two for different meanings where a
 * watcher must tell them apart (fh_templates: an exporter's withdrawal is a
 * delete, the registry's expiry a purge).
 */
export type KvOp = 'put' | 'del' | 'purge';

export interface KvEntry {
  readonly key: string;
  readonly op: KvOp;
  readonly value: Uint8Array | undefined;
}

export interface KvBucket {
  put(key: string, value: Uint8Array): Promise<void>;
  get(key: string): Promise<Uint8Array | undefined>;
  /** The value with its revision (increases with every change of the bucket), or undefined when absent. */
  entry(key: string): Promise<{ readonly value: Uint8Array; readonly revision: number } | undefined>;
  /** Stores `value` only if the key is absent (never set, deleted or purged): its revision, or undefined when the key exists. */
  create(key: string, value: Uint8Array): Promise<number | undefined>;
  /** Stores `value` only if the key is still at `revision` (compare and set): the new revision, or undefined when it moved. */
  update(key: string, value: Uint8Array, revision: number): Promise<number | undefined>;
  /** Deletes the key only if it is still at `revision`; false when it moved. */
  deleteIf(key: string, revision: number): Promise<boolean>;
  delete(key: string): Promise<void>;
  /** Removes the key and its history; watchers see op `purge`. */
  purge(key: string): Promise<void>;
  keys(): Promise<string[]>;
  /** Calls back with every current entry first, then every change. */
  watch(cb: (e: KvEntry) => void): Promise<Subscription>;
}

/** The message bus: NATS JetStream when distributed, in memory standalone. */
export interface Bus {
  readonly kind: 'nats' | 'memory';
  publish(subject: string, data: Uint8Array, opts?: PublishOptions): Promise<void>;
  consume(opts: ConsumeOptions): Promise<Subscription>;
  kv(bucket: string): Promise<KvBucket>;
  close(): Promise<void>;
}

/** KV keys allow [-/_=.a-zA-Z0-9]; addresses are encoded to fit. */
export function kvSafe(s: string): string {
  return s.replace(/[^-/_=a-zA-Z0-9]/g, '_');
}
