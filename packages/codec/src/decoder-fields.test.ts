// The columns of schema version 2 (biflows, firewall and NAT, application,
// layer 2/3 details, HTTP, response times, TCP flag counters) from real
// exporter vectors, checked against tshark where it decodes them, and from
// hand-built packets where no vector has the element.
import { describe, expect, it } from 'vitest';
import { parseIp } from '@flowhound/schema';
import { BatchListSink, FlowDecoder } from './decoder.ts';
import { MemoryTemplateStore } from './template.ts';
import { VECTOR_GROUPS, be, fixture, hasTshark, ipfixMessage, ipfixTemplate, rowsOf, set, tsharkFlows, v9Packet, v9Template, vector, type Row, type Spec } from './test-util.ts';

const ADDR = new Uint8Array(16);
parseIp('192.0.2.1', ADDR);
const RECEIVED = 1_800_000_000_000;

function decodeAll(files: readonly (string | Uint8Array)[], exporter = 'x') {
  const sink = new BatchListSink(4096);
  const decoder = new FlowDecoder({ templates: new MemoryTemplateStore(), sink });
  for (const f of files) decoder.decode(typeof f === 'string' ? (f.endsWith('.dat') ? fixture(f) : vector(f)) : f, exporter, ADDR, RECEIVED);
  return { decoder, rows: rowsOf(sink.batches()) };
}

/** One IPFIX record of a hand-built template. */
function ipfixRecord(fields: readonly Spec[], values: number[]): Row {
  const { rows, decoder } = decodeAll([ipfixMessage([ipfixTemplate(400, fields), set(400, values)])]);
  expect(decoder.counters.bad_sets).toBe(0);
  expect(rows).toHaveLength(1);
  return rows[0];
}

describe('RFC 5103 biflows', () => {
  it('keeps softflowd -b biflows as one record with both directions', () => {
    const { rows } = decodeAll(['softflowd-ipfix-biflow.dat']);
    // The capture: 10.0.0.1:40000 ⇄ 192.0.2.7:443, 5 packets of 140 bytes out, 3 packets of 240 back.
    expect(rows.find((r) => r.src_port === 40000)).toMatchObject({ bytes: 700, packets: 5, rev_bytes: 720, rev_packets: 3, tcp_flags: 0x1b, rev_tcp_flags: 0x1b });
    expect(rows.find((r) => r.src_port === 53)).toMatchObject({ bytes: 88, rev_bytes: 58, packets: 1, rev_packets: 1 });
  });

  it('reads YAF’s reverse total counts and Cisco ASA’s initiator/responder octets', () => {
    // tshark: octets 132, packets 2; YAF reverseOctetTotalCount 200, reversePacketTotalCount 2.
    const yaf = decodeAll(['ipfix_test_yaf_tpls_option_tpl', 'ipfix_test_yaf_tpl45841', 'ipfix_test_yaf_data45841']).rows[0];
    expect(yaf).toMatchObject({ bytes: 132, packets: 2, rev_bytes: 200, rev_packets: 2 });
    // tshark: initiator_octets 81, responder_octets 763.
    const asa = decodeAll(['netflow9_test_cisco_asa_2_tpl_26x', 'netflow9_test_cisco_asa_2_tpl_27x', 'netflow9_test_cisco_asa_2_data']).rows[0];
    expect(asa).toMatchObject({ bytes: 81, rev_bytes: 763 });
  });
});

describe('firewall and NAT', () => {
  it('decodes Cisco ASA NSEL events, ACLs and translations as tshark shows them', () => {
    const { rows } = decodeAll(['netflow9_test_cisco_asa_1_tpl', 'netflow9_test_cisco_asa_1_data']);
    // tshark flow 1: firewall_event 2 (NSEL 40005), fw_ext_event 2025, ingress_acl_id 0f:8e:7f:f3:fc:1a:03:0f:00:00:00:00,
    // egress_acl_id all zero, post-NAT 192.168.14.1:0 → 2.2.2.11:17549 (NSEL 40001–40004).
    expect(rows[0]).toMatchObject({
      fw_event: 2,
      fw_ext_event: 2025,
      ingress_acl: '0f8e7ff3-fc1a030f-00000000',
      egress_acl: '',
      flow_action: 1,
      post_nat_src_addr: '192.168.14.1',
      post_nat_dst_addr: '2.2.2.11',
      post_napt_src_port: 0,
      post_napt_dst_port: 17549,
    });
  });

  it('derives flow_action from firewall events, NSEL extended events and forwarding status', () => {
    const fields: Spec[] = [
      [8, 4],
      [233, 1],
      [33002, 2],
      [89, 1],
    ];
    const tpl = v9Template(256, fields);
    const rec = (fw: number, ext: number, fwd: number) => [...be.ip4('10.0.0.1'), fw, ...be.u16(ext), fwd];
    const cases: [fw: number, ext: number, fwd: number, action: number][] = [
      [1, 0, 0, 1], // created
      [2, 2020, 0, 1], // deleted (idle timeout)
      [5, 0, 0, 1], // updated
      [3, 1001, 0, 2], // denied by ingress ACL
      [0, 1004, 0, 2], // denied: TCP without SYN
      [4, 0, 0, 0], // alert
      [0, 0, 0x40, 1], // forwarded
      [0, 0, 0x82, 2], // dropped, reason 2
      [0, 0, 0xc0, 1], // consumed
      [0, 0, 0, 0], // unknown
    ];
    const { rows } = decodeAll([v9Packet([tpl, set(256, cases.flatMap(([a, b, c]) => rec(a, b, c)))], 2)]);
    expect(rows.map((r) => r.flow_action)).toEqual(cases.map((c) => c[3]));
  });

  it('reads NEL NAT events and port blocks', () => {
    const r = ipfixRecord(
      [
        [8, 4],
        [225, 4],
        [227, 2],
        [230, 1],
        [361, 2],
        [362, 2],
        [363, 2],
        [364, 2],
      ],
      [...be.ip4('10.0.0.1'), ...be.ip4('198.51.100.7'), ...be.u16(1024), 16, ...be.u16(1024), ...be.u16(1535), ...be.u16(1), ...be.u16(512)],
    );
    expect(r).toMatchObject({ post_nat_src_addr: '198.51.100.7', post_napt_src_port: 1024, nat_event: 16, port_range_start: 1024, port_range_end: 1535, port_range_step: 1, port_range_ports: 512 });
  });
});

describe('application identity', () => {
  it('names NBAR applications from options data keyed by application id', () => {
    const { rows } = decodeAll(['netflow9_test_cisco_nbar_opttpl260', 'netflow9_test_cisco_nbar_tpl262', 'netflow9_test_cisco_nbar_data262']);
    // Options data: applicationId 01:000001 → "icmp"; the data records carry 01000001.
    expect(rows[0]).toMatchObject({ app_id: '1:1', app_name: 'icmp' });
    // An id the options data did not name stays unnamed.
    expect(rows.find((r) => r.app_id === '5:38')).toMatchObject({ app_name: '' });
  });

  it('writes PEN-based application ids (FortiOS) and takes a name sent in the record itself', () => {
    const forti = decodeAll(['netflow9_test_fortigate_fortios_542_appid_tpl258-269', 'netflow9_test_fortigate_fortios_542_appid_data258_262']).rows;
    // tshark: classification engine 20, selector 00:00:30:44:00:00:8f:34 (PEN 12356 Fortinet, id 36660).
    expect(forti[0]).toMatchObject({ app_id: '20:12356:36660', forwarding_status: 0x40, flow_action: 1 });
    const r = ipfixRecord(
      [
        [8, 4],
        [95, 65535],
        [96, 65535],
      ],
      [...be.ip4('10.0.0.1'), ...be.varlen([13, 0, 0, 80]), ...be.varlen(be.text('http'))],
    );
    expect(r).toMatchObject({ app_id: '13:80', app_name: 'http' });
  });
});

describe('layer 2 and 3 details', () => {
  it('reads MAC addresses, VLANs, DSCP and TTL from the vectors as tshark shows them', () => {
    // tshark: srcmac 90:e2:ba:23:09:fc, dstmac 00:1b:21:bc:24:dd.
    expect(decodeAll(['netflow9_test_iptnetflow_reduced_size_encoding_tpldata260']).rows[0]).toMatchObject({ src_mac: '90:e2:ba:23:09:fc', dst_mac: '00:1b:21:bc:24:dd' });
    // EdgeRouter: template 1024 has the ingress MACs, 1025 the egress ones (tshark post_srcmac 44:d9:e7:be:ef:22).
    const ubnt = decodeAll(['netflow9_test_ubnt_edgerouter_tpl', 'netflow9_test_ubnt_edgerouter_data1024', 'netflow9_test_ubnt_edgerouter_data1025']).rows;
    expect(ubnt[0]).toMatchObject({ template_id: 1024, src_mac: '06:be:ef:be:ef:4f', dst_mac: '44:d9:e7:be:ef:89', post_src_mac: '' });
    expect(ubnt.find((r) => r.template_id === 1025)).toMatchObject({ src_mac: '', post_src_mac: '44:d9:e7:be:ef:22', post_dst_mac: '44:d9:e7:be:ef:8e' });
    // Cisco 1941: dot1qVlanId (243) 872 in one record.
    expect(decodeAll(['netflow9_test_cisco_1941K9']).rows.some((r) => r.vlan_id === 872)).toBe(true);
    // Viptela: ipDiffServCodePoint 12 (tos 0x30); VMware: maximumTTL 128.
    expect(decodeAll(['ipfix_test_viptela_tpl257', 'ipfix_test_viptela_data257']).rows[0]).toMatchObject({ dscp: 12, tos: 0x30 });
    expect(decodeAll(['ipfix_test_vmware_vds_tpl', 'ipfix_test_vmware_vds_data264']).rows[0]).toMatchObject({ max_ttl: 128 });
  });

  it('takes DSCP from the type of service when the record has no DSCP element', () => {
    const r = ipfixRecord(
      [
        [8, 4],
        [5, 1],
        [52, 1],
        [53, 1],
      ],
      [...be.ip4('10.0.0.1'), 0xb8, 60, 64],
    );
    expect(r).toMatchObject({ tos: 0xb8, dscp: 46, min_ttl: 60, max_ttl: 64 });
  });

  it('reads the top MPLS label and the TCP flag counters', () => {
    // Label 16004, EXP 5, bottom of stack: 0x03e8 4 | 0xb.
    const r = ipfixRecord(
      [
        [8, 4],
        [70, 3],
        [218, 8],
        [219, 8],
        [220, 8],
        [221, 8],
        [222, 8],
        [223, 8],
      ],
      [...be.ip4('10.0.0.1'), 0x03, 0xe8, 0x4b, ...be.u64(1), ...be.u64(1), ...be.u64(0), ...be.u64(7), ...be.u64(2 ** 40), ...be.u64(0)],
    );
    expect(r).toMatchObject({ mpls_label: 16004, tcp_syn_count: 1, tcp_fin_count: 1, tcp_rst_count: 0, tcp_psh_count: 7, tcp_ack_count: 2 ** 40, tcp_urg_count: 0 });
  });
});

describe('interface names from options data', () => {
  it('names input and output interfaces from interfaceDescription options of a Cisco ASR 9000', () => {
    const { rows } = decodeAll([
      'netflow9_test_cisco_asr9k_opttpl256',
      'netflow9_test_cisco_asr9k_opttpl257',
      'netflow9_test_cisco_asr9k_opttpl334',
      'netflow9_test_cisco_asr9k_tpl260',
      'netflow9_test_cisco_asr9k_tpl266',
      'netflow9_test_cisco_asr9k_data256',
      'netflow9_test_cisco_asr9k_data260',
    ]);
    // Options data: ifIndex 110 → TenGigE0_6_1_0 (tshark if_descr); 158 is not in it.
    expect(rows[0]).toMatchObject({ input_if: 110, input_if_name: 'TenGigE0_6_1_0', output_if: 158, output_if_name: '' });
  });

  it('names interfaces from interfaceName with an Interface scope (softflowd -v 9)', () => {
    const { rows, decoder } = decodeAll(['softflowd-v9.dat']);
    // softflowd names its only interface (ifIndex 0) after the capture it read.
    expect(decoder.interfaceName('x', 0)).toBe('/tmp/sf/in.pcap');
    expect(rows[0]).toMatchObject({ input_if: 0, input_if_name: '/tmp/sf/in.pcap' });
  });
});

describe('HTTP and application response time', () => {
  it('reads the NetScaler HTTP host and URL (PEN 5951, variable length) as tshark shows them', () => {
    const { rows } = decodeAll(['ipfix_test_netscaler_tpl', 'ipfix_test_netscaler_data']);
    // tshark: http-req-host www.kobo.com, http-req-url /aa/bb/ccccc/ddddddddddddddddddddddddd.
    expect(rows.find((r) => r.http_host !== '')).toMatchObject({ http_host: 'www.kobo.com', http_url: '/aa/bb/ccccc/ddddddddddddddddddddddddd' });
  });

  it('reads IANA httpRequestHost/Target and Cisco ART delays, per connection and per response', () => {
    const r = ipfixRecord(
      [
        [8, 4],
        [460, 65535],
        [461, 65535],
        [9316, 4, 9],
        [9319, 4, 9],
        [9306, 4, 9],
        [9282, 4, 9],
        [9292, 4, 9],
      ],
      [...be.ip4('10.0.0.1'), ...be.varlen(be.text('example.com')), ...be.varlen(be.text(`/${'a'.repeat(300)}`)), ...be.u32(30), ...be.u32(90), ...be.u32(500), ...be.u32(2), ...be.u32(4)],
    );
    // Sums of 2 new connections and 4 responses.
    expect(r).toMatchObject({ http_host: 'example.com', http_url: `/${'a'.repeat(300)}`, client_nw_delay_ms: 15, server_nw_delay_ms: 45, app_delay_ms: 125 });
  });
});

/** tshark's text for a field → our column's value, for the comparison below. */
const TSHARK_FIELDS: ReadonlyArray<[tshark: string, column: string, convert?: (v: string, t: Record<string, string>) => string | number | undefined]> = [
  ['cflow.firewall_event', 'fw_event', Number],
  ['cflow.fw_ext_event', 'fw_ext_event', Number],
  ['cflow.ingress_acl_id', 'ingress_acl', acl],
  ['cflow.egress_acl_id', 'egress_acl', acl],
  ['cflow.post_natsource_ipv4_address', 'post_nat_src_addr'],
  ['cflow.post_natdestination_ipv4_address', 'post_nat_dst_addr'],
  ['cflow.post_naptsource_transport_port', 'post_napt_src_port', Number],
  ['cflow.post_naptdestination_transport_port', 'post_napt_dst_port', Number],
  ['cflow.responder_octets', 'rev_bytes', Number],
  ['cflow.srcmac', 'src_mac'],
  ['cflow.dstmac', 'dst_mac'],
  ['cflow.post_srcmac', 'post_src_mac'],
  ['cflow.post_dstmac', 'post_dst_mac'],
  ['cflow.post_vlanid', 'post_vlan_id', Number],
  ['cflow.dot1q_vlan_id', 'vlan_id', (v, t) => (t['cflow.vlanid'] === undefined ? Number(v) : undefined)],
  ['cflow.ip_dscp', 'dscp', Number],
  ['cflow.tos', 'dscp', (v, t) => (t['cflow.ip_dscp'] === undefined ? Number(v) >> 2 : undefined)],
  ['cflow.ttl_max', 'max_ttl', Number],
  ['cflow.forwarding_status', 'forwarding_status', (v, t) => (Number(v) << 6) | Number(t['cflow.forwarding_status_forward_code'] ?? t['cflow.forwarding_status_consume_code'] ?? t['cflow.forwarding_status_drop_code'] ?? t['cflow.forwarding_status_unknown_code'] ?? 0)],
  ['cflow.appl_id.classification_engine_id', 'app_id', (v, t) => appId(Number(v), t['cflow.appl_id.selector_id'] ?? '')],
  ['cflow.pie.netscaler.http-req-host', 'http_host'],
  ['cflow.pie.netscaler.http-req-url', 'http_url'],
];

function acl(v: string): string {
  const hex = v.replace(/:/g, '');
  return /^0+$/.test(hex) ? '' : `${hex.slice(0, 8)}-${hex.slice(8, 16)}-${hex.slice(16, 24)}`;
}

function appId(engine: number, selector: string): string {
  const hex = selector.replace(/:/g, '');
  if (engine === 20 && hex.length >= 10) return `20:${Number.parseInt(hex.slice(0, 8), 16)}:${Number.parseInt(hex.slice(8), 16)}`;
  return `${engine}:${hex ? Number.parseInt(hex, 16) : 0}`;
}

describe.skipIf(!hasTshark())('agreement with tshark on the new columns', () => {
  it('gives the same firewall, NAT, application, MAC, VLAN, DSCP, TTL, forwarding and HTTP values as tshark', () => {
    const compared = new Map<string, number>();
    const all = tsharkFlows(VECTOR_GROUPS.map((g) => g.map(vector)));
    for (const [gi, g] of VECTOR_GROUPS.entries()) {
      // The groups the base comparison skips (tshark stops early or prints no fields), for the same reasons.
      if (['netflow9_test_h3c_tpl3281', 'netflow9_test_invalid01', 'ipfix_test_ixia_tpldata256'].includes(g[0]) || g[0].startsWith('netflow5_test_invalid')) continue;
      const flows = all[gi].filter((t) => t['cflow.srcaddr'] ?? t['cflow.srcaddrv6']);
      const rows = decodeAll(g).rows.filter((r) => r.src_addr !== '::');
      expect(rows.length, g[0]).toBe(flows.length);
      for (const [i, t] of flows.entries()) {
        for (const [key, column, convert] of TSHARK_FIELDS) {
          const v = t[key];
          if (v === undefined) continue;
          const want = convert ? convert(v, t) : v;
          if (want === undefined) continue;
          expect(rows[i][column], `${g[0]} record ${i} ${key}`).toBe(want);
          compared.set(column, (compared.get(column) ?? 0) + 1);
        }
      }
    }
    // Every column of the list met at least one record tshark decodes.
    expect([...new Set(TSHARK_FIELDS.map((f) => f[1]))].filter((c) => !compared.has(c))).toEqual([]);
  });
});
