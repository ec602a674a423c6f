// The store against the real ClickHouse engine (chDB) in a temp folder.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '@flowhound/runtime';
import { ColumnarBatch, FLOW_COLUMNS, FLOWS_TABLE, parseIp, STORED_TABLES, storedColumns } from '@flowhound/schema';
import { writeFileSync } from 'node:fs';
import { batchIdHash, sortedNativeGroup } from './native.ts';
import { orderBySql } from '@flowhound/schema';
import { Store } from './store.ts';

function batch(rows: number, seed: number): ColumnarBatch {
  const b = new ColumnarBatch(FLOW_COLUMNS, rows);
  const src = b.column('src_addr') as Uint8Array;
  for (let r = 0; r < rows; r++) {
    b.rows++;
    parseIp(r % 2 ? `10.0.${seed}.${r % 250}` : `2001:db8::${r.toString(16)}`, src, r * 16);
    (b.column('bytes') as Float64Array)[r] = 1000 + r;
    (b.column('packets') as Float64Array)[r] = 1 + r;
    (b.column('time_received') as Float64Array)[r] = Date.UTC(2026, 10, 2, 9, 0, 0, r);
    (b.column('flow_start') as Float64Array)[r] = Date.UTC(2026, 10, 2, 8, 59, 0, r);
    (b.column('flow_end') as Float64Array)[r] = Date.UTC(2026, 10, 2, 9, 0, 0, r);
  }
  return b;
}

describe('store on chDB', () => {
  let dir: string;
  let store: Store;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'fh-store-'));
    store = await Store.open({ url: '', dataDir: dir, database: 'fh', username: '', password: '', log: silentLogger() });
    await store.migrate();
  });
  afterAll(async () => {
    await store?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('migrations can run again without harm', async () => {
    const again = await store.migrate();
    expect(again.statements).toEqual([]);
    const [[n]] = await store.rows<[number]>("SELECT count() FROM system.tables WHERE database = 'fh' AND engine LIKE '%MergeTree'");
    expect(n).toBe(STORED_TABLES.length + 1); // and the ledger
  });

  it('adds the columns a table from an older schema lacks', async () => {
    await store.client.command({ query: 'ALTER TABLE fh.flows DROP COLUMN bytes_scaled' });
    await store.client.command({ query: 'ALTER TABLE fh.flows DROP COLUMN app_name' });
    await store.client.command({ query: 'ALTER TABLE fh.flows DROP COLUMN batch_id' });
    await store.migrate();
    const cols = (await store.rows<[string]>("SELECT name FROM system.columns WHERE database = 'fh' AND table = 'flows'")).map((r) => r[0]);
    expect(cols).toContain('bytes_scaled');
    expect(cols).toContain('app_name');
    expect(cols).toContain('batch_id');
    expect(cols.length).toBe(storedColumns(FLOWS_TABLE).length);
  });

  it('inserts every column faithfully', async () => {
    await store.insertBatch(FLOWS_TABLE, batch(10, 1), 'b1');
    const rows = await store.rows<[string, number, number, number]>(
      "SELECT toString(src_addr), bytes, packets, toUnixTimestamp64Milli(flow_start) FROM fh.flows WHERE src_addr = toIPv6('::ffff:10.0.1.3')",
    );
    expect(rows).toEqual([['::ffff:10.0.1.3', 1003, 4, Date.UTC(2026, 10, 2, 8, 59, 0, 3)]]);
  });

  it('a batch replayed with the same token is not inserted twice', async () => {
    const b = batch(100, 2);
    await store.insertBatch(FLOWS_TABLE, b, 'replayed');
    await store.insertBatch(FLOWS_TABLE, b, 'replayed');
    await store.insertBatch(FLOWS_TABLE, b, 'another');
    const [[n]] = await store.rows<[number]>('SELECT count() FROM fh.flows');
    expect(n).toBe(10 + 100 + 100);
  });

  it('stores every column kind exactly (Native encoding)', async () => {
    const b = new ColumnarBatch(FLOW_COLUMNS, 2);
    b.rows = 2;
    const set = (name: string, r: number, v: number) => ((b.column(name) as Float64Array)[r] = v);
    set('time_received', 0, Date.UTC(2026, 10, 3, 1, 2, 3, 456));
    set('time_received', 1, Date.UTC(2026, 10, 3, 1, 2, 3, 457));
    set('flow_version', 0, 10);
    set('template_id', 0, 65535);
    set('observation_domain_id', 0, 4294967295);
    set('bytes', 0, 2 ** 40 + 5);
    set('packets', 0, 2 ** 53 - 1);
    parseIp('2001:db8::42', b.column('src_addr') as Uint8Array, 0);
    parseIp('192.0.2.7', b.column('dst_addr') as Uint8Array, 0);
    (b.column('app_name') as string[])[0] = 'tab\there, new\nline, quote \' and ünïcødé';
    (b.column('http_host') as string[])[1] = 'x'.repeat(300);
    await store.insertBatch(FLOWS_TABLE, b, 'kinds');
    const rows = await store.rows<unknown[]>(
      `SELECT toUnixTimestamp64Milli(time_received), flow_version, template_id, observation_domain_id, toString(bytes), toString(packets),
              toString(src_addr), toString(dst_addr), app_name, length(http_host), batch_id
       FROM fh.flows WHERE toDate(time_received) = '2026-11-03' ORDER BY time_received`,
    );
    expect(rows).toEqual([
      [Date.UTC(2026, 10, 3, 1, 2, 3, 456), 10, 65535, 4294967295, String(2 ** 40 + 5), String(2 ** 53 - 1), '2001:db8::42', '::ffff:192.0.2.7', 'tab\there, new\nline, quote \' and ünïcødé', 0, batchIdHash('kinds')],
      [Date.UTC(2026, 10, 3, 1, 2, 3, 457), 0, 0, 0, '0', '0', '::', '::', '', 300, batchIdHash('kinds')],
    ]);
  });

  it('finds stored batches by id and removes them', async () => {
    const a = batch(30, 7);
    const c = batch(20, 8);
    await store.insertBatch(FLOWS_TABLE, a, 'ledger-a');
    await store.insertBatch(FLOWS_TABLE, c, 'ledger-c');
    const from = Date.UTC(2026, 10, 2, 9, 0, 0, 0);
    const to = Date.UTC(2026, 10, 2, 9, 0, 1, 0);
    const ids = [batchIdHash('ledger-a'), batchIdHash('ledger-c'), batchIdHash('never-stored')];
    const found = await store.storedBatchRows(FLOWS_TABLE, ids, from, to);
    expect(Object.fromEntries(found)).toEqual({ [ids[0]]: 30, [ids[1]]: 20 });
    // Outside the time span nothing is looked at.
    expect((await store.storedBatchRows(FLOWS_TABLE, ids, to + 1000, to + 2000)).size).toBe(0);
    await store.deleteBatches(FLOWS_TABLE, [ids[0]]);
    expect(Object.fromEntries(await store.storedBatchRows(FLOWS_TABLE, ids, from, to))).toEqual({ [ids[1]]: 20 });
  });

  it('sorts a group the way ClickHouse orders the table, and leaves untouched columns out', async () => {
    let seed = 7;
    const rnd = (n: number) => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) % n);
    const batches = [0, 1, 2].map((k) => {
      const b = new ColumnarBatch(FLOW_COLUMNS, 200);
      for (let r = 0; r < 200; r++) {
        b.rows++;
        (b.column('time_received') as Float64Array)[r] = Date.UTC(2026, 10, 4, 10, 0, 0) + rnd(3) * 300_000 + rnd(299_000);
        parseIp(rnd(3) === 0 ? `2001:db8::${rnd(50).toString(16)}` : `10.${rnd(3)}.0.${rnd(20)}`, b.column('src_addr') as Uint8Array, r * 16);
        parseIp(`192.0.2.${rnd(9)}`, b.column('exporter_address') as Uint8Array, r * 16);
        parseIp(rnd(2) ? `198.51.100.${rnd(200)}` : `ff02::${rnd(9)}`, b.column('dst_addr') as Uint8Array, r * 16);
        (b.column('bytes') as Float64Array)[r] = k * 1000 + r;
      }
      return b;
    });
    const g = sortedNativeGroup(FLOWS_TABLE, batches, [11, 22, 33]);
    expect(g.rows).toBe(600);
    expect(g.columns).toEqual(['time_received', 'exporter_address', 'src_addr', 'dst_addr', 'bytes', 'batch_id']);
    const file = join(dir, 'sorted.native');
    writeFileSync(file, Buffer.concat(g.chunks));
    const cols = "toUnixTimestamp64Milli(time_received), toString(exporter_address), toString(src_addr), toString(dst_addr), bytes, batch_id";
    const asWritten = await store.rows(`SELECT ${cols} FROM file('${file}', 'Native')`);
    const asClickHouseOrders = await store.rows(`SELECT ${cols} FROM file('${file}', 'Native') ORDER BY ${orderBySql(FLOWS_TABLE).slice(1, -1)}, batch_id, bytes`);
    expect(asWritten).toEqual(asClickHouseOrders);
    // Every row is there once, with its own batch's id.
    const byBatch = await store.rows<[number, number, number]>(`SELECT batch_id, count(), sum(bytes) FROM file('${file}', 'Native') GROUP BY batch_id ORDER BY batch_id`);
    expect(byBatch.map((r) => r.map(Number))).toEqual([11, 22, 33].map((id, k) => [id, 200, k * 1000 * 200 + (199 * 200) / 2]));
  });
});
