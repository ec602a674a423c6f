import { context, trace, type Link } from '@opentelemetry/api';
import { contextFromHeaders } from '@flowhound/bus';
import type { RateLimitedLog } from '@flowhound/runtime';
import type { ColumnarBatch, TableDef } from '@flowhound/schema';
import { batchIdHash, sortedNativeGroup, type Store } from '@flowhound/store';
import type { WriterCounters } from './metrics.ts';

export interface TableWriterOptions {
  readonly batchRows: number;
  readonly flushMs: number;
  readonly maxBackoffMs: number;
}

/** One bus batch waiting for its insert. */
interface Pending {
  readonly batch: ColumnarBatch;
  readonly rows: number;
  readonly id: number;
  readonly minTime: number;
  readonly maxTime: number;
  readonly redelivered: boolean;
  readonly headers: Readonly<Record<string, string>>;
  readonly resolve: () => void;
  readonly reject: (err: unknown) => void;
}

const MAX_LINKS = 32;

/**
 * Gathers bus batches into large inserts into one table.
 *
 * Each batch's promise settles when the insert that carries it does; the
 * bus acknowledges a message only then, so nothing acknowledged is lost.
 * One insert runs at a time; the next one fills meanwhile, up to the bus
 * consumer's in-flight limit, which is where back-pressure starts.
 *
 * Exactly once across crashes: every row carries its batch's id hash
 * (`batch_id`). A retry in this process reuses the group's deduplication
 * token. After a crash the bus redelivers whatever was not acknowledged,
 * flagged as redelivered, possibly grouped differently: for those batches
 * the table is asked which ids it holds, and those are acknowledged
 * without storing them again.
 */
export class TableWriter {
  private readonly table: TableDef;
  private readonly store: Store;
  private readonly counters: WriterCounters;
  private readonly warn: RateLimitedLog;
  private readonly o: TableWriterOptions;
  private pending: Pending[] = [];
  private pendingRows = 0;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private failuresInRow = 0;
  private retryAt = 0;
  private draining = false;

  constructor(table: TableDef, store: Store, counters: WriterCounters, warn: RateLimitedLog, o: TableWriterOptions) {
    this.table = table;
    this.store = store;
    this.counters = counters;
    this.warn = warn;
    this.o = o;
  }

  /** Queues a decoded batch; resolves once it is stored. */
  add(batch: ColumnarBatch, batchId: string, redelivered: boolean, headers: Readonly<Record<string, string>>): Promise<void> {
    const t = batch.read(this.table.timeColumn) as Float64Array;
    let minTime = Infinity;
    let maxTime = -Infinity;
    for (let r = 0; r < batch.rows; r++) {
      const v = t[r];
      if (v < minTime) minTime = v;
      if (v > maxTime) maxTime = v;
    }
    const id = batchIdHash(batchId);
    return new Promise<void>((resolve, reject) => {
      this.pending.push({ batch, rows: batch.rows, id, minTime, maxTime, redelivered, headers, resolve, reject });
      this.pendingRows += batch.rows;
      this.counters.pendingRows += batch.rows;
      this.schedule();
    });
  }

  /** From now on inserts go out as soon as anything is pending (shutdown). */
  drain(): void {
    this.draining = true;
    this.schedule();
  }

  private schedule(): void {
    if (this.running || this.pending.length === 0) return;
    const now = Date.now();
    const due = this.draining || this.pendingRows >= this.o.batchRows ? now : now + this.o.flushMs;
    const at = Math.max(due, this.retryAt);
    if (at <= now) {
      this.flush();
      return;
    }
    if (this.timer && !(this.pendingRows >= this.o.batchRows || this.draining)) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.flush();
    }, at - now);
  }

  private flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.running || this.pending.length === 0) return;
    // Take whole batches up to batchRows (at least one).
    let take = 0;
    let rows = 0;
    while (take < this.pending.length && (take === 0 || rows + this.pending[take].rows <= this.o.batchRows)) rows += this.pending[take++].rows;
    const group = this.pending.splice(0, take);
    this.pendingRows -= rows;
    this.running = this.insertGroup(group, rows).finally(() => {
      this.counters.pendingRows -= rows;
      this.running = undefined;
      this.schedule();
    });
  }

  private async insertGroup(group: Pending[], rows: number): Promise<void> {
    const links: Link[] = [];
    for (let i = 0; i < group.length && links.length < MAX_LINKS; i++) {
      const sc = trace.getSpanContext(contextFromHeaders(group[i].headers));
      if (sc) links.push({ context: sc });
    }
    const tracer = trace.getTracer('flowhound');
    await tracer.startActiveSpan('writer.insert', { links }, context.active(), async (span) => {
      span.setAttribute('flowhound.table', this.table.name);
      span.setAttribute('flowhound.batches', group.length);
      const t0 = performance.now();
      try {
        const toStore = await this.withoutStored(group);
        let n = 0;
        for (const p of toStore) n += p.rows;
        span.setAttribute('flowhound.rows', n);
        if (toStore.length > 0) {
          // The same group retried in this process gets the same token.
          const token = `${this.table.name}:${batchIdHash(toStore.map((p) => p.id).join(','))}:${n}`;
          const g = sortedNativeGroup(this.table, toStore.map((p) => p.batch), toStore.map((p) => p.id));
          await this.store.insertNative(this.table, g.chunks, g.rows, token, g.columns);
          this.counters.inserts++;
        }
        this.counters.batches += group.length;
        this.counters.rows += n;
        this.failuresInRow = 0;
        this.retryAt = 0;
        for (const p of group) p.resolve();
      } catch (err) {
        this.counters.failures++;
        this.failuresInRow++;
        const backoff = Math.min(this.o.maxBackoffMs, 250 * 2 ** Math.min(this.failuresInRow - 1, 20));
        this.retryAt = Date.now() + backoff;
        this.warn.warn(`insert-${this.table.name}`, { err, table: this.table.name, rows, batches: group.length, retryInMs: backoff }, 'insert failed; its batches stay on the bus and are redelivered');
        for (const p of group) p.reject(err);
      } finally {
        this.counters.insertMsTotal += performance.now() - t0;
        span.end();
      }
    });
  }

  /** Drops redelivered batches the table already holds; clears partly stored ones. */
  private async withoutStored(group: Pending[]): Promise<Pending[]> {
    const replays = group.filter((p) => p.redelivered && p.rows > 0);
    if (replays.length === 0) return group;
    let from = Infinity;
    let to = -Infinity;
    for (const p of replays) {
      from = Math.min(from, p.minTime);
      to = Math.max(to, p.maxTime);
    }
    const stored = await this.store.storedBatchRows(this.table, replays.map((p) => p.id), from, to);
    const partial: number[] = [];
    const skip = new Set<Pending>();
    for (const p of replays) {
      const n = stored.get(p.id) ?? 0;
      if (n >= p.rows) skip.add(p);
      else if (n > 0) partial.push(p.id);
    }
    if (partial.length > 0) {
      // A batch split over two partitions can be half stored by an insert
      // that failed half way; remove its rows and store it whole.
      await this.store.deleteBatches(this.table, partial);
      this.counters.replaysRepaired += partial.length;
    }
    this.counters.replaysSkipped += skip.size;
    return skip.size === 0 ? group : group.filter((p) => !skip.has(p));
  }

  /** Resolves when no insert is running. */
  async idle(): Promise<void> {
    while (this.running) await this.running;
  }
}
