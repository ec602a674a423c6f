// Quick in-process decode rate check (not a test, not a benchmark suite):
//   node packages/codec/scripts/speed-check.ts
// Loops exporter vectors through FlowDecoder into a sink that reuses one
// batch, and prints records per second.

import { readFileSync } from 'node:fs';
import { ColumnarBatch, FLOW_COLUMNS } from '@flowhound/schema';
import { FlowDecoder, MemoryTemplateStore, type FlowSink } from '../src/index.ts';

const DIR = '/work/shared/testdata/exporter-vectors/';
const load = (f: string) => new Uint8Array(readFileSync(DIR + f + '.dat'));

class ReusingSink implements FlowSink {
  batch = new ColumnarBatch(FLOW_COLUMNS, 4096);
  flushed = 0;
  next(): number {
    if (this.batch.rows >= this.batch.capacity) {
      this.flushed += this.batch.rows;
      this.batch.reset();
    }
    return this.batch.rows++;
  }
}

function run(name: string, setup: string[], packet: string, seconds = 1.5): void {
  const sink = new ReusingSink();
  const dec = new FlowDecoder({ templates: new MemoryTemplateStore(), sink });
  const addr = new Uint8Array(16);
  for (const f of setup) dec.decode(load(f), 'bench', addr, 0);
  const p = load(packet);
  // Warm up so the measurement is of optimised code.
  for (let i = 0; i < 20000; i++) dec.decode(p, 'bench', addr, 0);
  const r0 = dec.counters.records;
  let packets = 0;
  const t0 = process.hrtime.bigint();
  const limit = BigInt(Math.round(seconds * 1e9));
  let t = t0;
  while (t - t0 < limit) {
    for (let i = 0; i < 1000; i++) dec.decode(p, 'bench', addr, 0);
    packets += 1000;
    t = process.hrtime.bigint();
  }
  const secs = Number(t - t0) / 1e9;
  const recs = dec.counters.records - r0;
  const per = recs / packets;
  console.log(`${name.padEnd(44)} ${per.toFixed(0).padStart(3)} rec/pkt  ${(recs / secs / 1e6).toFixed(2)} M records/s  ${(packets / secs / 1e3).toFixed(0)} k packets/s  bad=${dec.counters.bad_sets + dec.counters.bad_packets}`);
}

run('NetFlow v5 (MikroTik, 30 records)', [], 'netflow5_test_microtik');
run('NetFlow v9 data (Cisco 1941, template in packet)', [], 'netflow9_test_cisco_1941K9');
run('NetFlow v9 data (Cisco ASR 9k, 260)', ['netflow9_test_cisco_asr9k_tpl260'], 'netflow9_test_cisco_asr9k_data260');
run('NetFlow v9 data (Cisco ASA NSEL, wide records)', ['netflow9_test_cisco_asa_1_tpl'], 'netflow9_test_cisco_asa_1_data');
run('IPFIX data (MikroTik 258)', ['ipfix_test_mikrotik_tpl'], 'ipfix_test_mikrotik_data258');
run('IPFIX variable-length (YAF 45841)', ['ipfix_test_yaf_tpls_option_tpl', 'ipfix_test_yaf_tpl45841'], 'ipfix_test_yaf_data45841');
