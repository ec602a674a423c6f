import { ColumnarBatchMsg } from '@flowhound/proto';
import { ColumnarBatch, KIND_WIDTH, SCHEMA_VERSION, type ColumnDef } from '@flowhound/schema';
import { BatchFormatError } from './errors.ts';

const utf8 = new TextEncoder();
const utf8d = new TextDecoder();

export interface DecodedBatch {
  readonly batch: ColumnarBatch;
  readonly batchId: string;
  readonly producer: string;
  readonly schemaVersion: number;
}

/**
 * Encodes the used rows of a batch: each column's typed array goes into a
 * bytes field as it is in memory (little-endian on every platform we run),
 * so both ends do one copy per column and nothing per row.
 */
export function encodeBatch(b: ColumnarBatch, batchId: string, producer: string): Uint8Array {
  const n = b.rows;
  const columns = b.columns.map((c, i) => {
    const d = b.data[i];
    if (c.kind === 'str') {
      const parts = (d as string[]).slice(0, n).map((s) => utf8.encode(s));
      const offsets = new Uint32Array(n + 1);
      let total = 0;
      for (let r = 0; r < n; r++) {
        offsets[r] = total;
        total += parts[r].byteLength;
      }
      offsets[n] = total;
      const data = new Uint8Array(total);
      for (let r = 0; r < n; r++) data.set(parts[r], offsets[r]);
      return { name: c.name, data: Buffer.from(data.buffer, 0, total), offsets: Buffer.from(offsets.buffer) };
    }
    const t = d as Uint8Array | Uint16Array | Uint32Array | Float64Array;
    return { name: c.name, data: Buffer.from(t.buffer, t.byteOffset, n * KIND_WIDTH[c.kind]), offsets: Buffer.alloc(0) };
  });
  return ColumnarBatchMsg.encode({ schemaVersion: SCHEMA_VERSION, rows: n, columns, batchId, producer }).finish();
}

/** Decodes into a batch of `columns`; columns the producer lacked stay zero. */
export function decodeBatch(bytes: Uint8Array, columns: readonly ColumnDef[]): DecodedBatch {
  let msg;
  try {
    msg = ColumnarBatchMsg.decode(bytes);
  } catch (err) {
    throw new BatchFormatError(`batch is not a ColumnarBatch message: ${(err as Error).message}`, { cause: err });
  }
  const n = msg.rows;
  const batch = new ColumnarBatch(columns, Math.max(n, 1));
  for (const col of msg.columns) {
    let i: number;
    try {
      i = batch.indexOf(col.name);
    } catch {
      continue; // a newer producer's column this consumer does not know
    }
    const def = columns[i];
    if (def.kind === 'str') {
      const off = new Uint32Array(col.offsets.slice().buffer);
      if (off.length !== n + 1) throw new BatchFormatError(`column ${col.name}: ${off.length} offsets for ${n} rows`);
      const out = batch.data[i] as string[];
      for (let r = 0; r < n; r++) out[r] = utf8d.decode(col.data.subarray(off[r], off[r + 1]));
      continue;
    }
    const want = n * KIND_WIDTH[def.kind];
    if (col.data.byteLength !== want) throw new BatchFormatError(`column ${col.name}: ${col.data.byteLength} bytes, expected ${want} for ${n} rows of ${def.kind}`);
    const dst = batch.data[i] as Uint8Array | Uint16Array | Uint32Array | Float64Array;
    new Uint8Array(dst.buffer, dst.byteOffset, want).set(col.data);
  }
  batch.rows = n;
  return { batch, batchId: msg.batchId, producer: msg.producer, schemaVersion: msg.schemaVersion };
}
