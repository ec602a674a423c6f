import type { Meter } from '@opentelemetry/api';

/** Plain counters on the hot path; OpenTelemetry reads them when scraped. */
export class WriterCounters {
  /** Bus messages (batches) stored. */
  batches = 0;
  rows = 0;
  /** INSERT statements that succeeded (each carries many batches). */
  inserts = 0;
  failures = 0;
  badBatches = 0;
  insertMsTotal = 0;
  /** Redelivered batches found already stored (not stored again). */
  replaysSkipped = 0;
  /** Redelivered batches found partly stored (their rows removed, then stored whole). */
  replaysRepaired = 0;
  /** Rows received and not yet stored. */
  pendingRows = 0;

  register(meter: Meter, table: string): void {
    const attrs = { table };
    const counter = (name: string, description: string, read: () => number) =>
      meter.createObservableCounter(name, { description }).addCallback((r) => r.observe(read(), attrs));
    counter('flowhound_writer_batches_total', 'bus batches stored in ClickHouse', () => this.batches);
    counter('flowhound_writer_rows_total', 'rows inserted into ClickHouse', () => this.rows);
    counter('flowhound_writer_inserts_total', 'INSERT statements that succeeded', () => this.inserts);
    counter('flowhound_writer_insert_failures_total', 'inserts that failed; their batches are redelivered', () => this.failures);
    counter('flowhound_writer_bad_batches_total', 'bus messages that were not valid batches (dropped)', () => this.badBatches);
    counter('flowhound_writer_insert_ms_total', 'milliseconds spent in inserts', () => this.insertMsTotal);
    counter('flowhound_writer_replays_skipped_total', 'redelivered batches that were already stored', () => this.replaysSkipped);
    counter('flowhound_writer_replays_repaired_total', 'redelivered batches found partly stored and stored again whole', () => this.replaysRepaired);
    meter.createObservableGauge('flowhound_writer_pending_rows', { description: 'rows received and not yet stored' }).addCallback((r) => r.observe(this.pendingRows, attrs));
  }
}
