// In-process decode rate, records per second on one core: FlowDecoder into
// a columnar batch, and each full batch encoded for the bus and posted to
// another thread (decode + encode + hand-off, the work one ingest worker
// thread does per record, its socket aside).
//   node test/bench/decode.ts [seconds-per-case] [--decode-only] [--only <case name part>]
// Anchor: Akvorado reports ~760k flows/s per core for NetFlow v9 decode +
// encode (its published figure; Akvorado cannot be built on this machine,
// so it is quoted, not run). The competitor measured in the same run on
// this machine is nfcapd, in ingest.ts.
import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { encodeBatch } from '@flowhound/bus';
import { FlowDecoder, MemoryTemplateStore, type FlowSink } from '@flowhound/codec';
import { ColumnarBatch, FLOW_COLUMNS } from '@flowhound/schema';
import { dataSets, HEADER_BYTES, templateMessage, writeHeader } from './ingest-messages.ts';

const VECTORS = fileURLToPath(new URL('../fixtures/exporter-vectors/', import.meta.url));
const CODEC_DATA = fileURLToPath(new URL('../../packages/codec/testdata/', import.meta.url));
const load = (f: string) => new Uint8Array(readFileSync(f.includes('/') ? f : `${VECTORS}${f}.dat`));
const seconds = Number(process.argv[2]?.startsWith('--') ? 1.5 : (process.argv[2] ?? 1.5));
/** Rows per bus message, as ingest.batchRows (its default). */
const BATCH_ROWS = 1024;
/** --decode-only leaves out the bus encoding, to see what each costs. */
const NO_ENCODE = process.argv.includes('--decode-only');

/**
 * Where an ingest worker's batches go: the main thread, by postMessage with
 * the buffer transferred. A thread that drops them stands in for it, so the
 * decoding thread pays what a worker pays (a new buffer per batch, handed
 * away) and not the garbage collection of the buffers, which a worker does
 * not do either: encoded and kept on one thread, the buffers (outside the
 * JS heap) forced a full GC every ~250 ms, 15–20 % of the time of the fast
 * cases.
 */
const drain = new Worker("require('node:worker_threads').parentPort.on('message', () => {});", { eval: true });
drain.unref();

/** Reuses one batch; encodes it for the bus each time it fills and hands it on as an ingest worker does. */
class EncodingSink implements FlowSink {
  batch = new ColumnarBatch(FLOW_COLUMNS, BATCH_ROWS);
  encodedBytes = 0;
  next(): number {
    if (this.batch.rows >= this.batch.capacity) {
      if (!NO_ENCODE) {
        const bytes = encodeBatch(this.batch, 'bench:1', 'bench');
        this.encodedBytes += bytes.byteLength;
        drain.postMessage({ t: 'batch', id: 'bench:1', rows: this.batch.rows, bytes }, [bytes.buffer as ArrayBuffer]);
      }
      this.batch.reset();
    }
    return this.batch.rows++;
  }
}

interface Result {
  name: string;
  perPacket: number;
  recordsPerSec: number;
  /** Records per second of this process's CPU time (GC threads and the drain thread included): steadier than wall time on a shared machine. */
  recordsPerCpuSec: number;
  bytesPerRecord: number;
}

function run(name: string, setup: Uint8Array[], packets: Uint8Array[], ipfixSeq: number): Result {
  const sink = new EncodingSink();
  const dec = new FlowDecoder({ templates: new MemoryTemplateStore(), sink });
  const addr = new Uint8Array(16);
  for (const f of setup) dec.decode(f, 'bench', addr, 0);
  // ipfixSeq > 0: the packets are IPFIX messages of that many records, numbered
  // in sequence as a real exporter does (a repeated number is a reordering).
  let seq = 0;
  let k = 0;
  const one = (): void => {
    const p = packets[k];
    k = k + 1 === packets.length ? 0 : k + 1;
    if (ipfixSeq > 0) {
      p[8] = seq >>> 24;
      p[9] = (seq >>> 16) & 0xff;
      p[10] = (seq >>> 8) & 0xff;
      p[11] = seq & 0xff;
      seq = (seq + ipfixSeq) >>> 0;
    }
    dec.decode(p, 'bench', addr, 0);
  };
  for (let i = 0; i < 20_000; i++) one(); // warm up: measure optimised code
  const r0 = dec.counters.records;
  const b0 = sink.encodedBytes;
  let count = 0;
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  const limit = BigInt(Math.round(seconds * 1e9));
  let t = t0;
  while (t - t0 < limit) {
    for (let i = 0; i < 1000; i++) one();
    count += 1000;
    t = process.hrtime.bigint();
  }
  const secs = Number(t - t0) / 1e9;
  const cpu = process.cpuUsage(cpu0);
  const cpuSecs = (cpu.user + cpu.system) / 1e6;
  const recs = dec.counters.records - r0;
  if (dec.counters.bad_packets + dec.counters.bad_sets > 0) throw new Error(`${name}: decode errors in a benchmark input`);
  if (ipfixSeq > 0 && dec.counters.records_lost > 0) throw new Error(`${name}: sequence numbers out of order in a benchmark input`);
  return { name, perPacket: recs / count, recordsPerSec: recs / secs, recordsPerCpuSec: recs / cpuSecs, bytesPerRecord: (sink.encodedBytes - b0) / Math.max(1, recs - (recs % BATCH_ROWS)) };
}

/**
 * The lossless-ingest benchmark's traffic (ingest-messages.ts): its template,
 * then its 2048 distinct 26-record data messages, the export time now.
 */
function ingestBenchCase(): [Uint8Array[], Uint8Array[]] {
  const now = Date.now();
  const tpl = templateMessage();
  writeHeader(tpl, tpl.length, now / 1000, 0);
  const packets = dataSets(INGEST_RECORDS, 0x5eed, now).map((set) => {
    const p = Buffer.alloc(HEADER_BYTES + set.length);
    writeHeader(p, p.length, now / 1000, 0);
    set.copy(p, HEADER_BYTES);
    return new Uint8Array(p.buffer, p.byteOffset, p.length);
  });
  return [[new Uint8Array(tpl)], packets];
}

const INGEST_RECORDS = 26;
const files = (setup: string[], packet: string): [Uint8Array[], Uint8Array[], number] => [setup.map(load), [load(packet)], 0];
const cases: [string, [Uint8Array[], Uint8Array[], number]][] = [
  ['NetFlow v5 (MikroTik, 30 rec/pkt)', files([], 'netflow5_test_microtik')],
  ['NetFlow v9 softflowd (template in packet)', files([], `${CODEC_DATA}softflowd-v9.dat`)],
  ['NetFlow v9 Cisco 1941 (template in packet)', files([], 'netflow9_test_cisco_1941K9')],
  ['NetFlow v9 Cisco ASR 9k', files(['netflow9_test_cisco_asr9k_tpl260'], 'netflow9_test_cisco_asr9k_data260')],
  ['NetFlow v9 Cisco ASA NSEL (wide records)', files(['netflow9_test_cisco_asa_1_tpl'], 'netflow9_test_cisco_asa_1_data')],
  ['IPFIX softflowd (uptime times)', files([], `${CODEC_DATA}softflowd-ipfix.dat`)],
  ['IPFIX MikroTik', files(['ipfix_test_mikrotik_tpl'], 'ipfix_test_mikrotik_data258')],
  ['IPFIX YAF (variable-length)', files(['ipfix_test_yaf_tpls_option_tpl', 'ipfix_test_yaf_tpl45841'], 'ipfix_test_yaf_data45841')],
  ['IPFIX ingest-bench template (12 fields)', [...ingestBenchCase(), INGEST_RECORDS]],
];
/** --only <text>: run only the cases whose name contains it (for profiling one case). */
const only = process.argv.includes('--only') ? process.argv[process.argv.indexOf('--only') + 1] : undefined;

console.log(`decode + encode, one core (${cpus()[0]?.model ?? 'cpu'}), node ${process.version}, ${seconds}s per case`);
console.log(`${'input'.padEnd(44)} ${'rec/pkt'.padStart(7)} ${'records/s'.padStart(12)} ${'bus B/rec'.padStart(9)} ${'rec/CPU-s'.padStart(12)}`);
const results: Result[] = [];
for (const [name, [setup, packets, ipfixSeq]] of cases) {
  if (only !== undefined && !name.includes(only)) continue;
  const r = run(name, setup, packets, ipfixSeq);
  results.push(r);
  console.log(`${r.name.padEnd(44)} ${r.perPacket.toFixed(0).padStart(7)} ${(r.recordsPerSec / 1e6).toFixed(2).padStart(10)} M ${r.bytesPerRecord.toFixed(0).padStart(9)} ${(r.recordsPerCpuSec / 1e6).toFixed(2).padStart(10)} M`);
}
// Exporters send templates every few seconds or packets, not in every
// packet: the steady state is data-only packets.
const v9 = results.filter((r) => r.name.startsWith('NetFlow v9') && !r.name.includes('template in packet'));
if (v9.length === 0) process.exit(0);
const v9min = Math.min(...v9.map((r) => r.recordsPerSec));
console.log(`\nNetFlow v9 data packets, slowest case: ${(v9min / 1e3).toFixed(0)}k records/s per core; Akvorado anchor (published, not run): 760k flows/s per core → ${(v9min / 760e3).toFixed(1)}×`);
