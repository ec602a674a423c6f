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

/**
 * A fixed-capacity columnar batch of rows. Producers fill rows in place
 * (no object per row); a full batch is handed on and a fresh one taken.
 * Unwritten cells are zero (or '' for strings).
 */
export class ColumnarBatch {
  readonly columns: readonly ColumnDef[];
  readonly capacity: number;
  readonly data: ColumnStorage[];
  rows: number;
  private readonly index: Map<string, number>;

  constructor(columns: readonly ColumnDef[], capacity: number) {
    this.columns = columns;
    this.capacity = capacity;
    this.rows = 0;
    this.data = columns.map((c) => allocColumn(c.kind, capacity));
    this.index = new Map(columns.map((c, i) => [c.name, i]));
  }

  /** Column position by name; throws on a name the schema lacks. */
  indexOf(name: string): number {
    const i = this.index.get(name);
    if (i === undefined) throw new Error(`no column ${name} in this batch`);
    return i;
  }

  column(name: string): ColumnStorage {
    return this.data[this.indexOf(name)];
  }

  get full(): boolean {
    return this.rows >= this.capacity;
  }

  /** Empties the batch; zeroes what was used so unwritten cells read 0. */
  reset(): void {
    const n = this.rows;
    for (let i = 0; i < this.data.length; i++) {
      const d = this.data[i];
      if (Array.isArray(d)) d.fill('', 0, n);
      else d.fill(0, 0, this.columns[i].kind === 'ip' ? n * 16 : n);
    }
    this.rows = 0;
  }

  /** Copies row `src` of another batch with the same or a prefix schema. */
  copyRowFrom(other: ColumnarBatch, src: number): number {
    const dst = this.rows++;
    const n = Math.min(this.data.length, other.data.length);
    for (let i = 0; i < n; i++) {
      const a = this.data[i];
      const b = other.data[i];
      if (this.columns[i].kind === 'ip') {
        (a as Uint8Array).set((b as Uint8Array).subarray(src * 16, src * 16 + 16), dst * 16);
      } else {
        (a as Float64Array)[dst] = (b as Float64Array)[src];
      }
    }
    return dst;
  }
}
