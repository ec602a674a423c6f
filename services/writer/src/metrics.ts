import type { Meter } from '@opentelemetry/api';

/** Plain counters on the hot path; OpenTelemetry reads them when scraped. */
export class WriterCounters {
  batches = 0;
  rows = 0;
  failures = 0;
  badBatches = 0;
  insertMsTotal = 0;

  register(meter: Meter, table: string): void {
    const attrs = { table };
    meter.createObservableCounter('flowhound_writer_batches_total', { description: 'batches inserted into ClickHouse' }).addCallback((r) => r.observe(this.batches, attrs));
    meter.createObservableCounter('flowhound_writer_rows_total', { description: 'rows inserted into ClickHouse' }).addCallback((r) => r.observe(this.rows, attrs));
    meter.createObservableCounter('flowhound_writer_insert_failures_total', { description: 'inserts that failed and were left for redelivery' }).addCallback((r) => r.observe(this.failures, attrs));
    meter.createObservableCounter('flowhound_writer_bad_batches_total', { description: 'bus messages that were not valid batches (dropped)' }).addCallback((r) => r.observe(this.badBatches, attrs));
    meter.createObservableCounter('flowhound_writer_insert_ms_total', { description: 'milliseconds spent in inserts' }).addCallback((r) => r.observe(this.insertMsTotal, attrs));
  }
}
