import { describe, expect, it } from 'vitest';
import { ColumnarBatch, CONVERSATION_COLUMNS, FLOW_COLUMNS, formatIp, parseIp } from '@flowhound/schema';
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

describe('batch wire format', () => {
  it('is a ColumnarBatch message that the generated protobuf code reads, and reads what it writes', async () => {
    const { ColumnarBatchMsg } = await import('@flowhound/proto');
    const b = new ColumnarBatch(FLOW_COLUMNS, 300);
    b.rows = 300;
    for (let r = 0; r < 300; r++) (b.column('bytes') as Float64Array)[r] = r * 1000;
    const bytes = encodeBatch(b, 'replica-7:42', 'ingest');
    const msg = ColumnarBatchMsg.decode(bytes);
    expect(msg.rows).toBe(300);
    expect(msg.batchId).toBe('replica-7:42');
    expect(msg.producer).toBe('ingest');
    expect(msg.columns.map((c) => c.name)).toEqual(FLOW_COLUMNS.map((c) => c.name));
    const col = msg.columns.find((c) => c.name === 'bytes')!;
    expect(new Float64Array(new Uint8Array(col.data).buffer)[299]).toBe(299_000);
    // And the other way: bytes from the generated encoder decode here.
    const back = decodeBatch(ColumnarBatchMsg.encode(msg).finish(), FLOW_COLUMNS);
    expect(back.batchId).toBe('replica-7:42');
    expect((back.batch.column('bytes') as Float64Array)[299]).toBe(299_000);
  });

  it('reports truncation instead of reading past the end', () => {
    const b = new ColumnarBatch(FLOW_COLUMNS, 8);
    b.rows = 8;
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
