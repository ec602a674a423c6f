import type { Bus, BusMessage, ConsumeOptions, KvBucket, KvEntry, PublishOptions, Subscription } from './bus.ts';
import { BusError } from './errors.ts';
import { STREAMS, subjectMatches, type StreamKey } from './subjects.ts';

interface Queued {
  msg: BusMessage;
  deliveries: number;
}

class Group {
  readonly filter: string;
  readonly queue: Queued[] = [];
  readonly subs: MemorySubscription[] = [];
  queuedBytes = 0;
  inFlight = 0;
  next = 0;
  waiters: (() => void)[] = [];
  idleWaiters: (() => void)[] = [];

  constructor(filter: string) {
    this.filter = filter;
  }
}

class MemorySubscription implements Subscription {
  readonly group: Group;
  readonly opts: ConsumeOptions;
  active = true;
  private readonly bus: MemoryBus;

  constructor(bus: MemoryBus, group: Group, opts: ConsumeOptions) {
    this.bus = bus;
    this.group = group;
    this.opts = opts;
  }

  async stop(): Promise<void> {
    const g = this.group;
    // Nothing in memory survives the process: the last consumer of a group
    // drains its queue before it lets go.
    if (g.subs.length === 1) {
      while (g.queue.length > 0 || g.inFlight > 0) await new Promise<void>((r) => g.idleWaiters.push(r));
    }
    this.active = false;
    g.subs.splice(g.subs.indexOf(this), 1);
    this.bus.pump(g);
  }
}

/**
 * The in-process bus of `flowhound standalone`: same contract as JetStream
 * (durable groups share work, ack after the handler, redelivery on failure,
 * msgId de-duplication), bounded by bytes queued per group; a full group
 * makes publish wait, so back-pressure reaches the producer.
 */
export class MemoryBus implements Bus {
  readonly kind = 'memory' as const;
  private readonly groups = new Map<StreamKey, Map<string, Group>>();
  private readonly recentIds = new Map<StreamKey, Set<string>>();
  private readonly buckets = new Map<string, MemoryKv>();
  private readonly maxQueuedBytes: number;
  private readonly redeliveryDelayMs: number;
  private seq = 0;
  private closed = false;

  constructor(opts: { maxQueuedBytes?: number; redeliveryDelayMs?: number } = {}) {
    this.maxQueuedBytes = opts.maxQueuedBytes ?? 256 * 1024 * 1024;
    this.redeliveryDelayMs = opts.redeliveryDelayMs ?? 1000;
  }

  private streamOf(subject: string): StreamKey {
    for (const [k, def] of Object.entries(STREAMS) as [StreamKey, (typeof STREAMS)[StreamKey]][]) {
      if (def.subjects.some((f) => subjectMatches(f, subject))) return k;
    }
    throw new BusError(`no stream takes subject ${subject}`);
  }

  async publish(subject: string, data: Uint8Array, opts?: PublishOptions): Promise<void> {
    if (this.closed) throw new BusError('bus is closed');
    const stream = this.streamOf(subject);
    if (opts?.msgId) {
      let ids = this.recentIds.get(stream);
      if (!ids) this.recentIds.set(stream, (ids = new Set()));
      if (ids.has(opts.msgId)) return;
      ids.add(opts.msgId);
      if (ids.size > 100_000) ids.delete(ids.values().next().value!);
    }
    const msg: BusMessage = { subject, data, headers: opts?.headers ?? {}, redelivered: false, seq: ++this.seq };
    for (const g of this.groups.get(stream)?.values() ?? []) {
      if (!subjectMatches(g.filter, subject)) continue;
      while (g.queuedBytes > this.maxQueuedBytes && !this.closed) await new Promise<void>((r) => g.waiters.push(r));
      g.queue.push({ msg, deliveries: 0 });
      g.queuedBytes += data.byteLength;
      this.pump(g);
    }
  }

  async consume(opts: ConsumeOptions): Promise<Subscription> {
    let byName = this.groups.get(opts.stream);
    if (!byName) this.groups.set(opts.stream, (byName = new Map()));
    let g = byName.get(opts.durable);
    if (!g) byName.set(opts.durable, (g = new Group(opts.filter)));
    const sub = new MemorySubscription(this, g, opts);
    g.subs.push(sub);
    this.pump(g);
    return sub;
  }

  pump(g: Group): void {
    while (g.queue.length > 0 && g.subs.length > 0) {
      const sub = g.subs[g.next++ % g.subs.length];
      const max = sub.opts.maxInFlight ?? 64;
      if (g.inFlight >= max) break;
      const q = g.queue.shift()!;
      g.inFlight++;
      q.deliveries++;
      const msg = q.deliveries > 1 ? { ...q.msg, redelivered: true } : q.msg;
      sub.opts.handler(msg).then(
        () => this.settle(g, q, true),
        () => this.settle(g, q, false),
      );
    }
  }

  private settle(g: Group, q: Queued, ok: boolean): void {
    g.inFlight--;
    if (ok) {
      g.queuedBytes -= q.msg.data.byteLength;
      if (g.queuedBytes <= this.maxQueuedBytes) for (const w of g.waiters.splice(0)) w();
      this.pump(g);
    } else {
      setTimeout(() => {
        g.queue.unshift(q);
        this.pump(g);
      }, this.redeliveryDelayMs).unref();
    }
    if (g.queue.length === 0 && g.inFlight === 0) for (const w of g.idleWaiters.splice(0)) w();
  }

  async kv(bucket: string): Promise<KvBucket> {
    let kv = this.buckets.get(bucket);
    if (!kv) this.buckets.set(bucket, (kv = new MemoryKv()));
    return kv;
  }

  /** Messages not yet acknowledged by every consumer group, and their bytes (what a shutdown now would lose). */
  backlog(): { messages: number; bytes: number } {
    let messages = 0;
    let bytes = 0;
    for (const byName of this.groups.values()) {
      for (const g of byName.values()) {
        messages += g.queue.length + g.inFlight;
        bytes += g.queuedBytes;
      }
    }
    return { messages, bytes };
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const byName of this.groups.values()) for (const g of byName.values()) for (const w of g.waiters.splice(0)) w();
  }
}

class MemoryKv implements KvBucket {
  private readonly data = new Map<string, { value: Uint8Array; revision: number }>();
  private readonly watchers = new Set<(e: KvEntry) => void>();
  /** Revision of the last change, bucket-wide (as a JetStream stream sequence). */
  private seq = 0;

  private set(key: string, value: Uint8Array): number {
    const revision = ++this.seq;
    this.data.set(key, { value, revision });
    for (const w of this.watchers) w({ key, op: 'put', value });
    return revision;
  }

  private remove(key: string, op: 'del' | 'purge'): void {
    this.seq++;
    this.data.delete(key);
    for (const w of this.watchers) w({ key, op, value: undefined });
  }

  async put(key: string, value: Uint8Array): Promise<void> {
    this.set(key, value);
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    return this.data.get(key)?.value;
  }

  async entry(key: string): Promise<{ value: Uint8Array; revision: number } | undefined> {
    const e = this.data.get(key);
    return e && { value: e.value, revision: e.revision };
  }

  async create(key: string, value: Uint8Array): Promise<number | undefined> {
    return this.data.has(key) ? undefined : this.set(key, value);
  }

  async update(key: string, value: Uint8Array, revision: number): Promise<number | undefined> {
    return this.data.get(key)?.revision === revision ? this.set(key, value) : undefined;
  }

  async deleteIf(key: string, revision: number): Promise<boolean> {
    if (this.data.get(key)?.revision !== revision) return false;
    this.remove(key, 'del');
    return true;
  }

  async delete(key: string): Promise<void> {
    this.remove(key, 'del');
  }

  async purge(key: string): Promise<void> {
    this.remove(key, 'purge');
  }

  async keys(): Promise<string[]> {
    return [...this.data.keys()];
  }

  async watch(cb: (e: KvEntry) => void): Promise<Subscription> {
    for (const [key, e] of this.data) cb({ key, op: 'put', value: e.value });
    this.watchers.add(cb);
    return {
      stop: async () => {
        this.watchers.delete(cb);
      },
    };
  }
}
