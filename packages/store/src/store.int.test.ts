// The store against the real ClickHouse engine (chDB) in a temp folder.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '@flowhound/runtime';
import { ColumnarBatch, FLOW_COLUMNS, FLOWS_TABLE, parseIp } from '@flowhound/schema';
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
    await store.migrate();
    const [[n]] = await store.rows<[number]>("SELECT count() FROM system.tables WHERE database = 'fh'");
    expect(n).toBe(2);
  });

  it('adds the columns a table from an older schema lacks', async () => {
    await store.client.command({ query: 'ALTER TABLE fh.flows DROP COLUMN bytes_scaled' });
    await store.client.command({ query: 'ALTER TABLE fh.flows DROP COLUMN app_name' });
    await store.migrate();
    const cols = (await store.rows<[string]>("SELECT name FROM system.columns WHERE database = 'fh' AND table = 'flows'")).map((r) => r[0]);
    expect(cols).toContain('bytes_scaled');
    expect(cols).toContain('app_name');
    expect(cols.length).toBe(FLOW_COLUMNS.length);
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
});
