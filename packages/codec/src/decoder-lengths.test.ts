// Fields read by the length variants of the compiled ops (OP_U16_2,
// OP_U64_8, OP_MILLIS_8…) and by the generic reader (reduced-size
// encodings, RFC 7011 §6.2) must decode to the same values: the value of
// the big-endian octets, kept modulo the column's width (u64 and times:
// as a double, exact up to 2^53).
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parseIp } from '@flowhound/schema';
import { BatchListSink, FlowDecoder, uptimeAge } from './decoder.ts';
import {
  MemoryTemplateStore,
  OP_IP4,
  OP_IP6,
  OP_MILLIS_8,
  OP_SKIP,
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
  type CompiledTemplate,
  type TemplateDef,
  type TemplateStore,
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

describe('generated record readers', () => {
  /** The store's templates without their reader: the decoder runs every field op by op, as before readers existed. */
  class NoReaderStore implements TemplateStore {
    readonly inner = new MemoryTemplateStore();
    get(exporter: string, version: number, domain: number, templateId: number): CompiledTemplate | undefined {
      const t = this.inner.get(exporter, version, domain, templateId);
      if (!t) return t;
      const slow = Int32Array.from(Array.from(t.code.keys()).filter((i) => t.code[i] !== OP_SKIP));
      return { ...t, reader: null, slow };
    }
    put(exporter: string, def: TemplateDef): void {
      this.inner.put(exporter, def);
    }
    withdraw(exporter: string, version: number, domain: number, templateId: number): void {
      this.inner.withdraw(exporter, version, domain, templateId);
    }
  }

  function decodeWith(store: TemplateStore, packets: Uint8Array[]): Row[] {
    const sink = new BatchListSink(16);
    const decoder = new FlowDecoder({ templates: store, sink });
    for (const p of packets) decoder.decode(p, 'x', ADDR, EXPORT_SEC * 1000);
    expect(decoder.counters.internal_errors).toBe(0);
    return rowsOf(sink.batches());
  }

  /** mulberry32 */
  function prng(seed: number): () => number {
    let a = seed >>> 0;
    return () => {
      a = (a + 0x6d2b79f5) >>> 0;
      let t = a;
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
  }

  // Elements with the lengths exporters send them in, reduced sizes and
  // ones the reader leaves to the decoder (ICMP, text, seconds, sampling,
  // an enterprise element nobody maps) among them.
  const CHOICES: Spec[] = [
    [8, 4], [12, 4], [15, 4], [27, 16], [28, 16], [62, 16],
    [7, 2], [11, 2], [4, 1], [6, 1], [6, 2], [5, 1], [195, 1], [10, 2], [10, 4], [14, 4], [16, 4], [17, 2],
    [1, 8], [1, 4], [2, 8], [2, 4], [2, 3], [85, 8], [86, 6],
    [152, 8], [153, 8], [152, 6], [22, 4], [21, 4], [150, 4], [151, 4], [322, 4], [161, 4],
    [32, 2], [176, 1], [177, 1], [34, 4], [48, 1], [82, 16], [96, 12], [60, 1], [9, 1], [13, 1], [210, 3], [99, 4, 6871],
  ];

  it('decodes random fixed-length templates to the same rows as the op-by-op decoder', () => {
    const rnd = prng(0x5eed);
    let withReader = 0;
    for (let round = 0; round < 200; round++) {
      const fields: Spec[] = [];
      const count = 1 + Math.floor(rnd() * 14);
      for (let k = 0; k < count; k++) fields.push(CHOICES[Math.floor(rnd() * CHOICES.length)]);
      const recLen = fields.reduce((a, [, l]) => a + l, 0);
      const records = 1 + Math.floor(rnd() * 20);
      const body: number[] = [];
      for (let r = 0; r < records * recLen; r++) {
        // Mostly random octets, some runs of 0x00 and 0xff for the boundaries.
        const x = rnd();
        body.push(x < 0.1 ? 0 : x < 0.2 ? 0xff : Math.floor(rnd() * 256));
      }
      const templateId = 256 + round;
      const packets = [
        ipfixMessage([ipfixTemplate(templateId, fields)], { seq: 0 }),
        ipfixMessage([set(templateId, body)], { seq: 0 }),
      ];
      const t = compileTemplate({ version: 10, domain: 0, templateId, scopeFieldCount: 0, fields: fields.map(([id, length, enterprise]) => ({ id, length, enterprise: enterprise ?? 0 })) });
      if (t.reader !== null) withReader++;
      const want = decodeWith(new NoReaderStore(), packets);
      const got = decodeWith(new MemoryTemplateStore(), packets);
      expect(got).toHaveLength(records);
      expect(got).toEqual(want);
    }
    // A template none of whose fields a reader reads gets none.
    expect(withReader).toBeGreaterThan(180);
  });

  it('leaves to the decoder the fields the reader does not read, and variable-length templates whole', () => {
    const t = compileTemplate({
      version: 10,
      domain: 0,
      templateId: 256,
      scopeFieldCount: 0,
      fields: [
        { id: 8, length: 4, enterprise: 0 },
        { id: 176, length: 1, enterprise: 0 },
        { id: 99, length: 4, enterprise: 6871 },
        { id: 2, length: 3, enterprise: 0 },
        { id: 28, length: 16, enterprise: 0 },
      ],
    });
    expect(t.reader).not.toBeNull();
    expect(Array.from(t.slow)).toEqual([1, 3]);
    expect([t.code[0], t.code[4]]).toEqual([OP_IP4, OP_IP6]);
    const v = compileTemplate({
      version: 10,
      domain: 0,
      templateId: 257,
      scopeFieldCount: 0,
      fields: [
        { id: 8, length: 4, enterprise: 0 },
        { id: 96, length: 65535, enterprise: 0 },
        { id: 7, length: 2, enterprise: 0 },
      ],
    });
    expect(v.reader).toBeNull();
    expect(Array.from(v.slow)).toEqual([0, 1, 2]);
    // Thousands of fields: one per column is read, so the reader stays small.
    const wide = compileTemplate({ version: 10, domain: 0, templateId: 258, scopeFieldCount: 0, fields: Array.from({ length: 3000 }, () => ({ id: 7, length: 2, enterprise: 0 })) });
    expect(wide.reader?.toString().length).toBeLessThan(500);
    expect(wide.slow).toHaveLength(0);
  });

  it('falls back to the op-by-op decoder where code generation is disabled', () => {
    const template = fileURLToPath(new URL('./template.ts', import.meta.url));
    const script = `
      const { compileTemplate } = await import(${JSON.stringify(template)});
      const t = compileTemplate({ version: 10, domain: 0, templateId: 256, scopeFieldCount: 0, fields: [{ id: 8, length: 4, enterprise: 0 }, { id: 7, length: 2, enterprise: 0 }] });
      console.log(JSON.stringify({ reader: t.reader, slow: Array.from(t.slow) }));`;
    const r = spawnSync(process.execPath, ['--disallow-code-generation-from-strings', '--input-type=module', '-e', script], { encoding: 'utf8' });
    expect(r.stderr).not.toMatch(/Error/);
    expect(JSON.parse(r.stdout)).toEqual({ reader: null, slow: [0, 1] });
  });
});
