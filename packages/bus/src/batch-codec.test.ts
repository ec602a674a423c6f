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
