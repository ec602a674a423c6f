// The exporter inventory: every ingest replica writes what it saw from
// each exporter to the KV bucket fh_exporters; this sums the replicas per
// exporter for ListExporters and `flowhound exporters`.
import type { ExporterStats } from '@flowhound/proto';

function union<T>(a: readonly T[], b: readonly T[], cmp: (x: T, y: T) => number): T[] {
  return [...new Set([...a, ...b])].sort(cmp);
}

const num = (x: number, y: number) => x - y;
const str = (x: string, y: string) => x.localeCompare(y);
const minSeen = (a: bigint, b: bigint) => (a === 0n ? b : b === 0n ? a : a < b ? a : b);
const max = (a: bigint, b: bigint) => (a > b ? a : b);

/** Two records of one exporter (from two replicas, or a sum so far) added together. */
export function addExporterStats(a: ExporterStats, b: ExporterStats): ExporterStats {
  return {
    exporter: a.exporter,
    replicas: union(a.replicas, b.replicas, str),
    packets: a.packets + b.packets,
    bytes: a.bytes + b.bytes,
    records: a.records + b.records,
    decodeErrors: a.decodeErrors + b.decodeErrors,
    templateMisses: a.templateMisses + b.templateMisses,
    setsExpired: a.setsExpired + b.setsExpired,
    recordsLost: a.recordsLost + b.recordsLost,
    v9PacketsLost: a.v9PacketsLost + b.v9PacketsLost,
    packetsClockSkewed: a.packetsClockSkewed + b.packetsClockSkewed,
    recordsEndAfterExport: a.recordsEndAfterExport + b.recordsEndAfterExport,
    // Replicas see the same templates: the most any of them found.
    unknownElements: Math.max(a.unknownElements, b.unknownElements),
    packetsDenied: a.packetsDenied + b.packetsDenied,
    firstSeenMs: minSeen(a.firstSeenMs, b.firstSeenMs),
    lastSeenMs: max(a.lastSeenMs, b.lastSeenMs),
    versions: union(a.versions, b.versions, num),
    observationDomains: union(a.observationDomains, b.observationDomains, num),
    samplingRates: union(a.samplingRates, b.samplingRates, num),
    transports: union(a.transports, b.transports, str),
    updatedAtMs: max(a.updatedAtMs, b.updatedAtMs),
  };
}

/** One record per exporter, the replicas' counters summed; sorted by exporter address. */
export function aggregateExporters(records: Iterable<ExporterStats>): ExporterStats[] {
  const by = new Map<string, ExporterStats>();
  for (const r of records) {
    const prev = by.get(r.exporter);
    by.set(r.exporter, prev ? addExporterStats(prev, r) : r);
  }
  return [...by.values()].sort(compareExporters);
}

/** IPv4 before IPv6, numerically within each. */
export function compareExporters(a: ExporterStats, b: ExporterStats): number {
  return addressKey(a.exporter).localeCompare(addressKey(b.exporter)) || a.replicas.join(',').localeCompare(b.replicas.join(','));
}

function addressKey(ip: string): string {
  if (!ip.includes(':')) return `4${ip.split('.').map((p) => p.padStart(3, '0')).join('.')}`;
  return `6${ip}`;
}
