// The HTTP path to a ClickHouse server, against a stand-in endpoint that
// records what the client sends (no ClickHouse server exists on this
// machine: Debian's is from 2018 and predates the types we use).
import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '@flowhound/runtime';
import { ColumnarBatch, FLOW_COLUMNS, FLOWS_TABLE, storedColumns } from '@flowhound/schema';
import { batchIdHash, nativeBlock } from './native.ts';
import { Store } from './store.ts';

describe('store over HTTP', () => {
  let server: Server;
  let url = '';
  const posts: { query: string; token: string | null; body: Buffer }[] = [];

  beforeAll(async () => {
    server = createServer((req, res) => {
      const u = new URL(req.url ?? '/', 'http://x');
      if (u.pathname === '/ping') return void res.end('Ok.\n');
      const chunks: Buffer[] = [];
      req.on('data', (d: Buffer) => chunks.push(d));
      req.on('end', () => {
        posts.push({ query: u.searchParams.get('query') ?? '', token: u.searchParams.get('insert_deduplication_token'), body: Buffer.concat(chunks) });
        res.setHeader('X-ClickHouse-Summary', '{"written_rows":"2"}');
        res.end('');
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const a = server.address();
    url = `http://127.0.0.1:${typeof a === 'object' && a ? a.port : 0}`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  it('sends a batch in Native format with its deduplication token', async () => {
    const store = await Store.open({ url, dataDir: '', database: 'fh', username: 'default', password: '', log: silentLogger() });
    const b = new ColumnarBatch(FLOW_COLUMNS, 2);
    b.rows = 2;
    (b.column('bytes') as Float64Array)[1] = 1234;
    await store.insertBatch(FLOWS_TABLE, b, 'replica@1:7');
    await store.close();
    const insert = posts.find((p) => p.query.startsWith('INSERT'));
    expect(insert?.query).toMatch(/^INSERT INTO `fh`\.`flows` \(`time_received`, .*`batch_id`\) FORMAT Native/);
    expect(insert?.token).toBe('replica@1:7');
    // The body is the same Native block the chDB path stages in a file.
    expect(insert!.body.equals(Buffer.from(nativeBlock(b, batchIdHash('replica@1:7'))))).toBe(true);
    // Native block header: column count, row count.
    expect([insert!.body[0], insert!.body[1]]).toEqual([storedColumns(FLOWS_TABLE).length, 2]);
  });
});
