import { describe, expect, it } from 'vitest';
import { FLOW_COLUMNS } from '@flowhound/schema';
import { BatchListSink, FlowDecoder } from './decoder.ts';
import { GenericState, decodeToRecords, type GenericRecord } from './generic.ts';
import { ianaElement } from './ie.ts';
import { MemoryTemplateStore } from './template.ts';
import { VECTOR_GROUPS, be, fixture, ipfixMessage, rowsOf, set, vector } from './test-util.ts';

function generic(payloads: readonly Uint8Array[], exporter = 'e') {
  const store = new MemoryTemplateStore();
  const state = new GenericState();
  const records: GenericRecord[] = [];
  const errors: string[] = [];
  for (const p of payloads) {
    const r = decodeToRecords(p, exporter, store, (x) => records.push(x), { state });
    errors.push(...r.errors.map((e) => e.message));
  }
  return { records, data: records.filter((r) => !r.options), options: records.filter((r) => r.options), errors };
}

function fast(payloads: readonly Uint8Array[], exporter = 'e') {
  const sink = new BatchListSink(256);
  const d = new FlowDecoder({ templates: new MemoryTemplateStore(), sink });
  for (const p of payloads) d.decode(p, exporter, new Uint8Array(16), 0);
  return rowsOf(sink.batches());
}

/** The generic record's value for a column: its first IANA element present, in the schema's order. */
function genericValue(rec: GenericRecord, column: string): unknown {
  const def = FLOW_COLUMNS.find((c) => c.name === column);
  for (const id of def?.ies ?? []) {
    const name = ianaElement(id)?.name;
    if (name && rec[name] !== undefined) return rec[name];
  }
  return undefined;
}

const SOFTFLOWD = ['softflowd-v9.dat', 'softflowd-ipfix.dat', 'softflowd-ipfix-biflow.dat', 'softflowd-ipfix-sampled.dat', 'softflowd-ipfix-milliseconds.dat', 'softflowd-ipfix-nanoseconds.dat'];

describe('generic decoder', () => {
  it('agrees with the fast path on addresses, ports, protocol, bytes, packets and times for every record', () => {
    const cases: [string, Uint8Array[]][] = [
      ...VECTOR_GROUPS.map((g): [string, Uint8Array[]] => [g[0], g.map(vector)]),
      ...SOFTFLOWD.map((f): [string, Uint8Array[]] => [f, [fixture(f)]]),
    ];
    let compared = 0;
    for (const [name, payloads] of cases) {
      const g = generic(payloads);
      const rows = fast(payloads);
      expect(rows.length, name).toBe(g.data.length);
      rows.forEach((row, i) => {
        const rec = g.data[i];
        for (const col of ['src_addr', 'dst_addr', 'src_port', 'dst_port', 'protocol', 'bytes', 'packets']) {
          const v = genericValue(rec, col);
          // Fields the fast path cannot store (an address of the wrong length) stay hex in the generic output.
          if (typeof v === 'number' || (typeof v === 'string' && /[.:]/.test(v))) expect(row[col], `${name} #${i} ${col}`).toBe(v);
        }
        expect(Math.abs((row.flow_start as number) - (rec.flowStartMilliseconds as number)), `${name} #${i} start`).toBeLessThanOrEqual(0.001);
        expect(Math.abs((row.flow_end as number) - (rec.flowEndMilliseconds as number)), `${name} #${i} end`).toBeLessThanOrEqual(0.001);
        expect(row.template_id, name).toBe(rec.templateId);
        expect(row.observation_domain_id, name).toBe(rec.observationDomainId);
        compared++;
      });
    }
    expect(compared).toBeGreaterThan(450);
  });

  it('names fields with their IANA names and adds absolute times', () => {
    const { data } = generic([vector('netflow5')]);
    expect(data[0]).toMatchObject({
      exporter: 'e',
      version: 5,
      observationDomainId: 0,
      templateId: 0,
      sourceIPv4Address: '10.0.2.2',
      destinationIPv4Address: '10.0.2.15',
      sourceTransportPort: 54435,
      destinationTransportPort: 22,
      octetDeltaCount: 230,
      packetDeltaCount: 5,
      flowStartSysUpTime: 4294967295,
      flowEndSysUpTime: 2577,
      flowStartMilliseconds: 1430591888280 - 3382,
      flowEndMilliseconds: 1430591888280 - 804,
    });
  });

  it('names RFC 5103 reverse elements reverse<Name> (softflowd -b)', () => {
    const { data } = generic([fixture('softflowd-ipfix-biflow.dat')]);
    const tcp = data.find((r) => r.sourceTransportPort === 40000);
    // The capture: 5 packets, 700 bytes forward; 3 packets of 240 bytes back.
    expect(tcp).toMatchObject({
      sourceIPv4Address: '10.0.0.1',
      destinationIPv4Address: '192.0.2.7',
      octetDeltaCount: 700,
      packetDeltaCount: 5,
      reverseOctetDeltaCount: 720,
      reversePacketDeltaCount: 3,
      reverseIpClassOfService: 0,
      flowStartMilliseconds: 1700000000000,
      flowEndMilliseconds: 1700000002000,
    });
    expect(typeof tcp?.reverseTcpControlBits).toBe('number');
  });

  it('decodes options records: v9 scope names, strings without NUL padding, system init time', () => {
    const v9 = generic([fixture('softflowd-v9.dat')]).options[0];
    expect(v9).toMatchObject({ options: true, scopeInterface: 0, samplingInterval: 1, samplingAlgorithm: 1, interfaceName: '/tmp/sf/in.pcap' });
    const ipfix = generic([fixture('softflowd-ipfix.dat')]).options[0];
    expect(ipfix).toMatchObject({ systemInitTimeMilliseconds: 1700000000000, samplingPacketInterval: 1, samplingPacketSpace: 0, interfaceName: '/tmp/sf/in.pcap' });
  });

  it('formats MAC addresses and keeps enterprise elements as "<pen>.<id>"', () => {
    const mac = generic(['netflow9_test_macaddr_tpl', 'netflow9_test_macaddr_data'].map(vector)).data[0];
    // tshark: 172.16.32.1:65058 → 172.16.32.201:22, SRC_MAC 00:50:56:c0:00:01, DESTINATION_MAC 00:0c:29:70:86:09.
    expect(mac).toMatchObject({ sourceIPv4Address: '172.16.32.1', sourceMacAddress: '00:50:56:c0:00:01', destinationMacAddress: '00:0c:29:70:86:09' });
    const yaf = generic(['ipfix_test_yaf_tpls_option_tpl', 'ipfix_test_yaf_tpl45841', 'ipfix_test_yaf_data45841'].map(vector)).data[0];
    // YAF sends CERT (PEN 6871) elements; tshark: "Type 40: 00 01".
    expect(yaf['6871.40']).toBe('0001');
    expect(yaf.reverseOctetTotalCount).toBe(200);
  });

  it('keeps nanosecond times exact as text and still derives milliseconds', () => {
    const dns = generic([fixture('softflowd-ipfix-nanoseconds.dat')]).data.find((r) => r.sourceIPv4Address === '8.8.8.8');
    expect(typeof dns?.flowStartNanoseconds).toBe('string');
    expect((dns?.flowStartNanoseconds as string).slice(0, 13)).toBe('1700000001000');
    expect(Math.round(dns?.flowStartMilliseconds as number)).toBe(1700000001000);
  });

  it('lists problems instead of throwing: missing templates and cut packets', () => {
    const miss = generic([vector('netflow9_test_cisco_asa_1_data')]);
    expect(miss.data).toHaveLength(0);
    expect(miss.errors[0]).toMatch(/template 265 not yet received/);
    const p = vector('ipfix');
    const cut = generic([p.subarray(0, 300)]);
    expect(cut.errors.length).toBeGreaterThan(0);
  });

  it('uses a system init time learnt from an earlier packet of the same exporter', () => {
    // Split softflowd's IPFIX datagram: templates and options first, the data sets later.
    const p = fixture('softflowd-ipfix.dat');
    const store = new MemoryTemplateStore();
    const state = new GenericState();
    const out: GenericRecord[] = [];
    decodeToRecords(p, 'sf', store, () => {}, { state });
    decodeToRecords(p, 'sf', store, (r) => out.push(r), { state, includeOptions: false });
    expect(out.every((r) => !r.options)).toBe(true);
    expect(out.find((r) => r.sourceIPv4Address === '8.8.8.8')?.flowStartMilliseconds).toBe(1700000001000);
  });
});

describe('decodeToRecords template withdrawals', () => {
  it('applies a set\'s withdrawals and definitions in order', () => {
    const tpl = (fields: number[][]) => [...be.u16(300), ...be.u16(fields.length), ...fields.flatMap(([id, len]) => [...be.u16(id), ...be.u16(len)])];
    const withdraw300 = [...be.u16(300), ...be.u16(0)];
    const data = set(300, [...be.ip4('10.0.0.1'), ...be.ip4('10.0.0.2')]);
    // Define, then in one set: withdraw 300 and define it again; data follows.
    const first = ipfixMessage([set(2, tpl([[8, 4]]))]);
    const second = ipfixMessage([set(2, [...withdraw300, ...tpl([[8, 4], [12, 4]])]), data]);
    const r = generic([first, second]);
    expect(r.errors).toEqual([]);
    expect(r.data).toHaveLength(1);
    // And the reverse order withdraws what the set defined.
    const third = ipfixMessage([set(2, [...tpl([[8, 4], [12, 4]]), ...withdraw300]), data]);
    const r2 = generic([third]);
    expect(r2.data).toHaveLength(0);
    expect(r2.errors.join()).toMatch(/template 300 not yet received/);
  });
});
