import { ColumnarBatch, KIND_WIDTH, SCHEMA_VERSION, type ColumnDef } from '@flowhound/schema';
import { BatchFormatError } from './errors.ts';

// flowhound.v1.ColumnarBatch (proto/flowhound/v1/batch.proto), written and
// read by hand. The generated ts-proto writer grows its buffer and shifts
// each length-delimited field after writing it, which measured 300 µs per
// 512-row batch — more than decoding the records. Here the exact size is
// computed first and every column is copied once. The bytes are a valid
// ColumnarBatch message for any protobuf library (batch-codec.test.ts
// checks both directions against the generated code).
//
// Only the columns touched in the batch (ColumnarBatch.touched: written
// since its last reset) are sent: an untouched column is zero in every row
// and is left out of the message, and so is a text column that is '' in
// every row. Backward compatibility needs no new field: every consumer
// since the first version decodes into its own column list and leaves a
// column the message lacks at zero (that is how a batch from an older,
// shorter schema is read). So old consumers read new messages, new
// consumers read old messages (every column present), and the generated
// protobuf code reads both. What is lost is only the difference between
// "not sent" and "sent as zeros", which no consumer makes (ClickHouse
// stores the zero either way).

const utf8 = new TextEncoder();
const utf8d = new TextDecoder();

export interface DecodedBatch {
  readonly batch: ColumnarBatch;
  readonly batchId: string;
  readonly producer: string;
  readonly schemaVersion: number;
}

function varintSize(v: number): number {
  let n = 1;
  while (v >= 0x80) {
    v = Math.floor(v / 128);
    n++;
  }
  return n;
}

function writeVarint(out: Uint8Array, p: number, v: number): number {
  while (v >= 0x80) {
    out[p++] = (v & 0x7f) | 0x80;
    v = Math.floor(v / 128);
  }
  out[p++] = v;
  return p;
}

/** Field `field` with wire type 2 (length-delimited): tag, length, bytes. */
function writeBytes(out: Uint8Array, p: number, field: number, b: Uint8Array): number {
  out[p++] = (field << 3) | 2;
  p = writeVarint(out, p, b.byteLength);
  out.set(b, p);
  return p + b.byteLength;
}

const nameCache = new WeakMap<readonly ColumnDef[], Uint8Array[]>();

function encodedNames(columns: readonly ColumnDef[]): Uint8Array[] {
  let n = nameCache.get(columns);
  if (!n) nameCache.set(columns, (n = columns.map((c) => utf8.encode(c.name))));
  return n;
}

// UTF-8 of the short text values seen lately. Text columns repeat a few
// values (ACL ids, interface and application names; the decoder hands out
// one string object per distinct value), and TextEncoder.encode per row
// took a third of the time of decoding and encoding Cisco ASA NSEL records
// (decode bench: 0.53 M records/s with it, 0.92 M without). Bounded in
// entries (cleared when full) and in value length, so that URLs and other
// high-cardinality or long text cannot make it large (at most ~1 MB).
const ENCODED_MAX = 4096;
const ENCODED_MAX_LENGTH = 64;
const encoded = new Map<string, Uint8Array>();

function utf8Of(v: string): Uint8Array {
  if (v.length > ENCODED_MAX_LENGTH) return utf8.encode(v);
  let b = encoded.get(v);
  if (b === undefined) {
    if (encoded.size >= ENCODED_MAX) encoded.clear();
    b = utf8.encode(v);
    encoded.set(v, b);
  }
  return b;
}

/** A text column's data and offsets; null when every row is '' (then the column is not sent). */
function stringColumn(values: string[], rows: number): { data: Uint8Array; offsets: Uint8Array } | null {
  // A text column can be touched and still empty in every row (egress_acl of
  // Cisco ASA NSEL, app_name without options data): one scan, nothing sent.
  let r = 0;
  while (r < rows && values[r] === '') r++;
  if (r === rows) return null;
  const offsets = new Uint32Array(rows + 1);
  const parts = new Array<Uint8Array | undefined>(rows);
  let total = 0;
  let prev = '';
  let prevBytes: Uint8Array | undefined;
  for (r = 0; r < rows; r++) {
    offsets[r] = total;
    const v = values[r];
    if (v === '') continue;
    // Runs of one value (one exporter's records) skip even the lookup.
    if (v !== prev) {
      prev = v;
      prevBytes = utf8Of(v);
    }
    parts[r] = prevBytes;
    total += prevBytes!.byteLength;
  }
  offsets[rows] = total;
  const data = new Uint8Array(total);
  for (r = 0; r < rows; r++) {
    const b = parts[r];
    if (b) data.set(b, offsets[r]);
  }
  return { data, offsets: new Uint8Array(offsets.buffer) };
}

/**
 * Encodes the used rows of a batch: each touched column's typed array goes
 * into a bytes field as it is in memory (little-endian on every platform we
 * run), one copy per column and nothing per row. Untouched columns, and
 * text columns empty in every row, are left out (see the top of this file).
 */
export function encodeBatch(b: ColumnarBatch, batchId: string, producer: string): Uint8Array {
  const n = b.rows;
  const cols = b.columns;
  const touched = b.touched;
  const names = encodedNames(cols);
  const datas = new Array<Uint8Array>(cols.length);
  const offs = new Array<Uint8Array | undefined>(cols.length);
  // Length of each column's Column message; 0 for a column not sent.
  const colLens = new Int32Array(cols.length);
  const id = utf8.encode(batchId);
  const prod = utf8.encode(producer);
  let total = 1 + varintSize(SCHEMA_VERSION) + 1 + varintSize(n) + 1 + varintSize(id.byteLength) + id.byteLength + 1 + varintSize(prod.byteLength) + prod.byteLength;
  for (let i = 0; i < cols.length; i++) {
    if (touched[i] === 0) continue;
    const d = b.data[i];
    if (cols[i].kind === 'str') {
      const s = stringColumn(d as string[], n);
      if (s === null) continue;
      datas[i] = s.data;
      offs[i] = s.offsets;
    } else {
      const t = d as Uint8Array | Uint16Array | Uint32Array | Float64Array;
      datas[i] = new Uint8Array(t.buffer, t.byteOffset, n * KIND_WIDTH[cols[i].kind]);
      offs[i] = undefined;
    }
    const o = offs[i];
    const len = 1 + varintSize(names[i].byteLength) + names[i].byteLength + 1 + varintSize(datas[i].byteLength) + datas[i].byteLength + (o ? 1 + varintSize(o.byteLength) + o.byteLength : 0);
    colLens[i] = len;
    total += 1 + varintSize(len) + len;
  }
  const out = new Uint8Array(total);
  let p = 0;
  out[p++] = (1 << 3) | 0;
  p = writeVarint(out, p, SCHEMA_VERSION);
  out[p++] = (2 << 3) | 0;
  p = writeVarint(out, p, n);
  for (let i = 0; i < cols.length; i++) {
    if (colLens[i] === 0) continue;
    out[p++] = (3 << 3) | 2;
    p = writeVarint(out, p, colLens[i]);
    p = writeBytes(out, p, 1, names[i]);
    p = writeBytes(out, p, 2, datas[i]);
    const o = offs[i];
    if (o) p = writeBytes(out, p, 3, o);
  }
  p = writeBytes(out, p, 4, id);
  p = writeBytes(out, p, 5, prod);
  if (p !== total) throw new Error(`batch encoder wrote ${p} of ${total} bytes`);
  return out;
}

/** Reads protobuf fields of one message; the caller switches on `field`. */
class Reader {
  readonly b: Uint8Array;
  p: number;
  readonly end: number;
  field = 0;
  wire = 0;

  constructor(b: Uint8Array, start: number, end: number) {
    this.b = b;
    this.p = start;
    this.end = end;
  }

  varint(): number {
    let v = 0;
    let mul = 1;
    for (let i = 0; i < 10; i++) {
      if (this.p >= this.end) throw new BatchFormatError('batch message truncated inside a varint');
      const x = this.b[this.p++];
      v += (x & 0x7f) * mul;
      if (x < 0x80) return v;
      mul *= 128;
    }
    throw new BatchFormatError('batch message has a varint longer than 10 bytes');
  }

  next(): boolean {
    if (this.p >= this.end) return false;
    const tag = this.varint();
    this.field = Math.floor(tag / 8);
    this.wire = tag & 7;
    return true;
  }

  /** [start, end) of a length-delimited field's payload. */
  span(): [number, number] {
    if (this.wire !== 2) throw new BatchFormatError(`field ${this.field} has wire type ${this.wire}, expected length-delimited`);
    const len = this.varint();
    const s = this.p;
    if (s + len > this.end) throw new BatchFormatError(`field ${this.field} of ${len} bytes runs past the end of the batch message`);
    this.p = s + len;
    return [s, s + len];
  }

  skip(): void {
    switch (this.wire) {
      case 0:
        this.varint();
        break;
      case 1:
        this.p += 8;
        break;
      case 2:
        this.span();
        break;
      case 5:
        this.p += 4;
        break;
      default:
        throw new BatchFormatError(`unsupported wire type ${this.wire} in a batch message`);
    }
    if (this.p > this.end) throw new BatchFormatError('batch message truncated');
  }
}

/**
 * Decodes into a batch of `columns`; columns the message lacks (the
 * producer's schema had no such column, or no row of the batch used it)
 * stay zero. The columns it fills are marked touched, so that a stage that
 * passes the batch on re-sends them.
 */
export function decodeBatch(bytes: Uint8Array, columns: readonly ColumnDef[]): DecodedBatch {
  const r = new Reader(bytes, 0, bytes.byteLength);
  let schemaVersion = 0;
  let rows = -1;
  let batchId = '';
  let producer = '';
  const cols: [string, Uint8Array, Uint8Array | undefined][] = [];
  while (r.next()) {
    switch (r.field) {
      case 1:
        schemaVersion = r.wire === 0 ? r.varint() : (r.skip(), 0);
        break;
      case 2:
        if (r.wire !== 0) throw new BatchFormatError('rows is not a varint: not a ColumnarBatch message');
        rows = r.varint();
        break;
      case 3: {
        const [s, e] = r.span();
        const c = new Reader(bytes, s, e);
        let name = '';
        let data: Uint8Array = new Uint8Array(0);
        let offsets: Uint8Array | undefined;
        while (c.next()) {
          if (c.field === 1) {
            const [a, z] = c.span();
            name = utf8d.decode(bytes.subarray(a, z));
          } else if (c.field === 2) {
            const [a, z] = c.span();
            data = bytes.subarray(a, z);
          } else if (c.field === 3) {
            const [a, z] = c.span();
            offsets = bytes.subarray(a, z);
          } else c.skip();
        }
        cols.push([name, data, offsets]);
        break;
      }
      case 4: {
        const [s, e] = r.span();
        batchId = utf8d.decode(bytes.subarray(s, e));
        break;
      }
      case 5: {
        const [s, e] = r.span();
        producer = utf8d.decode(bytes.subarray(s, e));
        break;
      }
      default:
        r.skip();
    }
  }
  if (rows < 0) throw new BatchFormatError('batch message has no row count: not a ColumnarBatch message');
  // Lazy: the columns the message lacks share a zero column (most of them).
  const batch = new ColumnarBatch(columns, Math.max(rows, 1), { lazy: true });
  for (const [name, data, offsets] of cols) {
    let i: number;
    try {
      i = batch.indexOf(name);
    } catch {
      continue; // a newer producer's column this consumer does not know
    }
    const def = columns[i];
    if (def.kind === 'str') {
      if (!offsets || offsets.byteLength !== (rows + 1) * 4) throw new BatchFormatError(`column ${name}: ${offsets?.byteLength ?? 0} offset bytes for ${rows} rows`);
      // Copy into an aligned buffer of its own: Node's Buffer.slice (NATS hands
      // out Buffers) is a view, whose .buffer is the whole pool.
      const off = new Uint32Array(Uint8Array.prototype.slice.call(offsets).buffer);
      if (data.byteLength === 0 && off[rows] === 0) continue; // all empty: the batch starts with ''
      batch.touch(i);
      const out = batch.data[i] as string[];
      for (let k = 0; k < rows; k++) {
        if (off[k] > off[k + 1] || off[k + 1] > data.byteLength) throw new BatchFormatError(`column ${name}: offsets out of order or past the data`);
        out[k] = utf8d.decode(data.subarray(off[k], off[k + 1]));
      }
      continue;
    }
    const want = rows * KIND_WIDTH[def.kind];
    if (data.byteLength !== want) throw new BatchFormatError(`column ${name}: ${data.byteLength} bytes, expected ${want} for ${rows} rows of ${def.kind}`);
    batch.touch(i);
    const dst = batch.data[i] as Uint8Array | Uint16Array | Uint32Array | Float64Array;
    new Uint8Array(dst.buffer, dst.byteOffset, want).set(data);
  }
  batch.rows = rows;
  return { batch, batchId, producer, schemaVersion };
}
