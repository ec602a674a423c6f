// Regenerates docs/exporters.md: what flowhound's codec makes of the export
// packets of real devices in test/fixtures/exporter-vectors (and of the
// softflowd captures in test/fixtures). Every figure in the tables comes
// from decoding those files here, with the same FlowDecoder ingest runs;
// the prose around them is written below. With --check, fails (exit 1)
// when the committed file differs from what the codec says now.
//   node scripts/gen-exporters-doc.ts          # rewrite docs/exporters.md
//   node scripts/gen-exporters-doc.ts --check  # CI
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { emitGenerated } from './generated.ts';
import {
  BatchListSink,
  FlowDecoder,
  GenericState,
  MemoryTemplateStore,
  OP_DURATION,
  OP_TIME,
  compileTemplate,
  decodeToRecords,
  fieldName,
  ianaElement,
  readCapture,
  type TemplateDef,
  type TemplateStore,
} from '../packages/codec/src/index.ts';
// The device groups (templates before the data that needs them) are the ones the codec's tests and test/e2e use.
import { VECTOR_DIR, vectorLists } from '../packages/codec/src/test-util.ts';
import { FLOW_COLUMNS, type ColumnarBatch } from '../packages/schema/src/index.ts';

const target = fileURLToPath(new URL('../docs/exporters.md', import.meta.url));
const FIXTURES = fileURLToPath(new URL('../test/fixtures/', import.meta.url));
const check = process.argv.includes('--check');

/** softflowd 1.1.0 replaying skeleton.pcap (test/fixtures/README.md). */
const CAPTURES = ['softflowd-v5.pcap', 'softflowd-v9.pcap', 'softflowd-v10.pcap', 'softflowd-v10-biflow.pcap', 'softflowd-v10-uptime-wrap.pcap'];

/** Names for the enterprise numbers docs/columns.md names too; others are shown by number. */
const ENTERPRISES: Readonly<Record<number, string>> = { 9: 'Cisco', 5951: 'NetScaler', 29305: 'reverse, RFC 5103' };

/** Columns every record gets whatever the exporter sends: bookkeeping, or derived from counters and rates. */
const ALWAYS = new Set(['time_received', 'exporter_address', 'flow_version', 'observation_domain_id', 'template_id', 'flow_start', 'flow_end', 'sampling_interval', 'sampling_known', 'bytes_scaled', 'packets_scaled']);

/** Code-unit order: the same on every machine, whatever its locale data. */
const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

const EXPORTER = '192.0.2.1';
const EXPORTER16 = Uint8Array.from([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2, 1]);
/** A fixed receive time keeps the output the same on every run (clock checks are not reported here). */
const RECEIVED_MS = Date.UTC(2026, 0, 1);

interface Family {
  readonly name: string;
  readonly files: readonly string[];
  readonly payloads: readonly Uint8Array[];
}

interface Row {
  readonly name: string;
  readonly files: readonly string[];
  readonly versions: string;
  readonly dataTemplates: number;
  readonly optionsTemplates: number;
  readonly records: number;
  readonly optionsRecords: number;
  readonly fills: string;
  readonly times: string;
  readonly sampling: string;
  readonly unknown: string;
  readonly notes: string;
}

/** "ipfix_test_mikrotik_tpl" + "…_data258" → "mikrotik": the files' common stem without protocol prefix and set kinds. */
function familyName(files: readonly string[]): string {
  let stem = files[0];
  for (const f of files.slice(1)) {
    let i = 0;
    while (i < stem.length && i < f.length && stem[i] === f[i]) i++;
    stem = stem.slice(0, i);
  }
  if (files.length > 1) stem = stem.slice(0, stem.lastIndexOf('_') + 1);
  stem = stem.replace(/^(ipfix_test_|netflow9_test_|netflow5_test_|netflow9_)/, '').replace(/_+$/, '');
  stem = stem.replace(/_(tpl|opttpl|tpldata|tplopt|tpls|data)[^_]*(_.*)?$/, '');
  // netflow9_test_unknown_tpl266_292_data: a device the vector does not name.
  return stem === 'unknown' ? 'unnamed device' : stem || files[0];
}

function vectorFamilies(): Family[] {
  const lists = vectorLists();
  return lists.map((g) => ({ name: familyName(g), files: g.map((f) => `${f}.dat`), payloads: g.map((f) => new Uint8Array(readFileSync(join(VECTOR_DIR, `${f}.dat`)))) }));
}

function captureFamilies(): Family[] {
  return CAPTURES.map((f) => ({ name: f.replace(/\.pcap$/, ''), files: [f], payloads: [...readCapture(new Uint8Array(readFileSync(join(FIXTURES, f))))].map((d) => d.payload.slice()) }));
}

/** A MemoryTemplateStore that also remembers every definition it was given (the last one per key). */
function recordingStore(): { store: TemplateStore; defs: Map<string, TemplateDef> } {
  const mem = new MemoryTemplateStore();
  const defs = new Map<string, TemplateDef>();
  const store: TemplateStore = {
    get: (e, v, d, t) => mem.get(e, v, d, t),
    put: (e, def) => {
      defs.set(`${def.version}.${def.domain}.${def.templateId}`, def);
      mem.put(e, def);
    },
    withdraw: (e, v, d, t) => mem.withdraw(e, v, d, t),
  };
  return { store, defs };
}

const VERSION_NAMES: Readonly<Record<number, string>> = { 5: 'v5', 9: 'v9', 10: 'IPFIX' };

function versionOf(p: Uint8Array): number {
  return p.length >= 2 ? (p[0] << 8) | p[1] : 0;
}

/** The exporter's elements no column takes, grouped: IANA by name, v9 vendor types, then by enterprise number. */
function unknownList(defs: Iterable<TemplateDef>): string {
  const seen = new Map<string, { enterprise: number; id: number; version: number }>();
  for (const def of defs) {
    if (def.scopeFieldCount > 0) continue;
    const t = compileTemplate(def);
    for (const i of t.unknownIndices) {
      const f = def.fields[i];
      seen.set(`${f.enterprise}.${f.id}`, { enterprise: f.enterprise, id: f.id, version: def.version });
    }
  }
  const all = [...seen.values()].sort((a, b) => a.enterprise - b.enterprise || a.id - b.id);
  const named = all.filter((u) => u.enterprise === 0 && ianaElement(u.id)).map((u) => `${fieldName(u.id, 0)} (${u.id})`);
  const vendor = all.filter((u) => u.enterprise === 0 && !ianaElement(u.id) && u.version === 9 && u.id >= 32768).map((u) => String(u.id));
  const other = all.filter((u) => u.enterprise === 0 && !ianaElement(u.id) && !(u.version === 9 && u.id >= 32768)).map((u) => String(u.id));
  const parts: string[] = [];
  if (named.length) parts.push(named.join(', '));
  if (vendor.length) parts.push(`v9 vendor types ${vendor.join(', ')}`);
  if (other.length) parts.push(`unnamed ids ${other.join(', ')}`);
  const byPen = new Map<number, string[]>();
  for (const u of all) {
    if (u.enterprise === 0) continue;
    const name = fieldName(u.id, u.enterprise);
    byPen.set(u.enterprise, [...(byPen.get(u.enterprise) ?? []), name === `${u.enterprise}.${u.id}` ? String(u.id) : `${name} (${u.id})`]);
  }
  for (const [pen, ids] of byPen) parts.push(`PEN ${pen}${ENTERPRISES[pen] ? ` (${ENTERPRISES[pen]})` : ''}: ${ids.join(', ')}`);
  return parts.length ? parts.join('; ') : '—';
}

/** Which elements the data templates give flow times with. */
function timeElements(defs: Iterable<TemplateDef>, v5: boolean): string {
  // Start, end, observation time (the slot in the op's argument), then durations.
  const names = new Map<string, [order: number, name: string]>();
  for (const def of defs) {
    if (def.scopeFieldCount > 0) continue;
    const t = compileTemplate(def);
    for (let i = 0; i < t.fieldCount; i++) {
      if (t.ops[i] !== OP_TIME && t.ops[i] !== OP_DURATION) continue;
      const f = def.fields[i];
      const name = fieldName(f.id, f.enterprise);
      names.set(name, [t.ops[i] === OP_TIME ? t.args[i] & 3 : 3, name]);
    }
  }
  const list = [...names.values()].sort((a, b) => a[0] - b[0] || cmp(a[1], b[1])).map(([, n]) => n);
  if (v5) list.unshift('v5 First/Last (uptime)');
  return list.length ? list.join(', ') : '— (export time)';
}

/**
 * Columns the decoder marked as written (the batch's touched flags), beyond ALWAYS. A text column
 * counts only with some text in it: '' is what a record gets when the exporter sent nothing (an
 * application id whose name never came in options data leaves app_name '').
 */
function columnsFilled(batches: readonly ColumnarBatch[]): string {
  const cols: string[] = [];
  for (let c = 0; c < FLOW_COLUMNS.length; c++) {
    const def = FLOW_COLUMNS[c];
    if (ALWAYS.has(def.name)) continue;
    const written = (b: ColumnarBatch) => b.touched[c] === 1 && (def.kind !== 'str' || (b.data[c] as string[]).some((v, r) => r < b.rows && v !== ''));
    if (batches.some(written)) cols.push(def.name);
  }
  return cols.length ? cols.join(', ') : '—';
}

function samplingSeen(batches: readonly ColumnarBatch[]): string {
  const rates = new Map<number, number>();
  let unknown = 0;
  for (const b of batches) {
    const rate = b.read('sampling_interval') as Uint32Array;
    const known = b.read('sampling_known') as Uint8Array;
    for (let r = 0; r < b.rows; r++) {
      if (known[r] === 1) rates.set(rate[r], (rates.get(rate[r]) ?? 0) + 1);
      else unknown++;
    }
  }
  const parts = [...rates].sort((a, b) => a[0] - b[0]).map(([n, records]) => `1:${n} (${records})`);
  if (unknown > 0) parts.push(`unknown (${unknown})`);
  return parts.length ? parts.join(', ') : '—';
}

function decodeFamily(fam: Family): Row {
  const { store, defs } = recordingStore();
  const sink = new BatchListSink();
  const decoder = new FlowDecoder({ templates: store, sink });
  // The generic decoder (flowhound decode) on the same packets, as a cross-check of the record count.
  const generic = new MemoryTemplateStore();
  const state = new GenericState();
  let genericRecords = 0;
  const versions = new Set<number>();
  for (const p of fam.payloads) {
    versions.add(versionOf(p));
    decoder.decode(p, EXPORTER, EXPORTER16, RECEIVED_MS);
    genericRecords += decodeToRecords(p, EXPORTER, generic, () => {}, { state, includeOptions: false }).records;
  }
  const c = decoder.counters;
  const batches = sink.batches();
  const notes: string[] = [];
  const note = (n: number, what: string) => {
    if (n > 0) notes.push(`${n} ${what}`);
  };
  note(c.bad_version, 'packet(s) of no known version (bad_version)');
  note(c.bad_packets, 'malformed packet(s) (bad_packets)');
  note(c.bad_sets, 'malformed set(s) or template(s) (bad_sets)');
  note(c.template_misses, 'data set(s) whose template is not in the vectors (template_misses)');
  note(c.times_estimated, 'record(s) timed from the export time, no systemInitTimeMilliseconds (times_estimated)');
  note(c.internal_errors, 'internal error(s)');
  if (genericRecords !== c.records) notes.push(`the generic decoder (flowhound decode) finds ${genericRecords} records`);
  const all = [...defs.values()];
  return {
    name: fam.name,
    files: fam.files,
    versions: [...versions]
      .sort((a, b) => a - b)
      .map((v) => VERSION_NAMES[v] ?? `version ${v}`)
      .join(', '),
    dataTemplates: all.filter((d) => d.scopeFieldCount === 0).length,
    optionsTemplates: all.filter((d) => d.scopeFieldCount > 0).length,
    records: c.records,
    optionsRecords: c.options_records,
    fills: columnsFilled(batches),
    times: timeElements(all, versions.has(5) && c.records > 0),
    sampling: samplingSeen(batches),
    unknown: unknownList(all),
    notes: notes.join('; ') || '—',
  };
}

function cell(s: string): string {
  return s.replace(/\|/g, '\\|');
}

function table(rows: readonly Row[]): string[] {
  return [
    '| exporter | protocol | templates (data / options) | records (flow / options) | columns filled | flow times from | sampling (records) | elements kept only as unknown | notes | vectors |',
    '|---|---|---|---|---|---|---|---|---|---|',
    ...rows.map((r) =>
      [
        '',
        `**${r.name}**`,
        r.versions,
        `${r.dataTemplates} / ${r.optionsTemplates}`,
        `${r.records} / ${r.optionsRecords}`,
        cell(r.fills),
        cell(r.times),
        cell(r.sampling),
        cell(r.unknown),
        cell(r.notes),
        r.files.map((f) => `\`${f}\``).join(' '),
        '',
      ]
        .join(' | ')
        .trim(),
    ),
  ];
}

const byName = (a: Row, b: Row) => cmp(a.name.toLowerCase(), b.name.toLowerCase()) || cmp(a.versions, b.versions) || cmp(a.files[0], b.files[0]);

function render(): string {
  const vectors = vectorFamilies().map(decodeFamily).sort(byName);
  const captures = captureFamilies().map(decodeFamily).sort(byName);
  const sum = (rows: readonly Row[], f: (r: Row) => number) => rows.reduce((n, r) => n + f(r), 0);
  const files = sum(vectors, (r) => r.files.length);
  return [
    '<!-- Generated by scripts/gen-exporters-doc.ts from test/fixtures/exporter-vectors and the codec; do not edit: run "node scripts/gen-exporters-doc.ts". -->',
    '# Supported exporters and fields',
    '',
    'flowhound takes NetFlow v5, NetFlow v9 and IPFIX from any exporter: it needs no per-vendor setting, and',
    'an element it has no column for is counted, never an error. This page shows, exporter by exporter, what',
    'that means in practice. **It is generated**: `node scripts/gen-exporters-doc.ts` decodes the raw export',
    `packets of real devices kept in \`test/fixtures/exporter-vectors/\` (${files} files in ${vectors.length} families, one UDP`,
    'payload per file, templates fed before the data of the same device) with the decoder ingest runs',
    '(`FlowDecoder` of `packages/codec`), and writes what came out. CI runs it with `--check`, so the tables',
    'change in the same commit as the decoder or the schema. Column names are those of [columns.md](columns.md).',
    '',
    'How to read the table:',
    '',
    '- **templates**: distinct data and options templates the vectors define (NetFlow v5 has none).',
    '- **records**: flow records decoded into rows, and options data records read (sampling, system init',
    '  time, interface and application names: see [templates.md](templates.md)).',
    '- **columns filled**: columns the decoder wrote for this exporter, beyond those every record gets',
    '  (`time_received`, `exporter_address`, `flow_version`, `observation_domain_id`, `template_id`,',
    '  `flow_start`, `flow_end`, `sampling_interval`, `sampling_known`, `bytes_scaled`, `packets_scaled`).',
    '  Derived columns count: `dscp` from `tos`, `flow_action` from firewall events, `ip_version` implied by',
    '  the address family, `input_if_name` from options data.',
    '- **flow times from**: the elements that date the flow. Uptime elements (`flowStartSysUpTime`,',
    '  `flowEndSysUpTime`) need the v9 header or, in IPFIX, `systemInitTimeMilliseconds` from options data.',
    '  With no time element at all, start and end are the export time.',
    '- **sampling**: the rate each record got, and how many records had it (see',
    '  [ingest.md](ingest.md#sampling)); `unknown` rows are kept unscaled with `sampling_known = 0`.',
    '- **elements kept only as unknown**: elements of the data templates that no column takes. Their',
    '  records are still decoded and stored; these values are not. IANA elements are named, NetFlow v9',
    '  vendor types (≥ 32768) and enterprise-specific IPFIX elements (by private enterprise number, PEN)',
    '  are listed by id. `flowhound exporters --format json` counts them per exporter (`unknown_elements`);',
    '  `flowhound decode` prints their raw values. To keep one in a column, see',
    '  [below](#keeping-a-vendor-element-in-a-column).',
    '- **notes**: what the decoder counted as wrong, with its `flowhound_decoder_total{kind}` name.',
    '',
    '## Devices (test/fixtures/exporter-vectors)',
    '',
    'The family name is the vector files\' common stem. The vectors are Apache-2.0 test data (`LICENSE` and',
    '`NOTICE.TXT` beside them); `test/e2e/decode-tshark.test.ts` compares flowhound\'s decoding of every',
    'one of them with tshark 4.0, field by field.',
    '',
    ...table(vectors),
    '',
    '## softflowd 1.1.0 captures (test/fixtures)',
    '',
    'softflowd replaying `test/fixtures/skeleton.pcap`, captured on loopback (see',
    '[test/fixtures/README.md](../test/fixtures/README.md)). The same program is run live in the end-to-end',
    'tests below.',
    '',
    ...table(captures),
    '',
    '## Real exporters, end to end',
    '',
    '`test/e2e/exporters.test.ts` runs real exporters against one `flowhound standalone`, started as a user',
    'starts it, and asks the stored flows back through the CLI. The oracle is nfcapd 1.7.1 (nfdump) fed the',
    'very same datagrams through a relay; flowhound must store the same totals and, record by record, the',
    'same flow keys with the same counters.',
    '',
    '| exporter | transport | flows | packets | bytes | what it shows |',
    '|---|---|---:|---:|---:|---|',
    '| `softflowd -v 5` | UDP | 148 | 1,519 | 375,060 | NetFlow v5 (IPv4 only: v5 has no IPv6 fields) |',
    '| `softflowd -v 9` | UDP | 156 | 1,637 | 432,425 | NetFlow v9, IPv4 and IPv6, unpadded flowsets, options data (sampling 1:1, interface name) |',
    '| `softflowd -v 10` | UDP | 156 | 1,637 | 432,425 | IPFIX with uptime-relative times dated by `systemInitTimeMilliseconds` from options data |',
    '| `softflowd -v 10 -b` | UDP | 81 | 1,637 | 432,425 | IPFIX biflows (RFC 5103): reverse counters (PEN 29305) in `rev_bytes`, `rev_packets` |',
    '| `softflowd -v 10 -P tcp` | TCP | 156 | 1,637 | 432,425 | IPFIX over TCP (nfcapd takes no TCP: compared with the same run over UDP) |',
    '| `nfreplay -v 9` | UDP | 156 | 1,637 | 432,425 | nfdump 1.7.1 replaying the flows nfcapd stored from softflowd |',
    '| `nfreplay -v 5` | UDP | 148 | 1,519 | 375,060 | the same as NetFlow v5 |',
    '',
    'The replayed traffic is `test/fixtures/skeleton.pcap` (10 minutes, 156 unidirectional flows, 81',
    'conversations); the packet and byte counts of biflows add both directions. Run them with',
    '`vitest run test/e2e/exporters.test.ts` (they need softflowd and nfdump; `scripts/test` installs them).',
    '',
    '## Keeping a vendor element in a column',
    '',
    'An element listed above as unknown can be stored in an existing column by configuration, without a',
    'code change:',
    '',
    '```yaml',
    'ingest:',
    '  elements:',
    '    - { enterprise: 9, id: 12235, column: http_host }      # Cisco (PEN 9) element 12235 into http_host',
    '    - { enterprise: 0, id: 56701, column: app_name }       # PAN-OS NetFlow v9 field type 56701 (App-ID): enterprise 0',
    '```',
    '',
    '- `enterprise` is the element\'s private enterprise number as the template announces it (the PEN in',
    '  the tables above; `flowhound templates` shows a field as `<pen>.<id>/<length>`), `id` its element id',
    '  without the enterprise bit (1–32767). NetFlow v9 has no enterprise numbers: its vendor field types',
    '  (32768–65535) are mapped with `enterprise: 0` and the type as `id`. IANA elements (enterprise 0, id',
    '  below 32768) can be mapped the same way.',
    '- `column` is any column of [columns.md](columns.md) that holds numbers, addresses or text (`u8`,',
    '  `u16`, `u32`, `u64`, `ip`, `str` in the schema), except those the decoder fills itself: derived',
    '  columns, times, `time_received`, `flow_version`, `observation_domain_id`, `template_id` and',
    '  `sampling_interval`. Numbers of 1–8 octets are read big-endian and kept modulo the column\'s width;',
    '  an address is IPv4 with 4 octets and IPv6 with 16; text is UTF-8 with trailing NULs dropped,',
    '  variable length included (the MAC, `app_id` and ACL columns keep their own formats).',
    '- A mapping wins over the schema\'s own elements for that column, and replaces any use the schema',
    '  made of that element. An element whose length does not fit the column (an address of 6 octets, a',
    '  number of 9) stays unknown.',
    '- An id out of range, an unknown column, a column of another kind, or the same element mapped twice',
    '  is refused when the configuration loads, before anything starts, with a message naming the entry',
    '  (`enterprise 9, id 40000 → http_host: id must be 0–32767 (15 bits in IPFIX)`, at `ingest.elements[1]`).',
    '- Mappings apply to templates as ingest compiles them; every replica must have the same list, since',
    '  each decodes with its own.',
    '',
    'A column that does not exist yet (a new kind of value) is one declaration in',
    '`packages/schema/src/columns.ts`; see [development.md](development.md).',
    '',
  ].join('\n');
}

emitGenerated(target, render(), check, 'scripts/gen-exporters-doc.ts', '');
