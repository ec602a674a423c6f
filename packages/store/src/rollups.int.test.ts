// The rollups kept by materialized views equal the same aggregates computed
// over the conversations table (chDB). The expected side is written out in
// SQL here, independently of the views' own queries: each conversation row
// counts for both of its addresses, forward bytes as sent by src_addr,
// reverse bytes as sent by dst_addr, both scaled by sampling.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '@flowhound/runtime';
import { CONVERSATIONS_TABLE } from '@flowhound/schema';
import { Store } from './store.ts';
import { chunks, conversations } from './test-data.ts';

const HOUR = 3_600_000;
/** Both sides of every conversation: host, peer, its group, what it sent and received. */
const SIDES = `(
  SELECT time_received, src_addr AS host, dst_addr AS peer, src_host_group AS grp,
         bytes_scaled AS bs, rev_bytes * greatest(sampling_interval, 1) AS br,
         packets_scaled AS ps, rev_packets * greatest(sampling_interval, 1) AS pr, 1 AS as_src
  FROM fh.conversations
  UNION ALL
  SELECT time_received, dst_addr, src_addr, dst_host_group,
         rev_bytes * greatest(sampling_interval, 1), bytes_scaled,
         rev_packets * greatest(sampling_interval, 1), packets_scaled, 0
  FROM fh.conversations)`;

describe('rollups on chDB', () => {
  let dir: string;
  let store: Store;
  const rows = (q: string) => store.rows<unknown[]>(q).then((r) => r.map((x) => x.map((v) => String(v))));

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'fh-rollups-'));
    store = await Store.open({ url: '', dataDir: dir, database: 'fh', username: '', password: '', log: silentLogger() });
    await store.migrate();
    // 6000 conversations from Sunday 21:00 to Monday 03:00: two days, and
    // two weeks of the hourly tables' weekly partitions; in 12 inserts, so
    // that the rollups get many blocks to merge.
    const start = Date.UTC(2026, 10, 22, 21, 0, 0);
    const all = conversations({ rows: 6000, startMs: start, spanMs: 6 * HOUR, seed: 11, hosts: 30 });
    for (const [i, b] of chunks(all, 500).entries()) await store.insertBatch(CONVERSATIONS_TABLE, b, `roll-${i}`);
  });
  afterAll(async () => {
    await store?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const hostTraffic = (t: string) =>
    rows(`SELECT time, host, sum(bytes_sent), sum(bytes_received), sum(packets_sent), sum(packets_received), sum(flows_as_src), sum(flows_as_dst), uniqMerge(peers)
          FROM fh.${t} GROUP BY time, host ORDER BY time, host`);
  const hostTrafficFromBase = (bucket: string) =>
    rows(`SELECT ${bucket}(toDateTime(time_received)) AS t, host, sum(bs), sum(br), sum(ps), sum(pr), countIf(as_src = 1), countIf(as_src = 0), uniqExact(peer)
          FROM ${SIDES} GROUP BY t, host ORDER BY t, host`);

  it('covers two days and several hours', async () => {
    const [[days, hours, n]] = await rows('SELECT uniqExact(toDate(time_received)), uniqExact(toStartOfHour(time_received)), count() FROM fh.conversations');
    expect([days, hours, n]).toEqual(['2', '6', '6000']);
  });

  it('per host per minute equals the conversations summed per minute', async () => {
    const want = await hostTrafficFromBase('toStartOfMinute');
    expect(want.length).toBeGreaterThan(1000);
    expect(await hostTraffic('host_traffic_1m')).toEqual(want);
  });

  it('per host per hour equals the conversations summed per hour', async () => {
    const want = await hostTrafficFromBase('toStartOfHour');
    expect(want.length).toBe(6 * 60); // 30 hosts on each side, 6 hours
    expect(await hostTraffic('host_traffic_1h')).toEqual(want);
  });

  it('per host group per hour equals the conversations summed per group', async () => {
    const got = await rows(`SELECT time, host_group, sum(bytes_sent), sum(bytes_received), sum(packets_sent), sum(packets_received), sum(flows_as_src), sum(flows_as_dst), uniqMerge(hosts)
                            FROM fh.host_group_traffic_1h GROUP BY time, host_group ORDER BY time, host_group`);
    const want = await rows(`SELECT toStartOfHour(toDateTime(time_received)) AS t, grp, sum(bs), sum(br), sum(ps), sum(pr), countIf(as_src = 1), countIf(as_src = 0), uniqExact(host)
                             FROM ${SIDES} GROUP BY t, grp ORDER BY t, grp`);
    expect(want.map((r) => r[1])).toContain('servers');
    expect(got).toEqual(want);
  });

  it('per host and peer per hour equals the conversations summed per pair, and answers a top-N', async () => {
    const got = await rows(`SELECT time, host, peer, sum(bytes_sent), sum(bytes_received), sum(packets_sent), sum(packets_received), sum(flows)
                            FROM fh.host_peers_1h GROUP BY time, host, peer ORDER BY time, host, peer`);
    const want = await rows(`SELECT toStartOfHour(toDateTime(time_received)) AS t, host, peer, sum(bs), sum(br), sum(ps), sum(pr), count()
                             FROM ${SIDES} GROUP BY t, host, peer ORDER BY t, host, peer`);
    expect(got).toEqual(want);
    const host = "toIPv6('10.0.0.7')";
    const top = (q: string) => rows(q);
    expect(
      await top(`SELECT peer, sum(bytes_sent + bytes_received) AS b FROM fh.host_peers_1h WHERE host = ${host} GROUP BY peer ORDER BY b DESC, peer LIMIT 5`),
    ).toEqual(await top(`SELECT peer, sum(bs + br) AS b FROM ${SIDES} WHERE host = ${host} GROUP BY peer ORDER BY b DESC, peer LIMIT 5`));
  });

  it('stay equal after merges (OPTIMIZE FINAL) and after a replayed insert', async () => {
    const before = await hostTraffic('host_traffic_1h');
    // The writer retries an insert with the same token: the base table
    // drops it, and so must every rollup.
    const again = chunks(conversations({ rows: 6000, startMs: Date.UTC(2026, 10, 22, 21, 0, 0), spanMs: 6 * HOUR, seed: 11, hosts: 30 }), 500)[3];
    await store.insertBatch(CONVERSATIONS_TABLE, again, 'roll-3');
    for (const t of ['host_traffic_1m', 'host_traffic_1h', 'host_group_traffic_1h', 'host_peers_1h']) await store.client.command({ query: `OPTIMIZE TABLE fh.${t} FINAL` });
    expect(await hostTraffic('host_traffic_1h')).toEqual(before);
    expect(await hostTraffic('host_traffic_1m')).toEqual(await hostTrafficFromBase('toStartOfMinute'));
    const [[n]] = await rows('SELECT count() FROM fh.host_traffic_1h');
    expect(n).toBe('360'); // merged to one row per (host, hour)
  });
});
