import type { ColumnDef, ColumnKind } from './columns.ts';

export type ColumnStorage = Uint8Array | Uint16Array | Uint32Array | Float64Array | string[];

/** Bytes per row of each storage kind (strings are variable). */
export const KIND_WIDTH: Readonly<Record<ColumnKind, number>> = Object.freeze({
  u8: 1,
  u16: 2,
  u32: 4,
  u64: 8,
  time: 8,
  ip: 16,
  str: 0,
});

export function allocColumn(kind: ColumnKind, capacity: number): ColumnStorage {
  switch (kind) {
    case 'u8':
      return new Uint8Array(capacity);
    case 'u16':
      return new Uint16Array(capacity);
    case 'u32':
      return new Uint32Array(capacity);
    case 'u64':
    case 'time':
      return new Float64Array(capacity);
    case 'ip':
      return new Uint8Array(capacity * 16);
    case 'str':
      return new Array<string>(capacity).fill('');
  }
}

/** Zero columns shared by lazy batches, by kind and capacity; never written (see the constructor). */
const ZEROS = new Map<string, ColumnStorage>();
const SHARED = new WeakSet<object>();

function sharedZero(kind: ColumnKind, capacity: number): ColumnStorage {
  // Rounded up to a power of two so that batches of any row count share a
  // few zero columns (a longer zero column reads the same for every row).
  let cap = 16;
  while (cap < capacity) cap *= 2;
  const key = `${kind}:${cap}`;
  let z = ZEROS.get(key);
  if (!z) {
    z = allocColumn(kind, cap);
    ZEROS.set(key, z);
    SHARED.add(z);
  }
  return z;
}

/** Source of `ColumnarBatch.fill`: one number per batch and per reset, never reused. */
let fills = 0;

/**
 * A fixed-capacity columnar batch of rows. Producers fill rows in place
 * (no object per row); a full batch is handed on and a fresh one taken.
 * Unwritten cells are zero (or '' for strings).
 *
 * Most of the ~80 columns are zero for most exporters, so the batch keeps
 * one `touched` byte per column: 1 once anything may have written it since
 * the last `reset()`. Reset zeroes only touched columns and the bus encoder
 * leaves untouched ones out (packages/bus batch-codec.ts). Invariant: an
 * untouched column is zero in every cell, and so is every cell at or past
 * `rows` in every column. A producer that writes `data[i]` directly must
 * call `touch(i)` (or set `touched[i] = 1`) after the `reset()` that
 * precedes the write, or the value is not sent; `column(name)` marks for
 * the caller.
 */
export class ColumnarBatch {
  readonly columns: readonly ColumnDef[];
  readonly capacity: number;
  readonly data: ColumnStorage[];
  /** 1 per column written since the last reset (see the class comment); only `reset()` clears it. */
  readonly touched: Uint8Array;
  rows: number;
  /**
   * Identifies this batch between two resets, unique across batches: a
   * producer that marked its columns in fill F need not mark them again
   * while `fill === F` (the decoder marks once per data set, not per record).
   */
  fill: number;
  private readonly index: Map<string, number>;
  private readonly ipCol: Uint8Array;

  /**
   * `lazy`: untouched columns share one read-only zero column per kind and
   * capacity, and get storage of their own when first touched. For batches
   * that are filled once and column by column (decoded from the bus, built
   * by a stage): most of ~80 columns are never used, and allocating them
   * for every bus message was most of a consumer's garbage. Writers of a
   * lazy batch must go through `column()` or `touch(i)` before they index
   * `data[i]`; hot-path producers that set `touched[i]` directly (the
   * decoder) use eager batches.
   */
  constructor(columns: readonly ColumnDef[], capacity: number, opts: { lazy?: boolean } = {}) {
    this.columns = columns;
    this.capacity = capacity;
    this.rows = 0;
    this.fill = ++fills;
    this.data = columns.map((c) => (opts.lazy ? sharedZero(c.kind, capacity) : allocColumn(c.kind, capacity)));
    this.touched = new Uint8Array(columns.length);
    this.ipCol = Uint8Array.from(columns, (c) => (c.kind === 'ip' ? 1 : 0));
    this.index = new Map(columns.map((c, i) => [c.name, i]));
  }

  /** Column position by name; throws on a name the schema lacks. */
  indexOf(name: string): number {
    const i = this.index.get(name);
    if (i === undefined) throw new Error(`no column ${name} in this batch`);
    return i;
  }

  /**
   * A column's storage, to write: marks it touched. Slow-path writers go
   * through here so that none can forget to mark; hot paths index `data`
   * and call `touch` once per batch fill instead.
   */
  column(name: string): ColumnStorage {
    const i = this.indexOf(name);
    this.touch(i);
    return this.data[i];
  }

  /** A column's storage, only to read: leaves the touched flag alone. */
  read(name: string): ColumnStorage {
    return this.data[this.indexOf(name)];
  }

  /** Marks column `i` as written in this fill (and gives it storage of its own if it shared the zero column). */
  touch(i: number): void {
    this.touched[i] = 1;
    if (SHARED.has(this.data[i])) this.data[i] = allocColumn(this.columns[i].kind, this.capacity);
  }

  /** Marks every column: for a producer that cannot say which columns it writes. */
  touchAll(): void {
    for (let i = 0; i < this.touched.length; i++) this.touch(i);
  }

  get full(): boolean {
    return this.rows >= this.capacity;
  }

  /**
   * Empties the batch: zeroes the used rows of touched columns (untouched
   * ones are zero already) and clears the flags, so unwritten cells read 0.
   */
  reset(): void {
    const n = this.rows;
    const t = this.touched;
    for (let i = 0; i < t.length; i++) {
      if (t[i] === 0) continue;
      t[i] = 0;
      const d = this.data[i];
      if (Array.isArray(d)) d.fill('', 0, n);
      else d.fill(0, 0, this.ipCol[i] === 1 ? n * 16 : n);
    }
    this.rows = 0;
    this.fill = ++fills;
  }

  /**
   * Copies row `src` of another batch with the same or a prefix schema.
   * Only the columns touched in `other` are copied (the rest are zero there,
   * and the new row is zero here) and they are marked touched here.
   */
  copyRowFrom(other: ColumnarBatch, src: number): number {
    const dst = this.rows++;
    const n = Math.min(this.data.length, other.data.length);
    const from = other.touched;
    const to = this.touched;
    for (let i = 0; i < n; i++) {
      if (from[i] === 0) continue;
      if (to[i] === 0) this.touch(i);
      const a = this.data[i];
      const b = other.data[i];
      if (this.ipCol[i] === 1) {
        (a as Uint8Array).set((b as Uint8Array).subarray(src * 16, src * 16 + 16), dst * 16);
      } else {
        (a as Float64Array)[dst] = (b as Float64Array)[src];
      }
    }
    return dst;
  }
}
