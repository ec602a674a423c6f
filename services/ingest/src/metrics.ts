import type { Meter } from '@opentelemetry/api';

/** A decoding thread's counters: plain fields on the hot path. */
export class ReceiverCounters {
  packets = 0;
  bytes = 0;
  /** Packets from exporters outside ingest.allow, dropped before decoding. */
  denied = 0;
  held = 0;
  heldReleased = 0;
  /** Held sets dropped: too old, over a bound, or at shutdown. */
  heldDropped = 0;
  /** Of heldDropped: held sets still waiting when the thread stopped (or a worker died). */
  heldDroppedAtShutdown = 0;
  /** Templates refused because their exporter had ingest.maxTemplatesPerExporter already. */
  templatesRefused = 0;
  /** Exporter addresses beyond the tracked maximum (decoded, not listed). */
  exportersUntracked = 0;
  tcpAccepted = 0;
  tcpOpen = 0;
  tcpMessages = 0;
  /** Connections closed because a message had another version than 10 (v9 included). */
  tcpBadVersion = 0;
  /** Connections closed because a message length was shorter than the header. */
  tcpBadLength = 0;
  /** Connections from exporters outside ingest.allow. */
  tcpDenied = 0;
  /** Connections over ingest.tcpMaxConnections. */
  tcpRefused = 0;
  /** Connections that closed in the middle of a message. */
  tcpTruncated = 0;
}

export type ReceiverCounterName = keyof ReceiverCounters;

/** The main thread's counters: publishing to the bus. */
export class IngestCounters {
  batchesPublished = 0;
  rowsPublished = 0;
  batchesDropped = 0;
  rowsDropped = 0;
  publishErrors = 0;
  pendingBytes = 0;
  workerRestarts = 0;
}

/** What the metrics read when Prometheus scrapes; every value is summed over the decoding threads. */
export interface IngestMetricSources {
  readonly publish: IngestCounters;
  receiver(): ReceiverCounters;
  decoder(): Record<string, number>;
  templates(): Record<string, number>;
  /** Denied packets per exporter address, at most a few dozen labels plus `other`. */
  denied(): ReadonlyMap<string, number>;
  /** Kernel receive-buffer drops per UDP port, and the bytes queued now. */
  sockets(): ReadonlyArray<{ port: number; drops: number; queued: number }>;
}

export function registerIngestMetrics(meter: Meter, s: IngestMetricSources): void {
  const a = { component: 'ingest' };
  const counter = (name: string, description: string, read: () => number) =>
    meter.createObservableCounter(name, { description }).addCallback((r) => r.observe(read(), a));
  const gauge = (name: string, description: string, read: () => number) =>
    meter.createObservableGauge(name, { description }).addCallback((r) => r.observe(read(), a));
  const c = s.publish;
  counter('flowhound_ingest_packets_total', 'export packets received (UDP datagrams and IPFIX messages over TCP), allowed exporters only', () => s.receiver().packets);
  counter('flowhound_ingest_bytes_total', 'export packet bytes received', () => s.receiver().bytes);
  counter('flowhound_ingest_batches_published_total', 'flow batches stored on the bus', () => c.batchesPublished);
  counter('flowhound_ingest_records_published_total', 'flow records stored on the bus', () => c.rowsPublished);
  counter('flowhound_ingest_batches_dropped_total', 'batches dropped because the bus was too far behind', () => c.batchesDropped);
  counter('flowhound_ingest_records_dropped_total', 'records dropped because the bus was too far behind', () => c.rowsDropped);
  counter('flowhound_ingest_publish_errors_total', 'bus publish failures', () => c.publishErrors);
  counter('flowhound_ingest_sets_held_total', 'data sets held until their template arrives', () => s.receiver().held);
  counter('flowhound_ingest_sets_released_total', 'held data sets decoded after their template arrived', () => s.receiver().heldReleased);
  counter('flowhound_ingest_sets_expired_total', 'held data sets dropped (too old, over the cap, or at shutdown)', () => s.receiver().heldDropped);
  counter('flowhound_ingest_sets_dropped_at_shutdown_total', 'held data sets dropped because their decoding thread stopped or died (also in sets_expired_total)', () => s.receiver().heldDroppedAtShutdown);
  counter('flowhound_ingest_templates_refused_total', 'template records refused because their exporter had ingest.maxTemplatesPerExporter templates already', () => s.receiver().templatesRefused);
  counter('flowhound_ingest_exporters_untracked_total', 'packets from exporter addresses beyond the 10,000 listed one by one', () => s.receiver().exportersUntracked);
  counter('flowhound_ingest_worker_restarts_total', 'decoding worker threads restarted after a failure', () => c.workerRestarts);
  gauge('flowhound_ingest_pending_bytes', 'encoded batches waiting for the bus', () => c.pendingBytes);

  meter.createObservableCounter('flowhound_ingest_packets_denied_total', { description: 'packets (and TCP connections) from exporters outside ingest.allow, dropped before decoding' }).addCallback((r) => {
    for (const [exporter, v] of s.denied()) r.observe(v, { ...a, exporter });
  });

  counter('flowhound_ingest_tcp_connections_total', 'IPFIX TCP connections accepted', () => s.receiver().tcpAccepted);
  gauge('flowhound_ingest_tcp_connections', 'IPFIX TCP connections open', () => s.receiver().tcpOpen);
  counter('flowhound_ingest_tcp_messages_total', 'IPFIX messages framed from TCP streams', () => s.receiver().tcpMessages);
  meter.createObservableCounter('flowhound_ingest_tcp_connections_closed_total', { description: 'TCP connections ingest closed or saw end badly, by reason' }).addCallback((r) => {
    const rc = s.receiver();
    r.observe(rc.tcpBadVersion, { ...a, reason: 'bad_version' });
    r.observe(rc.tcpBadLength, { ...a, reason: 'bad_length' });
    r.observe(rc.tcpDenied, { ...a, reason: 'denied' });
    r.observe(rc.tcpRefused, { ...a, reason: 'too_many_connections' });
    r.observe(rc.tcpTruncated, { ...a, reason: 'truncated' });
  });

  meter.createObservableCounter('flowhound_ingest_socket_drops_total', { description: 'datagrams the kernel dropped because ingest UDP receive buffers were full (/proc/net/udp, udp6)' }).addCallback((r) => {
    for (const x of s.sockets()) r.observe(x.drops, { ...a, port: String(x.port) });
  });
  meter.createObservableGauge('flowhound_ingest_socket_queued_bytes', { description: 'bytes waiting in ingest UDP receive buffers' }).addCallback((r) => {
    for (const x of s.sockets()) r.observe(x.queued, { ...a, port: String(x.port) });
  });

  meter.createObservableCounter('flowhound_decoder_total', { description: 'decoder counters by kind (records, bad_packets, template_misses, …)' }).addCallback((r) => {
    for (const [kind, v] of Object.entries(s.decoder())) r.observe(v, { ...a, kind });
  });
  meter.createObservableCounter('flowhound_ingest_templates_total', { description: 'template registry traffic by kind' }).addCallback((r) => {
    for (const [kind, v] of Object.entries(s.templates())) r.observe(v, { ...a, kind });
  });
}

/** Adds `b`'s numeric fields into `into`. */
export function addCounters<T extends object>(into: T, b: Readonly<T>): T {
  const o = into as unknown as Record<string, number>;
  for (const [k, v] of Object.entries(b)) if (typeof v === 'number') o[k] = (o[k] ?? 0) + v;
  return into;
}
