// Which table answers a question over a time range: the coarsest one that
// answers it exactly. Rollups hold time buckets; a bucket can serve a
// question only when the question's grain is a whole number of buckets,
// when the range starts and ends on bucket boundaries (else the edge
// buckets would count rows outside it), when the table still keeps the
// range's start (retention), and when the rollup existed then.
import { CONVERSATIONS_STORED, HOST_GROUP_TRAFFIC_1H, HOST_PEERS_1H, HOST_TRAFFIC_1H, HOST_TRAFFIC_1M, STORED_TABLES } from '@flowhound/schema';

export type RollupQuestion = 'host-traffic' | 'host-group-traffic' | 'host-peers';

/** Tables that answer each question, coarsest first; the base table last (bucket 0: rows). */
const SOURCES: Readonly<Record<RollupQuestion, readonly { table: string; bucketSeconds: number }[]>> = {
  'host-traffic': [
    { table: HOST_TRAFFIC_1H.name, bucketSeconds: 3600 },
    { table: HOST_TRAFFIC_1M.name, bucketSeconds: 60 },
    { table: CONVERSATIONS_STORED.name, bucketSeconds: 0 },
  ],
  'host-group-traffic': [
    { table: HOST_GROUP_TRAFFIC_1H.name, bucketSeconds: 3600 },
    { table: CONVERSATIONS_STORED.name, bucketSeconds: 0 },
  ],
  'host-peers': [
    { table: HOST_PEERS_1H.name, bucketSeconds: 3600 },
    { table: CONVERSATIONS_STORED.name, bucketSeconds: 0 },
  ],
};

export interface SourceRequest {
  readonly question: RollupQuestion;
  /** Range [fromMs, toMs). */
  readonly fromMs: number;
  readonly toMs: number;
  /**
   * Width of the answer's time buckets in seconds (a time series at one
   * point a minute: 60). Absent: defaultGrainSeconds(range). A total over
   * the whole range can use any table whose buckets fit the range: give
   * the range's length.
   */
  readonly grainSeconds?: number;
  readonly nowMs?: number;
  /** Retention per table as configured (writer.ttlDays); defaults from packages/schema. */
  readonly ttlDays?: Readonly<Record<string, number>>;
  /** When the rollups began (applied_at of their migration): before it they hold nothing. */
  readonly rollupsSinceMs?: number;
}

export interface SourceChoice {
  readonly table: string;
  /** Bucket of the table in seconds; 0 for the base table (rows). */
  readonly bucketSeconds: number;
  readonly grainSeconds: number;
  /** False when no table still holds the start of the range (retention): the answer covers less than asked. */
  readonly complete: boolean;
}

/** One point an hour for ranges of a day or more, a minute for an hour or more, else rows. */
export function defaultGrainSeconds(rangeMs: number): number {
  if (rangeMs >= 86_400_000) return 3600;
  if (rangeMs >= 3_600_000) return 60;
  return 1;
}

function retentionMs(table: string, ttlDays: Readonly<Record<string, number>> | undefined): number {
  const days = ttlDays?.[table] ?? STORED_TABLES.find((t) => t.name === table)!.ttlDays;
  return days * 86_400_000;
}

export function pickSource(q: SourceRequest): SourceChoice {
  const now = q.nowMs ?? Date.now();
  const grain = q.grainSeconds ?? defaultGrainSeconds(q.toMs - q.fromMs);
  const holds = (table: string) => q.fromMs >= now - retentionMs(table, q.ttlDays);
  const candidates = SOURCES[q.question];
  for (const c of candidates) {
    if (c.bucketSeconds === 0) break;
    const b = c.bucketSeconds * 1000;
    if (grain % c.bucketSeconds !== 0) continue;
    if (q.fromMs % b !== 0) continue;
    // A range that ends now (or later) has no rows after its end to miscount.
    if (q.toMs % b !== 0 && q.toMs < now) continue;
    if (!holds(c.table)) continue;
    if (q.rollupsSinceMs !== undefined && q.fromMs < q.rollupsSinceMs) continue;
    return { table: c.table, bucketSeconds: c.bucketSeconds, grainSeconds: grain, complete: true };
  }
  const base = candidates[candidates.length - 1];
  return { table: base.table, bucketSeconds: 0, grainSeconds: grain, complete: holds(base.table) };
}
