import type { Meter } from '@opentelemetry/api';

/** Plain fields on the hot path; OpenTelemetry reads them when scraped. */
export class IngestCounters {
  packets = 0;
  bytes = 0;
  batchesPublished = 0;
  rowsPublished = 0;
  batchesDropped = 0;
  rowsDropped = 0;
  publishErrors = 0;
  held = 0;
  heldReleased = 0;
  heldDropped = 0;
  pendingBytes = 0;
}

export function registerIngestMetrics(meter: Meter, c: IngestCounters, decoder: () => Record<string, number>, store: () => Record<string, number>): void {
  const a = { component: 'ingest' };
  const counter = (name: string, description: string, read: () => number) =>
    meter.createObservableCounter(name, { description }).addCallback((r) => r.observe(read(), a));
  counter('flowhound_ingest_packets_total', 'export packets received', () => c.packets);
  counter('flowhound_ingest_bytes_total', 'export packet bytes received', () => c.bytes);
  counter('flowhound_ingest_batches_published_total', 'flow batches stored on the bus', () => c.batchesPublished);
  counter('flowhound_ingest_records_published_total', 'flow records stored on the bus', () => c.rowsPublished);
  counter('flowhound_ingest_batches_dropped_total', 'batches dropped because the bus was too far behind', () => c.batchesDropped);
  counter('flowhound_ingest_records_dropped_total', 'records dropped because the bus was too far behind', () => c.rowsDropped);
  counter('flowhound_ingest_publish_errors_total', 'bus publish failures', () => c.publishErrors);
  counter('flowhound_ingest_sets_held_total', 'data sets held until their template arrives', () => c.held);
  counter('flowhound_ingest_sets_released_total', 'held data sets decoded after their template arrived', () => c.heldReleased);
  counter('flowhound_ingest_sets_expired_total', 'held data sets dropped (too old or over the cap)', () => c.heldDropped);
  meter.createObservableGauge('flowhound_ingest_pending_bytes', { description: 'encoded batches waiting for the bus' }).addCallback((r) => r.observe(c.pendingBytes, a));
  const decoderGauge = meter.createObservableCounter('flowhound_decoder_total', { description: 'decoder counters by kind (records, bad_packets, template_misses, …)' });
  decoderGauge.addCallback((r) => {
    for (const [kind, v] of Object.entries(decoder())) r.observe(v, { ...a, kind });
  });
  const storeGauge = meter.createObservableCounter('flowhound_ingest_templates_total', { description: 'template registry traffic by kind' });
  storeGauge.addCallback((r) => {
    for (const [kind, v] of Object.entries(store())) r.observe(v, { ...a, kind });
  });
}
