// Generated conversations for the store's integration tests: a small pool
// of hosts (so peers repeat), several hours over two days, every counter
// the rollups read, sampled and unsampled rows, host groups on both sides.
import { ColumnarBatch, CONVERSATION_COLUMNS, writeV4, type ColumnDef } from '@flowhound/schema';

export interface GenOptions {
  readonly rows: number;
  /** First time_received, ms. Rows spread over `spanMs` from it. */
  readonly startMs: number;
  readonly spanMs: number;
  readonly seed?: number;
  readonly hosts?: number;
  /** Columns of the batch (an older schema's); CONVERSATION_COLUMNS by default. */
  readonly columns?: readonly ColumnDef[];
}

export function conversations(o: GenOptions): ColumnarBatch {
  let seed = o.seed ?? 1;
  // An LCG's high bits, as a fraction: deterministic, and good enough to spread rows.
  const rnd = (n: number) => Math.floor(((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 4294967296) * n);
  const hosts = o.hosts ?? 40;
  const groups = ['', 'servers', 'workstations', 'dmz'];
  const cols = o.columns ?? CONVERSATION_COLUMNS;
  const b = new ColumnarBatch(cols, o.rows);
  const withGroups = cols.some((c) => c.name === 'src_host_group');
  const t = b.column('time_received') as Float64Array;
  const fs = b.column('flow_start') as Float64Array;
  const fe = b.column('flow_end') as Float64Array;
  const src = b.column('src_addr') as Uint8Array;
  const dst = b.column('dst_addr') as Uint8Array;
  const by = b.column('bytes') as Float64Array;
  const pk = b.column('packets') as Float64Array;
  const bs = b.column('bytes_scaled') as Float64Array;
  const ps = b.column('packets_scaled') as Float64Array;
  const rb = b.column('rev_bytes') as Float64Array;
  const rp = b.column('rev_packets') as Float64Array;
  const si = b.column('sampling_interval') as Uint32Array;
  const sp = b.column('src_port') as Uint16Array;
  const dp = b.column('dst_port') as Uint16Array;
  const sg = withGroups ? (b.column('src_host_group') as string[]) : [];
  const dg = withGroups ? (b.column('dst_host_group') as string[]) : [];
  for (let r = 0; r < o.rows; r++) {
    const at = o.startMs + rnd(o.spanMs);
    t[r] = at;
    fs[r] = at - rnd(60_000);
    fe[r] = at;
    const a = rnd(hosts);
    let c = rnd(hosts);
    if (c === a) c = (c + 1) % hosts;
    writeV4(src, r * 16, 0x0a000000 + a);
    writeV4(dst, r * 16, 0x0a000100 + c);
    const sampling = [0, 1, 10][rnd(3)];
    si[r] = sampling;
    by[r] = 40 + rnd(100_000);
    pk[r] = 1 + rnd(100);
    bs[r] = by[r] * (sampling || 1);
    ps[r] = pk[r] * (sampling || 1);
    rb[r] = rnd(4) === 0 ? 0 : rnd(50_000);
    rp[r] = rb[r] ? 1 + rnd(50) : 0;
    sp[r] = 1024 + rnd(60000);
    dp[r] = [53, 80, 443, 445, 4444][rnd(5)];
    sg[r] = groups[a % groups.length];
    dg[r] = groups[c % groups.length];
    b.rows++;
  }
  return b;
}

/** Splits a batch into batches of `n` rows (separate inserts, so rollups get several blocks to merge). */
export function chunks(b: ColumnarBatch, n: number): ColumnarBatch[] {
  const out: ColumnarBatch[] = [];
  for (let i = 0; i < b.rows; i += n) {
    const c = new ColumnarBatch(b.columns, Math.min(n, b.rows - i));
    for (let r = i; r < Math.min(i + n, b.rows); r++) c.copyRowFrom(b, r);
    out.push(c);
  }
  return out;
}
