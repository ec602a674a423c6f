import { describe, expect, it } from 'vitest';
import { ColumnarBatch } from './batch.ts';
import { CONVERSATION_COLUMNS, FLOW_COLUMNS } from './columns.ts';
import { formatIp, parseIp } from './ip.ts';

const at = (name: string) => FLOW_COLUMNS.findIndex((c) => c.name === name);

describe('touched columns', () => {
  it('starts with no column touched; column() marks the one it hands out, read() does not', () => {
    const b = new ColumnarBatch(FLOW_COLUMNS, 4);
    expect(Array.from(b.touched)).toEqual(FLOW_COLUMNS.map(() => 0));
    b.read('bytes');
    expect(b.touched[at('bytes')]).toBe(0);
    b.column('bytes');
    expect(b.touched[at('bytes')]).toBe(1);
    expect(b.touched.reduce((a, x) => a + x, 0)).toBe(1);
    b.touch(at('src_port'));
    expect(b.touched[at('src_port')]).toBe(1);
    b.touchAll();
    expect(b.touched.every((x) => x === 1)).toBe(true);
  });

  it('reset zeroes the touched columns, clears their marks and leaves untouched columns alone', () => {
    const b = new ColumnarBatch(FLOW_COLUMNS, 4);
    b.rows = 3;
    (b.column('bytes') as Float64Array).fill(7, 0, 3);
    parseIp('2001:db8::1', b.column('src_addr') as Uint8Array, 2 * 16);
    (b.column('ingress_acl') as string[])[1] = 'acl';
    // Written without marking: the producer broke the contract, and reset does not look at it.
    (b.data[at('dst_port')] as Uint16Array)[0] = 443;
    b.reset();
    expect(b.rows).toBe(0);
    expect(Array.from(b.touched).every((x) => x === 0)).toBe(true);
    expect(Array.from((b.read('bytes') as Float64Array).subarray(0, 3))).toEqual([0, 0, 0]);
    expect(formatIp(b.read('src_addr') as Uint8Array, 2 * 16)).toBe('::');
    expect((b.read('ingress_acl') as string[])[1]).toBe('');
    expect((b.read('dst_port') as Uint16Array)[0]).toBe(443);
  });

  it('gives every batch and every reset a fill of its own', () => {
    const a = new ColumnarBatch(FLOW_COLUMNS, 2);
    const b = new ColumnarBatch(FLOW_COLUMNS, 2);
    const seen = new Set([a.fill, b.fill]);
    a.reset();
    seen.add(a.fill);
    b.reset();
    seen.add(b.fill);
    expect(seen.size).toBe(4);
  });

  it('copies only the columns touched in the source row’s batch, and marks them in the copy', () => {
    const a = new ColumnarBatch(FLOW_COLUMNS, 4);
    a.rows = 2;
    (a.column('rev_bytes') as Float64Array)[1] = 42;
    (a.column('app_name') as string[])[1] = 'https';
    const b = new ColumnarBatch(CONVERSATION_COLUMNS, 4);
    (b.column('packets') as Float64Array)[0] = 5;
    b.rows = 1;
    const r = b.copyRowFrom(a, 1);
    expect(r).toBe(1);
    expect((b.read('rev_bytes') as Float64Array)[1]).toBe(42);
    expect((b.read('app_name') as string[])[1]).toBe('https');
    expect((b.read('packets') as Float64Array)[1]).toBe(0);
    const marked = CONVERSATION_COLUMNS.filter((_, i) => b.touched[i] === 1).map((c) => c.name);
    expect(marked.sort()).toEqual(['app_name', 'packets', 'rev_bytes']);
  });

  it('copies nothing stale: a row copied after the source was reset and refilled with other columns', () => {
    const a = new ColumnarBatch(FLOW_COLUMNS, 4);
    a.rows = 1;
    (a.column('ingress_acl') as string[])[0] = 'old';
    (a.column('bytes') as Float64Array)[0] = 9;
    a.reset();
    a.rows = 1;
    (a.column('packets') as Float64Array)[0] = 3;
    const b = new ColumnarBatch(FLOW_COLUMNS, 4);
    b.copyRowFrom(a, 0);
    expect((b.read('ingress_acl') as string[])[0]).toBe('');
    expect((b.read('bytes') as Float64Array)[0]).toBe(0);
    expect((b.read('packets') as Float64Array)[0]).toBe(3);
    expect(b.touched[at('ingress_acl')]).toBe(0);
  });
});

describe('lazy batches', () => {
  it('share zero columns until a column is touched, then own it', () => {
    const a = new ColumnarBatch(FLOW_COLUMNS, 100, { lazy: true });
    const b = new ColumnarBatch(FLOW_COLUMNS, 70, { lazy: true });
    // Untouched: the same zero storage (rounded-up capacity), reading zeros.
    expect(a.read('bytes')).toBe(b.read('bytes'));
    expect((a.read('bytes') as Float64Array)[99]).toBe(0);
    expect((a.read('app_name') as string[])[5]).toBe('');
    // Writing through column() gives a its own storage; b still reads zeros.
    (a.column('bytes') as Float64Array)[3] = 42;
    expect(a.read('bytes')).not.toBe(b.read('bytes'));
    expect((b.read('bytes') as Float64Array)[3]).toBe(0);
    expect((new ColumnarBatch(FLOW_COLUMNS, 10, { lazy: true }).read('bytes') as Float64Array)[3]).toBe(0);
    // touch(i) too, and copyRowFrom into a lazy batch.
    const i = b.indexOf('src_port');
    b.touch(i);
    (b.data[i] as Uint16Array)[0] = 443;
    expect((a.read('src_port') as Uint16Array)[0]).toBe(0);
    a.rows = 4;
    const c = new ColumnarBatch(FLOW_COLUMNS, 8, { lazy: true });
    c.copyRowFrom(a, 3);
    expect((c.read('bytes') as Float64Array)[0]).toBe(42);
    expect((new ColumnarBatch(FLOW_COLUMNS, 8, { lazy: true }).read('bytes') as Float64Array)[0]).toBe(0);
    // reset() leaves shared columns alone and zeroes owned ones.
    a.reset();
    expect((a.read('bytes') as Float64Array)[3]).toBe(0);
  });
});
