// Per-exporter bookkeeping: what each exporter sent, what became of it.
// A decoding thread counts into ExporterEntry objects (plain fields, one
// map lookup per packet); every few seconds it hands snapshots of the
// entries that moved to the main thread, which sums the threads and writes
// one record per exporter to the registry's KV bucket.
import { KV_BUCKETS, kvSafe, type Bus, type KvBucket } from '@flowhound/bus';
import { ExporterStats, IngestReplicaStats } from '@flowhound/proto';
import { RateLimitedLog, type Logger } from '@flowhound/runtime';

/** Key of one replica's record of one exporter in `fh_exporters`. */
export function exporterStatsKvKey(exporter: string, replica: string): string {
  return `${kvSafe(exporter)}.${kvSafe(replica)}`;
}

export const TRANSPORT_UDP = 1;
export const TRANSPORT_TCP = 2;

/** KV writes of exporter statistics in flight at once. */
const WRITE_CONCURRENCY = 256;
/** Observation domains remembered per exporter; more are not listed. */
const MAX_DOMAINS = 64;

/** One exporter as one decoding thread sees it. */
export class ExporterEntry {
  /** Address text: dotted IPv4 (never ::ffff:-mapped) or IPv6. */
  readonly exporter: string;
  /** The address as 16 bytes (IPv4-mapped), as the decoder writes it into rows. */
  readonly addr16: Uint8Array;
  readonly allowed: boolean;
  packets: number;
  bytes: number;
  records: number;
  decodeErrors: number;
  templateMisses: number;
  setsExpired: number;
  packetsDenied: number;
  firstSeenMs: number;
  lastSeenMs: number;
  /** Bits: 5 → 1, 9 → 2, 10 → 4, anything else → 8. */
  versions: number;
  /** TRANSPORT_UDP | TRANSPORT_TCP. */
  transports: number;
  lastDomain: number;
  readonly domains: Set<number>;
  /** Sampling interval from the last NetFlow v5 header; 0 when none. */
  v5Sampling: number;
  /** Moved since the last snapshot. */
  dirty: boolean;

  constructor(exporter: string, addr16: Uint8Array, allowed: boolean) {
    this.exporter = exporter;
    this.addr16 = addr16;
    this.allowed = allowed;
    this.packets = 0;
    this.bytes = 0;
    this.records = 0;
    this.decodeErrors = 0;
    this.templateMisses = 0;
    this.setsExpired = 0;
    this.packetsDenied = 0;
    this.firstSeenMs = 0;
    this.lastSeenMs = 0;
    this.versions = 0;
    this.transports = 0;
    this.lastDomain = -1;
    this.domains = new Set();
    this.v5Sampling = 0;
    this.dirty = false;
  }

  /** Notes the header of an export packet (version, domain, v5 sampling). */
  header(b: Uint8Array): void {
    const n = b.length;
    const version = n >= 2 ? (b[0] << 8) | b[1] : 0;
    let domain = -1;
    if (version === 10) {
      this.versions |= 4;
      if (n >= 16) domain = ((b[12] << 24) >>> 0) + ((b[13] << 16) | (b[14] << 8) | b[15]);
    } else if (version === 9) {
      this.versions |= 2;
      if (n >= 20) domain = ((b[16] << 24) >>> 0) + ((b[17] << 16) | (b[18] << 8) | b[19]);
    } else if (version === 5) {
      this.versions |= 1;
      if (n >= 24) {
        domain = (b[20] << 8) | b[21];
        this.v5Sampling = ((b[22] << 8) | b[23]) & 0x3fff;
      }
    } else {
      this.versions |= 8;
    }
    if (domain !== this.lastDomain && domain >= 0) {
      this.lastDomain = domain;
      if (this.domains.size < MAX_DOMAINS) this.domains.add(domain);
    }
  }
}

/** What crosses from a decoding thread to the main thread (structured-clone friendly). */
export interface ExporterSnapshot {
  exporter: string;
  packets: number;
  bytes: number;
  records: number;
  decodeErrors: number;
  templateMisses: number;
  setsExpired: number;
  recordsLost: number;
  v9PacketsLost: number;
  packetsClockSkewed: number;
  recordsEndAfterExport: number;
  unknownElements: number;
  packetsDenied: number;
  firstSeenMs: number;
  lastSeenMs: number;
  versions: number[];
  domains: number[];
  samplingRates: number[];
  transports: string[];
}

export function versionList(bits: number): number[] {
  const out: number[] = [];
  if (bits & 1) out.push(5);
  if (bits & 2) out.push(9);
  if (bits & 4) out.push(10);
  if (bits & 8) out.push(0);
  return out;
}

export function transportList(bits: number): string[] {
  const out: string[] = [];
  if (bits & TRANSPORT_UDP) out.push('udp');
  if (bits & TRANSPORT_TCP) out.push('tcp');
  return out;
}

function union(a: number[], b: number[]): number[] {
  const s = new Set(a);
  for (const x of b) s.add(x);
  return [...s].sort((x, y) => x - y);
}

/** Adds one thread's snapshot of an exporter to another's (same exporter). */
export function addSnapshot(into: ExporterSnapshot, s: ExporterSnapshot): ExporterSnapshot {
  return {
    exporter: into.exporter,
    packets: into.packets + s.packets,
    bytes: into.bytes + s.bytes,
    records: into.records + s.records,
    decodeErrors: into.decodeErrors + s.decodeErrors,
    templateMisses: into.templateMisses + s.templateMisses,
    setsExpired: into.setsExpired + s.setsExpired,
    recordsLost: into.recordsLost + s.recordsLost,
    v9PacketsLost: into.v9PacketsLost + s.v9PacketsLost,
    packetsClockSkewed: into.packetsClockSkewed + s.packetsClockSkewed,
    recordsEndAfterExport: into.recordsEndAfterExport + s.recordsEndAfterExport,
    // Threads see the same templates: the most any of them found.
    unknownElements: Math.max(into.unknownElements, s.unknownElements),
    packetsDenied: into.packetsDenied + s.packetsDenied,
    firstSeenMs: into.firstSeenMs && s.firstSeenMs ? Math.min(into.firstSeenMs, s.firstSeenMs) : into.firstSeenMs || s.firstSeenMs,
    lastSeenMs: Math.max(into.lastSeenMs, s.lastSeenMs),
    versions: union(into.versions, s.versions),
    domains: union(into.domains, s.domains).slice(0, MAX_DOMAINS),
    samplingRates: union(into.samplingRates, s.samplingRates),
    transports: [...new Set([...into.transports, ...s.transports])].sort(),
  };
}

const big = (n: number) => BigInt(Math.max(0, Math.floor(n)));

export function snapshotToProto(s: ExporterSnapshot, replica: string, nowMs: number): ExporterStats {
  return {
    exporter: s.exporter,
    replicas: [replica],
    packets: big(s.packets),
    bytes: big(s.bytes),
    records: big(s.records),
    decodeErrors: big(s.decodeErrors),
    templateMisses: big(s.templateMisses),
    setsExpired: big(s.setsExpired),
    recordsLost: big(s.recordsLost),
    v9PacketsLost: big(s.v9PacketsLost),
    packetsClockSkewed: big(s.packetsClockSkewed),
    recordsEndAfterExport: big(s.recordsEndAfterExport),
    unknownElements: s.unknownElements,
    packetsDenied: big(s.packetsDenied),
    firstSeenMs: big(s.firstSeenMs),
    lastSeenMs: big(s.lastSeenMs),
    versions: s.versions,
    observationDomains: s.domains,
    samplingRates: s.samplingRates,
    transports: s.transports,
    updatedAtMs: big(nowMs),
  };
}

/** Replica-wide facts written beside the exporters (socket drops cannot be told apart per exporter). */
export interface ReplicaFacts {
  socketDrops: number;
  packetsDenied: number;
  recordsDropped: number;
  tcpConnections: number;
  workers: number;
}

/**
 * The main thread's view of every exporter: the latest snapshot from each
 * decoding thread, summed, and written to the KV bucket `fh_exporters`
 * under `<exporter>.<replica>` when it moved; the replica's own facts go to
 * `fh_ingest_replicas` under `<replica>`.
 */
export class ExporterBook {
  /** exporter → thread index → latest snapshot. */
  private readonly byExporter = new Map<string, Map<number, ExporterSnapshot>>();
  private readonly changed = new Set<string>();
  private readonly replicaId: string;
  private readonly log: RateLimitedLog;
  private kv: KvBucket | undefined;
  private replicas: KvBucket | undefined;
  kvWrites = 0;
  kvWriteErrors = 0;

  constructor(replicaId: string, log: Logger) {
    this.replicaId = replicaId;
    this.log = new RateLimitedLog(log);
  }

  async start(bus: Bus): Promise<void> {
    this.kv = await bus.kv(KV_BUCKETS.exporters);
    this.replicas = await bus.kv(KV_BUCKETS.ingestReplicas);
  }

  /** Takes one thread's snapshots of the exporters that moved. */
  update(thread: number, snaps: readonly ExporterSnapshot[]): void {
    for (const s of snaps) {
      let m = this.byExporter.get(s.exporter);
      if (!m) this.byExporter.set(s.exporter, (m = new Map()));
      m.set(thread, s);
      this.changed.add(s.exporter);
    }
  }

  /** One exporter summed over the threads. */
  total(exporter: string): ExporterSnapshot | undefined {
    const m = this.byExporter.get(exporter);
    if (!m) return undefined;
    let acc: ExporterSnapshot | undefined;
    for (const s of m.values()) acc = acc ? addSnapshot(acc, s) : s;
    return acc;
  }

  *totals(): IterableIterator<ExporterSnapshot> {
    for (const k of this.byExporter.keys()) {
      const t = this.total(k);
      if (t) yield t;
    }
  }

  get size(): number {
    return this.byExporter.size;
  }

  /** Writes the exporters that moved since the last call, and the replica's own facts. */
  async write(facts: ReplicaFacts, nowMs = Date.now()): Promise<void> {
    const kv = this.kv;
    const replicas = this.replicas;
    if (!kv || !replicas) return;
    const names = [...this.changed];
    this.changed.clear();
    // A bounded number of KV writes in flight: thousands of exporters must not flood the bus at once.
    for (let i = 0; i < names.length; i += WRITE_CONCURRENCY) {
      const chunk = names.slice(i, i + WRITE_CONCURRENCY);
      const results = await Promise.allSettled(
        chunk.map((name) => {
          const t = this.total(name)!;
          return kv.put(exporterStatsKvKey(name, this.replicaId), ExporterStats.encode(snapshotToProto(t, this.replicaId, nowMs)).finish());
        }),
      );
      results.forEach((res, k) => this.settled(res, chunk[k]));
    }
    const r: IngestReplicaStats = {
      replica: this.replicaId,
      socketDrops: big(facts.socketDrops),
      packetsDenied: big(facts.packetsDenied),
      recordsDropped: big(facts.recordsDropped),
      tcpConnections: facts.tcpConnections,
      workers: facts.workers,
      updatedAtMs: big(nowMs),
    };
    const [res] = await Promise.allSettled([replicas.put(kvSafe(this.replicaId), IngestReplicaStats.encode(r).finish())]);
    this.settled(res, undefined);
  }

  private settled(res: PromiseSettledResult<void>, exporter: string | undefined): void {
    if (res.status === 'fulfilled') {
      this.kvWrites++;
      return;
    }
    this.kvWriteErrors++;
    // Written again next time.
    if (exporter !== undefined) this.changed.add(exporter);
    this.log.warn('exporter-stats', { err: res.reason, exporter }, 'could not write exporter statistics to the registry; retrying at the next interval');
  }
}
