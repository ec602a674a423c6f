// Retention (TTL) per table on chDB: defaults, a changed setting reaching an
// existing table through migrate, whole day partitions dropped.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '@flowhound/runtime';
import { CONVERSATIONS_TABLE, STORED_TABLES } from '@flowhound/schema';
import { parseTtlDays } from './migrations.ts';
import { Store } from './store.ts';
import { conversations } from './test-data.ts';

const DAY = 86_400_000;

describe('retention on chDB', () => {
  let dir: string;
  let store: Store;
  const ttlOf = async (table: string) => {
    const [[e]] = await store.rows<[string]>("SELECT engine_full FROM system.tables WHERE database = 'fh' AND name = {t:String}", { t: table });
    return parseTtlDays(e);
  };
  /** Rows per day partition of the conversations table, from its parts. */
  const partitions = async () =>
    Object.fromEntries(
      (await store.rows<[string, number]>("SELECT partition, sum(rows) FROM system.parts WHERE database = 'fh' AND table = 'conversations' AND active GROUP BY partition ORDER BY partition")).map(
        ([p, n]) => [p, Number(n)],
      ),
    );
  const day = (ago: number) => new Date(Date.now() - ago * DAY).toISOString().slice(0, 10).replaceAll('-', '');
  /** 144 conversations through the day `ago` days back (one every 10 minutes), as one insert. */
  const insertDay = async (ago: number) => {
    const b = conversations({ rows: 144, startMs: 0, spanMs: 1, seed: ago });
    const t = b.column('time_received') as Float64Array;
    const midnight = Math.floor((Date.now() - ago * DAY) / DAY) * DAY;
    for (let r = 0; r < 144; r++) t[r] = midnight + r * 600_000;
    await store.insertBatch(CONVERSATIONS_TABLE, b, `day-${ago}`);
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'fh-retention-'));
    // The store's own retention (process configuration) and migrate's (the writer's) combine.
    store = await Store.open({ url: '', dataDir: dir, database: 'fh', username: '', password: '', log: silentLogger(), ttlDays: { security_events: 400 } });
    await store.migrate();
  });
  afterAll(async () => {
    await store?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('gives every table its default retention, and the configured one where set', async () => {
    const want: Record<string, number> = { flows: 30, conversations: 30, host_traffic_1m: 395, host_traffic_1h: 395, host_group_traffic_1h: 395, host_peers_1h: 395, security_events: 400, alarms: 730 };
    for (const [t, d] of Object.entries(want)) expect(await ttlOf(t), t).toBe(d);
    for (const t of STORED_TABLES) expect(await ttlOf(t.name), t.name).toBeGreaterThan(0);
  });

  it('shortening a table’s retention drops its expired day partitions whole and leaves the rollups alone', async () => {
    for (const ago of [3, 12, 20]) await insertDay(ago);
    expect(await partitions()).toEqual({ [day(20)]: 144, [day(12)]: 144, [day(3)]: 144 });
    const [[rolled]] = await store.rows<[number]>('SELECT sum(flows_as_src) FROM fh.host_traffic_1h');
    expect(Number(rolled)).toBe(3 * 144);

    const r = await store.migrate({ ttlDays: { conversations: 10 } });
    expect(r.statements).toEqual(['ALTER TABLE `fh`.`conversations` MODIFY TTL toDateTime(time_received) + INTERVAL 10 DAY DELETE']);
    expect(await ttlOf('conversations')).toBe(10);
    // Days 20 and 12 are wholly past 10 days: their parts are emptied as a whole.
    expect(await partitions()).toEqual({ [day(20)]: 0, [day(12)]: 0, [day(3)]: 144 });
    const [[n]] = await store.rows<[number]>('SELECT count() FROM fh.conversations');
    expect(Number(n)).toBe(144);
    // The rollups keep their 13 months.
    const [[still]] = await store.rows<[number]>('SELECT sum(flows_as_src) FROM fh.host_traffic_1h');
    expect(Number(still)).toBe(3 * 144);
    // Running again with the same setting changes nothing.
    expect((await store.migrate({ ttlDays: { conversations: 10 } })).statements).toEqual([]);
  });

  it('keeps a partly expired day whole until a merge (ttl_only_drop_parts), and drops its old rows on OPTIMIZE FINAL', async () => {
    // Day 10 straddles the 10-day cutoff: rows before now − 10 days have expired.
    await insertDay(10);
    const cutoff = Date.now() - 10 * DAY;
    const midnight = Math.floor(cutoff / DAY) * DAY;
    const expired = Math.ceil((cutoff - midnight) / 600_000);
    await store.client.command({ query: 'ALTER TABLE fh.conversations MATERIALIZE TTL' });
    expect((await partitions())[day(10)]).toBe(144);
    await store.client.command({ query: `OPTIMIZE TABLE fh.conversations PARTITION '${day(10)}' FINAL` });
    const left = (await partitions())[day(10)];
    expect(Math.abs(left - (144 - expired))).toBeLessThanOrEqual(1); // the clock moves between the two
  });

  it('changes a rollup’s retention the same way', async () => {
    const r = await store.migrate({ ttlDays: { conversations: 10, host_traffic_1m: 90 } });
    expect(r.statements).toEqual(['ALTER TABLE `fh`.`host_traffic_1m` MODIFY TTL time + INTERVAL 90 DAY DELETE']);
    expect(await ttlOf('host_traffic_1m')).toBe(90);
  });
});
