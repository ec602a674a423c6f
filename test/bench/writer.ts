// Writer throughput into embedded ClickHouse (chDB), same machine, same run.
//   node test/bench/writer.ts [--rows 2000000] [--group 131072]
//
// Synthetic flow batches shaped like real traffic (512 rows a batch; a few
// thousand hosts, common ports, times advancing over minutes, rare columns
// left zero as most exporters leave them) are stored three ways:
//   engine   INSERT … SELECT from a staged Native file of unsorted rows
//            and all columns: ClickHouse's own cost for a naive client
//   store    sortedNativeGroup + Store.insertNative: rows sorted by the
//            table's key and touched columns only, in JS; staging; insert
//   writer   WriterService over the in-memory bus: bus decoding, grouping,
//            encoding, insert, acknowledgement: what standalone does
// and then bytes on disk per stored row after merges. The target for the
// writer is 1M rows/s on this machine.
import { rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { metrics } from '@opentelemetry/api';
import { encodeBatch, MemoryBus, subjects } from '@flowhound/bus';
import { silentLogger } from '@flowhound/runtime';
import { ColumnarBatch, FLOW_COLUMNS, FLOWS_TABLE, writeV4 } from '@flowhound/schema';
import { batchIdHash, nativeBlock, sortedNativeGroup, Store } from '@flowhound/store';
import { WriterService, writerConfigSchema } from '@flowhound/svc-writer';

const { values: args } = parseArgs({ options: { rows: { type: 'string', default: '2000000' }, group: { type: 'string', default: '131072' } } });
const TOTAL = Number(args.rows);
const GROUP = Number(args.group);
const BATCH = 512;
const log = (s: string) => process.stderr.write(`${s}\n`);

let seed = 42;
const rnd = (n: number) => {
  seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
  return seed % n;
};
const PORTS = [443, 80, 53, 22, 123, 3389, 445, 25, 993, 8080];
const T0 = Date.UTC(2026, 10, 20, 8, 0, 0);

function makeBatch(i: number): ColumnarBatch {
  const b = new ColumnarBatch(FLOW_COLUMNS, BATCH);
  const col = <T>(n: string) => b.column(n) as T;
  const tr = col<Float64Array>('time_received');
  const fs = col<Float64Array>('flow_start');
  const fe = col<Float64Array>('flow_end');
  const ex = col<Uint8Array>('exporter_address');
  const src = col<Uint8Array>('src_addr');
  const dst = col<Uint8Array>('dst_addr');
  const nh = col<Uint8Array>('next_hop');
  const sp = col<Uint16Array>('src_port');
  const dp = col<Uint16Array>('dst_port');
  const pr = col<Uint8Array>('protocol');
  const fl = col<Uint16Array>('tcp_flags');
  const by = col<Float64Array>('bytes');
  const pk = col<Float64Array>('packets');
  const bs = col<Float64Array>('bytes_scaled');
  const ps = col<Float64Array>('packets_scaled');
  const ii = col<Uint32Array>('input_if');
  const oi = col<Uint32Array>('output_if');
  const ver = col<Uint8Array>('flow_version');
  const ipv = col<Uint8Array>('ip_version');
  const tid = col<Uint16Array>('template_id');
  const now = T0 + i * 50;
  for (let r = 0; r < BATCH; r++) {
    tr[r] = now + (r >> 4);
    fe[r] = now - rnd(60_000);
    fs[r] = fe[r] - rnd(300_000);
    writeV4(ex, r * 16, 0xc0000201 + (i % 4));
    writeV4(src, r * 16, 0x0a000000 + rnd(4096));
    writeV4(dst, r * 16, rnd(4) === 0 ? 0x0a000000 + rnd(4096) : 0x5db8d800 + rnd(20000));
    writeV4(nh, r * 16, 0x0a0000fe);
    const server = PORTS[rnd(PORTS.length)];
    const out = rnd(2) === 0;
    sp[r] = out ? 32768 + rnd(28000) : server;
    dp[r] = out ? server : 32768 + rnd(28000);
    pr[r] = server === 53 || server === 123 ? 17 : 6;
    fl[r] = pr[r] === 6 ? 0x1b : 0;
    pk[r] = 1 + rnd(200);
    by[r] = pk[r] * (40 + rnd(1400));
    bs[r] = by[r];
    ps[r] = pk[r];
    ii[r] = 1 + rnd(8);
    oi[r] = 1 + rnd(8);
    ver[r] = 10;
    ipv[r] = 4;
    tid[r] = 256;
    b.rows++;
  }
  return b;
}

const count = Math.ceil(TOTAL / BATCH);
log(`building ${count} batches of ${BATCH} rows…`);
const batches = Array.from({ length: count }, (_, i) => makeBatch(i));
const messages = batches.map((b, i) => encodeBatch(b, `bench:${i}`, 'bench'));

const dir = join(tmpdir(), `fh-bench-writer-${process.pid}`);
const store = await Store.open({ url: '', dataDir: dir, database: 'bench', username: '', password: '', log: silentLogger() });
await store.migrate();
const truncate = () => store.client.command({ query: 'TRUNCATE TABLE bench.flows' });
const storedRows = async () => Number((await store.rows<[number]>('SELECT count() FROM bench.flows'))[0][0]);
const results: { path: string; rows: number; seconds: number }[] = [];

// engine: one staged file of GROUP rows, inserted repeatedly.
{
  const per = Math.ceil(GROUP / BATCH);
  const file = join(dir, 'engine.native');
  if (process.env.FH_KEEP_ENGINE_FILE) writeFileSync(process.env.FH_KEEP_ENGINE_FILE, Buffer.concat(batches.slice(0, per).map((b, i) => nativeBlock(b, batchIdHash(`e${i}`)))));
  writeFileSync(file, Buffer.concat(batches.slice(0, per).map((b, i) => nativeBlock(b, batchIdHash(`e${i}`)))));
  const reps = Math.max(1, Math.round(TOTAL / (per * BATCH)));
  log(`engine: ${reps} inserts of ${per * BATCH} rows…`);
  const t0 = performance.now();
  for (let k = 0; k < reps; k++) {
    await store.client.command({ query: `INSERT INTO bench.flows SETTINGS insert_deduplication_token = 'e${k}' SELECT * FROM file('${file}', 'Native')` });
  }
  results.push({ path: 'engine: INSERT … SELECT FROM file(Native)', rows: reps * per * BATCH, seconds: (performance.now() - t0) / 1000 });
  await truncate();
}

// store: JS encoding + staging + insert, GROUP rows an insert.
{
  log('store: Native encoding and insert…');
  const t0 = performance.now();
  let encodeMs = 0;
  let rows = 0;
  for (let i = 0; i < batches.length; ) {
    const group: ColumnarBatch[] = [];
    const ids: number[] = [];
    let n = 0;
    for (; i < batches.length && n < GROUP; i++) {
      group.push(batches[i]);
      ids.push(batchIdHash(`s${i}`));
      n += batches[i].rows;
    }
    const te = performance.now();
    const g = sortedNativeGroup(FLOWS_TABLE, group, ids);
    encodeMs += performance.now() - te;
    await store.insertNative(FLOWS_TABLE, g.chunks, g.rows, `s${i}`, g.columns);
    rows += n;
  }
  results.push({ path: `store: sorted Native group + insert, ${GROUP} rows an insert`, rows, seconds: (performance.now() - t0) / 1000 });
  results.push({ path: '  of which sorting + encoding in JS', rows, seconds: encodeMs / 1000 });
  await truncate();
}

// writer: the whole service over the in-memory bus.
{
  log('writer: bus → writer → chDB…');
  const bus = new MemoryBus({ maxQueuedBytes: 4 * 2 ** 30 });
  const cfg = writerConfigSchema.parse({ batchRows: GROUP, maxInFlight: Math.ceil((2 * GROUP) / BATCH) });
  const w = new WriterService(cfg, { bus, store, log: silentLogger(), meter: metrics.getMeter('bench') });
  await w.start();
  const t0 = performance.now();
  for (const m of messages) await bus.publish(subjects.flowsRaw(0), m);
  while (w.counters.flows.rows < count * BATCH) await new Promise((r) => setTimeout(r, 5));
  const seconds = (performance.now() - t0) / 1000;
  results.push({ path: `writer: bus + grouping + insert (${w.counters.flows.inserts} inserts)`, rows: w.counters.flows.rows, seconds });
  await w.stop();
  await bus.close();
}

await store.client.command({ query: 'OPTIMIZE TABLE bench.flows FINAL' });
const [[diskBytes, diskRows]] = await store.rows<[number, number]>("SELECT sum(bytes_on_disk), sum(rows) FROM system.parts WHERE database = 'bench' AND table = 'flows' AND active");
const stored = await storedRows();
await store.close();
rmSync(dir, { recursive: true, force: true });

console.log(`\nwriter benchmark: ${TOTAL.toLocaleString('en')} synthetic flows, ${FLOW_COLUMNS.length} columns, ${cpus().length} × ${cpus()[0]?.model.trim()}, Node ${process.version}`);
console.log('| path | rows | seconds | rows/s |');
console.log('|---|---|---|---|');
for (const r of results) console.log(`| ${r.path} | ${r.rows.toLocaleString('en')} | ${r.seconds.toFixed(2)} | ${Math.round(r.rows / r.seconds).toLocaleString('en')} |`);
console.log(`\nstored by the writer: ${stored.toLocaleString('en')} rows; on disk after merges: ${(Number(diskBytes) / Number(diskRows)).toFixed(1)} bytes a row`);
console.log('target: writer ≥ 1,000,000 rows/s');
