import { describe, expect, it } from 'vitest';
import { ColumnarBatch, CONVERSATION_COLUMNS, FLOW_COLUMNS, KIND_WIDTH, formatIp, parseIp } from '@flowhound/schema';
import { decodeBatch, encodeBatch } from './batch-codec.ts';
import { BatchFormatError } from './errors.ts';

describe('columnar batch encoding', () => {
  it('round-trips every column kind', () => {
    const b = new ColumnarBatch(FLOW_COLUMNS, 4);
    const src = b.column('src_addr') as Uint8Array;
    for (let r = 0; r < 3; r++) {
      b.rows++;
      parseIp(r === 2 ? '2001:db8::7' : `10.0.0.${r + 1}`, src, r * 16);
      (b.column('bytes') as Float64Array)[r] = 2 ** 40 + r;
      (b.column('flow_start') as Float64Array)[r] = 1_793_000_000_123 + r;
      (b.column('dst_port') as Uint16Array)[r] = 443 + r;
      (b.column('protocol') as Uint8Array)[r] = 6;
    }
    const out = decodeBatch(encodeBatch(b, 'r1:7', 'ingest'), FLOW_COLUMNS);
    expect(out.batchId).toBe('r1:7');
    expect(out.batch.rows).toBe(3);
    const d = out.batch;
    expect([0, 1, 2].map((r) => formatIp(d.column('src_addr') as Uint8Array, r * 16))).toEqual(['10.0.0.1', '10.0.0.2', '2001:db8::7']);
    expect(Array.from((d.column('bytes') as Float64Array).subarray(0, 3))).toEqual([2 ** 40, 2 ** 40 + 1, 2 ** 40 + 2]);
    expect(Array.from((d.column('dst_port') as Uint16Array).subarray(0, 3))).toEqual([443, 444, 445]);
    expect((d.column('flow_start') as Float64Array)[2]).toBe(1_793_000_000_125);
  });

  it('leaves columns the producer did not send at zero', () => {
    const b = new ColumnarBatch(FLOW_COLUMNS, 2);
    b.rows = 2;
    (b.column('packets') as Float64Array)[1] = 9;
    const out = decodeBatch(encodeBatch(b, 'x', 'p'), CONVERSATION_COLUMNS).batch;
    expect((out.column('packets') as Float64Array)[1]).toBe(9);
    expect((out.column('enrichment_version') as Uint32Array)[1]).toBe(0);
  });

  it('refuses bytes that are not a batch', () => {
    expect(() => decodeBatch(new Uint8Array([0xff, 0xff, 0xff]), FLOW_COLUMNS)).toThrow(BatchFormatError);
  });
});

describe('untouched columns', () => {
  const names = (b: ColumnarBatch) => b.columns.filter((_, i) => b.touched[i] === 1).map((c) => c.name);

  it('leaves untouched columns out of the message; the consumer reads them as zero', () => {
    const b = new ColumnarBatch(FLOW_COLUMNS, 512);
    b.rows = 512;
    (b.column('bytes') as Float64Array).fill(1500, 0, 512);
    (b.column('dst_port') as Uint16Array).fill(443, 0, 512);
    const narrow = encodeBatch(b, 'n', 'p');
    // Two columns: 8 + 2 bytes a row and a few bytes of framing.
    expect(narrow.byteLength).toBeLessThan(512 * 10 + 100);
    const out = decodeBatch(narrow, FLOW_COLUMNS).batch;
    expect(out.rows).toBe(512);
    expect((out.read('bytes') as Float64Array)[511]).toBe(1500);
    expect((out.read('dst_port') as Uint16Array)[0]).toBe(443);
    for (const c of FLOW_COLUMNS) {
      if (c.name === 'bytes' || c.name === 'dst_port') continue;
      const d = out.read(c.name);
      const zero = c.kind === 'str' ? (d as string[]).every((x) => x === '') : (d as Uint8Array).every((x) => x === 0);
      expect(zero, c.name).toBe(true);
    }
    // Decoding marks what the message carried, so a stage that passes the batch on re-sends it.
    expect(names(out)).toEqual(['dst_port', 'bytes']);
  });

  it('sends no stale cells from an earlier fill of a reused batch', () => {
    const b = new ColumnarBatch(FLOW_COLUMNS, 8);
    const port = b.column('dst_port') as Uint16Array;
    const acl = b.column('ingress_acl') as string[];
    // Fill 1: dst_port and ingress_acl in every row.
    for (let r = 0; r < 8; r++) {
      b.rows++;
      b.touch(b.indexOf('dst_port'));
      port[r] = 1000 + r;
      b.touch(b.indexOf('ingress_acl'));
      acl[r] = `acl-${r}`;
    }
    decodeBatch(encodeBatch(b, '1', 'p'), FLOW_COLUMNS);
    b.reset();
    // Fill 2: neither column.
    b.rows = 8;
    (b.column('bytes') as Float64Array).fill(1, 0, 8);
    const two = decodeBatch(encodeBatch(b, '2', 'p'), FLOW_COLUMNS).batch;
    expect(names(two)).toEqual(['bytes']);
    expect((two.read('ingress_acl') as string[]).slice(0, 8)).toEqual(Array(8).fill(''));
    b.reset();
    // Fill 3: dst_port again, in the last row only: the other rows must read 0, not fill 1's values.
    b.rows = 8;
    (b.column('dst_port') as Uint16Array)[7] = 53;
    const three = decodeBatch(encodeBatch(b, '3', 'p'), FLOW_COLUMNS).batch;
    expect(Array.from((three.read('dst_port') as Uint16Array).subarray(0, 8))).toEqual([0, 0, 0, 0, 0, 0, 0, 53]);
    expect((three.read('bytes') as Float64Array)[0]).toBe(0);
  });

  it('carries the columns of a decoded batch through a stage that adds one', () => {
    const b = new ColumnarBatch(FLOW_COLUMNS, 2);
    b.rows = 2;
    (b.column('packets') as Float64Array)[1] = 9;
    (b.column('app_name') as string[])[0] = 'dns';
    const mid = decodeBatch(encodeBatch(b, 'x', 'ingest'), CONVERSATION_COLUMNS).batch;
    (mid.column('enrichment_version') as Uint32Array).fill(3, 0, mid.rows);
    const out = decodeBatch(encodeBatch(mid, 'x/enrichment', 'enrichment'), CONVERSATION_COLUMNS).batch;
    expect(names(out)).toEqual(['packets', 'app_name', 'enrichment_version']);
    expect((out.read('packets') as Float64Array)[1]).toBe(9);
    expect((out.read('app_name') as string[])[0]).toBe('dns');
    expect((out.read('enrichment_version') as Uint32Array)[1]).toBe(3);
  });
});

describe('batch wire format', () => {
  it('is a ColumnarBatch message that the generated protobuf code reads, and reads what it writes', async () => {
    const { ColumnarBatchMsg } = await import('@flowhound/proto');
    const b = new ColumnarBatch(FLOW_COLUMNS, 300);
    b.rows = 300;
    for (let r = 0; r < 300; r++) (b.column('bytes') as Float64Array)[r] = r * 1000;
    (b.column('ingress_acl') as string[])[7] = 'acl-7';
    b.column('tos'); // touched but left zero: still sent
    const bytes = encodeBatch(b, 'replica-7:42', 'ingest');
    const msg = ColumnarBatchMsg.decode(bytes);
    expect(msg.rows).toBe(300);
    expect(msg.batchId).toBe('replica-7:42');
    expect(msg.producer).toBe('ingest');
    // Only the touched columns, in schema order.
    expect(msg.columns.map((c) => c.name)).toEqual(['tos', 'bytes', 'ingress_acl']);
    const col = msg.columns.find((c) => c.name === 'bytes')!;
    expect(new Float64Array(new Uint8Array(col.data).buffer)[299]).toBe(299_000);
    expect(msg.columns.find((c) => c.name === 'tos')!.data.length).toBe(300);
    // And the other way: bytes from the generated encoder decode here.
    const back = decodeBatch(ColumnarBatchMsg.encode(msg).finish(), FLOW_COLUMNS);
    expect(back.batchId).toBe('replica-7:42');
    expect((back.batch.read('bytes') as Float64Array)[299]).toBe(299_000);
    expect((back.batch.read('ingress_acl') as string[])[7]).toBe('acl-7');
  });

  it('encodes runs, repeats and non-ASCII text, and more distinct values than the encoder remembers', () => {
    const rows = 10_000;
    const b = new ColumnarBatch(FLOW_COLUMNS, rows);
    b.rows = rows;
    const acl = b.column('ingress_acl') as string[];
    const url = b.column('http_url') as string[];
    for (let r = 0; r < rows; r++) {
      acl[r] = r % 3 === 0 ? '' : r < 5000 ? `acl-${r % 7}` : 'ünïcode-☃';
      url[r] = r % 2 === 0 ? `/path/${r}` : `/long/${'x'.repeat(100)}/${r}`;
    }
    for (let pass = 0; pass < 2; pass++) {
      const out = decodeBatch(encodeBatch(b, `t:${pass}`, 'p'), FLOW_COLUMNS).batch;
      expect((out.read('ingress_acl') as string[]).slice(0, rows)).toEqual(acl.slice(0, rows));
      expect((out.read('http_url') as string[]).slice(0, rows)).toEqual(url.slice(0, rows));
    }
  });

  it('reads a message that carries every column, empty ones too, as producers before touched-column tracking sent', async () => {
    const { ColumnarBatchMsg } = await import('@flowhound/proto');
    const rows = 4;
    const columns = FLOW_COLUMNS.map((c) => ({
      name: c.name,
      data: Buffer.alloc(c.kind === 'str' ? 0 : rows * KIND_WIDTH[c.kind]),
      offsets: Buffer.alloc(c.kind === 'str' ? (rows + 1) * 4 : 0),
    }));
    columns.find((c) => c.name === 'dst_port')!.data.writeUInt16LE(53, 3 * 2);
    const bytes = ColumnarBatchMsg.encode(ColumnarBatchMsg.fromPartial({ schemaVersion: 2, rows, columns, batchId: 'old:1', producer: 'ingest' })).finish();
    const out = decodeBatch(bytes, FLOW_COLUMNS).batch;
    expect((out.read('dst_port') as Uint16Array)[3]).toBe(53);
    expect((out.read('src_port') as Uint16Array)[3]).toBe(0);
    expect((out.read('ingress_acl') as string[])[3]).toBe('');
    // Re-encoded by a stage, it keeps the numeric columns and drops the empty text ones.
    const again = ColumnarBatchMsg.decode(encodeBatch(out, 'old:1/stage', 'stage'));
    expect(again.columns.map((c) => c.name)).toEqual(FLOW_COLUMNS.filter((c) => c.kind !== 'str').map((c) => c.name));
  });

  it('leaves out a text column that was touched but is empty in every row', async () => {
    const { ColumnarBatchMsg } = await import('@flowhound/proto');
    const b = new ColumnarBatch(FLOW_COLUMNS, 4);
    b.rows = 4;
    b.column('egress_acl');
    (b.column('ingress_acl') as string[])[2] = 'a';
    expect(ColumnarBatchMsg.decode(encodeBatch(b, 'x', 'p')).columns.map((c) => c.name)).toEqual(['ingress_acl']);
  });

  it('reports truncation instead of reading past the end', () => {
    const b = new ColumnarBatch(FLOW_COLUMNS, 8);
    b.rows = 8;
    b.touchAll();
    const bytes = encodeBatch(b, 'x', 'p');
    for (const cut of [1, 5, 40, bytes.length - 2]) expect(() => decodeBatch(bytes.subarray(0, cut), FLOW_COLUMNS)).toThrow(BatchFormatError);
  });
});

describe('batch decoding from a pooled buffer', () => {
  it('reads string columns from a Buffer that is a view into a larger pool (as NATS delivers them)', () => {
    const strCol = FLOW_COLUMNS.find((c) => c.kind === 'str')!;
    const b = new ColumnarBatch(FLOW_COLUMNS, 3);
    b.rows = 3;
    (b.column(strCol.name) as string[])[1] = 'élan';
    (b.column(strCol.name) as string[])[2] = 'x';
    const bytes = encodeBatch(b, 'p:1', 'test');
    const pool = Buffer.alloc(bytes.length + 1001, 0xee);
    pool.set(bytes, 1001);
    const view = pool.subarray(1001);
    const out = decodeBatch(view, FLOW_COLUMNS).batch;
    expect((out.column(strCol.name) as string[]).slice(0, 3)).toEqual(['', 'élan', 'x']);
  });
});
