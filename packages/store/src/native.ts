import { STORAGE_COLUMNS, type ColumnarBatch, type ColumnDef, type ColumnKind } from '@flowhound/schema';

/**
 * ClickHouse's Native format, written straight from columnar batches.
 *
 * Native is columnar like our batches: a block is a column count, a row
 * count, then per column its name, its type and its values back to back.
 * Fixed-width values are little-endian (IPv6 is 16 bytes in network order),
 * so most columns are one typed-array copy: no per-cell formatting in JS,
 * which is what made TSV inserts cost the ingest thread its CPU. Strings are
 * a varint length and UTF-8 bytes. LowCardinality columns are sent as plain
 * String; ClickHouse converts on insert.
 */

/** The type each storage kind travels as (the table's type may wrap it). */
const WIRE_TYPE: Readonly<Record<ColumnKind, string>> = {
  u8: 'UInt8',
  u16: 'UInt16',
  u32: 'UInt32',
  u64: 'UInt64',
  time: "DateTime64(3, 'UTC')",
  ip: 'IPv6',
  str: 'String',
};

const enc = new TextEncoder();

class Writer {
  buf: Uint8Array;
  view: DataView;
  pos = 0;
  constructor(size: number) {
    this.buf = new Uint8Array(size);
    this.view = new DataView(this.buf.buffer);
  }
  ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const next = new Uint8Array(Math.max(this.buf.length * 2, this.pos + n));
    next.set(this.buf.subarray(0, this.pos));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }
  varint(n: number): void {
    this.ensure(10);
    while (n >= 0x80) {
      this.buf[this.pos++] = (n % 128) | 0x80;
      n = Math.floor(n / 128);
    }
    this.buf[this.pos++] = n;
  }
  raw(b: Uint8Array): void {
    this.ensure(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }
  bytes(b: Uint8Array): void {
    this.varint(b.length);
    this.ensure(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }
}

/** Header bytes (name and type) of each column, computed once per schema. */
const headerCache = new WeakMap<readonly ColumnDef[], Uint8Array[]>();

function headers(columns: readonly ColumnDef[]): Uint8Array[] {
  let h = headerCache.get(columns);
  if (!h) {
    h = [...columns, ...STORAGE_COLUMNS].map((c) => {
      const w = new Writer(64);
      w.bytes(enc.encode(c.name));
      w.bytes(enc.encode(WIRE_TYPE[c.kind]));
      return w.buf.slice(0, w.pos);
    });
    headerCache.set(columns, h);
  }
  return h;
}

/** Column names of a block for `columns`, in block order (for INSERT column lists). */
export function nativeColumnNames(columns: readonly ColumnDef[]): string[] {
  return [...columns, ...STORAGE_COLUMNS].map((c) => c.name);
}

/**
 * One Native block holding a batch's rows and, as the last column, the
 * storage column `batch_id` set to `batchId` on every row. Blocks
 * concatenate: a Native stream is a sequence of blocks.
 */
export function nativeBlock(b: ColumnarBatch, batchId: number): Uint8Array {
  const columns = b.columns;
  const hdr = headers(columns);
  const n = b.rows;
  let size = 20;
  for (let c = 0; c < hdr.length; c++) size += hdr[c].length + 8 * n;
  for (let c = 0; c < columns.length; c++) if (columns[c].kind === 'ip') size += 8 * n;
  const w = new Writer(size);
  w.varint(hdr.length);
  w.varint(n);
  for (let c = 0; c < columns.length; c++) {
    w.raw(hdr[c]);
    writeColumn(w, columns[c].kind, b.data[c], n);
  }
  w.raw(hdr[columns.length]);
  w.ensure(8 * n);
  const lo = batchId % 4294967296;
  const hi = (batchId - lo) / 4294967296;
  for (let r = 0; r < n; r++, w.pos += 8) {
    w.view.setUint32(w.pos, lo, true);
    w.view.setUint32(w.pos + 4, hi, true);
  }
  return w.buf.subarray(0, w.pos);
}

/**
 * A 53-bit hash of a bus batch id (two FNV-1a variants). 2^53 values keep
 * collisions among the batches checked at once (a few thousand) at
 * practically zero, and the value is exact in a JS number and a UInt64.
 */
export function batchIdHash(id: string): number {
  let h1 = 0x811c9dc5;
  let h2 = 0x01000193 ^ id.length;
  for (let i = 0; i < id.length; i++) {
    const c = id.charCodeAt(i);
    h1 = Math.imul(h1 ^ c, 0x01000193);
    h2 = Math.imul(h2 ^ c, 0x5bd1e995);
    h2 ^= h2 >>> 15;
  }
  return (h1 >>> 0) * 2097152 + ((h2 >>> 0) & 0x1fffff);
}

function writeColumn(w: Writer, kind: ColumnKind, d: unknown, n: number): void {
  switch (kind) {
    case 'u8':
    case 'u16':
    case 'u32': {
      const a = d as Uint8Array | Uint16Array | Uint32Array;
      const bytes = new Uint8Array(a.buffer, a.byteOffset, n * a.BYTES_PER_ELEMENT);
      w.ensure(bytes.length);
      w.buf.set(bytes, w.pos);
      w.pos += bytes.length;
      return;
    }
    case 'ip': {
      const a = d as Uint8Array;
      w.ensure(n * 16);
      w.buf.set(a.subarray(0, n * 16), w.pos);
      w.pos += n * 16;
      return;
    }
    case 'u64':
    case 'time': {
      // Float64 in the batch (exact to 2^53), Int64/UInt64 on the wire.
      const a = d as Float64Array;
      w.ensure(n * 8);
      const v = w.view;
      let p = w.pos;
      for (let r = 0; r < n; r++, p += 8) {
        const x = a[r];
        const lo = x % 4294967296;
        v.setUint32(p, lo, true);
        v.setUint32(p + 4, (x - lo) / 4294967296, true);
      }
      w.pos = p;
      return;
    }
    case 'str': {
      const a = d as string[];
      for (let r = 0; r < n; r++) {
        const s = a[r];
        if (s.length === 0) {
          w.ensure(1);
          w.buf[w.pos++] = 0;
          continue;
        }
        w.bytes(enc.encode(s));
      }
      return;
    }
  }
}
