import { connect, headers as natsHeaders, nanos, type NatsConnection } from '@nats-io/transport-node';
import {
  AckPolicy,
  DeliverPolicy,
  DiscardPolicy,
  JetStreamApiCodes,
  JetStreamApiError,
  jetstream,
  jetstreamManager,
  RetentionPolicy,
  StorageType,
  type JetStreamClient,
  type JetStreamManager,
  type JsMsg,
} from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import type { Logger } from '@flowhound/runtime';
import type { Bus, BusMessage, ConsumeOptions, KvBucket, KvEntry, PublishOptions, Subscription } from './bus.ts';
import { BusError } from './errors.ts';
import { STREAMS } from './subjects.ts';

/** A compare-and-set refused because the key moved (or exists, for a create). */
function wrongRevision(err: unknown): boolean {
  return err instanceof JetStreamApiError && (err.code === JetStreamApiCodes.StreamWrongLastSequence || err.code === JetStreamApiCodes.StreamWrongLastSequenceUnknown);
}

export interface NatsBusOptions {
  readonly servers: string | string[];
  readonly name: string;
  /** Stream retention: messages older than this are dropped (ms). */
  readonly maxAgeMs: number;
  /** Per-stream byte cap; the oldest messages go first. */
  readonly maxBytes: number;
  /** Re-delivery after this long without an ack (ms). */
  readonly ackWaitMs: number;
  readonly log: Logger;
}

/**
 * JetStream behind the Bus contract. Streams use limits retention (age and
 * bytes) because several durable consumers (stitcher, writer) read the
 * same subjects; each consumer acknowledges only finished work.
 */
export class NatsBus implements Bus {
  readonly kind = 'nats' as const;
  private readonly opts: NatsBusOptions;
  private nc!: NatsConnection;
  private js!: JetStreamClient;
  private jsm!: JetStreamManager;
  private kvm!: Kvm;

  private constructor(opts: NatsBusOptions) {
    this.opts = opts;
  }

  static async connect(opts: NatsBusOptions): Promise<NatsBus> {
    const bus = new NatsBus(opts);
    try {
      // noAsyncTraces: otherwise nats.js makes two Error objects (stack
      // traces) per request, so per JetStream publish, in case it fails:
      // 12 % of the ingest main thread's time at 1M records/s. A failed
      // publish is still reported (BusError with the cause), only without
      // the caller's stack.
      bus.nc = await connect({ servers: opts.servers, name: opts.name, maxReconnectAttempts: -1, noAsyncTraces: true });
    } catch (err) {
      throw new BusError(`cannot connect to NATS at ${String(opts.servers)}: ${(err as Error).message}; is nats-server running with JetStream (-js)?`, { cause: err });
    }
    bus.js = jetstream(bus.nc);
    bus.jsm = await jetstreamManager(bus.nc);
    bus.kvm = new Kvm(bus.nc);
    await bus.ensureStreams();
    return bus;
  }

  private async ensureStreams(): Promise<void> {
    for (const def of Object.values(STREAMS)) {
      const cfg = {
        name: def.name,
        subjects: [...def.subjects],
        storage: StorageType.File,
        retention: RetentionPolicy.Limits,
        discard: DiscardPolicy.Old,
        max_age: nanos(this.opts.maxAgeMs),
        max_bytes: this.opts.maxBytes,
        duplicate_window: nanos(120_000),
      };
      try {
        await this.jsm.streams.info(def.name);
        await this.jsm.streams.update(def.name, cfg);
      } catch (err) {
        if (!/not found/i.test((err as Error).message)) throw new BusError(`cannot inspect stream ${def.name}`, { cause: err });
        try {
          await this.jsm.streams.add(cfg);
        } catch (err2) {
          // Another replica created it between info and add.
          if (!/already in use/i.test((err2 as Error).message)) throw new BusError(`cannot create stream ${def.name}`, { cause: err2 });
        }
      }
    }
  }

  async publish(subject: string, data: Uint8Array, opts?: PublishOptions): Promise<void> {
    let h;
    if (opts?.headers) {
      h = natsHeaders();
      for (const [k, v] of Object.entries(opts.headers)) h.set(k, v);
    }
    try {
      await this.js.publish(subject, data, { msgID: opts?.msgId, headers: h });
    } catch (err) {
      throw new BusError(`publish to ${subject} failed: ${(err as Error).message}`, { cause: err });
    }
  }

  async consume(opts: ConsumeOptions): Promise<Subscription> {
    const stream = STREAMS[opts.stream].name;
    const max = opts.maxInFlight ?? 64;
    const cfg = {
      durable_name: opts.durable,
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      filter_subject: opts.filter,
      max_ack_pending: Math.max(max * 4, 256),
      ack_wait: nanos(this.opts.ackWaitMs),
    };
    try {
      await this.jsm.consumers.add(stream, cfg);
    } catch (err) {
      // Exists already (another replica, or a restart): keep it, it holds
      // the position and the unacknowledged messages.
      if (!/already in use|exists/i.test((err as Error).message)) throw new BusError(`cannot create consumer ${opts.durable} on ${stream}`, { cause: err });
    }
    const consumer = await this.js.consumers.get(stream, opts.durable);
    const messages = await consumer.consume({ max_messages: max });
    let inFlight = 0;
    let slot: (() => void) | undefined;
    let idle: (() => void) | undefined;
    const log = this.opts.log;
    const settle = () => {
      inFlight--;
      slot?.();
      slot = undefined;
      if (inFlight === 0) idle?.();
    };
    const run = (m: JsMsg) => {
      const hdrs: Record<string, string> = {};
      if (m.headers) for (const k of m.headers.keys()) hdrs[k] = m.headers.get(k);
      const msg: BusMessage = { subject: m.subject, data: m.data, headers: hdrs, redelivered: m.redelivered, seq: m.seq };
      inFlight++;
      opts.handler(msg).then(
        () => {
          m.ack();
          settle();
        },
        (err: unknown) => {
          log.warn({ err, subject: m.subject, seq: m.seq, durable: opts.durable }, 'handler failed; message will be redelivered');
          m.nak(1000);
          settle();
        },
      );
    };
    const loop = (async () => {
      for await (const m of messages) {
        while (inFlight >= max) await new Promise<void>((r) => (slot = r));
        run(m);
      }
    })();
    return {
      stop: async () => {
        await messages.close();
        await loop.catch(() => {});
        if (inFlight > 0) await new Promise<void>((r) => (idle = r));
      },
    };
  }

  async kv(bucket: string): Promise<KvBucket> {
    const kv = await this.kvm.create(bucket, { history: 1 });
    return {
      put: async (key, value) => {
        await kv.put(key, value);
      },
      get: async (key) => {
        const e = await kv.get(key);
        return e && e.operation === 'PUT' ? e.value : undefined;
      },
      entry: async (key) => {
        const e = await kv.get(key);
        return e && e.operation === 'PUT' ? { value: e.value, revision: e.revision } : undefined;
      },
      create: async (key, value) => {
        try {
          return await kv.create(key, value);
        } catch (err) {
          if (wrongRevision(err)) return undefined;
          throw err;
        }
      },
      update: async (key, value, revision) => {
        try {
          return await kv.update(key, value, revision);
        } catch (err) {
          if (wrongRevision(err)) return undefined;
          throw err;
        }
      },
      deleteIf: async (key, revision) => {
        try {
          await kv.delete(key, { previousSeq: revision });
          return true;
        } catch (err) {
          if (wrongRevision(err)) return false;
          throw err;
        }
      },
      delete: async (key) => {
        await kv.delete(key);
      },
      purge: async (key) => {
        await kv.purge(key);
      },
      keys: async () => {
        const out: string[] = [];
        for await (const k of await kv.keys()) out.push(k);
        return out;
      },
      watch: async (cb: (e: KvEntry) => void) => {
        const it = await kv.watch();
        const done = (async () => {
          for await (const e of it) cb({ key: e.key, op: e.operation === 'PUT' ? 'put' : e.operation === 'PURGE' ? 'purge' : 'del', value: e.operation === 'PUT' ? e.value : undefined });
        })();
        return {
          stop: async () => {
            it.stop();
            await done.catch(() => {});
          },
        };
      },
    };
  }

  async close(): Promise<void> {
    await this.nc.drain();
  }
}
