import { BatchFormatError, decodeBatch, subjects, type Bus, type BusMessage, type StreamKey, type Subscription } from '@flowhound/bus';
import { RateLimitedLog, type Component, type Logger } from '@flowhound/runtime';
import { CONVERSATIONS_TABLE, FLOWS_TABLE, type TableDef } from '@flowhound/schema';
import type { Store } from '@flowhound/store';
import type { Meter } from '@opentelemetry/api';
import type { WriterConfig } from './config.ts';
import { WriterCounters } from './metrics.ts';
import { TableWriter } from './table-writer.ts';

export interface WriterDeps {
  readonly bus: Bus;
  readonly store: Store;
  readonly log: Logger;
  readonly meter: Meter;
}

interface Feed {
  readonly table: TableDef;
  readonly stream: StreamKey;
  readonly filter: string;
  readonly durable: string;
  readonly counters: WriterCounters;
  readonly writer: TableWriter;
}

/**
 * Stores batches from the bus in ClickHouse, many bus batches per INSERT
 * (see TableWriter). A message is acknowledged only after ClickHouse
 * accepted its rows, and a redelivered one is never stored twice.
 */
export class WriterService implements Component {
  readonly name = 'writer';
  readonly counters: Record<string, WriterCounters>;
  private readonly config: Readonly<WriterConfig>;
  private readonly deps: WriterDeps;
  private readonly feeds: Feed[];
  private subs: Subscription[] = [];

  constructor(config: Readonly<WriterConfig>, deps: WriterDeps) {
    this.config = config;
    this.deps = deps;
    const warn = new RateLimitedLog(deps.log);
    const feed = (table: TableDef, stream: StreamKey, filter: string, durable: string): Feed => {
      const counters = new WriterCounters();
      const writer = new TableWriter(table, deps.store, counters, warn, config);
      return { table, stream, filter, durable, counters, writer };
    };
    this.feeds = [
      feed(FLOWS_TABLE, 'flows', subjects.flowsRawAll, config.flowsDurable),
      feed(CONVERSATIONS_TABLE, 'conversations', subjects.convEnrichedAll, config.conversationsDurable),
    ];
    this.counters = Object.fromEntries(this.feeds.map((f) => [f.table.name, f.counters]));
  }

  async start(): Promise<void> {
    await this.deps.store.migrate({ ttlDays: this.config.ttlDays });
    for (const f of this.feeds) f.counters.register(this.deps.meter, f.table.name);
    for (const f of this.feeds) {
      this.subs.push(
        await this.deps.bus.consume({
          stream: f.stream,
          durable: f.durable,
          filter: f.filter,
          maxInFlight: this.config.maxInFlight,
          handler: (m) => this.receive(f, m),
        }),
      );
    }
  }

  private receive(f: Feed, m: BusMessage): Promise<void> {
    let decoded;
    try {
      decoded = decodeBatch(m.data, f.table.columns);
    } catch (err) {
      if (err instanceof BatchFormatError) {
        // Redelivering a message that can never decode would wedge the
        // stream: count it, log it and let it go.
        f.counters.badBatches++;
        this.deps.log.error({ err, subject: m.subject, seq: m.seq }, 'dropping a message that is not a valid batch');
        return Promise.resolve();
      }
      return Promise.reject(err);
    }
    // A batch without an id (an old producer) gets one from its place in
    // the stream, which a redelivery keeps.
    return f.writer.add(decoded.batch, decoded.batchId || `${m.subject}:${m.seq}`, m.redelivered, m.headers);
  }

  async stop(): Promise<void> {
    // Store what is pending now instead of waiting for the flush timer;
    // the subscriptions' stop waits for those inserts.
    for (const f of this.feeds) f.writer.drain();
    await Promise.all(this.subs.map((s) => s.stop()));
    this.subs = [];
    await Promise.all(this.feeds.map((f) => f.writer.idle()));
  }
}
