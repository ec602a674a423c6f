// Templates: parsing template sets (NetFlow v9 RFC 3954 §5.2/§6.1, IPFIX
// RFC 7011 §3.4), the injected store, and compilation of a template into a
// flat program the data path runs without allocating.

import { FLOW_COLUMNS } from '@flowhound/schema';
import { ianaElement } from './ie.ts';

/** Field length meaning "variable, length prefix in the record" (RFC 7011 §7). */
export const VARIABLE_LENGTH = 65535;

export interface TemplateField {
  /** Element id without the enterprise bit (NetFlow v9: the raw field type, vendor ids ≥ 32768 included). */
  readonly id: number;
  /** Octets in the record, or VARIABLE_LENGTH. */
  readonly length: number;
  /** Private enterprise number; 0 for IANA elements and always for NetFlow v9. */
  readonly enterprise: number;
}

export interface TemplateDef {
  readonly version: number;
  readonly domain: number;
  readonly templateId: number;
  /** 0 for a data template; the first N fields of an options template are its scope. */
  readonly scopeFieldCount: number;
  readonly fields: readonly TemplateField[];
}

/** Op codes of a compiled field. */
export const OP_SKIP = 0;
export const OP_U8 = 1;
export const OP_U16 = 2;
export const OP_U32 = 3;
export const OP_U64 = 4;
export const OP_IP4 = 5;
export const OP_IP6 = 6;
/** A time value; `args` holds TIME_* kind * 4 + SLOT_*. */
export const OP_TIME = 7;
export const OP_ICMP_TYPE = 8;
export const OP_ICMP_CODE = 9;
/** flowDurationMilliseconds / flowDurationMicroseconds; `args` holds 1 for ms, 2 for µs. */
export const OP_DURATION = 10;

export const TIME_SECONDS = 1;
export const TIME_MILLIS = 2;
/** 64-bit NTP timestamp (dateTimeMicroseconds and dateTimeNanoseconds, RFC 7011 §6.1.9–10). */
export const TIME_NTP = 3;
/** Milliseconds of system uptime (flowStart/EndSysUpTime, NetFlow v9 FIRST/LAST_SWITCHED). */
export const TIME_UPTIME = 4;
/** Microseconds before the export time (flowStart/EndDeltaMicroseconds). */
export const TIME_DELTA_US = 5;

export const SLOT_START = 0;
export const SLOT_END = 1;
/** observationTime*: used for start and end when a record carries no flow times. */
export const SLOT_OBS = 2;

/**
 * A template turned into parallel arrays, one entry per field. When every
 * field has a fixed length, `offsets` are final and `recordLength` is the
 * record size; otherwise `recordLength` is -1 and the decoder walks the
 * length prefixes of each record first.
 */
export interface CompiledTemplate {
  readonly def: TemplateDef;
  readonly isOptions: boolean;
  readonly fieldCount: number;
  /** Bytes per record when all fields are fixed, else -1. */
  readonly recordLength: number;
  /** Smallest possible record (variable fields count one length octet); ≥ 1 for a usable template. */
  readonly minRecordLength: number;
  readonly offsets: Int32Array;
  readonly lengths: Int32Array;
  readonly ops: Uint8Array;
  readonly cols: Int16Array;
  readonly args: Uint8Array;
  /** ip_version to write when the template has no ipVersion field but implies the family (0: none). */
  readonly impliedIpVersion: number;
  /** The template sends a sampling interval per record. */
  readonly hasSampling: boolean;
  /** Fields of a data template that no column takes (counted once when the template arrives). */
  readonly unknownFields: number;
  /** Options templates: field index of systemInitTimeMilliseconds, or -1. */
  readonly optSystemInit: number;
  /** Options templates: field index of samplingInterval / samplingPacketInterval / samplerRandomInterval, or -1. */
  readonly optSampling: number;
  /** Options templates: field index of samplingPacketSpace, or -1. */
  readonly optSamplingSpace: number;
}

/**
 * Where templates live. The decoder reads it once per data set and writes
 * to it only when a template is new or redefined, so a shared store (the
 * template registry's KV) can sit behind it.
 */
export interface TemplateStore {
  get(exporter: string, version: number, domain: number, templateId: number): CompiledTemplate | undefined;
  /** A template new or redefined in a packet. */
  put(exporter: string, t: TemplateDef): void;
  /** templateId -1 withdraws every template of the domain. */
  withdraw(exporter: string, version: number, domain: number, templateId: number): void;
  /**
   * The exporter sent an unchanged template again. Optional: a shared store
   * uses it to keep the template's registry entry from expiring.
   */
  refreshed?(exporter: string, t: TemplateDef): void;
}

/** In-process template store: exporter → (version, domain) → template id. Lookups allocate nothing. */
export class MemoryTemplateStore implements TemplateStore {
  private readonly byExporter: Map<string, Map<number, Map<number, CompiledTemplate>>>;

  constructor() {
    this.byExporter = new Map();
  }

  get(exporter: string, version: number, domain: number, templateId: number): CompiledTemplate | undefined {
    return this.byExporter.get(exporter)?.get(domainKey(version, domain))?.get(templateId);
  }

  put(exporter: string, t: TemplateDef): void {
    let domains = this.byExporter.get(exporter);
    if (!domains) {
      domains = new Map();
      this.byExporter.set(exporter, domains);
    }
    const k = domainKey(t.version, t.domain);
    let ids = domains.get(k);
    if (!ids) {
      ids = new Map();
      domains.set(k, ids);
    }
    ids.set(t.templateId, compileTemplate(t));
  }

  withdraw(exporter: string, version: number, domain: number, templateId: number): void {
    const domains = this.byExporter.get(exporter);
    if (!domains) return;
    const k = domainKey(version, domain);
    if (templateId < 0) domains.delete(k);
    else domains.get(k)?.delete(templateId);
  }

  /** Every stored template, for inspection. */
  *entries(): IterableIterator<{ exporter: string; template: CompiledTemplate }> {
    for (const [exporter, domains] of this.byExporter) {
      for (const ids of domains.values()) for (const template of ids.values()) yield { exporter, template };
    }
  }

  get size(): number {
    let n = 0;
    for (const domains of this.byExporter.values()) for (const ids of domains.values()) n += ids.size;
    return n;
  }
}

function domainKey(version: number, domain: number): number {
  // A double holds version and a 32-bit domain exactly; no string per lookup.
  return version * 4294967296 + domain;
}

/** True when two definitions describe the same record layout. */
export function sameTemplate(a: TemplateDef, b: TemplateDef): boolean {
  if (a.scopeFieldCount !== b.scopeFieldCount || a.fields.length !== b.fields.length) return false;
  for (let i = 0; i < a.fields.length; i++) {
    const x = a.fields[i];
    const y = b.fields[i];
    if (x.id !== y.id || x.length !== y.length || x.enterprise !== y.enterprise) return false;
  }
  return true;
}

// ---------------------------------------------------------------------------
// Compilation

const COL = new Map<string, number>(FLOW_COLUMNS.map((c, i) => [c.name, i]));
function colIndex(name: string): number {
  const i = COL.get(name);
  if (i === undefined) throw new Error(`schema has no column ${name}`);
  return i;
}

export const C_TIME_RECEIVED = colIndex('time_received');
export const C_EXPORTER = colIndex('exporter_address');
export const C_VERSION = colIndex('flow_version');
export const C_DOMAIN = colIndex('observation_domain_id');
export const C_TEMPLATE = colIndex('template_id');
export const C_FLOW_START = colIndex('flow_start');
export const C_FLOW_END = colIndex('flow_end');
export const C_SRC_ADDR = colIndex('src_addr');
export const C_DST_ADDR = colIndex('dst_addr');
export const C_SRC_PORT = colIndex('src_port');
export const C_DST_PORT = colIndex('dst_port');
export const C_PROTOCOL = colIndex('protocol');
export const C_TCP_FLAGS = colIndex('tcp_flags');
export const C_TOS = colIndex('tos');
export const C_BYTES = colIndex('bytes');
export const C_PACKETS = colIndex('packets');
export const C_INPUT_IF = colIndex('input_if');
export const C_OUTPUT_IF = colIndex('output_if');
export const C_SRC_AS = colIndex('src_as');
export const C_DST_AS = colIndex('dst_as');
export const C_NEXT_HOP = colIndex('next_hop');
export const C_SRC_MASK = colIndex('src_mask');
export const C_DST_MASK = colIndex('dst_mask');
export const C_IP_VERSION = colIndex('ip_version');
export const C_ICMP = colIndex('icmp_type_code');
export const C_SAMPLING = colIndex('sampling_interval');

interface Target {
  col: number;
  op: number;
  arg: number;
  /** Lower wins when a template sends several elements for one column. */
  rank: number;
}

// Element id → column, derived from the schema's `ies` (rank = position in
// the list). Time columns are built by hand below: their elements differ in
// unit and epoch, not only in width.
const TARGETS = new Map<number, Target>();
for (let c = 0; c < FLOW_COLUMNS.length; c++) {
  const def = FLOW_COLUMNS[c];
  if (def.kind === 'time' || def.kind === 'str') continue;
  def.ies.forEach((ie, rank) => {
    const type = ianaElement(ie)?.type;
    let op: number;
    if (def.kind === 'ip') op = type === 'ipv6Address' ? OP_IP6 : OP_IP4;
    else op = def.kind === 'u8' ? OP_U8 : def.kind === 'u16' ? OP_U16 : def.kind === 'u32' ? OP_U32 : OP_U64;
    TARGETS.set(ie, { col: c, op, arg: 0, rank });
  });
}
// Cisco ASA and others send ICMP type and code as separate elements.
TARGETS.set(176, { col: C_ICMP, op: OP_ICMP_TYPE, arg: 0, rank: 10 });
TARGETS.set(177, { col: C_ICMP, op: OP_ICMP_CODE, arg: 0, rank: 10 });
TARGETS.set(178, { col: C_ICMP, op: OP_ICMP_TYPE, arg: 0, rank: 10 });
TARGETS.set(179, { col: C_ICMP, op: OP_ICMP_CODE, arg: 0, rank: 10 });

// Finer units first: an exporter sending both seconds and milliseconds
// means the same instant, and the milliseconds keep more of it.
const TIME_TARGETS: ReadonlyArray<[ie: number, kind: number, slot: number, rank: number]> = [
  [152, TIME_MILLIS, SLOT_START, 0],
  [154, TIME_NTP, SLOT_START, 1],
  [156, TIME_NTP, SLOT_START, 2],
  [150, TIME_SECONDS, SLOT_START, 3],
  [22, TIME_UPTIME, SLOT_START, 4],
  [158, TIME_DELTA_US, SLOT_START, 5],
  [153, TIME_MILLIS, SLOT_END, 0],
  [155, TIME_NTP, SLOT_END, 1],
  [157, TIME_NTP, SLOT_END, 2],
  [151, TIME_SECONDS, SLOT_END, 3],
  [21, TIME_UPTIME, SLOT_END, 4],
  [159, TIME_DELTA_US, SLOT_END, 5],
  [323, TIME_MILLIS, SLOT_OBS, 0],
  [324, TIME_NTP, SLOT_OBS, 1],
  [325, TIME_NTP, SLOT_OBS, 2],
  [322, TIME_SECONDS, SLOT_OBS, 3],
];
for (const [ie, kind, slot, rank] of TIME_TARGETS) {
  TARGETS.set(ie, { col: slot === SLOT_END ? C_FLOW_END : C_FLOW_START, op: OP_TIME, arg: kind * 4 + slot, rank });
}
TARGETS.set(161, { col: -1, op: OP_DURATION, arg: 1, rank: 0 });
TARGETS.set(162, { col: -1, op: OP_DURATION, arg: 2, rank: 1 });

function fitsLength(op: number, arg: number, len: number): boolean {
  switch (op) {
    case OP_IP4:
      return len === 4;
    case OP_IP6:
      return len === 16;
    case OP_TIME:
      return (arg >> 2) === TIME_NTP ? len === 8 : len >= 1 && len <= 8;
    default:
      return len >= 1 && len <= 8;
  }
}

/** Turns a definition into the flat program the data path runs. */
export function compileTemplate(def: TemplateDef): CompiledTemplate {
  const n = def.fields.length;
  const offsets = new Int32Array(n);
  const lengths = new Int32Array(n);
  const ops = new Uint8Array(n);
  const cols = new Int16Array(n).fill(-1);
  const args = new Uint8Array(n);
  const isOptions = def.scopeFieldCount > 0;
  let off = 0;
  let fixed = true;
  let minLen = 0;
  let unknown = 0;
  let optSystemInit = -1;
  let optSampling = -1;
  let optSamplingSpace = -1;
  // Best candidate per slot: one per column, three for time (start, end, observation), one for duration.
  const best = new Map<string, { field: number; rank: number }>();

  for (let i = 0; i < n; i++) {
    const f = def.fields[i];
    lengths[i] = f.length;
    offsets[i] = off;
    if (f.length === VARIABLE_LENGTH) {
      fixed = false;
      minLen += 1;
    } else {
      off += f.length;
      minLen += f.length;
    }
    if (isOptions) {
      // NetFlow v9 scope fields are scope types, not elements (2 is "interface", not packetDeltaCount).
      if (f.enterprise !== 0 || (def.version === 9 && i < def.scopeFieldCount)) continue;
      if (f.id === 160 && f.length === 8) optSystemInit = i;
      else if ((f.id === 34 || f.id === 305 || f.id === 50) && f.length >= 1 && f.length <= 8 && optSampling < 0) optSampling = i;
      else if (f.id === 306 && f.length >= 1 && f.length <= 8) optSamplingSpace = i;
      continue;
    }
    const t = f.enterprise === 0 ? TARGETS.get(f.id) : undefined;
    if (!t || f.length === VARIABLE_LENGTH || !fitsLength(t.op, t.arg, f.length)) {
      unknown++;
      continue;
    }
    const key = t.op === OP_TIME ? `t${t.arg & 3}` : t.op === OP_DURATION ? 'dur' : t.op === OP_ICMP_TYPE || t.op === OP_ICMP_CODE ? `c${t.col}.${t.op}` : `c${t.col}`;
    const prev = best.get(key);
    if (!prev || t.rank < prev.rank) best.set(key, { field: i, rank: t.rank });
  }

  let hasIcmpWhole = false;
  let hasIpVersion = false;
  let hasSampling = false;
  let family = 0;
  for (const { field } of best.values()) {
    const t = TARGETS.get(def.fields[field].id) as Target;
    ops[field] = t.op;
    cols[field] = t.col;
    args[field] = t.arg;
    if (t.col === C_ICMP && t.op !== OP_ICMP_TYPE && t.op !== OP_ICMP_CODE) hasIcmpWhole = true;
    if (t.col === C_IP_VERSION) hasIpVersion = true;
    if (t.col === C_SAMPLING) hasSampling = true;
    if ((t.col === C_SRC_ADDR || t.col === C_DST_ADDR) && family === 0) family = t.op === OP_IP6 ? 6 : 4;
  }
  if (hasIcmpWhole) {
    // The whole type*256+code wins over the split elements.
    for (let i = 0; i < n; i++) if (ops[i] === OP_ICMP_TYPE || ops[i] === OP_ICMP_CODE) ops[i] = OP_SKIP;
  }

  return Object.freeze({
    def,
    isOptions,
    fieldCount: n,
    recordLength: fixed ? off : -1,
    minRecordLength: minLen,
    offsets,
    lengths,
    ops,
    cols,
    args,
    impliedIpVersion: hasIpVersion ? 0 : family,
    hasSampling,
    unknownFields: unknown,
    optSystemInit,
    optSampling,
    optSamplingSpace,
  });
}

// ---------------------------------------------------------------------------
// Parsing of template sets

export interface TemplateSetResult {
  readonly templates: TemplateDef[];
  /** Template ids withdrawn (IPFIX); -1 = all templates of the domain. */
  readonly withdrawals: number[];
  /** Why parsing stopped early, if it did; what was parsed before is still returned. */
  readonly error?: string;
  /** Problems with single records that were skipped while the rest of the set was parsed. */
  readonly skipped: string[];
}

function u16(b: Uint8Array, o: number): number {
  return (b[o] << 8) | b[o + 1];
}

function u32(b: Uint8Array, o: number): number {
  return ((b[o] << 24) >>> 0) + ((b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3]);
}

/**
 * Parses the body of a template or options template set (`start` just past
 * the 4-byte set header, `end` at the set's end). setId: NetFlow v9 0/1,
 * IPFIX 2/3.
 */
export function parseTemplateSet(b: Uint8Array, start: number, end: number, version: number, setId: number, domain: number): TemplateSetResult {
  const templates: TemplateDef[] = [];
  const withdrawals: number[] = [];
  const skipped: string[] = [];
  const options = setId === 1 || setId === 3;
  let p = start;
  // Anything shorter than a record header is padding (RFC 3954 §5.3, RFC 7011 §3.3.1).
  while (end - p >= 4) {
    const templateId = u16(b, p);
    if (version === 9 && options) {
      if (end - p < 6) break;
      const scopeLen = u16(b, p + 2);
      const optLen = u16(b, p + 4);
      p += 6;
      if (templateId === 0 && scopeLen === 0 && optLen === 0) break; // zero padding
      if (scopeLen % 4 !== 0 || optLen % 4 !== 0 || p + scopeLen + optLen > end) {
        return { templates, withdrawals, skipped, error: `options template ${templateId}: scope length ${scopeLen} and option length ${optLen} do not fit the flowset` };
      }
      const fields: TemplateField[] = [];
      for (let q = p; q < p + scopeLen + optLen; q += 4) fields.push({ id: u16(b, q), length: u16(b, q + 2), enterprise: 0 });
      p += scopeLen + optLen;
      if (templateId < 256) skipped.push(`options template id ${templateId} is below 256`);
      else if (scopeLen === 0) skipped.push(`options template ${templateId} has no scope field`);
      else templates.push({ version, domain, templateId, scopeFieldCount: scopeLen / 4, fields });
      continue;
    }
    const fieldCount = u16(b, p + 2);
    p += 4;
    if (fieldCount === 0) {
      if (version === 9) {
        if (templateId === 0) break; // zero padding
        return { templates, withdrawals, skipped, error: `template ${templateId} has no fields` };
      }
      // RFC 7011 §8.1: a withdrawal; the set id itself as template id withdraws them all.
      withdrawals.push(templateId === setId ? -1 : templateId);
      continue;
    }
    let scopeFieldCount = 0;
    if (options) {
      if (end - p < 2) return { templates, withdrawals, skipped, error: `options template ${templateId} truncated` };
      scopeFieldCount = u16(b, p);
      p += 2;
    }
    const fields: TemplateField[] = [];
    let ok = true;
    for (let i = 0; i < fieldCount; i++) {
      if (end - p < 4) {
        ok = false;
        break;
      }
      let id = u16(b, p);
      const length = u16(b, p + 2);
      p += 4;
      let enterprise = 0;
      // NetFlow v9 has no enterprise bit: types ≥ 32768 are vendor types (Cisco ASA 40001…).
      if (version === 10 && id & 0x8000) {
        if (end - p < 4) {
          ok = false;
          break;
        }
        id &= 0x7fff;
        enterprise = u32(b, p);
        p += 4;
      }
      fields.push({ id, length, enterprise });
    }
    if (!ok) return { templates, withdrawals, skipped, error: `template ${templateId} declares ${fieldCount} fields but the set ends after ${fields.length}` };
    if (templateId < 256) skipped.push(`template id ${templateId} is below 256`);
    else if (options && (scopeFieldCount === 0 || scopeFieldCount > fieldCount)) skipped.push(`options template ${templateId} has scope field count ${scopeFieldCount} of ${fieldCount}`);
    else templates.push({ version, domain, templateId, scopeFieldCount, fields });
  }
  return { templates, withdrawals, skipped };
}
