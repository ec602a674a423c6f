// Fields read by the length variants of the compiled ops (OP_U16_2,
// OP_U64_8, OP_MILLIS_8…) and by the generic reader (reduced-size
// encodings, RFC 7011 §6.2) must decode to the same values: the value of
// the big-endian octets, kept modulo the column's width (u64 and times:
// as a double, exact up to 2^53).
import { describe, expect, it } from 'vitest';
import { parseIp } from '@flowhound/schema';
import { BatchListSink, FlowDecoder, uptimeAge } from './decoder.ts';
import {
  MemoryTemplateStore,
  OP_MILLIS_8,
  OP_TIME,
  OP_U16,
  OP_U16_1,
  OP_U16_2,
  OP_U32,
  OP_U32_2,
  OP_U32_4,
  OP_U64,
  OP_U64_4,
  OP_U64_8,
  OP_U8,
  OP_U8_1,
  OP_UPTIME_4,
  compileTemplate,
} from './template.ts';
import { EXPORT_SEC, ipfixMessage, ipfixTemplate, rowsOf, set, v9Packet, v9Template, type Row, type Spec } from './test-util.ts';

const ADDR = new Uint8Array(16);
parseIp('192.0.2.1', ADDR);

/** Big-endian octets of `v` in `len` octets (the low ones when it does not fit). */
function octets(v: bigint, len: number): number[] {
  const out: number[] = [];
  for (let i = len - 1; i >= 0; i--) out.push(Number((v >> BigInt(8 * i)) & 0xffn));
  return out;
}

function decodeRecords(packets: Uint8Array[]): Row[] {
  const sink = new BatchListSink(64);
  const decoder = new FlowDecoder({ templates: new MemoryTemplateStore(), sink });
  for (const p of packets) decoder.decode(p, 'x', ADDR, EXPORT_SEC * 1000);
  expect(decoder.counters.bad_sets + decoder.counters.bad_packets).toBe(0);
  return rowsOf(sink.batches());
}

/** One IPFIX data set of one field, a record per value. */
function decodeField(id: number, len: number, values: readonly bigint[]): Row[] {
  const fields: Spec[] = [[id, len]];
  const body = values.flatMap((v) => octets(v, len));
  return decodeRecords([ipfixMessage([ipfixTemplate(300, fields), set(300, body)])]);
}

const BOUNDARIES = [0n, 1n, 0x7fn, 0x80n, 0xffn, 0x100n, 0x7fffn, 0x8000n, 0xffffn, 0x10000n, 0x7fffffffn, 0x80000000n, 0xffffffffn, 0x100000000n, 2n ** 53n - 1n];

describe('field lengths', () => {
  // [column, element, column width in bits (64: a double)]
  const columns: [string, number, number][] = [
    ['protocol', 4, 8],
    ['tcp_flags', 6, 16],
    ['dst_port', 11, 16],
    ['input_if', 10, 32],
    ['src_as', 16, 32],
    ['bytes', 1, 64],
    ['packets', 2, 64],
  ];
  for (const [column, id, bits] of columns) {
    for (const len of [1, 2, 3, 4, 5, 6, 7, 8]) {
      it(`reads ${column} from ${len} octet${len > 1 ? 's' : ''} as the value modulo its width`, () => {
        const fit = BOUNDARIES.filter((v) => v < 2n ** BigInt(8 * len));
        const rows = decodeField(id, len, fit);
        const want = fit.map((v) => (bits === 64 ? Number(v) : Number(v % 2n ** BigInt(bits))));
        expect(rows.map((r) => r[column])).toEqual(want);
      });
    }
  }

  it('reads 8-octet counters exactly up to 2^53 − 1, and the nearest double beyond', () => {
    const values = [0xffffffffn, 0x100000000n, 0x1_0000_0001n, 2n ** 53n - 1n, 2n ** 53n, 2n ** 64n - 1n, 0x8000_0000_0000_0000n];
    const rows = decodeField(1, 8, values);
    expect(rows.map((r) => r.bytes)).toEqual([4294967295, 4294967296, 4294967297, Number.MAX_SAFE_INTEGER, 2 ** 53, 2 ** 64, 2 ** 63]);
  });

  it('reads 4-octet interface indexes and AS numbers above 2^31 as unsigned', () => {
    const rows = decodeField(10, 4, [0x80000000n, 0xfffffffen, 0xffffffffn]);
    expect(rows.map((r) => r.input_if)).toEqual([2147483648, 4294967294, 4294967295]);
  });

  it('reads millisecond times of 8 octets and of reduced size alike', () => {
    const start = 1_799_999_990_123n;
    const end = 1_799_999_999_999n;
    for (const len of [8, 7, 6]) {
      const fields: Spec[] = [
        [152, len],
        [153, len],
      ];
      const rows = decodeRecords([ipfixMessage([ipfixTemplate(301, fields), set(301, [...octets(start, len), ...octets(end, len)])])]);
      expect([rows[0].flow_start, rows[0].flow_end]).toEqual([Number(start), Number(end)]);
    }
  });

  it('reads 4-octet uptimes across the 32-bit wrap, and reduced-size uptimes alike', () => {
    const uptime = 3_600_000;
    const exportMs = EXPORT_SEC * 1000;
    const cases: [first: number, last: number][] = [
      [uptime - 2000, uptime - 1000],
      [0, uptime],
      // Before the wrap: ~49.7 days of uptime ago, modulo 2^32.
      [0xffffffff, 0xfffffff0],
      [0x80000000, 0x80000001],
    ];
    for (const len of [4, 8]) {
      const fields: Spec[] = [
        [22, len],
        [21, len],
      ];
      const body = cases.flatMap(([first, last]) => [...octets(BigInt(first), len), ...octets(BigInt(last), len)]);
      const rows = decodeRecords([v9Packet([v9Template(302, fields), set(302, body)], 1 + cases.length, { uptime })]);
      expect(rows.map((r) => [r.flow_start, r.flow_end])).toEqual(cases.map(([first, last]) => [exportMs - uptimeAge(uptime, first), exportMs - uptimeAge(uptime, last)]));
    }
  });

  it('decodes the ingest benchmark template’s records field by field', () => {
    const fields: Spec[] = [
      [8, 4],
      [12, 4],
      [7, 2],
      [11, 2],
      [4, 1],
      [6, 1],
      [1, 8],
      [2, 8],
      [152, 8],
      [153, 8],
      [10, 4],
      [14, 4],
    ];
    const rec = (i: number) => [
      ...[10, 1, 2, i],
      ...[192, 168, 255, 255 - i],
      ...octets(BigInt(65535 - i), 2),
      ...octets(443n, 2),
      6,
      0x1b,
      ...octets(2n ** 53n - 1n - BigInt(i), 8),
      ...octets(0xffffffffn + BigInt(i), 8),
      ...octets(1_799_999_990_000n + BigInt(i), 8),
      ...octets(1_799_999_999_000n + BigInt(i), 8),
      ...octets(0xffffffffn - BigInt(i), 4),
      ...octets(BigInt(i), 4),
    ];
    const rows = decodeRecords([ipfixMessage([ipfixTemplate(256, fields), set(256, [...rec(0), ...rec(1), ...rec(2)])])]);
    expect(rows).toHaveLength(3);
    rows.forEach((r, i) => {
      expect(r).toMatchObject({
        src_addr: `10.1.2.${i}`,
        dst_addr: `192.168.255.${255 - i}`,
        src_port: 65535 - i,
        dst_port: 443,
        protocol: 6,
        tcp_flags: 0x1b,
        bytes: Number.MAX_SAFE_INTEGER - i,
        packets: 4294967295 + i,
        flow_start: 1_799_999_990_000 + i,
        flow_end: 1_799_999_999_000 + i,
        input_if: 4294967295 - i,
        output_if: i,
        ip_version: 4,
      });
    });
  });
});

describe('length variants of compiled ops', () => {
  const code = (fields: Spec[], version = 10) =>
    Array.from(compileTemplate({ version, domain: 0, templateId: 256, scopeFieldCount: 0, fields: fields.map(([id, length]) => ({ id, length, enterprise: 0 })) }).code);

  it('runs the variant for the lengths it reads, and keeps ops as what each field is', () => {
    const fields: Spec[] = [
      [4, 1],
      [6, 1],
      [11, 2],
      [10, 2],
      [14, 4],
      [1, 4],
      [2, 8],
      [152, 8],
      // End slot: the start is 152's (one element per time slot).
      [21, 4],
    ];
    expect(code(fields, 9)).toEqual([OP_U8_1, OP_U16_1, OP_U16_2, OP_U32_2, OP_U32_4, OP_U64_4, OP_U64_8, OP_MILLIS_8, OP_UPTIME_4]);
    const t = compileTemplate({ version: 9, domain: 0, templateId: 256, scopeFieldCount: 0, fields: fields.map(([id, length]) => ({ id, length, enterprise: 0 })) });
    expect(Array.from(t.ops)).toEqual([OP_U8, OP_U16, OP_U16, OP_U32, OP_U32, OP_U64, OP_U64, OP_TIME, OP_TIME]);
  });

  it('keeps the generic op for reduced-size encodings and values wider than the column', () => {
    const fields: Spec[] = [
      [4, 2],
      [11, 4],
      [10, 3],
      [14, 8],
      [1, 3],
      [2, 6],
      [152, 6],
      [21, 8],
      // Seconds (the observation slot here): always generic.
      [322, 4],
    ];
    expect(code(fields)).toEqual([OP_U8, OP_U16, OP_U32, OP_U32, OP_U64, OP_U64, OP_TIME, OP_TIME, OP_TIME]);
  });
});
