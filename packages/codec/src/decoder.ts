// The fast path: export packets in, rows of FLOW_COLUMNS out. One decoder
// per ingest worker; templates come from the injected store, rows go to the
// injected sink. Nothing here allocates per record.

import { ColumnarBatch, FLOW_COLUMNS } from '@flowhound/schema';
import { DecodeError, TemplateError } from './errors.ts';
import {
  C_DOMAIN,
  C_EXPORTER,
  C_FLOW_END,
  C_FLOW_START,
  C_ICMP,
  C_INPUT_IF,
  C_IP_VERSION,
  C_NEXT_HOP,
  C_OUTPUT_IF,
  C_PACKETS,
  C_BYTES,
  C_PROTOCOL,
  C_SAMPLING,
  C_SRC_ADDR,
  C_DST_ADDR,
  C_SRC_AS,
  C_DST_AS,
  C_SRC_MASK,
  C_DST_MASK,
  C_SRC_PORT,
  C_DST_PORT,
  C_TCP_FLAGS,
  C_TEMPLATE,
  C_TIME_RECEIVED,
  C_TOS,
  C_VERSION,
  OP_DURATION,
  OP_ICMP_CODE,
  OP_ICMP_TYPE,
  OP_IP4,
  OP_IP6,
  OP_SKIP,
  OP_TIME,
  OP_U16,
  OP_U32,
  OP_U64,
  OP_U8,
  SLOT_END,
  SLOT_START,
  TIME_DELTA_US,
  TIME_MILLIS,
  TIME_NTP,
  TIME_SECONDS,
  TIME_UPTIME,
  VARIABLE_LENGTH,
  parseTemplateSet,
  sameTemplate,
  type CompiledTemplate,
  type TemplateStore,
} from './template.ts';

/**
 * Where rows go. `next()` reserves one row of `batch` and returns its index;
 * when the batch is full it hands it on and swaps in a fresh one first, so
 * callers read `sink.batch` again after every `next()`.
 */
export interface FlowSink {
  readonly batch: ColumnarBatch;
  next(): number;
}

/** A data set whose template had not arrived; decode it later with `decodeHeldSet`. */
export interface HeldSet {
  readonly exporter: string;
  /** Copy of the exporter address, 16 bytes (IPv4-mapped for IPv4). */
  readonly exporterAddr16: Uint8Array;
  readonly version: number;
  readonly domain: number;
  readonly templateId: number;
  readonly exportTimeSec: number;
  /** NetFlow v9 header sysUptime; 0 for IPFIX. */
  readonly sysUptimeMs: number;
  readonly receivedMs: number;
  /** Copy of the whole set, 4-byte set header included. */
  readonly data: Uint8Array;
}

export interface FlowDecoderOptions {
  readonly templates: TemplateStore;
  readonly sink: FlowSink;
  /** Gets each data set whose template is unknown; without it such sets are counted and dropped. */
  readonly onMissingTemplate?: (set: HeldSet) => void;
  /** Gets a description of each malformed packet, set or template (for rate-limited logging). */
  readonly onError?: (err: DecodeError) => void;
}

/** Counters of one decoder. Plain fields so the hot path only increments numbers. */
export class DecoderCounters {
  packets = 0;
  packets_v5 = 0;
  packets_v9 = 0;
  packets_ipfix = 0;
  /** Packets of another version, or too short for any header. */
  bad_version = 0;
  /** Packets with a malformed header, or truncated; what could be decoded was. */
  bad_packets = 0;
  sets = 0;
  /** Sets with a bad length, malformed templates, or records cut short. */
  bad_sets = 0;
  /** Flow records written to the sink. */
  records = 0;
  /** Options data records read (sampling, system init time). */
  options_records = 0;
  /** Template records received, refreshes included. */
  templates_received = 0;
  /** Templates that were new or changed, and so were put in the store. */
  templates_changed = 0;
  templates_withdrawn = 0;
  /** Data sets whose template was unknown (held or dropped). */
  template_misses = 0;
  held_sets_decoded = 0;
  /** Template fields no column takes, counted when the template is new or changed. */
  unknown_fields = 0;
  /** Records whose uptime-relative times had no system init time: end taken as export time. */
  times_estimated = 0;
  /** Exceptions caught around a packet (a decoder or sink bug, never expected). */
  internal_errors = 0;
}

/** Per (exporter, observation domain) facts learnt from options data. */
class DomainState {
  /** systemInitTimeMilliseconds, NaN until seen. */
  systemInitMs: number;
  /** One-in-N sampling announced in options data; 0 when unknown. */
  sampling: number;

  constructor() {
    this.systemInitMs = Number.NaN;
    this.sampling = 0;
  }
}

const NTP_EPOCH_OFFSET_S = 2208988800;
const NO_STATE = new DomainState();

function u16(b: Uint8Array, o: number): number {
  return (b[o] << 8) | b[o + 1];
}

function u32(b: Uint8Array, o: number): number {
  return ((b[o] << 24) >>> 0) + ((b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3]);
}

/** Big-endian unsigned of 1–8 octets (reduced-size encoding, RFC 7011 §6.2) as a double. */
function uint(b: Uint8Array, p: number, len: number): number {
  switch (len) {
    case 1:
      return b[p];
    case 2:
      return (b[p] << 8) | b[p + 1];
    case 4:
      return ((b[p] << 24) >>> 0) + ((b[p + 1] << 16) | (b[p + 2] << 8) | b[p + 3]);
    case 8:
      return (((b[p] << 24) >>> 0) + ((b[p + 1] << 16) | (b[p + 2] << 8) | b[p + 3])) * 4294967296 + (((b[p + 4] << 24) >>> 0) + ((b[p + 5] << 16) | (b[p + 6] << 8) | b[p + 7]));
    default: {
      let v = 0;
      for (let i = 0; i < len; i++) v = v * 256 + b[p + i];
      return v;
    }
  }
}

function ntpToMs(b: Uint8Array, p: number): number {
  return (u32(b, p) - NTP_EPOCH_OFFSET_S) * 1000 + u32(b, p + 4) / 4294967.296;
}

export class FlowDecoder {
  readonly counters: DecoderCounters;
  private readonly templates: TemplateStore;
  private readonly sink: FlowSink;
  private readonly onMissingTemplate: ((set: HeldSet) => void) | undefined;
  private readonly onError: ((err: DecodeError) => void) | undefined;
  private readonly domains: Map<string, Map<number, DomainState>>;
  // Offsets and lengths of the current record when its template has variable-length fields.
  private varOffsets: Int32Array;
  private varLengths: Int32Array;

  // Header context of the set being decoded (set per packet or held set, read per record).
  private exporter: string;
  private exporterAddr: Uint8Array;
  private receivedMs: number;
  private version: number;
  private domain: number;
  private exportSec: number;
  private sysUptime: number;

  constructor(opts: FlowDecoderOptions) {
    const cols = opts.sink.batch.columns;
    for (let i = 0; i < FLOW_COLUMNS.length; i++) {
      if (cols[i]?.name !== FLOW_COLUMNS[i].name) throw new Error(`sink batch column ${i} is ${cols[i]?.name}, expected ${FLOW_COLUMNS[i].name}: the decoder writes FLOW_COLUMNS by position`);
    }
    this.counters = new DecoderCounters();
    this.templates = opts.templates;
    this.sink = opts.sink;
    this.onMissingTemplate = opts.onMissingTemplate;
    this.onError = opts.onError;
    this.domains = new Map();
    this.varOffsets = new Int32Array(64);
    this.varLengths = new Int32Array(64);
    this.exporter = '';
    this.exporterAddr = new Uint8Array(16);
    this.receivedMs = 0;
    this.version = 0;
    this.domain = 0;
    this.exportSec = 0;
    this.sysUptime = 0;
  }

  /** Decodes one export packet. Never throws on bad input: it is counted and the rest decoded. */
  decode(packet: Uint8Array, exporter: string, exporterAddr16: Uint8Array, receivedMs: number): void {
    const c = this.counters;
    c.packets++;
    this.exporter = exporter;
    this.exporterAddr = exporterAddr16;
    this.receivedMs = receivedMs;
    try {
      const version = packet.length >= 2 ? u16(packet, 0) : 0;
      if (version === 5) {
        c.packets_v5++;
        this.decodeV5(packet);
      } else if (version === 9) {
        c.packets_v9++;
        this.decodeV9(packet);
      } else if (version === 10) {
        c.packets_ipfix++;
        this.decodeIpfix(packet);
      } else {
        c.bad_version++;
        this.report(`unsupported export version ${version} in a ${packet.length}-byte packet`, version, -1, -1);
      }
    } catch (err) {
      c.internal_errors++;
      this.report('decoder failed on this packet', this.version, -1, -1, err);
    }
  }

  /**
   * Decodes a set held for a missing template. Returns false (and does
   * nothing) when the template is still unknown.
   */
  decodeHeldSet(held: HeldSet): boolean {
    const t = this.templates.get(held.exporter, held.version, held.domain, held.templateId);
    if (!t) return false;
    this.exporter = held.exporter;
    this.exporterAddr = held.exporterAddr16;
    this.receivedMs = held.receivedMs;
    this.version = held.version;
    this.domain = held.domain;
    this.exportSec = held.exportTimeSec;
    this.sysUptime = held.sysUptimeMs;
    try {
      this.counters.held_sets_decoded++;
      this.decodeDataSet(t, held.data, 4, held.data.length);
    } catch (err) {
      this.counters.internal_errors++;
      this.report('decoder failed on a held set', held.version, held.domain, held.templateId, err);
    }
    return true;
  }

  /** systemInitTimeMilliseconds learnt for an exporter's domain (NaN if none); lets a shared registry seed it. */
  systemInitTime(exporter: string, domain: number): number {
    return this.domains.get(exporter)?.get(domain)?.systemInitMs ?? Number.NaN;
  }

  setSystemInitTime(exporter: string, domain: number, ms: number): void {
    this.domainState(exporter, domain).systemInitMs = ms;
  }

  /** One-in-N sampling learnt from options data for an exporter's domain (0 if none). */
  samplingInterval(exporter: string, domain: number): number {
    return this.domains.get(exporter)?.get(domain)?.sampling ?? 0;
  }

  setSamplingInterval(exporter: string, domain: number, n: number): void {
    this.domainState(exporter, domain).sampling = n;
  }

  private domainState(exporter: string, domain: number): DomainState {
    let m = this.domains.get(exporter);
    if (!m) {
      m = new Map();
      this.domains.set(exporter, m);
    }
    let s = m.get(domain);
    if (!s) {
      s = new DomainState();
      m.set(domain, s);
    }
    return s;
  }

  private report(message: string, version: number, domain: number, templateId: number, cause?: unknown): void {
    const cb = this.onError;
    if (cb) cb(new DecodeError(message, { exporter: this.exporter, version, domain, templateId }, cause === undefined ? undefined : { cause }));
  }

  // -------------------------------------------------------------------------
  // NetFlow v5: fixed 24-byte header and 48-byte records.

  private decodeV5(b: Uint8Array): void {
    const c = this.counters;
    this.version = 5;
    if (b.length < 24) {
      c.bad_packets++;
      this.report(`NetFlow v5 packet of ${b.length} bytes is shorter than its header`, 5, -1, -1);
      return;
    }
    const count = u16(b, 2);
    const avail = ((b.length - 24) / 48) | 0;
    // Cisco caps v5 at 30 records; a larger count means the header is not to be trusted.
    if (count === 0 || count > 30) {
      c.bad_packets++;
      this.report(`NetFlow v5 header count ${count} is outside 1–30`, 5, -1, -1);
      return;
    }
    let n = count;
    if (avail < count) {
      c.bad_packets++;
      this.report(`NetFlow v5 packet holds ${avail} of ${count} records`, 5, -1, -1);
      n = avail;
    }
    const sysUptime = u32(b, 4);
    const exportMs = u32(b, 8) * 1000 + Math.floor(u32(b, 12) / 1e6);
    const domain = (b[20] << 8) | b[21]; // engine type, engine id
    const sampling = u16(b, 22) & 0x3fff;
    const receivedMs = this.receivedMs;
    const exporterAddr = this.exporterAddr;
    const sink = this.sink;
    for (let r = 0, p = 24; r < n; r++, p += 48) {
      const row = sink.next();
      const d = sink.batch.data;
      (d[C_TIME_RECEIVED] as Float64Array)[row] = receivedMs;
      (d[C_EXPORTER] as Uint8Array).set(exporterAddr, row * 16);
      (d[C_VERSION] as Uint8Array)[row] = 5;
      (d[C_DOMAIN] as Uint32Array)[row] = domain;
      writeV4(d[C_SRC_ADDR] as Uint8Array, row, b, p);
      writeV4(d[C_DST_ADDR] as Uint8Array, row, b, p + 4);
      writeV4(d[C_NEXT_HOP] as Uint8Array, row, b, p + 8);
      (d[C_INPUT_IF] as Uint32Array)[row] = u16(b, p + 12);
      (d[C_OUTPUT_IF] as Uint32Array)[row] = u16(b, p + 14);
      (d[C_PACKETS] as Float64Array)[row] = u32(b, p + 16);
      (d[C_BYTES] as Float64Array)[row] = u32(b, p + 20);
      (d[C_FLOW_START] as Float64Array)[row] = exportMs - ((sysUptime - u32(b, p + 24)) | 0);
      (d[C_FLOW_END] as Float64Array)[row] = exportMs - ((sysUptime - u32(b, p + 28)) | 0);
      (d[C_SRC_PORT] as Uint16Array)[row] = u16(b, p + 32);
      (d[C_DST_PORT] as Uint16Array)[row] = u16(b, p + 34);
      (d[C_TCP_FLAGS] as Uint16Array)[row] = b[p + 37];
      (d[C_PROTOCOL] as Uint8Array)[row] = b[p + 38];
      (d[C_TOS] as Uint8Array)[row] = b[p + 39];
      (d[C_SRC_AS] as Uint32Array)[row] = u16(b, p + 40);
      (d[C_DST_AS] as Uint32Array)[row] = u16(b, p + 42);
      (d[C_SRC_MASK] as Uint8Array)[row] = b[p + 44];
      (d[C_DST_MASK] as Uint8Array)[row] = b[p + 45];
      (d[C_IP_VERSION] as Uint8Array)[row] = 4;
      (d[C_SAMPLING] as Uint32Array)[row] = sampling;
    }
    c.records += n;
  }

  // -------------------------------------------------------------------------
  // NetFlow v9 (RFC 3954)

  private decodeV9(b: Uint8Array): void {
    const c = this.counters;
    this.version = 9;
    if (b.length < 20) {
      c.bad_packets++;
      this.report(`NetFlow v9 packet of ${b.length} bytes is shorter than its header`, 9, -1, -1);
      return;
    }
    this.sysUptime = u32(b, 4);
    this.exportSec = u32(b, 8);
    this.domain = u32(b, 16);
    this.decodeSets(b, 20, b.length);
  }

  // -------------------------------------------------------------------------
  // IPFIX (RFC 7011)

  private decodeIpfix(b: Uint8Array): void {
    const c = this.counters;
    this.version = 10;
    this.sysUptime = 0;
    let off = 0;
    // One message per datagram is the rule; further messages (a TCP read) are decoded too.
    while (b.length - off >= 16 && u16(b, off) === 10) {
      const len = u16(b, off + 2);
      this.exportSec = u32(b, off + 4);
      this.domain = u32(b, off + 12);
      if (len < 16) {
        c.bad_packets++;
        this.report(`IPFIX message length ${len} is shorter than its header`, 10, this.domain, -1);
        return;
      }
      let end = off + len;
      if (end > b.length) {
        c.bad_packets++;
        this.report(`IPFIX message length ${len} exceeds the ${b.length - off} bytes received`, 10, this.domain, -1);
        end = b.length;
      }
      this.decodeSets(b, off + 16, end);
      off = end;
    }
    if (off === 0) {
      c.bad_packets++;
      this.report(`IPFIX packet of ${b.length} bytes is shorter than its header`, 10, -1, -1);
    }
  }

  // -------------------------------------------------------------------------
  // Sets, shared by v9 and IPFIX

  private decodeSets(b: Uint8Array, start: number, end: number): void {
    const c = this.counters;
    const version = this.version;
    const tplSet = version === 9 ? 0 : 2;
    const optSet = version === 9 ? 1 : 3;
    let p = start;
    while (end - p >= 4) {
      const setId = u16(b, p);
      const setLen = u16(b, p + 2);
      if (setId === 0 && setLen === 0) break; // zero fill after the last set (seen from PAN-OS)
      c.sets++;
      if (setLen < 4) {
        c.bad_sets++;
        this.report(`set ${setId} has length ${setLen}; the rest of the packet is skipped`, version, this.domain, setId);
        return;
      }
      let setEnd = p + setLen;
      if (setEnd > end) {
        c.bad_sets++;
        this.report(`set ${setId} of ${setLen} bytes is cut short at ${end - p - 4} bytes; decoding what is there`, version, this.domain, setId);
        setEnd = end;
      }
      if (setId === tplSet || setId === optSet) this.templateSet(b, p + 4, setEnd, setId);
      else if (setId >= 256) {
        const t = this.templates.get(this.exporter, version, this.domain, setId);
        if (t) this.decodeDataSet(t, b, p + 4, setEnd);
        else this.missing(b, p, setEnd, setId);
      } else {
        c.bad_sets++;
        this.report(`set id ${setId} is reserved`, version, this.domain, setId);
      }
      p = setEnd;
    }
  }

  private templateSet(b: Uint8Array, start: number, end: number, setId: number): void {
    const c = this.counters;
    const r = parseTemplateSet(b, start, end, this.version, setId, this.domain);
    const store = this.templates;
    for (const def of r.templates) {
      c.templates_received++;
      const prev = store.get(this.exporter, def.version, def.domain, def.templateId);
      if (prev && sameTemplate(prev.def, def)) {
        store.refreshed?.(this.exporter, prev.def);
        continue;
      }
      store.put(this.exporter, def);
      c.templates_changed++;
      const t = store.get(this.exporter, def.version, def.domain, def.templateId);
      if (t) c.unknown_fields += t.unknownFields;
    }
    for (const id of r.withdrawals) {
      c.templates_withdrawn++;
      store.withdraw(this.exporter, this.version, this.domain, id);
    }
    if (r.skipped.length || r.error) {
      c.bad_sets++;
      const cb = this.onError;
      if (cb) {
        for (const s of r.skipped) cb(new TemplateError(s, { exporter: this.exporter, version: this.version, domain: this.domain, templateId: -1 }));
        if (r.error) cb(new TemplateError(r.error, { exporter: this.exporter, version: this.version, domain: this.domain, templateId: -1 }));
      }
    }
  }

  private missing(b: Uint8Array, p: number, setEnd: number, templateId: number): void {
    this.counters.template_misses++;
    const cb = this.onMissingTemplate;
    if (!cb) return;
    cb({
      exporter: this.exporter,
      exporterAddr16: this.exporterAddr.slice(0, 16),
      version: this.version,
      domain: this.domain,
      templateId,
      exportTimeSec: this.exportSec,
      sysUptimeMs: this.sysUptime,
      receivedMs: this.receivedMs,
      data: b.slice(p, setEnd),
    });
  }

  private decodeDataSet(t: CompiledTemplate, b: Uint8Array, start: number, end: number): void {
    const c = this.counters;
    if (t.minRecordLength === 0) {
      // Every field zero-length: no record can be delimited.
      c.bad_sets++;
      this.report('template has only zero-length fields', this.version, this.domain, t.def.templateId);
      return;
    }
    if (t.isOptions) {
      this.decodeOptionsSet(t, b, start, end);
      return;
    }
    const state = this.domains.get(this.exporter)?.get(this.domain) ?? NO_STATE;
    const n = t.fieldCount;
    const ops = t.ops;
    const cols = t.cols;
    const args = t.args;
    const fixedLen = t.recordLength;
    let offs = t.offsets;
    let lens = t.lengths;
    if (fixedLen < 0 && this.varOffsets.length < n) {
      this.varOffsets = new Int32Array(n);
      this.varLengths = new Int32Array(n);
    }
    const varOffs = this.varOffsets;
    const varLens = this.varLengths;
    const tplLens = t.lengths;
    const exportMs = this.exportSec * 1000;
    // Uptime "now": v9 sends it; IPFIX derives it from systemInitTimeMilliseconds (NaN if not seen).
    const uptimeNow = this.version === 9 ? this.sysUptime : exportMs - state.systemInitMs;
    const sampling = state.sampling;
    const receivedMs = this.receivedMs;
    const exporterAddr = this.exporterAddr;
    const version = this.version;
    const domain = this.domain;
    const templateId = t.def.templateId;
    const impliedIpVersion = t.impliedIpVersion;
    const fillSampling = !t.hasSampling && sampling !== 0;
    const sink = this.sink;
    let p = start;
    let records = 0;

    while (true) {
      let recLen: number;
      if (fixedLen >= 0) {
        if (end - p < fixedLen) break;
        recLen = fixedLen;
      } else {
        if (end - p < t.minRecordLength) break;
        // Walk the length prefixes first so a record cut short is never half written.
        let q = p;
        let ok = true;
        for (let i = 0; i < n; i++) {
          let L = tplLens[i];
          if (L === VARIABLE_LENGTH) {
            if (q >= end) {
              ok = false;
              break;
            }
            L = b[q++];
            if (L === 255) {
              if (end - q < 2) {
                ok = false;
                break;
              }
              L = (b[q] << 8) | b[q + 1];
              q += 2;
            }
          }
          varOffs[i] = q - p;
          varLens[i] = L;
          q += L;
          if (q > end) {
            ok = false;
            break;
          }
        }
        if (!ok) {
          // Zero octets after the last record are padding, not a cut record.
          let zero = true;
          for (let z = p; z < end; z++) {
            if (b[z] !== 0) {
              zero = false;
              break;
            }
          }
          if (!zero) {
            c.bad_sets++;
            this.report(`record at offset ${p - start} runs past the end of the set`, version, domain, templateId);
          }
          break;
        }
        recLen = q - p;
        offs = varOffs;
        lens = varLens;
      }

      const row = sink.next();
      const d = sink.batch.data;
      (d[C_TIME_RECEIVED] as Float64Array)[row] = receivedMs;
      (d[C_EXPORTER] as Uint8Array).set(exporterAddr, row * 16);
      (d[C_VERSION] as Uint8Array)[row] = version;
      (d[C_DOMAIN] as Uint32Array)[row] = domain;
      (d[C_TEMPLATE] as Uint16Array)[row] = templateId;
      if (impliedIpVersion !== 0) (d[C_IP_VERSION] as Uint8Array)[row] = impliedIpVersion;
      if (fillSampling) (d[C_SAMPLING] as Uint32Array)[row] = sampling;

      let start_ = Number.NaN;
      let end_ = Number.NaN;
      let obs = Number.NaN;
      let dur = Number.NaN;
      let upStart = -1;
      let upEnd = -1;
      for (let i = 0; i < n; i++) {
        const op = ops[i];
        if (op === OP_SKIP) continue;
        const f = p + offs[i];
        const len = lens[i];
        switch (op) {
          case OP_U8:
            (d[cols[i]] as Uint8Array)[row] = uint(b, f, len);
            break;
          case OP_U16:
            (d[cols[i]] as Uint16Array)[row] = uint(b, f, len);
            break;
          case OP_U32:
            (d[cols[i]] as Uint32Array)[row] = uint(b, f, len);
            break;
          case OP_U64:
            (d[cols[i]] as Float64Array)[row] = uint(b, f, len);
            break;
          case OP_IP4:
            writeV4(d[cols[i]] as Uint8Array, row, b, f);
            break;
          case OP_IP6: {
            const col = d[cols[i]] as Uint8Array;
            const o = row * 16;
            for (let k = 0; k < 16; k++) col[o + k] = b[f + k];
            break;
          }
          case OP_ICMP_TYPE: {
            const col = d[C_ICMP] as Uint16Array;
            col[row] = (col[row] & 0xff) | (b[f + len - 1] << 8);
            break;
          }
          case OP_ICMP_CODE: {
            const col = d[C_ICMP] as Uint16Array;
            col[row] = (col[row] & 0xff00) | b[f + len - 1];
            break;
          }
          case OP_DURATION:
            dur = args[i] === 1 ? uint(b, f, len) : uint(b, f, len) / 1000;
            break;
          case OP_TIME: {
            const a = args[i];
            const kind = a >> 2;
            const slot = a & 3;
            if (kind === TIME_UPTIME) {
              if (slot === SLOT_START) upStart = uint(b, f, len);
              else upEnd = uint(b, f, len);
              break;
            }
            let v: number;
            if (kind === TIME_MILLIS) v = uint(b, f, len);
            else if (kind === TIME_SECONDS) v = uint(b, f, len) * 1000;
            else if (kind === TIME_NTP) v = ntpToMs(b, f);
            else if (kind === TIME_DELTA_US) v = exportMs - uint(b, f, len) / 1000;
            else break;
            if (slot === SLOT_START) start_ = v;
            else if (slot === SLOT_END) end_ = v;
            else obs = v;
            break;
          }
        }
      }

      if (upStart >= 0 || upEnd >= 0) {
        if (uptimeNow === uptimeNow) {
          // Signed 32-bit difference: right across the exporter's 49.7-day uptime wrap.
          if (upStart >= 0) start_ = exportMs - ((uptimeNow - upStart) | 0);
          if (upEnd >= 0) end_ = exportMs - ((uptimeNow - upEnd) | 0);
        } else {
          // IPFIX without systemInitTimeMilliseconds: the end is taken as the export time, the duration kept.
          c.times_estimated++;
          if (upEnd >= 0) {
            end_ = exportMs;
            if (upStart >= 0) start_ = exportMs - ((upEnd - upStart) | 0);
          } else start_ = exportMs;
        }
      }
      if (start_ !== start_) {
        if (end_ === end_) start_ = dur === dur ? end_ - dur : end_;
        else start_ = obs === obs ? obs : exportMs;
      }
      if (end_ !== end_) {
        if (dur === dur) end_ = start_ + dur;
        else end_ = obs === obs ? obs : start_;
      }
      (d[C_FLOW_START] as Float64Array)[row] = start_;
      (d[C_FLOW_END] as Float64Array)[row] = end_;

      records++;
      p += recLen;
    }
    c.records += records;
  }

  private decodeOptionsSet(t: CompiledTemplate, b: Uint8Array, start: number, end: number): void {
    const c = this.counters;
    const iSys = t.optSystemInit;
    const iSamp = t.optSampling;
    const iSpace = t.optSamplingSpace;
    const fixedLen = t.recordLength;
    const lens = t.lengths;
    const offs = t.offsets;
    const n = t.fieldCount;
    let p = start;
    while (end - p >= t.minRecordLength) {
      let recLen = fixedLen;
      let oSys = -1;
      let oSamp = -1;
      let oSpace = -1;
      if (fixedLen < 0) {
        let q = p;
        for (let i = 0; i < n && q <= end; i++) {
          let L = lens[i];
          if (L === VARIABLE_LENGTH) {
            if (q >= end) {
              q = end + 1;
              break;
            }
            L = b[q++];
            if (L === 255) {
              if (end - q < 2) {
                q = end + 1;
                break;
              }
              L = (b[q] << 8) | b[q + 1];
              q += 2;
            }
          }
          if (i === iSys) oSys = q;
          else if (i === iSamp) oSamp = q;
          else if (i === iSpace) oSpace = q;
          q += L;
        }
        if (q > end) break;
        recLen = q - p;
      } else {
        if (end - p < fixedLen) break;
        if (iSys >= 0) oSys = p + offs[iSys];
        if (iSamp >= 0) oSamp = p + offs[iSamp];
        if (iSpace >= 0) oSpace = p + offs[iSpace];
      }
      c.options_records++;
      if (oSys >= 0 || oSamp >= 0) {
        const s = this.domainState(this.exporter, this.domain);
        if (oSys >= 0) s.systemInitMs = uint(b, oSys, 8);
        if (oSamp >= 0) {
          const interval = uint(b, oSamp, lens[iSamp]);
          // RFC 5476 systematic count-based: select `interval` packets, skip `space`.
          const space = oSpace >= 0 ? uint(b, oSpace, lens[iSpace]) : 0;
          s.sampling = interval > 0 ? Math.round((interval + space) / interval) : 0;
        }
      }
      if (recLen <= 0) break;
      p += recLen;
    }
  }
}

function writeV4(col: Uint8Array, row: number, b: Uint8Array, p: number): void {
  const o = row * 16;
  for (let k = 0; k < 10; k++) col[o + k] = 0;
  col[o + 10] = 0xff;
  col[o + 11] = 0xff;
  col[o + 12] = b[p];
  col[o + 13] = b[p + 1];
  col[o + 14] = b[p + 2];
  col[o + 15] = b[p + 3];
}

/**
 * A sink that keeps every filled batch in a list: for tests, the CLI's
 * decode command and replays. Production sinks hand full batches to the bus.
 */
export class BatchListSink implements FlowSink {
  batch: ColumnarBatch;
  readonly full: ColumnarBatch[];
  private readonly capacity: number;

  constructor(capacity = 4096) {
    this.capacity = capacity;
    this.batch = new ColumnarBatch(FLOW_COLUMNS, capacity);
    this.full = [];
  }

  next(): number {
    if (this.batch.rows >= this.capacity) {
      this.full.push(this.batch);
      this.batch = new ColumnarBatch(FLOW_COLUMNS, this.capacity);
    }
    return this.batch.rows++;
  }

  /** Every batch with rows, the current one last. */
  batches(): ColumnarBatch[] {
    return this.batch.rows > 0 ? [...this.full, this.batch] : [...this.full];
  }

  get rows(): number {
    let n = this.batch.rows;
    for (const b of this.full) n += b.rows;
    return n;
  }
}
