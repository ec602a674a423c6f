import { describe, expect, it } from 'vitest';
import { defaultGrainSeconds, pickSource, type SourceRequest } from './source.ts';

const H = 3_600_000;
const M = 60_000;
const D = 24 * H;
const NOW = Date.UTC(2026, 10, 28, 12, 34, 56);
const HOUR = Math.floor(NOW / H) * H;

const pick = (r: Partial<SourceRequest> & Pick<SourceRequest, 'fromMs' | 'toMs'>) => pickSource({ question: 'host-traffic', nowMs: NOW, ...r });
const table = (r: Parameters<typeof pick>[0]) => pick(r).table;

describe('pickSource', () => {
  it('reads the hourly rollup for ranges of days, the minute rollup for hours, the conversations otherwise', () => {
    expect(table({ fromMs: HOUR - 3 * D, toMs: HOUR })).toBe('host_traffic_1h');
    expect(table({ fromMs: HOUR - 6 * H, toMs: HOUR })).toBe('host_traffic_1m');
    expect(table({ fromMs: HOUR - 20 * M, toMs: HOUR })).toBe('conversations');
    expect([defaultGrainSeconds(3 * D), defaultGrainSeconds(6 * H), defaultGrainSeconds(20 * M)]).toEqual([3600, 60, 1]);
  });

  it('takes a finer table when the grain asks for it, and the coarsest whose buckets divide the grain', () => {
    expect(table({ fromMs: HOUR - 3 * D, toMs: HOUR, grainSeconds: 60 })).toBe('host_traffic_1m');
    expect(table({ fromMs: HOUR - 3 * D, toMs: HOUR, grainSeconds: 300 })).toBe('host_traffic_1m');
    expect(table({ fromMs: HOUR - 3 * D, toMs: HOUR, grainSeconds: 6 * 3600 })).toBe('host_traffic_1h');
    expect(table({ fromMs: HOUR - 3 * D, toMs: HOUR, grainSeconds: 90 })).toBe('conversations');
    // A total over the range: any buckets that fit it.
    expect(table({ fromMs: HOUR - 2 * H, toMs: HOUR, grainSeconds: 2 * 3600 })).toBe('host_traffic_1h');
  });

  it('never counts rows outside the range: edges must fall on bucket boundaries, unless the range ends now', () => {
    expect(table({ fromMs: HOUR - 3 * D + 7 * M, toMs: HOUR })).toBe('host_traffic_1m');
    expect(table({ fromMs: HOUR - 3 * D + 7 * M + 30_000, toMs: HOUR })).toBe('conversations');
    expect(table({ fromMs: HOUR - 3 * D, toMs: HOUR - 5 * M })).toBe('host_traffic_1m');
    expect(table({ fromMs: HOUR - 3 * D, toMs: NOW })).toBe('host_traffic_1h');
  });

  it('skips a table that no longer holds the start of the range, and says when none does', () => {
    // Two hours 60 days ago: the conversations are gone (30 days), the minute rollup has them.
    const old = HOUR - 60 * D;
    expect(pick({ fromMs: old, toMs: old + 2 * H })).toEqual({ table: 'host_traffic_1m', bucketSeconds: 60, grainSeconds: 60, complete: true });
    // With the minute rollup kept 7 days only, the hourly one answers at its grain, or nothing does.
    expect(table({ fromMs: old, toMs: old + 2 * H, grainSeconds: 3600, ttlDays: { host_traffic_1m: 7 } })).toBe('host_traffic_1h');
    expect(pick({ fromMs: old, toMs: old + 2 * H, ttlDays: { host_traffic_1m: 7 } })).toMatchObject({ table: 'conversations', complete: false });
    // Longer retention of the base table makes it answer.
    expect(pick({ fromMs: old + 7 * M, toMs: old + 2 * H, grainSeconds: 1, ttlDays: { conversations: 90 } })).toMatchObject({ table: 'conversations', complete: true });
  });

  it('does not read rollups for times before they began', () => {
    expect(table({ fromMs: HOUR - 3 * D, toMs: HOUR, rollupsSinceMs: HOUR - 2 * D })).toBe('conversations');
  });

  it('answers host groups and peers from their hourly rollups or from the conversations', () => {
    expect(table({ question: 'host-group-traffic', fromMs: HOUR - 3 * D, toMs: HOUR })).toBe('host_group_traffic_1h');
    expect(table({ question: 'host-group-traffic', fromMs: HOUR - 6 * H, toMs: HOUR })).toBe('conversations');
    expect(table({ question: 'host-peers', fromMs: HOUR - 30 * D, toMs: HOUR, grainSeconds: 30 * 86400 })).toBe('host_peers_1h');
  });
});
