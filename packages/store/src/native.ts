import { STORAGE_COLUMNS, type TableDef, type ColumnarBatch, type ColumnDef, type ColumnKind } from '@flowhound/schema';

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

/** One INSERT's worth of rows: a single sorted Native block and its column names. */
export interface NativeGroup {
  /** The block's bytes in order, in pieces. */
  readonly chunks: readonly Uint8Array[];
  readonly bytes: number;
  readonly columns: readonly string[];
  readonly rows: number;
}

/**
 * Encodes many batches as one Native block sorted by the table's sort key,
 * with the storage column `batch_id` set from `ids` (one per batch).
 *
 * Why sort here: ClickHouse sorts every inserted block by ORDER BY and then
 * permutes every column; with ~80 columns that is most of an insert's cost
 * (measured: 3× the rows/s when the block arrives sorted, since it checks
 * and skips). Sorting indexes in JS and gathering only the columns that some
 * batch touched is cheaper than ClickHouse permuting all of them.
 * Columns no batch touched are left out of the block; ClickHouse stores
 * their defaults (zero, empty), which is what they hold.
 */
export function sortedNativeGroup(table: TableDef, batches: readonly ColumnarBatch[], ids: readonly number[]): NativeGroup {
  const columns = table.columns;
  let n = 0;
  for (const b of batches) n += b.rows;
  // Rows in sorted order, as (batch, row) pairs.
  const owner = new Uint32Array(n);
  const local = new Uint32Array(n);
  for (let k = 0, i = 0; k < batches.length; k++) for (let r = 0; r < batches[k].rows; r++, i++) {
    owner[i] = k;
    local[i] = r;
  }
  const order = sortOrder(table, batches, n);
  const srcBatch = new Uint32Array(n);
  const srcRow = new Uint32Array(n);
  for (let i = 0; i < n; i++) {
    srcBatch[i] = owner[order[i]];
    srcRow[i] = local[order[i]];
  }

  const chosen: number[] = [];
  for (let c = 0; c < columns.length; c++) {
    for (const b of batches) {
      if (b.touched[c]) {
        chosen.push(c);
        break;
      }
    }
  }
  // The block as a list of chunks (header, then each column's bytes): they
  // go to the file or the socket as they are, without one more copy.
  const hdr = headers(columns);
  const head = new Writer(20);
  head.varint(chosen.length + 1);
  head.varint(n);
  const chunks: Uint8Array[] = [head.buf.subarray(0, head.pos)];
  const datas: unknown[] = new Array(batches.length);
  for (const c of chosen) {
    chunks.push(hdr[c]);
    for (let k = 0; k < batches.length; k++) datas[k] = batches[k].data[c];
    gatherColumn(chunks, columns[c].kind, datas, srcBatch, srcRow, n);
  }
  chunks.push(hdr[columns.length]);
  const idWords = new Uint32Array(2 * n);
  for (let i = 0; i < n; i++) {
    const id = ids[srcBatch[i]];
    const lo = id >>> 0;
    idWords[2 * i] = lo;
    idWords[2 * i + 1] = (id - lo) / 4294967296;
  }
  chunks.push(new Uint8Array(idWords.buffer));
  let bytes = 0;
  for (const ch of chunks) bytes += ch.length;
  return { chunks, bytes, columns: [...chosen.map((c) => columns[c].name), STORAGE_COLUMNS[0].name], rows: n };
}

/**
 * Row order by (time bucket, key columns): IPs compare as 16 big-endian
 * bytes (ClickHouse compares IPv6 that way), integers by value.
 *
 * The key is flattened into unsigned 32-bit words per row and sorted by an
 * LSD radix sort on 16-bit digits, skipping digits that are equal in every
 * row (an IPv4-mapped address varies in one word of four; a batch spans a
 * few time buckets). It is stable, so ties keep arrival order. A comparison
 * sort of 131k rows took ~100 ms here; this takes a few.
 */
function sortOrder(table: TableDef, batches: readonly ColumnarBatch[], n: number): Uint32Array {
  const bucketMs = table.sortKey.bucketSeconds * 1000;
  const ti = batches.length > 0 ? batches[0].indexOf(table.timeColumn) : 0;
  const keyCols = table.sortKey.columns.map((name) => {
    const i = table.columns.findIndex((c) => c.name === name);
    const kind = table.columns[i].kind;
    if (kind !== 'ip' && kind !== 'u8' && kind !== 'u16' && kind !== 'u32') throw new Error(`sort key column ${name} of ${table.name} must be an ip or 32-bit integer column`);
    return { i, kind };
  });
  let width = 1;
  for (const k of keyCols) width += k.kind === 'ip' ? 4 : 1;
  // words[w * n + g]: word w of row g (word-major, so each pass reads one run).
  const words = new Uint32Array(width * n);
  // Rows are numbered batch by batch (owner/local say the same).
  let minBucket = Infinity;
  for (const b of batches) {
    const t = b.data[ti] as Float64Array;
    for (let r = 0; r < b.rows; r++) {
      const v = Math.floor(t[r] / bucketMs);
      if (v < minBucket) minBucket = v;
    }
  }
  let g0 = 0;
  for (const b of batches) {
    const t = b.data[ti] as Float64Array;
    const m = b.rows;
    // Buckets relative to the earliest: a batch spans hours at most, so the
    // difference fits a word where the absolute bucket number might not.
    for (let r = 0; r < m; r++) words[g0 + r] = Math.min(0xffffffff, Math.floor(t[r] / bucketMs) - minBucket);
    let w = 1;
    for (const k of keyCols) {
      const d = b.data[k.i];
      if (k.kind === 'ip') {
        const a = d as Uint8Array;
        for (let q = 0; q < 16; q += 4, w++) {
          const base = w * n + g0;
          for (let r = 0, p = q; r < m; r++, p += 16) words[base + r] = ((a[p] << 24) | (a[p + 1] << 16) | (a[p + 2] << 8) | a[p + 3]) >>> 0;
        }
      } else {
        const a = d as Uint32Array;
        const base = w++ * n + g0;
        for (let r = 0; r < m; r++) words[base + r] = a[r];
      }
    }
    g0 += m;
  }
  let order = new Uint32Array(n);
  let next = new Uint32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  const count = new Uint32Array(65536);
  // Least significant digit first: last word's low half, …, first word's high half.
  for (let w = width - 1; w >= 0; w--) {
    const base = w * n;
    // Most words are the same in every row (the ::ffff: prefix of IPv4).
    const first = words[base];
    let same = true;
    for (let g = 1; g < n; g++) {
      if (words[base + g] !== first) {
        same = false;
        break;
      }
    }
    if (same) continue;
    for (let shift = 0; shift <= 16; shift += 16) {
      count.fill(0);
      for (let g = 0; g < n; g++) count[(words[base + g] >>> shift) & 0xffff]++;
      if (count[(words[base] >>> shift) & 0xffff] === n) continue;
      let sum = 0;
      for (let d = 0; d < 65536; d++) {
        const c = count[d];
        count[d] = sum;
        sum += c;
      }
      for (let i = 0; i < n; i++) {
        const g = order[i];
        next[count[(words[base + g] >>> shift) & 0xffff]++] = g;
      }
      const t = order;
      order = next;
      next = t;
    }
  }
  return order;
}

// Gathers: one function per storage type so each loop sees one array type
// (V8 keeps it monomorphic). Values are produced in a typed array and copied
// as bytes, which assumes a little-endian host like Native itself (x86-64,
// arm64).
function gatherU8(datas: unknown[], srcBatch: Uint32Array, srcRow: Uint32Array, n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = (datas[srcBatch[i]] as Uint8Array)[srcRow[i]];
  return out;
}
function gatherU16(datas: unknown[], srcBatch: Uint32Array, srcRow: Uint32Array, n: number): Uint8Array {
  const out = new Uint16Array(n);
  for (let i = 0; i < n; i++) out[i] = (datas[srcBatch[i]] as Uint16Array)[srcRow[i]];
  return new Uint8Array(out.buffer);
}
function gatherU32(datas: unknown[], srcBatch: Uint32Array, srcRow: Uint32Array, n: number): Uint8Array {
  const out = new Uint32Array(n);
  for (let i = 0; i < n; i++) out[i] = (datas[srcBatch[i]] as Uint32Array)[srcRow[i]];
  return new Uint8Array(out.buffer);
}
function gatherU64(datas: unknown[], srcBatch: Uint32Array, srcRow: Uint32Array, n: number): Uint8Array {
  // Float64 in the batch (exact to 2^53), UInt64/Int64 on the wire.
  const out = new Uint32Array(2 * n);
  for (let i = 0; i < n; i++) {
    const x = (datas[srcBatch[i]] as Float64Array)[srcRow[i]];
    // ToUint32 is exact modulo 2^32 for integers below 2^53.
    const lo = x >>> 0;
    out[2 * i] = lo;
    out[2 * i + 1] = (x - lo) / 4294967296;
  }
  return new Uint8Array(out.buffer);
}
function gatherIp(datas: unknown[], srcBatch: Uint32Array, srcRow: Uint32Array, n: number): Uint8Array {
  // Four 32-bit moves per address where every source is 4-byte aligned
  // (batches decoded from the bus own their arrays), bytes otherwise.
  const words: Uint32Array[] = [];
  for (const d of datas) {
    const a = d as Uint8Array;
    if (a.byteOffset % 4 !== 0) return gatherIpBytes(datas, srcBatch, srcRow, n);
    words.push(new Uint32Array(a.buffer, a.byteOffset, a.length >>> 2));
  }
  const out = new Uint32Array(4 * n);
  for (let i = 0, p = 0; i < n; i++, p += 4) {
    const a = words[srcBatch[i]];
    const s = srcRow[i] * 4;
    out[p] = a[s];
    out[p + 1] = a[s + 1];
    out[p + 2] = a[s + 2];
    out[p + 3] = a[s + 3];
  }
  return new Uint8Array(out.buffer);
}
function gatherIpBytes(datas: unknown[], srcBatch: Uint32Array, srcRow: Uint32Array, n: number): Uint8Array {
  const out = new Uint8Array(16 * n);
  for (let i = 0, p = 0; i < n; i++) {
    const a = datas[srcBatch[i]] as Uint8Array;
    for (let s = srcRow[i] * 16, e = s + 16; s < e; s++) out[p++] = a[s];
  }
  return out;
}

function gatherColumn(out: Uint8Array[], kind: ColumnKind, datas: unknown[], srcBatch: Uint32Array, srcRow: Uint32Array, n: number): void {
  switch (kind) {
    case 'u8':
      return void out.push(gatherU8(datas, srcBatch, srcRow, n));
    case 'u16':
      return void out.push(gatherU16(datas, srcBatch, srcRow, n));
    case 'u32':
      return void out.push(gatherU32(datas, srcBatch, srcRow, n));
    case 'u64':
    case 'time':
      return void out.push(gatherU64(datas, srcBatch, srcRow, n));
    case 'ip':
      return void out.push(gatherIp(datas, srcBatch, srcRow, n));
    case 'str': {
      const w = new Writer(n + 64);
      for (let i = 0; i < n; i++) {
        const s = (datas[srcBatch[i]] as string[])[srcRow[i]];
        if (s.length === 0) {
          w.ensure(1);
          w.buf[w.pos++] = 0;
        } else w.bytes(enc.encode(s));
      }
      return void out.push(w.buf.subarray(0, w.pos));
    }
  }
}
