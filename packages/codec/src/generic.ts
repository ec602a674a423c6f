// The slow path: every record as a plain object keyed by IANA names. For
// the `flowhound decode` command and as an oracle in tests. It shares the
// template parser and the store with the fast path but decodes values on
// its own, from each element's abstract type.

import { formatIp } from '@flowhound/schema';
import { uptimeAge } from './decoder.ts';
import { DecodeError, TemplateError } from './errors.ts';
import { V9_SCOPE_NAMES, fieldName, fieldType, type AbstractType } from './ie.ts';
import { VARIABLE_LENGTH, parseTemplateSet, sameTemplate, type TemplateDef, type TemplateStore } from './template.ts';

export type FieldValue = number | string | boolean;

export interface GenericRecord {
  exporter: string;
  version: number;
  observationDomainId: number;
  templateId: number;
  [field: string]: FieldValue;
}

export interface GenericResult {
  /** Data records passed to onRecord. */
  records: number;
  /** Options data records passed to onRecord (marked `options: true`). */
  optionsRecords: number;
  /** Data sets skipped because their template is unknown. */
  missingTemplates: number;
  /** What could not be decoded; decoding went on after each. */
  errors: DecodeError[];
}

/** Facts carried between packets of one exporter: systemInitTimeMilliseconds per domain. */
export class GenericState {
  readonly systemInit: Map<string, number>;

  constructor() {
    this.systemInit = new Map();
  }
}

export interface GenericOptions {
  /** Keeps systemInitTimeMilliseconds between calls; one is made per call when absent. */
  readonly state?: GenericState;
  /** Pass options data records to onRecord too (default true). */
  readonly includeOptions?: boolean;
}

const NTP_OFFSET_S = 2208988800;
const NTP_OFFSET_BIG = 2208988800n;
const utf8 = new TextDecoder('utf-8', { fatal: false });

/**
 * Decodes one export packet into records. Templates found in the packet
 * are put into `templates` (so later packets of the same exporter decode);
 * nothing is thrown for bad input: problems are listed in the result.
 */
export function decodeToRecords(
  packet: Uint8Array,
  exporter: string,
  templates: TemplateStore,
  onRecord: (r: GenericRecord) => void,
  opts: GenericOptions = {},
): GenericResult {
  const res: GenericResult = { records: 0, optionsRecords: 0, missingTemplates: 0, errors: [] };
  const state = opts.state ?? new GenericState();
  const includeOptions = opts.includeOptions ?? true;
  const dv = new DataView(packet.buffer, packet.byteOffset, packet.byteLength);
  const fail = (msg: string, version: number, domain: number, templateId: number) =>
    res.errors.push(new DecodeError(msg, { exporter, version, domain, templateId }));
  if (packet.length < 2) {
    fail(`packet of ${packet.length} bytes has no version`, 0, -1, -1);
    return res;
  }
  const version = dv.getUint16(0);
  try {
    if (version === 5) decodeV5(packet, dv, exporter, onRecord, res, fail);
    else if (version === 9) {
      if (packet.length < 20) fail('NetFlow v9 header truncated', 9, -1, -1);
      else {
        const ctx: Ctx = {
          exporter,
          version: 9,
          domain: dv.getUint32(16),
          exportSec: dv.getUint32(8),
          sysUptime: dv.getUint32(4),
          templates,
          state,
          includeOptions,
          onRecord,
          res,
          fail,
        };
        walkSets(packet, dv, 20, packet.length, ctx);
      }
    } else if (version === 10) {
      let off = 0;
      while (packet.length - off >= 16 && dv.getUint16(off) === 10) {
        const len = dv.getUint16(off + 2);
        const domain = dv.getUint32(off + 12);
        if (len < 16) {
          fail(`IPFIX message length ${len} is shorter than its header`, 10, domain, -1);
          break;
        }
        let end = off + len;
        if (end > packet.length) {
          fail(`IPFIX message length ${len} exceeds the ${packet.length - off} bytes received`, 10, domain, -1);
          end = packet.length;
        }
        const ctx: Ctx = { exporter, version: 10, domain, exportSec: dv.getUint32(off + 4), sysUptime: 0, templates, state, includeOptions, onRecord, res, fail };
        walkSets(packet, dv, off + 16, end, ctx);
        off = end;
      }
      if (off === 0) fail('IPFIX header truncated', 10, -1, -1);
    } else fail(`unsupported export version ${version}`, version, -1, -1);
  } catch (err) {
    res.errors.push(new DecodeError('generic decoder failed on this packet', { exporter, version, domain: -1, templateId: -1 }, { cause: err }));
  }
  return res;
}

interface Ctx {
  exporter: string;
  version: number;
  domain: number;
  exportSec: number;
  sysUptime: number;
  templates: TemplateStore;
  state: GenericState;
  includeOptions: boolean;
  onRecord: (r: GenericRecord) => void;
  res: GenericResult;
  fail: (msg: string, version: number, domain: number, templateId: number) => void;
}

function decodeV5(
  b: Uint8Array,
  dv: DataView,
  exporter: string,
  onRecord: (r: GenericRecord) => void,
  res: GenericResult,
  fail: Ctx['fail'],
): void {
  if (b.length < 24) return fail('NetFlow v5 header truncated', 5, -1, -1);
  const count = dv.getUint16(2);
  if (count === 0 || count > 30) return fail(`NetFlow v5 header count ${count} is outside 1–30`, 5, -1, -1);
  const fit = Math.floor((b.length - 24) / 48);
  if (fit < count) fail(`NetFlow v5 packet holds ${fit} of ${count} records`, 5, -1, -1);
  const sysUptime = dv.getUint32(4);
  const exportMs = dv.getUint32(8) * 1000 + Math.floor(dv.getUint32(12) / 1e6);
  const engineType = b[20];
  const engineId = b[21];
  const ip = (o: number) => `${b[o]}.${b[o + 1]}.${b[o + 2]}.${b[o + 3]}`;
  for (let r = 0; r < Math.min(count, fit); r++) {
    const p = 24 + r * 48;
    const first = dv.getUint32(p + 24);
    const last = dv.getUint32(p + 28);
    onRecord({
      exporter,
      version: 5,
      observationDomainId: (engineType << 8) | engineId,
      templateId: 0,
      sourceIPv4Address: ip(p),
      destinationIPv4Address: ip(p + 4),
      ipNextHopIPv4Address: ip(p + 8),
      ingressInterface: dv.getUint16(p + 12),
      egressInterface: dv.getUint16(p + 14),
      packetDeltaCount: dv.getUint32(p + 16),
      octetDeltaCount: dv.getUint32(p + 20),
      flowStartSysUpTime: first,
      flowEndSysUpTime: last,
      sourceTransportPort: dv.getUint16(p + 32),
      destinationTransportPort: dv.getUint16(p + 34),
      tcpControlBits: b[p + 37],
      protocolIdentifier: b[p + 38],
      ipClassOfService: b[p + 39],
      bgpSourceAsNumber: dv.getUint16(p + 40),
      bgpDestinationAsNumber: dv.getUint16(p + 42),
      sourceIPv4PrefixLength: b[p + 44],
      destinationIPv4PrefixLength: b[p + 45],
      engineType,
      engineId,
      samplingInterval: dv.getUint16(22) & 0x3fff,
      samplingAlgorithm: b[22] >> 6,
      flowStartMilliseconds: exportMs - uptimeAge(sysUptime, first),
      flowEndMilliseconds: exportMs - uptimeAge(sysUptime, last),
    });
    res.records++;
  }
}

function walkSets(b: Uint8Array, dv: DataView, start: number, end: number, ctx: Ctx): void {
  const tplSet = ctx.version === 9 ? 0 : 2;
  const optSet = ctx.version === 9 ? 1 : 3;
  let p = start;
  while (end - p >= 4) {
    const setId = dv.getUint16(p);
    const setLen = dv.getUint16(p + 2);
    if (setId === 0 && setLen === 0) return;
    if (setLen < 4) return ctx.fail(`set ${setId} has length ${setLen}`, ctx.version, ctx.domain, setId);
    let setEnd = p + setLen;
    if (setEnd > end) {
      ctx.fail(`set ${setId} is cut short`, ctx.version, ctx.domain, setId);
      setEnd = end;
    }
    if (setId === tplSet || setId === optSet) {
      const r = parseTemplateSet(b, p + 4, setEnd, ctx.version, setId, ctx.domain);
      // In set order, as the decoder does: "withdraw 300, define 300" in
      // one set leaves the new 300.
      let w = 0;
      for (let i = 0; i < r.templates.length; i++) {
        for (; w < r.withdrawals.length && r.withdrawAt[w] <= i; w++) ctx.templates.withdraw(ctx.exporter, ctx.version, ctx.domain, r.withdrawals[w]);
        const def = r.templates[i];
        const prev = ctx.templates.get(ctx.exporter, def.version, def.domain, def.templateId);
        if (!prev || !sameTemplate(prev.def, def)) ctx.templates.put(ctx.exporter, def);
      }
      for (; w < r.withdrawals.length; w++) ctx.templates.withdraw(ctx.exporter, ctx.version, ctx.domain, r.withdrawals[w]);
      for (const s of r.skipped) ctx.res.errors.push(new TemplateError(s, { exporter: ctx.exporter, version: ctx.version, domain: ctx.domain, templateId: -1 }));
      if (r.error) ctx.res.errors.push(new TemplateError(r.error, { exporter: ctx.exporter, version: ctx.version, domain: ctx.domain, templateId: -1 }));
    } else if (setId >= 256) {
      const t = ctx.templates.get(ctx.exporter, ctx.version, ctx.domain, setId);
      if (!t) {
        ctx.res.missingTemplates++;
        ctx.fail(`template ${setId} not yet received; its data set was skipped`, ctx.version, ctx.domain, setId);
      } else dataSet(b, dv, p + 4, setEnd, t.def, ctx);
    } else ctx.fail(`set id ${setId} is reserved`, ctx.version, ctx.domain, setId);
    p = setEnd;
  }
}

function dataSet(b: Uint8Array, dv: DataView, start: number, end: number, def: TemplateDef, ctx: Ctx): void {
  const isOptions = def.scopeFieldCount > 0;
  let minLen = 0;
  for (const f of def.fields) minLen += f.length === VARIABLE_LENGTH ? 1 : f.length;
  if (minLen === 0) return ctx.fail('template has only zero-length fields', ctx.version, ctx.domain, def.templateId);
  let p = start;
  while (end - p >= minLen) {
    const rec: GenericRecord = { exporter: ctx.exporter, version: ctx.version, observationDomainId: ctx.domain, templateId: def.templateId };
    let q = p;
    let cut = false;
    for (let i = 0; i < def.fields.length; i++) {
      const f = def.fields[i];
      let len = f.length;
      if (len === VARIABLE_LENGTH) {
        if (q >= end) {
          cut = true;
          break;
        }
        len = b[q++];
        if (len === 255) {
          if (end - q < 2) {
            cut = true;
            break;
          }
          len = dv.getUint16(q);
          q += 2;
        }
      }
      if (q + len > end) {
        cut = true;
        break;
      }
      const scope = ctx.version === 9 && isOptions && i < def.scopeFieldCount;
      let name = scope ? (V9_SCOPE_NAMES[f.id] ?? `scope${f.id}`) : fieldName(f.id, f.enterprise);
      if (name in rec) {
        let k = 2;
        while (`${name}#${k}` in rec) k++;
        name = `${name}#${k}`;
      }
      rec[name] = scope ? value(b, dv, q, len, 'unsigned64') : value(b, dv, q, len, fieldType(f.id, f.enterprise));
      q += len;
    }
    if (cut) {
      if (b.subarray(p, end).some((x) => x !== 0)) ctx.fail(`record at offset ${p - start} runs past the end of the set`, ctx.version, ctx.domain, def.templateId);
      return;
    }
    if (isOptions) {
      const sys = rec.systemInitTimeMilliseconds;
      if (typeof sys === 'number') ctx.state.systemInit.set(`${ctx.exporter}|${ctx.domain}`, sys);
      if (ctx.includeOptions) {
        rec.options = true;
        ctx.onRecord(rec);
      }
      ctx.res.optionsRecords++;
    } else {
      addAbsoluteTimes(rec, ctx);
      ctx.onRecord(rec);
      ctx.res.records++;
    }
    p = q;
  }
}

function value(b: Uint8Array, dv: DataView, p: number, len: number, type: AbstractType | undefined): FieldValue {
  switch (type) {
    case 'unsigned8':
    case 'unsigned16':
    case 'unsigned32':
    case 'unsigned64':
    case 'dateTimeSeconds':
    case 'dateTimeMilliseconds':
      if (len >= 1 && len <= 8) return unsigned(b, p, len);
      break;
    case 'signed8':
    case 'signed16':
    case 'signed32':
    case 'signed64':
      if (len >= 1 && len <= 8) {
        let v = 0n;
        for (let i = 0; i < len; i++) v = (v << 8n) | BigInt(b[p + i]);
        return safe(BigInt.asIntN(len * 8, v));
      }
      break;
    case 'float32':
    case 'float64':
      if (len === 4) return dv.getFloat32(p);
      if (len === 8) return dv.getFloat64(p);
      break;
    case 'boolean':
      // RFC 7011 §6.1.5: 1 is true, 2 is false.
      if (len === 1) return b[p] === 1 ? true : b[p] === 2 ? false : b[p];
      break;
    case 'macAddress':
      if (len === 6) return Array.from(b.subarray(p, p + 6), (x) => x.toString(16).padStart(2, '0')).join(':');
      break;
    case 'string': {
      let e = p + len;
      while (e > p && b[e - 1] === 0) e--;
      return utf8.decode(b.subarray(p, e));
    }
    case 'ipv4Address':
      if (len === 4) return `${b[p]}.${b[p + 1]}.${b[p + 2]}.${b[p + 3]}`;
      break;
    case 'ipv6Address':
      if (len === 16) return formatIp(b, p);
      break;
    case 'dateTimeMicroseconds':
      if (len === 8) return Math.round((dv.getUint32(p) - NTP_OFFSET_S) * 1e6 + (dv.getUint32(p + 4) * 1e6) / 4294967296);
      break;
    case 'dateTimeNanoseconds':
      if (len === 8) {
        const sec = BigInt(dv.getUint32(p)) - NTP_OFFSET_BIG;
        const frac = (BigInt(dv.getUint32(p + 4)) * 1_000_000_000n) >> 32n;
        return (sec * 1_000_000_000n + frac).toString();
      }
      break;
  }
  return hex(b, p, len);
}

function unsigned(b: Uint8Array, p: number, len: number): FieldValue {
  if (len <= 6) {
    let v = 0;
    for (let i = 0; i < len; i++) v = v * 256 + b[p + i];
    return v;
  }
  let v = 0n;
  for (let i = 0; i < len; i++) v = (v << 8n) | BigInt(b[p + i]);
  return safe(v);
}

function safe(v: bigint): FieldValue {
  return v <= BigInt(Number.MAX_SAFE_INTEGER) && v >= BigInt(Number.MIN_SAFE_INTEGER) ? Number(v) : v.toString();
}

function hex(b: Uint8Array, p: number, len: number): string {
  let s = '';
  for (let i = 0; i < len; i++) s += b[p + i].toString(16).padStart(2, '0');
  return s;
}

function num(v: FieldValue | undefined): number | undefined {
  if (typeof v === 'number') return v;
  if (typeof v === 'string' && /^-?\d+$/.test(v)) return Number(v);
  return undefined;
}

/**
 * Adds flowStartMilliseconds / flowEndMilliseconds (ms since the epoch)
 * from whatever time elements the record has, with the same precedence and
 * fallbacks as the fast path's flow_start / flow_end.
 */
function addAbsoluteTimes(rec: GenericRecord, ctx: Ctx): void {
  const exportMs = ctx.exportSec * 1000;
  let uptimeNow: number | undefined;
  if (ctx.version === 9) uptimeNow = ctx.sysUptime;
  else {
    const sys = ctx.state.systemInit.get(`${ctx.exporter}|${ctx.domain}`);
    if (sys !== undefined) uptimeNow = exportMs - sys;
  }
  const pick = (ms: string, us: string, ns: string, s: string, up: string, delta: string): { v?: number; up?: number } => {
    const vms = num(rec[ms]);
    if (vms !== undefined) return { v: vms };
    const vus = num(rec[us]);
    if (vus !== undefined) return { v: vus / 1000 };
    const vns = num(rec[ns]);
    if (vns !== undefined) return { v: vns / 1e6 };
    const vs = num(rec[s]);
    if (vs !== undefined) return { v: vs * 1000 };
    const vup = num(rec[up]);
    if (vup !== undefined) return { up: vup };
    const vd = num(rec[delta]);
    if (vd !== undefined) return { v: exportMs - vd / 1000 };
    return {};
  };
  const s = pick('flowStartMilliseconds', 'flowStartMicroseconds', 'flowStartNanoseconds', 'flowStartSeconds', 'flowStartSysUpTime', 'flowStartDeltaMicroseconds');
  const e = pick('flowEndMilliseconds', 'flowEndMicroseconds', 'flowEndNanoseconds', 'flowEndSeconds', 'flowEndSysUpTime', 'flowEndDeltaMicroseconds');
  const o = pick('observationTimeMilliseconds', 'observationTimeMicroseconds', 'observationTimeNanoseconds', 'observationTimeSeconds', '', '');
  let start = s.v;
  let end = e.v;
  if (s.up !== undefined || e.up !== undefined) {
    if (uptimeNow !== undefined) {
      if (s.up !== undefined) start = exportMs - uptimeAge(uptimeNow, s.up);
      if (e.up !== undefined) end = exportMs - uptimeAge(uptimeNow, e.up);
    } else if (e.up !== undefined) {
      end = exportMs;
      if (s.up !== undefined) start = exportMs - uptimeAge(e.up, s.up);
    } else start = exportMs;
  }
  const durMs = num(rec.flowDurationMilliseconds);
  const durUs = num(rec.flowDurationMicroseconds);
  const dur = durMs !== undefined ? durMs : durUs !== undefined ? durUs / 1000 : undefined;
  if (start === undefined) start = end !== undefined ? (dur !== undefined ? end - dur : end) : (o.v ?? exportMs);
  if (end === undefined) end = dur !== undefined ? start + dur : (o.v ?? start);
  rec.flowStartMilliseconds = start;
  rec.flowEndMilliseconds = end;
}
