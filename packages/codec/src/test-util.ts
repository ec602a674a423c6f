// Helpers for the codec's tests (not exported from the package).

import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FLOW_COLUMNS, formatIp, type ColumnarBatch } from '@flowhound/schema';

// A copy of shared/testdata/exporter-vectors (Apache-2.0, LICENSE and NOTICE
// kept beside it), so the tests need nothing outside the repository.
export const VECTOR_DIR = fileURLToPath(new URL('../../../test/fixtures/exporter-vectors', import.meta.url));
export const FIXTURE_DIR = new URL('../testdata/', import.meta.url).pathname;

export function vector(name: string): Uint8Array {
  return new Uint8Array(readFileSync(join(VECTOR_DIR, name.endsWith('.dat') ? name : `${name}.dat`)));
}

export function fixture(name: string): Uint8Array {
  return new Uint8Array(readFileSync(join(FIXTURE_DIR, name)));
}

export function vectorFiles(): string[] {
  return readdirSync(VECTOR_DIR).filter((f) => f.endsWith('.dat')).sort();
}

/**
 * One device's vector files, in the order an exporter would send them:
 * templates (and options templates) before the data that needs them.
 */
export const VECTOR_GROUPS: ReadonlyArray<readonly string[]> = [
  ['ipfix'],
  ['ipfix_test_barracuda_tpl', 'ipfix_test_barracuda_data256'],
  ['ipfix_test_barracuda_extended_uniflow_tpl256', 'ipfix_test_barracuda_extended_uniflow_data256'],
  ['ipfix_test_ixia_tpldata256', 'ipfix_test_ixia_tpldata271'],
  ['ipfix_test_juniper_mx240_junos151r6s3_opttpl512', 'ipfix_test_juniper_mx240_junos151r6s3_data512'],
  ['ipfix_test_mikrotik_tpl', 'ipfix_test_mikrotik_data258', 'ipfix_test_mikrotik_data259'],
  ['ipfix_test_netscaler_tpl', 'ipfix_test_netscaler_data'],
  ['ipfix_test_nokia_bras_tpl', 'ipfix_test_nokia_bras_data256'],
  ['ipfix_test_openbsd_pflow_tpl', 'ipfix_test_openbsd_pflow_data'],
  ['ipfix_test_procera_tpl52935', 'ipfix_test_procera_data52935'],
  ['ipfix_test_viptela_tpl257', 'ipfix_test_viptela_data257'],
  ['ipfix_test_vmware_vds_tpl', 'ipfix_test_vmware_vds_data264', 'ipfix_test_vmware_vds_data266', 'ipfix_test_vmware_vds_data266_267'],
  ['ipfix_test_yaf_tpls_option_tpl', 'ipfix_test_yaf_tpl45841', 'ipfix_test_yaf_data45841', 'ipfix_test_yaf_data45873', 'ipfix_test_yaf_data53248'],
  ['netflow5'],
  ['netflow5_test_invalid01'],
  ['netflow5_test_invalid02'],
  ['netflow5_test_juniper_mx80'],
  ['netflow5_test_microtik'],
  ['netflow9_cisco_asr1001x_tpl259'],
  ['netflow9_test_0length_fields_tpl_data'],
  ['netflow9_test_cisco_1941K9'],
  ['netflow9_test_cisco_aci_tpl256-258', 'netflow9_test_cisco_aci_data256'],
  ['netflow9_test_cisco_asa_1_tpl', 'netflow9_test_cisco_asa_1_data'],
  ['netflow9_test_cisco_asa_2_tpl_26x', 'netflow9_test_cisco_asa_2_tpl_27x', 'netflow9_test_cisco_asa_2_data'],
  [
    'netflow9_test_cisco_asr9k_opttpl256',
    'netflow9_test_cisco_asr9k_opttpl257',
    'netflow9_test_cisco_asr9k_opttpl334',
    'netflow9_test_cisco_asr9k_tpl260',
    'netflow9_test_cisco_asr9k_tpl266',
    'netflow9_test_cisco_asr9k_data256',
    'netflow9_test_cisco_asr9k_data260',
  ],
  ['netflow9_test_cisco_nbar_opttpl260', 'netflow9_test_cisco_nbar_tpl262', 'netflow9_test_cisco_nbar_data262'],
  ['netflow9_test_cisco_wlc_tpl', 'netflow9_test_cisco_wlc_8510_tpl_262', 'netflow9_test_cisco_wlc_data261'],
  ['netflow9_test_field_layer2segmentid_tpl', 'netflow9_test_field_layer2segmentid_data'],
  ['netflow9_test_fortigate_fortios_521_tpl', 'netflow9_test_fortigate_fortios_521_data256', 'netflow9_test_fortigate_fortios_521_data257'],
  ['netflow9_test_fortigate_fortios_542_appid_tpl258-269', 'netflow9_test_fortigate_fortios_542_appid_data258_262'],
  ['netflow9_test_h3c_tpl3281', 'netflow9_test_h3c_data3281'],
  ['netflow9_test_h3c_netstream_varstring_tpl3281', 'netflow9_test_h3c_netstream_varstring_data3281'],
  ['netflow9_test_huawei_netstream_tpl', 'netflow9_test_huawei_netstream_data'],
  ['netflow9_test_invalid01'],
  ['netflow9_test_iptnetflow_reduced_size_encoding_tpldata260'],
  ['netflow9_test_juniper_srx_tplopt'],
  ['netflow9_test_macaddr_tpl', 'netflow9_test_macaddr_data'],
  ['netflow9_test_nprobe_tpl', 'netflow9_test_nprobe_data', 'netflow9_test_nprobe_dpi'],
  ['netflow9_test_paloalto_81_tpl256-263', 'netflow9_test_paloalto_81_data257_1flowset_in_large_zerofilled_packet'],
  ['netflow9_test_paloalto_panos_tpl', 'netflow9_test_paloalto_panos_data'],
  ['netflow9_test_softflowd_tpl_data'],
  ['netflow9_test_streamcore_tpl_data256', 'netflow9_test_streamcore_tpl_data260'],
  ['netflow9_test_ubnt_edgerouter_tpl', 'netflow9_test_ubnt_edgerouter_data1024', 'netflow9_test_ubnt_edgerouter_data1025'],
  ['netflow9_test_unknown_tpl266_292_data'],
  ['netflow9_test_valid01'],
];

/**
 * Every vector file (names without `.dat`) as device lists in send order:
 * the groups above, then each vector no group names, on its own (a vector
 * added later still gets decoded).
 */
export function vectorLists(): string[][] {
  const files = readdirSync(VECTOR_DIR)
    .filter((f) => f.endsWith('.dat'))
    .map((f) => f.slice(0, -4))
    .sort();
  const grouped = new Set(VECTOR_GROUPS.flat());
  return [...VECTOR_GROUPS.map((g) => [...g]), ...files.filter((f) => !grouped.has(f)).map((f) => [f])];
}

/** A row of a batch as a plain object, addresses as text; for assertions only. */
export type Row = Record<string, number | string>;

export function rowsOf(batches: readonly ColumnarBatch[]): Row[] {
  const out: Row[] = [];
  for (const b of batches) {
    for (let r = 0; r < b.rows; r++) {
      const row: Row = {};
      for (let c = 0; c < FLOW_COLUMNS.length; c++) {
        const def = FLOW_COLUMNS[c];
        const d = b.data[c];
        row[def.name] = def.kind === 'ip' ? formatIp(d as Uint8Array, r * 16) : def.kind === 'str' ? (d as string[])[r] : (d as Float64Array)[r];
      }
      out.push(row);
    }
  }
  return out;
}

/** Writes payloads as UDP datagrams 192.0.2.1:srcPort → 192.0.2.2:2055 in a classic pcap (Ethernet, µs). */
export function wrapInPcap(payloads: readonly (Uint8Array | { data: Uint8Array; srcPort: number })[], path: string, t0 = 1700000000): void {
  const parts: Uint8Array[] = [];
  const gh = new DataView(new ArrayBuffer(24));
  gh.setUint32(0, 0xa1b2c3d4, true);
  gh.setUint16(4, 2, true);
  gh.setUint16(6, 4, true);
  gh.setUint32(16, 262144, true);
  gh.setUint32(20, 1, true);
  parts.push(new Uint8Array(gh.buffer));
  payloads.forEach((x, i) => {
    const p = x instanceof Uint8Array ? x : x.data;
    const srcPort = x instanceof Uint8Array ? 40000 : x.srcPort;
    const frame = new Uint8Array(14 + 20 + 8 + p.length);
    const v = new DataView(frame.buffer);
    v.setUint16(12, 0x0800);
    frame[14] = 0x45;
    v.setUint16(16, 20 + 8 + p.length);
    frame[22] = 64;
    frame[23] = 17;
    frame.set([192, 0, 2, 1, 192, 0, 2, 2], 26);
    v.setUint16(34, srcPort);
    v.setUint16(36, 2055);
    v.setUint16(38, 8 + p.length);
    frame.set(p, 42);
    const rh = new DataView(new ArrayBuffer(16));
    rh.setUint32(0, t0 + i, true);
    rh.setUint32(8, frame.length, true);
    rh.setUint32(12, frame.length, true);
    parts.push(new Uint8Array(rh.buffer), frame);
  });
  writeFileSync(path, Buffer.concat(parts));
}

export function hasTshark(): boolean {
  try {
    execFileSync('tshark', ['-v'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/**
 * Flow records as tshark's cflow dissector reads them, one object of
 * cflow.* fields per record (options records included), per group of
 * payloads. One tshark run for all groups: each group is sent from its own
 * UDP port, which keeps tshark's templates apart.
 */
export function tsharkFlows(groups: readonly (readonly Uint8Array[])[]): Record<string, string>[][] {
  const dir = mkdtempSync(join(tmpdir(), 'codec-tshark-'));
  const pcap = join(dir, 'x.pcap');
  // tshark reads one IPFIX message per datagram; some vectors hold several.
  wrapInPcap(
    groups.flatMap((g, i) => g.flatMap(splitIpfixMessages).map((data) => ({ data, srcPort: 10000 + i }))),
    pcap,
  );
  // Without --no-duplicate-keys a field that occurs twice (a reverse element, tcpSourcePort next to
  // sourceTransportPort) keeps only its last value.
  const out = execFileSync('tshark', ['-r', pcap, '-d', 'udp.port==2055,cflow', '-T', 'json', '--no-duplicate-keys'], {
    maxBuffer: 256 << 20,
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  const result: Record<string, string>[][] = groups.map(() => []);
  const first = (v: unknown): unknown => (Array.isArray(v) ? v[0] : v);
  for (const pkt of JSON.parse(out.toString()) as { _source: { layers: { udp: Record<string, unknown>; cflow?: unknown } } }[]) {
    const flows = result[Number(first(pkt._source.layers.udp['udp.srcport'])) - 10000];
    const walk = (o: unknown): void => {
      if (!o || typeof o !== 'object') return;
      for (const [k, v] of Object.entries(o)) {
        const f = first(v);
        if (/^(Flow \d+|pdu \d+\/\d+)$/.test(k) && f && typeof f === 'object') {
          const rec: Record<string, string> = {};
          const flat = (x: object): void => {
            for (const [kk, vv] of Object.entries(x)) {
              const ff = first(vv);
              if (typeof ff === 'string') rec[kk] ??= ff;
              else if (ff && typeof ff === 'object') flat(ff);
            }
          };
          flat(f);
          flows.push(rec);
        } else walk(v);
      }
    };
    walk(first(pkt._source.layers.cflow));
  }
  return result;
}

function splitIpfixMessages(p: Uint8Array): Uint8Array[] {
  if (p.length < 16 || ((p[0] << 8) | p[1]) !== 10) return [p];
  const out: Uint8Array[] = [];
  let off = 0;
  while (p.length - off >= 16) {
    const len = (p[off + 2] << 8) | p[off + 3];
    if (len < 16 || off + len > p.length) break;
    out.push(p.subarray(off, off + len));
    off += len;
  }
  return out.length ? out : [p];
}

// --- hand-built export packets ---------------------------------------------

export const be = {
  u8: (v: number): number[] => [v & 255],
  u16: (v: number): number[] => [(v >> 8) & 255, v & 255],
  u32: (v: number): number[] => [(v >>> 24) & 255, (v >>> 16) & 255, (v >>> 8) & 255, v & 255],
  u64: (v: number): number[] => [...be.u32(Math.floor(v / 2 ** 32)), ...be.u32(v >>> 0)],
  ip4: (s: string): number[] => s.split('.').map(Number),
  text: (s: string, len?: number): number[] => {
    const b = [...new TextEncoder().encode(s)];
    return len === undefined ? b : [...b, ...new Array<number>(Math.max(0, len - b.length)).fill(0)].slice(0, len);
  },
  /** IPFIX variable-length encoding (RFC 7011 §7): one length octet, or 255 and two. */
  varlen: (bytes: number[]): number[] => (bytes.length < 255 ? [bytes.length, ...bytes] : [255, ...be.u16(bytes.length), ...bytes]),
};

/** A field specifier: [id, length] or [id, length, enterprise]. */
export type Spec = readonly [id: number, length: number, enterprise?: number];

/** Set of any kind: id, length, body. */
export function set(id: number, body: number[]): number[] {
  return [...be.u16(id), ...be.u16(body.length + 4), ...body];
}

function specs(fields: readonly Spec[], ipfix: boolean): number[] {
  return fields.flatMap(([id, len, pen]) => (ipfix && pen ? [...be.u16(id | 0x8000), ...be.u16(len), ...be.u32(pen)] : [...be.u16(id), ...be.u16(len)]));
}

/** IPFIX template set (id 2) with one template record. */
export function ipfixTemplate(templateId: number, fields: readonly Spec[]): number[] {
  return set(2, [...be.u16(templateId), ...be.u16(fields.length), ...specs(fields, true)]);
}

/** IPFIX options template set (id 3): the first `scope` fields are scope fields. */
export function ipfixOptionsTemplate(templateId: number, scope: number, fields: readonly Spec[]): number[] {
  return set(3, [...be.u16(templateId), ...be.u16(fields.length), ...be.u16(scope), ...specs(fields, true)]);
}

/** NetFlow v9 template flowset (id 0). */
export function v9Template(templateId: number, fields: readonly Spec[]): number[] {
  return set(0, [...be.u16(templateId), ...be.u16(fields.length), ...specs(fields, false)]);
}

/** NetFlow v9 options template flowset (id 1): scope fields are (scope type, length). */
export function v9OptionsTemplate(templateId: number, scope: readonly Spec[], fields: readonly Spec[]): number[] {
  const s = specs(scope, false);
  const f = specs(fields, false);
  return set(1, [...be.u16(templateId), ...be.u16(s.length), ...be.u16(f.length), ...s, ...f]);
}

export interface HeaderOptions {
  /** IPFIX export time / v9 unix_secs, seconds. */
  readonly exportSec?: number;
  readonly seq?: number;
  readonly domain?: number;
  /** v9 only: header sysUptime, ms. */
  readonly uptime?: number;
}

export const EXPORT_SEC = 1_800_000_000;

export function ipfixMessage(sets: number[][], h: HeaderOptions = {}): Uint8Array {
  const body = sets.flat();
  return Uint8Array.from([...be.u16(10), ...be.u16(16 + body.length), ...be.u32(h.exportSec ?? EXPORT_SEC), ...be.u32(h.seq ?? 0), ...be.u32(h.domain ?? 0), ...body]);
}

export function v9Packet(sets: number[][], count: number, h: HeaderOptions = {}): Uint8Array {
  return Uint8Array.from([...be.u16(9), ...be.u16(count), ...be.u32(h.uptime ?? 3_600_000), ...be.u32(h.exportSec ?? EXPORT_SEC), ...be.u32(h.seq ?? 0), ...be.u32(h.domain ?? 0), ...sets.flat()]);
}

export interface V5Options extends HeaderOptions {
  /** Header sampling field: mode in the top 2 bits, interval in the low 14. */
  readonly sampling?: number;
  readonly engine?: number;
}

/** A NetFlow v5 packet of `count` records (10.0.0.1:1000+i → 10.0.0.2:80, TCP, 1000 bytes, 10 packets, tos 0xb8). */
export function v5Packet(count: number, h: V5Options = {}): Uint8Array {
  const uptime = h.uptime ?? 3_600_000;
  const header = [...be.u16(5), ...be.u16(count), ...be.u32(uptime), ...be.u32(h.exportSec ?? EXPORT_SEC), ...be.u32(0), ...be.u32(h.seq ?? 0), ...be.u16(h.engine ?? 0), ...be.u16(h.sampling ?? 0)];
  const records: number[] = [];
  for (let i = 0; i < count; i++) {
    records.push(...be.ip4('10.0.0.1'), ...be.ip4('10.0.0.2'), ...be.ip4('0.0.0.0'), ...be.u16(1), ...be.u16(2), ...be.u32(10), ...be.u32(1000));
    records.push(...be.u32(uptime - 2000), ...be.u32(uptime - 1000), ...be.u16(1000 + i), ...be.u16(80), 0, 0x1b, 6, 0xb8, ...be.u16(0), ...be.u16(0), 24, 24, 0, 0);
  }
  return Uint8Array.from([...header, ...records]);
}
