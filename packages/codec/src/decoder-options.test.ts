// Options data shared between replicas, element mappings by configuration,
// unknown elements, clock sanity, and held sets decoded from inside decode.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ColumnarBatch, FLOW_COLUMNS, parseIp } from '@flowhound/schema';
import { BatchListSink, FlowDecoder, type FlowDecoderOptions, type FlowSink, type HeldSet, type OptionsFact } from './decoder.ts';
import { ElementMappingError } from './errors.ts';
import { readCapture } from './pcap.ts';
import { MemoryTemplateStore, type TemplateDef } from './template.ts';
import { EXPORT_SEC, VECTOR_GROUPS, be, fixture, ipfixMessage, ipfixOptionsTemplate, ipfixTemplate, rowsOf, set, vector } from './test-util.ts';

const ADDR = new Uint8Array(16);
parseIp('192.0.2.1', ADDR);
const RECEIVED = EXPORT_SEC * 1000;

type Fact = [exporter: string, domain: number, kind: OptionsFact, key: number | string, value: number | string];

function setup(opts: Partial<FlowDecoderOptions> = {}) {
  const sink = new BatchListSink(4096);
  const facts: Fact[] = [];
  const decoder = new FlowDecoder({ templates: new MemoryTemplateStore(), sink, onOptionsData: (...f) => facts.push(f), ...opts });
  const decode = (...ps: (string | Uint8Array)[]) => {
    for (const p of ps) decoder.decode(typeof p === 'string' ? vector(p) : p, 'x', ADDR, RECEIVED);
  };
  return { decoder, decode, facts, rows: () => rowsOf(sink.batches()) };
}

const NBAR = ['netflow9_test_cisco_nbar_opttpl260', 'netflow9_test_cisco_nbar_tpl262', 'netflow9_test_cisco_nbar_data262'];

describe('options data for other replicas', () => {
  it('reports each fact learnt from options data once, and again only when it changes', () => {
    const s = setup();
    s.decode(...NBAR);
    const names = s.facts.filter((f) => f[2] === 'application_name');
    expect(names).toHaveLength(15);
    expect(names).toContainEqual(['x', 0, 'application_name', '1:1', 'icmp']);
    s.decode(NBAR[0], NBAR[2]); // the same options again
    expect(s.facts).toHaveLength(15);
    // softflowd: system init time, the sampling rate, in that order.
    const sf = setup();
    sf.decoder.decode(new Uint8Array(readFileSync(fileURLToPath(new URL('../testdata/softflowd-ipfix-sampled.dat', import.meta.url)))), 'sf', ADDR, RECEIVED);
    expect(sf.facts.map((f) => f[2])).toEqual(['system_init_time', 'sampling_rate']);
    expect(sf.facts[1]).toEqual(['sf', 0, 'sampling_rate', -1, 10]);
  });

  it('lets a replica that never saw the options data decode as the one that did', () => {
    const opt = ipfixOptionsTemplate(256, 1, [
      [143, 4],
      [160, 8],
      [10, 4],
      [82, 65535],
    ]);
    const options = set(256, [...be.u32(1), ...be.u64(RECEIVED - 3_600_000), ...be.u32(3), ...be.varlen(be.text('eth0'))]);
    const tpl = ipfixTemplate(257, [
      [8, 4],
      [10, 4],
      [22, 4],
      [21, 4],
      [95, 4],
    ]);
    const data = ipfixMessage([tpl, set(257, [...be.ip4('10.0.0.1'), ...be.u32(3), ...be.u32(3_000_000), ...be.u32(3_500_000), 13, 0, 0, 80])]);
    const a = setup();
    a.decode(ipfixMessage([opt, options]), data);
    a.decoder.setApplicationName('x', '13:80', 'http'); // as if learnt elsewhere: no hook call for it
    expect(a.facts.map((f) => f[2])).toEqual(['system_init_time', 'interface_name']);
    const b = setup();
    for (const f of a.facts) b.decoder.applyOptionsData(...f);
    b.decoder.applyOptionsData('x', 0, 'application_name', '13:80', 'http');
    b.decode(data);
    expect(b.facts).toEqual([]);
    expect(b.decoder.counters.times_estimated).toBe(0);
    const ra = a.rows()[0];
    const rb = b.rows()[0];
    expect(rb).toMatchObject({ flow_start: ra.flow_start, flow_end: ra.flow_end, input_if_name: 'eth0', app_name: 'http' });
    expect(rb.flow_end).toBe(RECEIVED - 3_600_000 + 3_500_000);
  });
});

describe('element mappings by configuration', () => {
  it('maps PAN-OS App-ID (NetFlow v9 field 56701) to app_name and Streamcore’s host and URL to the HTTP columns', () => {
    const pan = setup({ elements: [{ enterprise: 0, id: 56701, column: 'app_name' }] });
    pan.decode('netflow9_test_paloalto_panos_tpl', 'netflow9_test_paloalto_panos_data');
    expect(pan.rows()[0]).toMatchObject({ app_name: 'incomplete', fw_event: 1, flow_action: 1 });
    expect(pan.decoder.unknownElements('x').map((u) => u.id)).not.toContain(56701);
    const sc = setup({
      elements: [
        { enterprise: 0, id: 8256, column: 'http_host' },
        { enterprise: 0, id: 8257, column: 'http_url' },
      ],
    });
    sc.decode('netflow9_test_streamcore_tpl_data256', 'netflow9_test_streamcore_tpl_data260');
    expect(sc.rows().find((r) => r.http_host !== '')).toMatchObject({ http_host: 'live.lemde.fr', http_url: '/mux.json' });
  });

  it('maps an enterprise element to a number or address column, the address family from its length', () => {
    const s = setup({
      elements: [
        { enterprise: 6871, id: 40, column: 'nat_event' },
        { enterprise: 32473, id: 1, column: 'post_nat_src_addr' },
      ],
    });
    const tpl = ipfixTemplate(300, [
      [8, 4],
      [40, 2, 6871],
      [1, 16, 32473],
    ]);
    const v6 = new Uint8Array(16);
    parseIp('2001:db8::7', v6);
    s.decode(ipfixMessage([tpl, set(300, [...be.ip4('10.0.0.1'), ...be.u16(3), ...v6])]));
    expect(s.rows()[0]).toMatchObject({ nat_event: 3, post_nat_src_addr: '2001:db8::7' });
  });

  it('refuses mappings to unknown, derived or decoder-filled columns, and duplicates', () => {
    const templates = new MemoryTemplateStore();
    const sink = new BatchListSink(4);
    const make = (elements: FlowDecoderOptions['elements']) => () => new FlowDecoder({ templates, sink, elements });
    expect(make([{ enterprise: 9, id: 1, column: 'no_such' }])).toThrow(ElementMappingError);
    expect(make([{ enterprise: 9, id: 1, column: 'no_such' }])).toThrow(/no column no_such/);
    expect(make([{ enterprise: 9, id: 1, column: 'bytes_scaled' }])).toThrow(/filled by the decoder/);
    expect(make([{ enterprise: 9, id: 1, column: 'flow_start' }])).toThrow(/filled by the decoder/);
    expect(make([{ enterprise: 9, id: 40000, column: 'bytes' }])).toThrow(/id must be 0–32767/);
    expect(
      make([
        { enterprise: 9, id: 1, column: 'bytes' },
        { enterprise: 9, id: 1, column: 'packets' },
      ]),
    ).toThrow(/mapped twice/);
  });
});

describe('unknown elements', () => {
  it('lists per exporter the elements no column takes, with the records that carried them', () => {
    const s = setup();
    s.decode('netflow9_test_cisco_asa_1_tpl', 'netflow9_test_cisco_asa_1_data');
    // flowId and the NSEL username (40000) have no column; 14 records carried them.
    expect(s.decoder.unknownElements('x')).toEqual([
      { enterprise: 0, id: 148, length: 4, count: 14, name: 'flowId' },
      { enterprise: 0, id: 40000, length: 20, count: 14, name: '0.40000' },
    ]);
    expect(s.decoder.unknownElements('elsewhere')).toEqual([]);
  });

  it('names enterprise elements the exporter described with RFC 5610 type information, and remembers a bounded number', () => {
    const s = setup({ maxUnknownElements: 2 });
    const info = ipfixOptionsTemplate(258, 2, [
      [346, 4],
      [303, 2],
      [339, 1],
      [344, 1],
      [341, 65535],
    ]);
    const tpl = ipfixTemplate(300, [
      [8, 4],
      [110, 4, 3054],
      [111, 4, 3054],
      [112, 4, 3054],
    ]);
    s.decode(ipfixMessage([info, set(258, [...be.u32(3054), ...be.u16(110), 3, 0, ...be.varlen(be.text('l7ApplicationId'))]), tpl, set(300, [...be.ip4('10.0.0.1'), ...new Array<number>(12).fill(0)])]));
    expect(s.decoder.unknownElements('x')).toEqual([
      { enterprise: 3054, id: 110, length: 4, count: 1, name: 'l7ApplicationId' },
      { enterprise: 3054, id: 111, length: 4, count: 1, name: '3054.111' },
    ]);
    expect(s.rows()).toHaveLength(1);
  });
});

describe('clock sanity', () => {
  it('counts export packets far from the receive time and records ending far after their export, and keeps them', () => {
    const s = setup({ clock: { maxExportSkewMs: 30_000, maxEndAfterExportMs: 60_000 } });
    const tpl = ipfixTemplate(300, [
      [8, 4],
      [152, 8],
      [153, 8],
    ]);
    const rec = (end: number) => [...be.ip4('10.0.0.1'), ...be.u64(end - 1000), ...be.u64(end)];
    s.decode(ipfixMessage([tpl, set(300, [...rec(RECEIVED - 5000), ...rec(RECEIVED + 2 * 3_600_000)])]));
    s.decode(ipfixMessage([set(300, rec(RECEIVED))], { exportSec: EXPORT_SEC - 3600, seq: 2 }));
    expect(s.decoder.clockStats('x')).toEqual({ packetsSkewed: 1, lastExportSkewMs: -3_600_000, recordsEndAfterExport: 2, maxEndAfterExportMs: 2 * 3_600_000 });
    expect(s.decoder.counters).toMatchObject({ packets_clock_skewed: 1, records_end_after_export: 2, records: 3 });
    expect(s.rows()[1].flow_end).toBe(RECEIVED + 2 * 3_600_000);
  });

  it('dates softflowd’s uptimes sent modulo 2^32 (a pcap replayed without -a) as the capture’s own times', () => {
    const times = (file: string) => {
      const s = setup();
      const capture = new Uint8Array(readFileSync(fileURLToPath(new URL(`../../../test/fixtures/${file}`, import.meta.url))));
      for (const d of readCapture(capture)) s.decoder.decode(d.payload, 'sf', ADDR, d.tsMs);
      const rows = s.rows();
      return { first: Math.min(...rows.map((r) => r.flow_start as number)), last: Math.max(...rows.map((r) => r.flow_end as number)), n: rows.length, late: s.decoder.counters.records_end_after_export };
    };
    // skeleton.pcap runs from 2026-11-02T09:00:00.983Z to 09:09:43.237Z (test/fixtures/README.md).
    const wrapped = times('softflowd-v10-uptime-wrap.pcap');
    expect(wrapped).toEqual({ first: Date.parse('2026-11-02T09:00:00.983Z'), last: Date.parse('2026-11-02T09:09:43.236Z'), n: 156, late: 0 });
    expect(times('softflowd-v10.pcap')).toEqual(wrapped);
  });
});

describe('held sets decoded from inside decode', () => {
  it('keeps the packet’s own context when the store releases held sets as a template arrives', () => {
    // Like ingest: put() decodes the sets held for that template at once, inside decode().
    const inner = new MemoryTemplateStore();
    const held: HeldSet[] = [];
    let decoder: FlowDecoder | undefined;
    const store = {
      get: inner.get.bind(inner),
      withdraw: inner.withdraw.bind(inner),
      put(exporter: string, t: TemplateDef) {
        inner.put(exporter, t);
        for (const h of held.splice(0)) decoder?.decodeHeldSet(h);
      },
    };
    const sink = new BatchListSink(64);
    decoder = new FlowDecoder({ templates: store, sink, onMissingTemplate: (h) => held.push(h) });
    const tpl = ipfixTemplate(300, [[8, 4]]);
    const data = (ip: string) => set(300, be.ip4(ip));
    decoder.decode(ipfixMessage([data('10.0.0.1')], { seq: 0 }), 'x', ADDR, RECEIVED - 10_000);
    decoder.decode(ipfixMessage([tpl, data('10.0.0.2')], { seq: 1 }), 'x', ADDR, RECEIVED);
    const rows = rowsOf(sink.batches());
    expect(rows.map((r) => [r.src_addr, r.time_received])).toEqual([
      ['10.0.0.1', RECEIVED - 10_000],
      ['10.0.0.2', RECEIVED],
    ]);
    expect(decoder.sequenceStats('x')[0]).toMatchObject({ lost: 0 });
  });
});

/** Columns with a non-zero cell in the used rows that the batch does not mark as touched. */
function unmarked(b: ColumnarBatch): string[] {
  const out: string[] = [];
  FLOW_COLUMNS.forEach((c, i) => {
    const d = b.data[i];
    const width = c.kind === 'ip' ? 16 : 1;
    let written = false;
    for (let k = 0; k < b.rows * width && !written; k++) written = c.kind === 'str' ? (d as string[])[k] !== '' : (d as Float64Array)[k] !== 0;
    if (written && b.touched[i] !== 1) out.push(c.name);
  });
  return out;
}

/** Resets its one batch in place when it is full, as ingest's receiver does after encoding it. */
class ResettingSink implements FlowSink {
  readonly batch: ColumnarBatch;
  resets = 0;

  constructor(capacity: number) {
    this.batch = new ColumnarBatch(FLOW_COLUMNS, capacity);
  }

  next(): number {
    if (this.batch.rows >= this.batch.capacity) {
      this.batch.reset();
      this.resets++;
    }
    return this.batch.rows++;
  }
}

describe('column tracking', () => {
  it('marks in the batch every column it writes, for every vector, interface names and configured elements', () => {
    const groups: [string[], Partial<FlowDecoderOptions>][] = VECTOR_GROUPS.map((g) => [[...g], {}]);
    // Interface names come from options data: the decoder writes the *_if_name columns too.
    groups.push([['netflow9_test_cisco_asr9k_opttpl256', 'netflow9_test_cisco_asr9k_opttpl257', 'netflow9_test_cisco_asr9k_opttpl334', 'netflow9_test_cisco_asr9k_tpl260', 'netflow9_test_cisco_asr9k_data260'], {}]);
    groups.push([['softflowd-v9.dat'], {}]);
    groups.push([['netflow9_test_paloalto_panos_tpl', 'netflow9_test_paloalto_panos_data'], { elements: [{ enterprise: 0, id: 56701, column: 'app_name' }] }]);
    const missed: string[] = [];
    let checked = 0;
    for (const [g, opts] of groups) {
      const sink = new BatchListSink(4096);
      const decoder = new FlowDecoder({ templates: new MemoryTemplateStore(), sink, ...opts });
      for (const f of g) decoder.decode(f.endsWith('.dat') ? fixture(f) : vector(f), 'x', ADDR, RECEIVED);
      for (const c of unmarked(sink.batch)) missed.push(`${g[0]}: ${c}`);
      checked += sink.batch.rows;
    }
    expect(missed).toEqual([]);
    expect(checked).toBeGreaterThan(100);
  });

  it('marks only what the records write: a NetFlow v5 batch leaves the firewall and text columns untouched', () => {
    const sink = new BatchListSink(64);
    new FlowDecoder({ templates: new MemoryTemplateStore(), sink }).decode(vector('netflow5'), 'x', ADDR, RECEIVED);
    const touched = FLOW_COLUMNS.filter((_, i) => sink.batch.touched[i] === 1).map((c) => c.name);
    expect(touched).toContain('src_addr');
    expect(touched).toContain('bytes_scaled');
    expect(touched).not.toContain('ingress_acl');
    expect(touched).not.toContain('template_id');
    expect(touched).not.toContain('rev_bytes');
    expect(touched.length).toBeLessThan(FLOW_COLUMNS.length / 2);
  });

  it('marks again in each batch a sink swaps in', () => {
    const acl = FLOW_COLUMNS.findIndex((c) => c.name === 'ingress_acl');
    const sink = new BatchListSink(8);
    const decoder = new FlowDecoder({ templates: new MemoryTemplateStore(), sink });
    decoder.decode(vector('netflow9_test_cisco_asa_1_tpl'), 'x', ADDR, RECEIVED);
    decoder.decode(vector('netflow9_test_cisco_asa_1_data'), 'x', ADDR, RECEIVED);
    // 14 records in batches of 8: the second batch was swapped in in the middle of the data set.
    const batches = sink.batches();
    expect(batches.map((b) => b.rows)).toEqual([8, 6]);
    for (const b of batches) {
      expect(b.touched[acl]).toBe(1);
      expect(unmarked(b)).toEqual([]);
    }
  });

  it('marks again after the sink resets the same batch in the middle of a data set or a v5 packet', () => {
    for (const [files, capacity] of [
      [['netflow9_test_cisco_asa_1_tpl', 'netflow9_test_cisco_asa_1_data'], 8],
      [['netflow5_test_microtik'], 7],
    ] as const) {
      const sink = new ResettingSink(capacity);
      const decoder = new FlowDecoder({ templates: new MemoryTemplateStore(), sink });
      for (const f of files) decoder.decode(vector(f), 'x', ADDR, RECEIVED);
      expect(sink.resets).toBeGreaterThan(0);
      expect(sink.batch.rows).toBeGreaterThan(0);
      expect(unmarked(sink.batch)).toEqual([]);
      // And the same data set again in the same fill marks nothing new but misses nothing.
      decoder.decode(vector(files[files.length - 1]), 'x', ADDR, RECEIVED);
      expect(unmarked(sink.batch)).toEqual([]);
    }
  });
});
