import { trace, context } from '@opentelemetry/api';
import { BatchFormatError, contextFromHeaders, decodeBatch, subjects, type Bus, type BusMessage, type StreamKey, type Subscription } from '@flowhound/bus';
import { RateLimitedLog, type Component, type Logger } from '@flowhound/runtime';
import { CONVERSATIONS_TABLE, FLOWS_TABLE, type TableDef } from '@flowhound/schema';
import type { Store } from '@flowhound/store';
import type { Meter } from '@opentelemetry/api';
import type { WriterConfig } from './config.ts';
import { WriterCounters } from './metrics.ts';

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
}

/**
 * Inserts batches from the bus into ClickHouse. A message is acknowledged
 * only after ClickHouse accepted its rows; the batch id is the insert's
 * deduplication token, so a redelivery after a crash inserts nothing twice.
 */
export class WriterService implements Component {
  readonly name = 'writer';
  readonly counters: Record<string, WriterCounters>;
  private readonly config: Readonly<WriterConfig>;
  private readonly deps: WriterDeps;
  private readonly feeds: Feed[];
  private subs: Subscription[] = [];
  private readonly warn: RateLimitedLog;

  constructor(config: Readonly<WriterConfig>, deps: WriterDeps) {
    this.config = config;
    this.deps = deps;
    this.warn = new RateLimitedLog(deps.log);
    this.feeds = [
      { table: FLOWS_TABLE, stream: 'flows', filter: subjects.flowsRawAll, durable: config.flowsDurable, counters: new WriterCounters() },
      { table: CONVERSATIONS_TABLE, stream: 'conversations', filter: subjects.convEnrichedAll, durable: config.conversationsDurable, counters: new WriterCounters() },
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
          handler: (m) => this.insert(f, m),
        }),
      );
    }
  }

  private async insert(f: Feed, m: BusMessage): Promise<void> {
    let decoded;
    try {
      decoded = decodeBatch(m.data, f.table.columns);
    } catch (err) {
      if (err instanceof BatchFormatError) {
        // Redelivering a message that can never decode would wedge the
        // stream: count it, log it and let it go.
        f.counters.badBatches++;
        this.deps.log.error({ err, subject: m.subject, seq: m.seq }, 'dropping a message that is not a valid batch');
        return;
      }
      throw err;
    }
    const tracer = trace.getTracer('flowhound');
    await context.with(contextFromHeaders(m.headers), () =>
      tracer.startActiveSpan('writer.insert', async (span) => {
        span.setAttribute('flowhound.table', f.table.name);
        span.setAttribute('flowhound.rows', decoded.batch.rows);
        const t0 = performance.now();
        try {
          await this.deps.store.insertBatch(f.table, decoded.batch, `${f.table.name}:${decoded.batchId || m.seq}`);
          f.counters.batches++;
          f.counters.rows += decoded.batch.rows;
        } catch (err) {
          f.counters.failures++;
          this.warn.warn(`insert-${f.table.name}`, { err, table: f.table.name, rows: decoded.batch.rows }, 'insert failed; the batch stays on the bus and is retried');
          throw err;
        } finally {
          f.counters.insertMsTotal += performance.now() - t0;
          span.end();
        }
      }),
    );
  }

  async stop(): Promise<void> {
    await Promise.all(this.subs.map((s) => s.stop()));
    this.subs = [];
  }
}
