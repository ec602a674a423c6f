// Fuzzing the fast-path decoder in process: truncated, mutated and lying
// packets made from every exporter vector, random bytes, template loops and
// 65,535 templates from one exporter (refused beyond the store's cap per
// exporter, and held when the cap allows), all through one FlowDecoder with a
// MemoryTemplateStore. The decoder must never throw, must count every packet
// it can tell is bad, must keep its memory bounded, and a good packet sent
// after each bad one must still decode to exactly the records it gives on a
// clean decoder. One seeded PRNG: every run sends the same packets.
import v8 from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
// The root package depends on testkit only; codec and schema are reached through their index.
import { decodeToRecords, DecoderCounters, DEFAULT_MAX_TEMPLATES_PER_EXPORTER, FlowDecoder, MemoryTemplateStore, type FlowSink } from '../../packages/codec/src/index.ts';
import { ColumnarBatch, FLOW_COLUMNS } from '../../packages/schema/src/index.ts';
import { rowsOf, vector, VECTOR_GROUPS, type Row } from '../../packages/codec/src/test-util.ts';

v8.setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const SEED = 0x5eed_f10e;
const RECEIVED = Date.UTC(2026, 10, 2, 9, 10, 0);
const ADDR = new Uint8Array([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2, 1]);
const MiB = 1 << 20;

/** mulberry32: small, fast, and the same sequence everywhere. */
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

function heapAfterGc(): number {
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

/** One batch, reused: rows go to the start again when it is full, so a long fuzz run holds no rows. */
class ReusedSink implements FlowSink {
  readonly batch = new ColumnarBatch(FLOW_COLUMNS, 8192);
  next(): number {
    if (this.batch.rows >= this.batch.capacity) this.batch.reset();
    return this.batch.rows++;
  }
  clear(): void {
    this.batch.reset();
  }
}

function copyBatch(b: ColumnarBatch): ColumnarBatch {
  const out = new ColumnarBatch(FLOW_COLUMNS, Math.max(1, b.rows));
  for (let r = 0; r < b.rows; r++) out.copyRowFrom(b, r);
  return out;
}

/** Every cell of every row equal (NaN equals NaN), but for the columns in `skip`. */
function sameRows(a: ColumnarBatch, b: ColumnarBatch, skip?: ReadonlySet<number>): boolean {
  if (a.rows !== b.rows) return false;
  for (let c = 0; c < FLOW_COLUMNS.length; c++) {
    if (skip?.has(c)) continue;
    const x = a.data[c] as ArrayLike<unknown>;
    const y = b.data[c] as ArrayLike<unknown>;
    const n = FLOW_COLUMNS[c].kind === 'ip' ? a.rows * 16 : a.rows;
    for (let i = 0; i < n; i++) if (x[i] !== y[i] && !(x[i] !== x[i] && y[i] !== y[i])) return false;
  }
  return true;
}

type Counts = Record<keyof DecoderCounters, number>;
const counts = (d: FlowDecoder): Counts => ({ ...d.counters }) as Counts;
const badOf = (a: Counts, b: Counts) => b.bad_version - a.bad_version + (b.bad_packets - a.bad_packets) + (b.bad_sets - a.bad_sets);

const u16 = (b: Uint8Array, o: number) => (b[o] << 8) | b[o + 1];
const put16 = (b: Uint8Array, o: number, v: number) => {
  b[o] = (v >> 8) & 255;
  b[o + 1] = v & 255;
};
const allZero = (b: Uint8Array, from: number, to = b.length) => {
  for (let i = from; i < to; i++) if (b[i] !== 0) return false;
  return true;
};

// ---------------------------------------------------------------------------
// Packet builders for the crafted exporters.

const b16 = (v: number) => [(v >> 8) & 255, v & 255];
const b32 = (v: number) => [(v >>> 24) & 255, (v >>> 16) & 255, (v >>> 8) & 255, v & 255];
const b64 = (v: number) => [...b32(Math.floor(v / 2 ** 32)), ...b32(v >>> 0)];
const EXPORT_SEC = Math.floor(RECEIVED / 1000);

function ipfix(domain: number, sets: number[][], seq = 0): Uint8Array {
  const body = sets.flat();
  return Uint8Array.from([...b16(10), ...b16(16 + body.length), ...b32(EXPORT_SEC), ...b32(seq), ...b32(domain), ...body]);
}

function v9(sourceId: number, sets: number[][], count: number): Uint8Array {
  // sysUptime = 1 h; unix_secs = EXPORT_SEC.
  return Uint8Array.from([...b16(9), ...b16(count), ...b32(3_600_000), ...b32(EXPORT_SEC), ...b32(0), ...b32(sourceId), ...sets.flat()]);
}

const set = (id: number, body: number[]) => [...b16(id), ...b16(4 + body.length), ...body];
const tplRecord = (id: number, fields: readonly (readonly [number, number])[]) => [...b16(id), ...b16(fields.length), ...fields.flatMap(([ie, len]) => [...b16(ie), ...b16(len)])];

/** The probe template: everything a flow needs, fixed lengths. */
const LAYOUT_A = [
  [8, 4],
  [12, 4],
  [7, 2],
  [11, 2],
  [4, 1],
  [1, 8],
  [2, 8],
  [152, 8],
  [153, 8],
] as const;
/** Another layout under the same template id. */
const LAYOUT_B = [
  [12, 4],
  [8, 4],
  [1, 4],
  [2, 4],
] as const;

interface ProbeFlow {
  src: string;
  dst: string;
  sport: number;
  dport: number;
  bytes: number;
  packets: number;
  start: number;
  end: number;
}

const PROBE_FLOWS: ProbeFlow[] = [0, 1, 2].map((i) => ({
  src: `192.0.2.${10 + i}`,
  dst: `198.51.100.${20 + i}`,
  sport: 40000 + i,
  dport: 443,
  bytes: 1000 * (i + 1) + 2 ** 40, // beyond 32 bits
  packets: 10 * (i + 1),
  start: RECEIVED - 60_000 + i * 1000,
  end: RECEIVED - 30_000 + i * 1000,
}));

const ip4 = (s: string) => s.split('.').map(Number);
const probeData = (templateId: number) =>
  set(
    templateId,
    PROBE_FLOWS.flatMap((f) => [...ip4(f.src), ...ip4(f.dst), ...b16(f.sport), ...b16(f.dport), 6, ...b64(f.bytes), ...b64(f.packets), ...b64(f.start), ...b64(f.end)]),
  );

/** What the probe's records must look like, from how they were built (not from any decoder). */
function expectProbeRows(rows: Row[], domain: number, templateId: number): void {
  expect(rows).toHaveLength(PROBE_FLOWS.length);
  rows.forEach((r, i) => {
    const f = PROBE_FLOWS[i];
    expect(r).toMatchObject({
      time_received: RECEIVED,
      exporter_address: '192.0.2.1',
      flow_version: 10,
      observation_domain_id: domain,
      template_id: templateId,
      src_addr: f.src,
      dst_addr: f.dst,
      src_port: f.sport,
      dst_port: f.dport,
      protocol: 6,
      bytes: f.bytes,
      packets: f.packets,
      flow_start: f.start,
      flow_end: f.end,
      ip_version: 4,
    });
  });
}

// ---------------------------------------------------------------------------
// The vector corpus: each device group's files, a probe (its last file) and
// the rows the probe gives on a clean decoder once the group's templates are in.

interface Group {
  readonly name: string;
  readonly files: readonly Uint8Array[];
  readonly probe: Uint8Array;
  readonly ref: ColumnarBatch;
}

function loadGroups(): Group[] {
  return VECTOR_GROUPS.map((g) => {
    const files = g.map((f) => vector(f));
    const sink = new ReusedSink();
    const d = new FlowDecoder({ templates: new MemoryTemplateStore(), sink });
    for (const f of files) d.decode(f, g[0], ADDR, RECEIVED);
    const probe = files[files.length - 1];
    sink.clear();
    d.decode(probe, g[0], ADDR, RECEIVED);
    return { name: g[0], files, probe, ref: copyBatch(sink.batch) };
  });
}

/**
 * What is wrong with `p` cut to `n` bytes, as a kind of damage, or null when
 * the cut leaves a valid shorter packet (at a set or message boundary).
 */
function truncationDamage(p: Uint8Array, n: number): string | null {
  if (n < 2) return 'no version';
  const version = u16(p, 0);
  if (version === 5) {
    if (n < 24) return 'v5 header cut';
    const count = u16(p, 2);
    return count === 0 || count > 30 || Math.floor((n - 24) / 48) < count ? 'v5 records cut' : null;
  }
  if (version === 9) {
    if (n < 20) return 'v9 header cut';
    let q = 20;
    while (p.length - q >= 4) {
      const id = u16(p, q);
      const len = u16(p, q + 2);
      if (id === 0 && len === 0) return null; // zero fill after the last set
      if (len < 4) return n > q ? 'a bad set' : null;
      // 1–3 octets of the next set header: not zero padding, nothing a set could be.
      if (n < q + 4) return n > q && !allZero(p, q, n) ? 'v9: 1–3 non-zero octets after the last whole set' : null;
      if (n < q + len) return 'a set cut';
      q += len;
    }
    return null;
  }
  if (version === 10) {
    let off = 0;
    while (p.length - off >= 16) {
      const len = u16(p, off + 2);
      if (n < off + len) {
        if (n - off >= 16 || off === 0) return 'an IPFIX message cut';
        return n > off && !allZero(p, off, n) ? 'IPFIX: 1–15 octets of a second message after the first' : null;
      }
      off += len;
    }
    return null;
  }
  return 'not a version flowhound decodes';
}

// ---------------------------------------------------------------------------

describe('the fast-path decoder fed broken packets made from every exporter vector', () => {
  const rand = prng(SEED);
  const int = (n: number) => Math.floor(rand() * n);
  const sink = new ReusedSink();
  const templates = new MemoryTemplateStore();
  const decoder = new FlowDecoder({ templates, sink });
  let groups: Group[] = [];
  let thrown = 0;
  let heapStart = 0;
  const stats = { truncated: 0, undetectable: 0, lying: 0, random: 0, mutated: 0, probes: 0, generic: 0 };

  const decode = (p: Uint8Array, exporter: string) => {
    try {
      decoder.decode(p, exporter, ADDR, RECEIVED);
    } catch {
      thrown++;
    }
  };

  /** Failures by kind and group: how many, and the first example. */
  class Failures {
    readonly byKind = new Map<string, { n: number; first: string }>();
    add(kind: string, group: string, example: string): void {
      const k = `${kind} (${group})`;
      const f = this.byKind.get(k);
      if (f) f.n++;
      else this.byKind.set(k, { n: 1, first: example });
    }
    list(): string[] {
      return [...this.byKind].map(([k, f]) => `${k}: ${f.n}×, e.g. ${f.first}`);
    }
  }

  /**
   * Columns an exporter's options data decides (sampling rate, system init time for uptimes,
   * application and interface names). A mutated packet can be a valid options record that
   * changes them for good: a template refresh does not undo it, as it should not.
   */
  const OPTIONS_STATE = new Set(
    ['sampling_interval', 'sampling_known', 'bytes_scaled', 'packets_scaled', 'flow_start', 'flow_end', 'app_name', 'input_if_name', 'output_if_name']
      .map((n) => FLOW_COLUMNS.findIndex((c) => c.name === n))
      .filter((i) => i >= 0),
  );
  /** Groups whose options state a mutated packet may have changed. */
  const tainted = new Set<string>();

  /** Decodes the group's probe and checks it against the clean decoder's rows. */
  const probe = (g: Group, after: string, failures: Failures) => {
    stats.probes++;
    sink.clear();
    decode(g.probe, g.name);
    if (!sameRows(sink.batch, g.ref, tainted.has(g.name) ? OPTIONS_STATE : undefined)) {
      failures.add('the good packet after a bad one decoded differently', g.name, `after ${after}: ${JSON.stringify(rowsOf([sink.batch])[0])} vs ${JSON.stringify(rowsOf([g.ref])[0])}`);
    }
  };

  /** Sends a bad packet (counted as bad when `mustCount`), then the probe; templates are not sent again. */
  const bad = (g: Group, p: Uint8Array, kind: string, what: string, mustCount: boolean, failures: Failures) => {
    const a = counts(decoder);
    decode(p, g.name);
    const b = counts(decoder);
    if (mustCount && badOf(a, b) === 0) failures.add(`${kind} not counted as bad`, g.name, what);
    probe(g, what, failures);
  };

  beforeAll(() => {
    groups = loadGroups();
    heapStart = heapAfterGc();
    for (const g of groups) for (const f of g.files) decode(f, g.name);
  });

  afterAll(() => {
    const c = decoder.counters;
    console.log(
      [
        `vector fuzz (seed ${SEED.toString(16)}): ${stats.truncated} truncated (${stats.undetectable} of them valid shorter packets), ${stats.lying} lying lengths, ${stats.random} random, ${stats.mutated} mutated; ${stats.probes} good packets checked; generic decoder ${stats.generic} packets`,
        `  counters: packets ${c.packets}, bad_version ${c.bad_version}, bad_packets ${c.bad_packets}, bad_sets ${c.bad_sets}, template_misses ${c.template_misses}, records ${c.records}, internal_errors ${c.internal_errors}`,
      ].join('\n'),
    );
  });

  it('decodes each group\'s good packet exactly as a clean decoder does before any fuzzing', () => {
    const failures = new Failures();
    for (const g of groups) probe(g, 'nothing', failures);
    expect(failures.list()).toEqual([]);
    expect(groups.filter((g) => g.ref.rows > 0).length).toBeGreaterThanOrEqual(40);
  });

  it('counts every cut of every vector file that leaves a broken packet, and decodes the next good packet exactly', () => {
    const failures = new Failures();
    for (const g of groups) {
      for (const f of g.files) {
        for (let n = 0; n < f.length; n++) {
          const damage = truncationDamage(f, n);
          if (damage === null) stats.undetectable++;
          bad(g, f.subarray(0, n), `truncation (${damage})`, `a cut to ${n} of ${f.length} bytes`, damage !== null, failures);
          stats.truncated++;
        }
      }
    }
    expect(failures.list()).toEqual([]);
  });

  it('counts lying lengths (v5 count, IPFIX message length, set length 0/1/3 and past the end, field and scope counts) and decodes the next good packet exactly', () => {
    const failures = new Failures();
    const lie = (g: Group, f: Uint8Array, edit: (c: Uint8Array) => void, kind: string, what: string, mustCount = true) => {
      const c = f.slice();
      edit(c);
      bad(g, c, kind, what, mustCount, failures);
      stats.lying++;
    };
    for (const g of groups) {
      for (const f of g.files) {
        const version = u16(f, 0);
        if (version === 5) {
          const count = u16(f, 2);
          const holds = Math.floor((f.length - 24) / 48);
          for (const v of [0, 31, 65535, holds + 1]) lie(g, f, (c) => put16(c, 2, v), 'v5 count', `v5 count ${v} (is ${count}, room for ${holds})`, v === 0 || v > 30 || v > holds);
          continue;
        }
        const hdr = version === 9 ? 20 : 16;
        const end = version === 10 ? Math.min(u16(f, 2), f.length) : f.length;
        if (version === 10) for (const v of [0, 1, 15, f.length + 1, 65535]) lie(g, f, (c) => put16(c, 2, v), 'IPFIX message length', `IPFIX message length ${v} (is ${u16(f, 2)})`);
        for (let q = hdr; end - q >= 4; ) {
          const id = u16(f, q);
          const len = u16(f, q + 2);
          if ((id === 0 && len === 0) || len < 4) break;
          // Length 0 with set id 0 passes for zero fill (PAN-OS) when nothing but zeros follows.
          for (const v of [0, 1, 3]) lie(g, f, (c) => put16(c, q + 2, v), 'set length below 4', `set ${id} length ${v} (is ${len})`, !(v === 0 && id === 0 && allZero(f, q + 4, end)));
          if (q + len >= end) for (const v of [len + 1, len + 1000]) lie(g, f, (c) => put16(c, q + 2, Math.min(v, 65535)), 'last set longer than the packet', `last set ${id} length ${v} (is ${len})`);
          const isTpl = version === 9 ? id === 0 : id === 2;
          const isOpt = version === 9 ? id === 1 : id === 3;
          if (isTpl || (isOpt && version === 10)) {
            for (let r = q + 4; q + len - r >= 4; ) {
              const tid = u16(f, r);
              const fc = u16(f, r + 2);
              if (fc === 0) {
                r += 4;
                continue;
              }
              lie(g, f, (c) => put16(c, r + 2, 65535), 'field count 65535', `template ${tid} field count 65535 (is ${fc})`);
              if (isOpt) {
                const sc = u16(f, r + 4);
                lie(g, f, (c) => put16(c, r + 4, 0), 'options scope count 0', `options template ${tid} scope count 0 (is ${sc})`);
                lie(g, f, (c) => put16(c, r + 4, fc + 1), 'options scope count above field count', `options template ${tid} scope count ${fc + 1} of ${fc} fields`);
              }
              // Over the fields (IPFIX: 4 more octets when the enterprise bit is set) to the next record.
              let s = r + 4 + (isOpt ? 2 : 0);
              for (let i = 0; i < fc && s + 4 <= q + len; i++) s += version === 10 && u16(f, s) & 0x8000 ? 8 : 4;
              r = s;
            }
          }
          if (isOpt && version === 9) {
            const scopeLen = u16(f, q + 6);
            lie(g, f, (c) => put16(c, q + 6, scopeLen + 3), 'v9 options scope length not a multiple of 4', `v9 options template scope length ${scopeLen + 3}`);
          }
          q += len;
        }
      }
    }
    expect(stats.lying).toBeGreaterThan(500);
    expect(failures.list()).toEqual([]);
  });

  it('accounts for 20,000 random packets in its counters and decodes the good packet after each exactly', () => {
    const failures = new Failures();
    for (let i = 0; i < 20_000; i++) {
      const g = groups[int(groups.length)];
      // 1 in 4 of any version; the others NetFlow v5, v9 or IPFIX with random headers, sets and
      // lengths (in their own random observation domains).
      const p = new Uint8Array(64 + int(1437));
      for (let k = 0; k < p.length; k++) p[k] = int(256);
      const kind = int(4);
      if (kind > 0) put16(p, 0, [5, 9, 10][kind - 1]);
      const a = counts(decoder);
      decode(p, g.name);
      const b = counts(decoder);
      const seen = badOf(a, b) + (b.template_misses - a.template_misses) + (b.records - a.records) + (b.options_records - a.options_records) + (b.templates_received - a.templates_received);
      if (seen === 0) failures.add('random packet left no trace in any counter', `version ${u16(p, 0)}`, `packet ${i}, ${p.length} bytes`);
      probe(g, `random packet ${i}`, failures);
      stats.random++;
    }
    expect(failures.list()).toEqual([]);
  });

  it('survives 6,000 mutated vectors (bit flips, overwritten runs, inserted and deleted octets): the good packet decodes exactly once the templates come again', () => {
    const failures = new Failures();
    for (let i = 0; i < 6_000; i++) {
      const g = groups[i % groups.length];
      let p = g.files[int(g.files.length)].slice();
      const kind = int(4);
      if (kind === 0) for (let k = 1 + int(8); k > 0; k--) p[int(p.length)] ^= 1 << int(8);
      else if (kind === 1) {
        const at = int(p.length);
        for (let k = at; k < Math.min(p.length, at + 1 + int(16)); k++) p[k] = int(256);
      } else if (kind === 2) {
        const at = int(p.length + 1);
        const ins = Uint8Array.from({ length: 1 + int(8) }, () => int(256));
        p = Uint8Array.from([...p.subarray(0, at), ...ins, ...p.subarray(at)]);
      } else {
        const at = int(p.length);
        p = Uint8Array.from([...p.subarray(0, at), ...p.subarray(Math.min(p.length, at + 1 + int(8)))]);
      }
      // A mutated packet may be a valid one that redefines a template: the exporter's next
      // template refresh puts it right. One that reads as options data may teach a sampling
      // rate or a name for good: from then on those columns of the group are not compared.
      const before = decoder.counters.options_records;
      decode(p, g.name);
      if (decoder.counters.options_records !== before) tainted.add(g.name);
      for (const f of g.files) decode(f, g.name);
      probe(g, `mutation ${i}`, failures);
      stats.mutated++;
    }
    console.log(`mutations: ${tainted.size} of ${groups.length} groups read options data from a mutated packet (their options-derived columns not compared after that)`);
    expect(failures.list()).toEqual([]);
  });

  it('has the slow generic decoder (flowhound decode) survive cut and flipped vectors without an internal failure', () => {
    const gTemplates = new MemoryTemplateStore();
    let internal = 0;
    for (const g of groups) {
      for (const f of g.files) {
        for (let n = 0; n <= f.length; n += 1 + int(12)) {
          const p = f.slice(0, n);
          if (n > 4 && rand() < 0.5) p[int(n)] ^= 1 << int(8);
          let threw = false;
          try {
            const r = decodeToRecords(p, g.name, gTemplates, () => {});
            if (r.errors.some((e) => /generic decoder failed/.test(e.message))) internal++;
          } catch {
            threw = true;
          }
          expect(threw).toBe(false);
          stats.generic++;
        }
      }
    }
    expect(internal).toBe(0);
  });

  it('never threw, never failed inside, and holds no more memory than the templates of random domains', () => {
    expect(thrown, 'decode() threw').toBe(0);
    expect(decoder.counters.internal_errors, 'exceptions caught inside the decoder').toBe(0);
    const heapEnd = heapAfterGc();
    console.log(`vector fuzz heap: ${(heapStart / MiB).toFixed(1)} MiB → ${(heapEnd / MiB).toFixed(1)} MiB`);
    expect(heapEnd - heapStart).toBeLessThan(16 * MiB);
  });
});

// The template flood: one exporter defines 65,535 templates, domain 1 (ids
// 256–65535) then domain 2 (255 more), of layouts that differ by counter widths.
const floodLayout = (id: number) =>
  [
    [8, 4],
    [12, 4],
    [1, 1 + (id % 8)],
    [2, 1 + ((id >> 3) % 8)],
    [7, 2],
  ] as const;
const FLOOD_IDS: [domain: number, id: number][] = [];
for (let id = 256; id <= 65535; id++) FLOOD_IDS.push([1, id]);
for (let id = 256; id < 511; id++) FLOOD_IDS.push([2, id]);

/** Sends the templates as an exporter would: ~1,400-byte messages, about 58 templates each. Returns the message count. */
function sendFlood(d: FlowDecoder, exporter: string, ids: readonly [number, number][]): number {
  let packets = 0;
  for (let i = 0; i < ids.length; ) {
    const domain = ids[i][0];
    const recs: number[] = [];
    while (i < ids.length && ids[i][0] === domain && recs.length < 1380) recs.push(...tplRecord(ids[i][1], floodLayout(ids[i++][1])));
    d.decode(ipfix(domain, [set(2, recs)], packets), exporter, ADDR, RECEIVED);
    packets++;
  }
  return packets;
}

/** One data record for flood template `id`, and the row it decodes to. */
function floodData(domain: number, id: number): Uint8Array {
  const [, , [, lb], [, lp]] = floodLayout(id);
  const be = (v: number, n: number) => Array.from({ length: n }, (_, k) => Math.floor(v / 256 ** (n - 1 - k)) % 256);
  return ipfix(domain, [set(id, [...ip4('203.0.113.5'), ...ip4('203.0.113.6'), ...be(200, lb), ...be(3, lp), ...b16(id)])]);
}
const floodRow = (domain: number, id: number) =>
  expect.objectContaining({ observation_domain_id: domain, template_id: id, src_addr: '203.0.113.5', dst_addr: '203.0.113.6', bytes: 200, packets: 3, src_port: id });

describe('crafted exporters', () => {
  for (const version of [10, 9] as const) {
    it(`keeps one template through 100,000 redefinitions of the same id (${version === 10 ? 'IPFIX' : 'NetFlow v9'}) and decodes with the last one`, () => {
      const sink = new ReusedSink();
      const templates = new MemoryTemplateStore();
      const d = new FlowDecoder({ templates, sink });
      const tplSet = version === 9 ? 0 : 2;
      const build = (sets: number[][], count: number) => (version === 10 ? ipfix(7, sets) : v9(7, sets, count));
      // 2,000 records of template 300 in one set (60,000 octets), alternating B and A, ending with A.
      const loop: number[] = [];
      for (let i = 0; i < 2000; i++) loop.push(...tplRecord(300, i % 2 === 0 ? LAYOUT_B : LAYOUT_A));
      const loopPacket = build([set(tplSet, loop)], 2000);
      expect(loopPacket.length).toBeLessThan(65536);
      d.decode(build([set(tplSet, tplRecord(300, LAYOUT_A))], 1), 'loop', ADDR, RECEIVED);
      const heapBefore = heapAfterGc();
      const t0 = performance.now();
      for (let i = 0; i < 50; i++) d.decode(loopPacket, 'loop', ADDR, RECEIVED);
      const ms = performance.now() - t0;
      const heapAfter = heapAfterGc();
      console.log(`template loop (v${version}): 100,000 redefinitions of template 300 in ${ms.toFixed(0)} ms, heap ${((heapAfter - heapBefore) / 1024).toFixed(0)} KiB`);
      expect(d.counters.templates_received).toBe(1 + 100_000);
      expect(d.counters.templates_changed).toBe(1 + 100_000);
      expect(d.counters.bad_sets + d.counters.bad_packets + d.counters.internal_errors).toBe(0);
      expect(templates.size).toBe(1);
      expect(heapAfter - heapBefore).toBeLessThan(2 * MiB);

      sink.clear();
      d.decode(build([probeData(300)], 3), 'loop', ADDR, RECEIVED);
      if (version === 10) expectProbeRows(rowsOf([sink.batch]), 7, 300);
      else {
        // The same IANA elements in NetFlow v9: the same flows, version 9, source id 7.
        const rows = rowsOf([sink.batch]);
        expect(rows.map((r) => [r.flow_version, r.observation_domain_id, r.src_addr, r.dst_port, r.bytes, r.packets, r.flow_start, r.flow_end])).toEqual(
          PROBE_FLOWS.map((f) => [9, 7, f.src, f.dport, f.bytes, f.packets, f.start, f.end]),
        );
      }
    });
  }

  it('applies withdrawals and definitions in the order a set carries them (1,000 × withdraw 300, define 300; then withdraw all, define 300)', () => {
    const sink = new ReusedSink();
    const templates = new MemoryTemplateStore();
    const d = new FlowDecoder({ templates, sink });
    d.decode(ipfix(7, [set(2, tplRecord(300, LAYOUT_B))]), 'flip', ADDR, RECEIVED);
    const flip: number[] = [];
    for (let i = 0; i < 1000; i++) flip.push(...b16(300), ...b16(0), ...tplRecord(300, LAYOUT_A));
    const flipPacket = ipfix(7, [set(2, flip)]);
    expect(flipPacket.length).toBeLessThan(65536);
    d.decode(flipPacket, 'flip', ADDR, RECEIVED);
    expect(d.counters.templates_withdrawn).toBe(1000);
    // RFC 7011 §8.1: a withdrawn id may be defined again; the set ends with a definition.
    expect(templates.size, 'template 300 after [withdraw 300, define 300] × 1000').toBe(1);
    sink.clear();
    d.decode(ipfix(7, [probeData(300)]), 'flip', ADDR, RECEIVED);
    expectProbeRows(rowsOf([sink.batch]), 7, 300);

    // An exporter that restarts: withdraw all (template id 2), then announce again, in one set.
    d.decode(ipfix(7, [set(2, [...b16(2), ...b16(0), ...tplRecord(300, LAYOUT_A)])]), 'flip', ADDR, RECEIVED);
    expect(templates.size, 'template 300 after [withdraw all, define 300]').toBe(1);
    sink.clear();
    d.decode(ipfix(7, [probeData(300)]), 'flip', ADDR, RECEIVED);
    expectProbeRows(rowsOf([sink.batch]), 7, 300);
  });

  it('holds 65,535 templates from one exporter within 128 MiB of heap (2 KiB each) when the cap allows, decodes with any of them, and frees them on withdrawal', () => {
    const sink = new ReusedSink();
    // Above the default cap (ingest.maxTemplatesPerExporter): what memory costs when an operator raises it.
    const templates = new MemoryTemplateStore({ maxTemplatesPerExporter: 65_536 });
    const d = new FlowDecoder({ templates, sink });
    // The probe lives in domain 0; the flood fills domain 1 (ids 256–65535) and domain 2 (255 more).
    d.decode(ipfix(0, [set(2, tplRecord(300, LAYOUT_A))]), 'flood', ADDR, RECEIVED);
    const ids = FLOOD_IDS;

    const heapBefore = heapAfterGc();
    const t0 = performance.now();
    const packets = sendFlood(d, 'flood', ids);
    const ms = performance.now() - t0;
    const heapAfter = heapAfterGc();
    const grown = heapAfter - heapBefore;
    console.log(
      `65,535 templates in ${packets} messages, ${ms.toFixed(0)} ms: heap +${(grown / MiB).toFixed(1)} MiB (${Math.round(grown / ids.length)} bytes per template)`,
    );
    expect(templates.size).toBe(65_536);
    expect(d.counters.templates_changed).toBe(65_536);
    expect(d.counters.bad_sets + d.counters.bad_packets + d.counters.internal_errors).toBe(0);
    expect(grown).toBeLessThan(128 * MiB);

    // Data for the first, a middle and the last template decodes by its own layout.
    for (const [domain, id] of [
      [1, 256],
      [1, 40_000],
      [1, 65_535],
      [2, 510],
    ] as const) {
      sink.clear();
      d.decode(floodData(domain, id), 'flood', ADDR, RECEIVED);
      expect(rowsOf([sink.batch]), `template ${id}`).toEqual([floodRow(domain, id)]);
    }
    sink.clear();
    d.decode(ipfix(0, [probeData(300)]), 'flood', ADDR, RECEIVED);
    expectProbeRows(rowsOf([sink.batch]), 0, 300);

    // Withdraw all (RFC 7011 §8.1: template id 2 in set 2) in both flooded domains: the memory comes back.
    d.decode(ipfix(1, [set(2, [...b16(2), ...b16(0)])]), 'flood', ADDR, RECEIVED);
    d.decode(ipfix(2, [set(2, [...b16(2), ...b16(0)])]), 'flood', ADDR, RECEIVED);
    expect(templates.size).toBe(1);
    const heapWithdrawn = heapAfterGc();
    expect(heapWithdrawn - heapBefore).toBeLessThan(2 * MiB);
    sink.clear();
    d.decode(ipfix(0, [probeData(300)]), 'flood', ADDR, RECEIVED);
    expectProbeRows(rowsOf([sink.batch]), 0, 300);
  });

  it('refuses what a flood of 65,535 templates from one exporter defines beyond the cap (4,096 per exporter, all domains together), counts it, and decodes with the templates it took', () => {
    const sink = new ReusedSink();
    const templates = new MemoryTemplateStore();
    expect(templates.maxTemplatesPerExporter).toBe(DEFAULT_MAX_TEMPLATES_PER_EXPORTER);
    const cap = DEFAULT_MAX_TEMPLATES_PER_EXPORTER;
    const d = new FlowDecoder({ templates, sink });
    d.decode(ipfix(0, [set(2, tplRecord(300, LAYOUT_A))]), 'capped', ADDR, RECEIVED);
    // Another exporter's templates do not count against this one's cap.
    d.decode(ipfix(0, [set(2, tplRecord(300, LAYOUT_A))]), 'other', ADDR, RECEIVED);
    const heapBefore = heapAfterGc();
    sendFlood(d, 'capped', FLOOD_IDS);
    const grown = heapAfterGc() - heapBefore;
    console.log(`65,535 templates against a cap of ${cap}: ${templates.refused} refused, heap +${(grown / MiB).toFixed(1)} MiB`);
    expect(templates.size).toBe(cap + 1);
    expect(templates.refused).toBe(FLOOD_IDS.length + 1 - cap);
    expect(grown).toBeLessThan(16 * MiB);
    expect(d.counters.bad_sets + d.counters.bad_packets + d.counters.internal_errors).toBe(0);

    // The first cap − 1 flood templates (domain 1, ids 256–4350) were taken, the rest refused.
    const lastTaken = 256 + cap - 2;
    for (const id of [256, lastTaken]) {
      sink.clear();
      d.decode(floodData(1, id), 'capped', ADDR, RECEIVED);
      expect(rowsOf([sink.batch]), `template ${id}`).toEqual([floodRow(1, id)]);
    }
    const misses = d.counters.template_misses;
    for (const [domain, id] of [
      [1, lastTaken + 1],
      [1, 65_535],
      [2, 510],
    ] as const) {
      sink.clear();
      d.decode(floodData(domain, id), 'capped', ADDR, RECEIVED);
      expect(sink.batch.rows, `template ${id} of domain ${domain}`).toBe(0);
    }
    expect(d.counters.template_misses).toBe(misses + 3);
    sink.clear();
    d.decode(ipfix(0, [probeData(300)]), 'capped', ADDR, RECEIVED);
    expectProbeRows(rowsOf([sink.batch]), 0, 300);

    // Withdrawing domain 1 makes room: domain 2's templates, sent again, are taken.
    d.decode(ipfix(1, [set(2, [...b16(2), ...b16(0)])]), 'capped', ADDR, RECEIVED);
    expect(templates.size).toBe(2);
    sendFlood(
      d,
      'capped',
      FLOOD_IDS.filter(([domain]) => domain === 2),
    );
    expect(templates.size).toBe(2 + 255);
    sink.clear();
    d.decode(floodData(2, 510), 'capped', ADDR, RECEIVED);
    expect(rowsOf([sink.batch])).toEqual([floodRow(2, 510)]);
  });

  it('takes an honest template of 16,000 fields and counts a lying one of 65,535', () => {
    const sink = new ReusedSink();
    const templates = new MemoryTemplateStore();
    const d = new FlowDecoder({ templates, sink });
    // 15,990 one-octet paddingOctets (210) after the probe fields: a 16,002-octet template set.
    const huge = [...LAYOUT_A, ...Array.from({ length: 15_990 }, () => [210, 1] as const)];
    const tpl = ipfix(3, [set(2, tplRecord(400, huge))]);
    expect(tpl.length).toBeLessThan(65536);
    d.decode(tpl, 'huge', ADDR, RECEIVED);
    expect(d.counters.templates_changed).toBe(1);
    const data = probeData(400);
    // One record: the probe's first flow followed by 15,990 padding octets.
    const rec = [...data.slice(4, 4 + 45), ...new Array(15_990).fill(0)];
    sink.clear();
    d.decode(ipfix(3, [set(400, rec)]), 'huge', ADDR, RECEIVED);
    expect(rowsOf([sink.batch])).toEqual([expect.objectContaining({ src_addr: PROBE_FLOWS[0].src, bytes: PROBE_FLOWS[0].bytes, flow_end: PROBE_FLOWS[0].end })]);

    // Field count 65,535 with 9 fields present: counted, and template 400 stays as it was.
    const before = d.counters.bad_sets;
    const lying = tplRecord(400, LAYOUT_A);
    lying[2] = 0xff; // field count
    lying[3] = 0xff;
    d.decode(ipfix(3, [set(2, lying)]), 'huge', ADDR, RECEIVED);
    expect(d.counters.bad_sets).toBe(before + 1);
    expect(templates.get('huge', 10, 3, 400)?.fieldCount).toBe(huge.length);
    expect(d.counters.internal_errors).toBe(0);
  });

  it('decodes nothing from, and counts, variable-length fields whose length prefix lies', () => {
    const sink = new ReusedSink();
    const templates = new MemoryTemplateStore();
    const d = new FlowDecoder({ templates, sink });
    // Template 500: source address, interfaceName (82) of variable length, octets.
    d.decode(ipfix(0, [set(2, tplRecord(500, [[8, 4], [82, 65535], [1, 4]]))]), 'var', ADDR, RECEIVED);
    d.decode(ipfix(0, [set(2, tplRecord(300, LAYOUT_A))]), 'var', ADDR, RECEIVED);
    const good = [...ip4('192.0.2.77'), 3, 0x65, 0x74, 0x68, ...b32(1234)];
    const cases: [string, number[]][] = [
      ['a 1-octet length of 255 + 65,535 in a short set', [...ip4('192.0.2.77'), 255, 0xff, 0xff, 1, 2, 3, 4]],
      ['a 1-octet length running past the set', [...ip4('192.0.2.77'), 200, 1, 2, 3, 4, 5, 6, 7, 8]],
      ['a 3-octet length of 65,535', [...ip4('192.0.2.77'), 255, 0xff, 0xff, 1, 2, 3, 4, 5]],
      ['a good record and then a lying one', [...good, ...ip4('192.0.2.78'), 255, 0x10, 0x00, 9, 9, 9, 9, 9]],
    ];
    for (const [what, rec] of cases) {
      const before = d.counters.bad_sets;
      sink.clear();
      d.decode(ipfix(0, [set(500, rec)]), 'var', ADDR, RECEIVED);
      expect(d.counters.bad_sets, what).toBe(before + 1);
      // Only whole records are written: never half of the lying one.
      expect(sink.batch.rows, what).toBe(what.startsWith('a good record') ? 1 : 0);
      sink.clear();
      d.decode(ipfix(0, [probeData(300)]), 'var', ADDR, RECEIVED);
      expectProbeRows(rowsOf([sink.batch]), 0, 300);
    }
    expect(d.counters.internal_errors).toBe(0);
  });
});
