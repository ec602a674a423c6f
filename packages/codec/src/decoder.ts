// The fast path: export packets in, rows of FLOW_COLUMNS out. One decoder
// per ingest worker; templates come from the injected store, rows go to the
// injected sink. Nothing here allocates per record (str columns take
// interned strings; only text an exporter sends longer than 48 bytes, such
// as URLs, is decoded per record).

import { ColumnarBatch, FLOW_COLUMNS } from '@flowhound/schema';
import { DecodeError, TemplateError } from './errors.ts';
import { fieldName } from './ie.ts';
import { SEQ_IN_ORDER, SEQ_UNCHECKED, SeqState } from './sequence.ts';
import { FMT_ACL, FMT_APPID, FMT_MAC, FMT_TEXT, StringCache } from './strings.ts';
import {
  C_APP_DELAY,
  C_APP_ID,
  C_APP_NAME,
  C_BYTES,
  C_BYTES_SCALED,
  C_CLIENT_NW_DELAY,
  C_DOMAIN,
  C_DSCP,
  C_DST_ADDR,
  C_DST_AS,
  C_DST_MASK,
  C_DST_PORT,
  C_EXPORTER,
  C_FLOW_ACTION,
  C_FLOW_END,
  C_FLOW_START,
  C_FORWARDING_STATUS,
  C_FW_EVENT,
  C_FW_EXT_EVENT,
  C_ICMP,
  C_INPUT_IF,
  C_INPUT_IF_NAME,
  C_IP_VERSION,
  C_NEXT_HOP,
  C_OUTPUT_IF,
  C_OUTPUT_IF_NAME,
  C_PACKETS,
  C_PACKETS_SCALED,
  C_PROTOCOL,
  C_SAMPLING,
  C_SAMPLING_KNOWN,
  C_SERVER_NW_DELAY,
  C_SRC_ADDR,
  C_SRC_AS,
  C_SRC_MASK,
  C_SRC_PORT,
  C_TCP_FLAGS,
  C_TEMPLATE,
  C_TIME_RECEIVED,
  C_TOS,
  C_VERSION,
  FLAG_ACTION,
  FLAG_APP_LOOKUP,
  FLAG_ART,
  FLAG_DSCP,
  FLAG_TOS,
  OP_ACL,
  OP_APPID,
  OP_ART_COUNT,
  OP_DURATION,
  OP_ICMP_CODE,
  OP_ICMP_TYPE,
  OP_IP4,
  OP_IP6,
  OP_MAC,
  OP_MPLS,
  OP_SAMPLER_ID,
  OP_SAMPLING,
  OP_TEXT,
  OP_TIME,
  OP_U16,
  OP_U32,
  OP_U64,
  OP_U8,
  OP_U8_1,
  OP_U16_1,
  OP_U16_2,
  OP_U32_2,
  OP_U32_4,
  OP_U64_4,
  OP_U64_8,
  OP_MILLIS_8,
  OP_UPTIME_4,
  SAMP_INTERVAL,
  SAMP_PACKET_INTERVAL,
  SLOT_END,
  SLOT_START,
  TIME_DELTA_US,
  TIME_MILLIS,
  TIME_NTP,
  TIME_SECONDS,
  TIME_UPTIME,
  TIMES_END,
  TIMES_OBS,
  TIMES_START,
  TIMES_UP_END,
  TIMES_UP_START,
  VARIABLE_LENGTH,
  compileTemplate,
  elementTargets,
  parseTemplateSet,
  sameTemplate,
  type CompiledTemplate,
  type ElementMapping,
  type ElementTargets,
  type TemplateStore,
} from './template.ts';

/**
 * Where rows go. `next()` reserves one row of `batch` and returns its index;
 * when the batch is full it hands it on and swaps in a fresh one (or
 * resets the same one) first, so callers read `sink.batch` again after
 * every `next()`. The decoder marks the columns it writes as touched in
 * each batch fill (see ColumnarBatch), so a sink encodes the batch as it is.
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

/**
 * Sampling configured for one exporter. `override` (> 0) replaces whatever
 * the exporter announces; `default` (> 0) applies when the exporter
 * announces nothing. 0 means "not configured".
 */
export interface SamplingConfig {
  readonly override: number;
  readonly default: number;
}

/** A fact learnt from options data, shared between replicas through `onOptionsData` and `applyOptionsData`. */
export type OptionsFact = 'system_init_time' | 'sampling_rate' | 'interface_name' | 'application_name';

/**
 * onOptionsData arguments per kind:
 * - system_init_time: key 0, value ms since the epoch
 * - sampling_rate: key the sampler/selector id, -1 for the domain-wide rate; value one-in-N
 * - interface_name: key the ifIndex; value the name (per exporter: domain is where it was learnt)
 * - application_name: key the app id text ("13:453"); value the name (per exporter)
 */
export type OptionsDataHook = (exporter: string, domain: number, kind: OptionsFact, key: number | string, value: number | string) => void;

export interface ClockOptions {
  /** Export packets whose header time is further than this from the receive time are counted (default 60 s). */
  readonly maxExportSkewMs?: number;
  /** Records whose flow end is later than the export time by more than this are counted (default 60 s). */
  readonly maxEndAfterExportMs?: number;
}

export interface SequenceOptions {
  /** A backward jump of at most this many records (v5, IPFIX) is a late message, not a restart (default 10,000). */
  readonly reorderRecords?: number;
  /** A forward jump of more than this many records is a restart, not a loss (default 50,000,000). */
  readonly maxGapRecords?: number;
  /** The same for NetFlow v9, counted in export packets (defaults 100 and 1,000,000). */
  readonly reorderPackets?: number;
  readonly maxGapPackets?: number;
}

export interface FlowDecoderOptions {
  readonly templates: TemplateStore;
  readonly sink: FlowSink;
  /** Gets each data set whose template is unknown; without it such sets are counted and dropped. */
  readonly onMissingTemplate?: (set: HeldSet) => void;
  /** Gets a description of each malformed packet, set or template (for rate-limited logging). */
  readonly onError?: (err: DecodeError) => void;
  /**
   * Per-exporter sampling override and default, asked once per exporter
   * (the first packet; again after `resetSamplingConfig`), never per record.
   */
  readonly sampling?: (exporterAddr16: Uint8Array, exporter: string) => SamplingConfig | undefined;
  /** Enterprise (or NetFlow v9 vendor) elements mapped to columns; see `MAPPABLE_KINDS`. */
  readonly elements?: readonly ElementMapping[];
  /** Called when options data teaches a new or changed fact (never for facts given by the setters). */
  readonly onOptionsData?: OptionsDataHook;
  readonly clock?: ClockOptions;
  readonly sequence?: SequenceOptions;
  /** Distinct unknown elements remembered per exporter; more are only counted (default 256). */
  readonly maxUnknownElements?: number;
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
  /** Options data records read (sampling, system init time, names). */
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
  /** Flow records (v5) and data records (IPFIX) missing in sequence numbers; never decreases. */
  records_lost = 0;
  /** Of those, records that arrived late after all (net loss = records_lost − records_reordered). */
  records_reordered = 0;
  /** NetFlow v9 export packets missing in sequence numbers (v9 counts packets, not records). */
  v9_packets_lost = 0;
  v9_packets_reordered = 0;
  /** Sequence restarts: exporter reboots, big jumps. */
  sequence_resets = 0;
  /** Export packets whose export time is far from the receive time (exporter clock wrong). */
  packets_clock_skewed = 0;
  /** Records that end far after their export time (exporter clock or uptime wrong). */
  records_end_after_export = 0;
  /** Records without a known sampling rate (kept, sampling_known = 0). */
  records_sampling_unknown = 0;
  /** Exceptions caught around a packet (a decoder or sink bug, never expected). */
  internal_errors = 0;
}

/** An element no column takes, as seen from one exporter. */
export interface UnknownElement {
  readonly enterprise: number;
  readonly id: number;
  /** Octets per record, 65535 for variable length. */
  readonly length: number;
  /** Records that carried it. */
  readonly count: number;
  /** IANA name, "reverse…" name, or the name the exporter announced (RFC 5610); "<pen>.<id>" otherwise. */
  readonly name: string;
}

/** Sequence-number accounting of one (exporter, version, observation domain). */
export interface SequenceStats {
  readonly version: number;
  readonly domain: number;
  /** What the sequence counts: v5 flows, v9 export packets, IPFIX data records. */
  readonly unit: 'flows' | 'packets' | 'records';
  /** Units received. */
  readonly received: number;
  /** Units missing (gaps, minus those that arrived late). */
  readonly lost: number;
  /** Units that arrived after a later message (counted lost, then taken back). */
  readonly reordered: number;
  readonly resets: number;
  /** 'ahead' when the exporter numbers a message including its own records (softflowd IPFIX). */
  readonly numbering: 'standard' | 'ahead';
}

export interface ClockStats {
  /** Export packets whose export time was off the receive time by more than maxExportSkewMs. */
  readonly packetsSkewed: number;
  /** Export time − receive time of the last packet, ms. */
  readonly lastExportSkewMs: number;
  /** Records ending more than maxEndAfterExportMs after their export time. */
  readonly recordsEndAfterExport: number;
  /** The largest such excess seen, ms. */
  readonly maxEndAfterExportMs: number;
}

class MutableUnknown {
  readonly enterprise: number;
  readonly id: number;
  readonly length: number;
  count: number;

  constructor(enterprise: number, id: number, length: number) {
    this.enterprise = enterprise;
    this.id = id;
    this.length = length;
    this.count = 0;
  }
}

/** Per (exporter, observation domain) facts learnt from options data, and sequence state. */
class DomainState {
  /** systemInitTimeMilliseconds, NaN until seen. */
  systemInitMs: number;
  /** One-in-N announced in options data without a sampler id; 0 when unknown. */
  sampling: number;
  /** One-in-N per sampler / selector id. */
  readonly samplers: Map<number, number>;
  seq5: SeqState | null;
  seq9: SeqState | null;
  seq10: SeqState | null;

  constructor() {
    this.systemInitMs = Number.NaN;
    this.sampling = 0;
    this.samplers = new Map();
    this.seq5 = null;
    this.seq9 = null;
    this.seq10 = null;
  }
}

/** Everything the decoder keeps per exporter. */
class ExporterState {
  readonly key: string;
  readonly domains: Map<number, DomainState>;
  readonly ifNames: Map<number, string>;
  readonly appNames: Map<string, string>;
  /** Element names announced with RFC 5610 type information, by enterprise * 65536 + id. */
  readonly elementNames: Map<number, string>;
  readonly unknown: Map<string, MutableUnknown>;
  unknownByTemplate: WeakMap<CompiledTemplate, MutableUnknown[]>;
  samplingResolved: boolean;
  samplingOverride: number;
  samplingDefault: number;
  packetsSkewed: number;
  lastExportSkewMs: number;
  recordsEndAfterExport: number;
  maxEndAfterExportMs: number;

  constructor(key: string) {
    this.key = key;
    this.domains = new Map();
    this.ifNames = new Map();
    this.appNames = new Map();
    this.elementNames = new Map();
    this.unknown = new Map();
    this.unknownByTemplate = new WeakMap();
    this.samplingResolved = false;
    this.samplingOverride = 0;
    this.samplingDefault = 0;
    this.packetsSkewed = 0;
    this.lastExportSkewMs = 0;
    this.recordsEndAfterExport = 0;
    this.maxEndAfterExportMs = 0;
  }
}

const NTP_EPOCH_OFFSET_S = 2208988800;
// Bounds on what one exporter can make the decoder remember (a fuzzer or a
// broken exporter sending random domains, sampler ids or names).
const MAX_DOMAINS = 1024;
const MAX_SAMPLERS = 256;
const MAX_NAMES = 65536;
const NO_STATE = new DomainState();
/** Columns a NetFlow v5 record writes. */
const V5_COLUMNS = Int16Array.from([
  C_TIME_RECEIVED, C_EXPORTER, C_VERSION, C_DOMAIN, C_SRC_ADDR, C_DST_ADDR, C_NEXT_HOP, C_INPUT_IF, C_OUTPUT_IF, C_PACKETS, C_BYTES, C_FLOW_START, C_FLOW_END,
  C_SRC_PORT, C_DST_PORT, C_TCP_FLAGS, C_PROTOCOL, C_TOS, C_DSCP, C_SRC_AS, C_DST_AS, C_SRC_MASK, C_DST_MASK, C_IP_VERSION, C_SAMPLING, C_SAMPLING_KNOWN,
  C_BYTES_SCALED, C_PACKETS_SCALED,
]);

interface LastMarked {
  cols: Int16Array | null;
  /** `ColumnarBatch.fill` the list was marked in (0: none). */
  fill: number;
}

/**
 * Marks the columns a record program writes as touched in the batch (see
 * ColumnarBatch), so that resetting and encoding it can skip the columns no
 * exporter filled. Called once per data set and batch fill, not per record:
 * when the same list was the last one marked in the same fill, it is
 * marked already (only a reset clears marks, and a reset changes `fill`).
 */
function markTouched(batch: ColumnarBatch, cols: Int16Array, ifNames: boolean, last: LastMarked): void {
  const t = batch.touched;
  if (last.cols === cols && last.fill === batch.fill && (!ifNames || t[C_INPUT_IF_NAME] === 1)) return;
  last.cols = cols;
  last.fill = batch.fill;
  for (let k = 0; k < cols.length; k++) t[cols[k]] = 1;
  if (ifNames) {
    t[C_INPUT_IF_NAME] = 1;
    t[C_OUTPUT_IF_NAME] = 1;
  }
}
const NO_EXPORTER = new ExporterState('');

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

const UPTIME_FUTURE_WINDOW = 4294967296 - 3_600_000;

/**
 * How many ms a time on the exporter's 32-bit uptime clock lies before
 * `now` on that clock: (now − t) mod 2^32, so right across the 49.7-day
 * wrap and for flows up to 49.7 days old (softflowd replaying an old pcap
 * without -a sends uptimes "before boot", modulo 2^32). A time up to an
 * hour after `now` (clock granularity, a late sysUptime) is a small
 * negative age, not a 49-day-old flow.
 */
export function uptimeAge(now: number, t: number): number {
  const age = (now - t) >>> 0;
  return age > UPTIME_FUTURE_WINDOW ? age - 4294967296 : age;
}

function ntpToMs(b: Uint8Array, p: number): number {
  return (u32(b, p) - NTP_EPOCH_OFFSET_S) * 1000 + u32(b, p + 4) / 4294967.296;
}

/** flow_action from firewall event, NSEL extended event and forwarding status: 1 permitted, 2 denied, 0 unknown. */
function flowAction(fwEvent: number, extEvent: number, forwarding: number): number {
  if (fwEvent === 3 || (extEvent >= 1001 && extEvent <= 1999)) return 2;
  if (fwEvent === 1 || fwEvent === 2 || fwEvent === 5) return 1;
  // RFC 7270 forwardingStatus: the two top bits of the (low) octet.
  const status = (forwarding & 0xff) >> 6;
  if (status === 2) return 2;
  if (status === 1 || status === 3) return 1;
  return 0;
}

export class FlowDecoder {
  readonly counters: DecoderCounters;
  private readonly templates: TemplateStore;
  private readonly sink: FlowSink;
  private readonly onMissingTemplate: ((set: HeldSet) => void) | undefined;
  private readonly onError: ((err: DecodeError) => void) | undefined;
  private readonly onOptionsData: OptionsDataHook | undefined;
  private readonly samplingConfig: ((exporterAddr16: Uint8Array, exporter: string) => SamplingConfig | undefined) | undefined;
  private readonly extraTargets: ElementTargets | null;
  private readonly recompiled: WeakMap<CompiledTemplate, CompiledTemplate>;
  private readonly exporterStates: Map<string, ExporterState>;
  private readonly strings: StringCache;
  private readonly maxExportSkewMs: number;
  private readonly maxEndAfterExportMs: number;
  private readonly reorderRecords: number;
  private readonly maxGapRecords: number;
  private readonly reorderPackets: number;
  private readonly maxGapPackets: number;
  private readonly maxUnknown: number;
  /** The column list and batch fill marked last (markTouched). */
  private readonly lastMarked: LastMarked;
  /** Time slots a RecordReader fills (see RecordReader). */
  private readonly times: Float64Array;
  // The exporter address of the packet as four words, and a Uint32Array view
  // of the exporter column of the batch being filled: four stores a record
  // instead of sixteen (see exporterWords).
  private readonly addrBytes: Uint8Array;
  private readonly addrWords: Uint32Array;
  private wordsOf: Uint8Array | null;
  private words: Uint32Array;
  // Offsets and lengths of the current record when its template has variable-length fields.
  private varOffsets: Int32Array;
  private varLengths: Int32Array;

  // Header context of the set being decoded (set per packet or held set, read per record).
  private exporter: string;
  private ex: ExporterState;
  private exporterAddr: Uint8Array;
  private receivedMs: number;
  private version: number;
  private domain: number;
  private exportSec: number;
  private sysUptime: number;
  // Records of the IPFIX message being decoded, for its sequence number.
  private msgData: number;
  private msgOptions: number;
  private msgUncountable: boolean;

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
    this.onOptionsData = opts.onOptionsData;
    this.samplingConfig = opts.sampling;
    this.extraTargets = opts.elements && opts.elements.length > 0 ? elementTargets(opts.elements) : null;
    this.recompiled = new WeakMap();
    this.exporterStates = new Map();
    this.strings = new StringCache();
    this.maxExportSkewMs = opts.clock?.maxExportSkewMs ?? 60_000;
    this.maxEndAfterExportMs = opts.clock?.maxEndAfterExportMs ?? 60_000;
    this.reorderRecords = opts.sequence?.reorderRecords ?? 10_000;
    this.maxGapRecords = opts.sequence?.maxGapRecords ?? 50_000_000;
    this.reorderPackets = opts.sequence?.reorderPackets ?? 100;
    this.maxGapPackets = opts.sequence?.maxGapPackets ?? 1_000_000;
    this.maxUnknown = opts.maxUnknownElements ?? 256;
    this.lastMarked = { cols: null, fill: 0 };
    this.times = new Float64Array(5);
    this.addrBytes = new Uint8Array(16);
    this.addrWords = new Uint32Array(this.addrBytes.buffer);
    this.wordsOf = null;
    this.words = this.addrWords;
    this.varOffsets = new Int32Array(64);
    this.varLengths = new Int32Array(64);
    this.exporter = '';
    this.ex = NO_EXPORTER;
    this.exporterAddr = new Uint8Array(16);
    this.receivedMs = 0;
    this.version = 0;
    this.domain = 0;
    this.exportSec = 0;
    this.sysUptime = 0;
    this.msgData = 0;
    this.msgOptions = 0;
    this.msgUncountable = false;
  }

  /** Decodes one export packet. Never throws on bad input: it is counted and the rest decoded. */
  decode(packet: Uint8Array, exporter: string, exporterAddr16: Uint8Array, receivedMs: number): void {
    const c = this.counters;
    c.packets++;
    this.exporter = exporter;
    this.exporterAddr = exporterAddr16;
    this.receivedMs = receivedMs;
    try {
      this.ex = this.exporterState(exporter, exporterAddr16);
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
   * nothing) when the template is still unknown. May be called from inside
   * `decode` (a store that releases held sets when a template arrives): the
   * packet's own context is restored afterwards.
   */
  decodeHeldSet(held: HeldSet): boolean {
    const t = this.templates.get(held.exporter, held.version, held.domain, held.templateId);
    if (!t) return false;
    const saved = [this.exporter, this.ex, this.exporterAddr, this.receivedMs, this.version, this.domain, this.exportSec, this.sysUptime, this.msgData, this.msgOptions, this.msgUncountable] as const;
    try {
      this.exporter = held.exporter;
      this.ex = this.exporterState(held.exporter, held.exporterAddr16);
      this.exporterAddr = held.exporterAddr16;
      this.receivedMs = held.receivedMs;
      this.version = held.version;
      this.domain = held.domain;
      this.exportSec = held.exportTimeSec;
      this.sysUptime = held.sysUptimeMs;
      this.counters.held_sets_decoded++;
      this.decodeDataSet(t, held.data, 4, held.data.length);
    } catch (err) {
      this.counters.internal_errors++;
      this.report('decoder failed on a held set', held.version, held.domain, held.templateId, err);
    } finally {
      [this.exporter, this.ex, this.exporterAddr, this.receivedMs, this.version, this.domain, this.exportSec, this.sysUptime, this.msgData, this.msgOptions, this.msgUncountable] = saved;
    }
    return true;
  }

  // -------------------------------------------------------------------------
  // Facts learnt from options data: getters, and setters for facts learnt elsewhere (another replica).

  /** systemInitTimeMilliseconds learnt for an exporter's domain (NaN if none); lets a shared registry seed it. */
  systemInitTime(exporter: string, domain: number): number {
    return this.exporterStates.get(exporter)?.domains.get(domain)?.systemInitMs ?? Number.NaN;
  }

  setSystemInitTime(exporter: string, domain: number, ms: number): void {
    this.domainState(this.exporterState(exporter, null), domain).systemInitMs = ms;
  }

  /** One-in-N sampling learnt from options data for an exporter's domain, for one sampler id or (-1) domain-wide; 0 if none. */
  samplingInterval(exporter: string, domain: number, samplerId = -1): number {
    const d = this.exporterStates.get(exporter)?.domains.get(domain);
    if (!d) return 0;
    return samplerId < 0 ? d.sampling : (d.samplers.get(samplerId) ?? 0);
  }

  setSamplingInterval(exporter: string, domain: number, n: number, samplerId = -1): void {
    const d = this.domainState(this.exporterState(exporter, null), domain);
    if (samplerId < 0) d.sampling = n;
    else d.samplers.set(samplerId, n);
  }

  /** Interface name learnt from options data (interfaceName, else interfaceDescription); '' if none. */
  interfaceName(exporter: string, ifIndex: number): string {
    return this.exporterStates.get(exporter)?.ifNames.get(ifIndex) ?? '';
  }

  setInterfaceName(exporter: string, ifIndex: number, name: string): void {
    this.exporterState(exporter, null).ifNames.set(ifIndex, name);
  }

  /** Application name learnt from options data for an app id ("13:453"); '' if none. */
  applicationName(exporter: string, appId: string): string {
    return this.exporterStates.get(exporter)?.appNames.get(appId) ?? '';
  }

  setApplicationName(exporter: string, appId: string, name: string): void {
    this.exporterState(exporter, null).appNames.set(appId, name);
  }

  /** Applies a fact as `onOptionsData` reported it (from another replica). Does not call the hook. */
  applyOptionsData(exporter: string, domain: number, kind: OptionsFact, key: number | string, value: number | string): void {
    switch (kind) {
      case 'system_init_time':
        this.setSystemInitTime(exporter, domain, Number(value));
        break;
      case 'sampling_rate':
        this.setSamplingInterval(exporter, domain, Number(value), Number(key));
        break;
      case 'interface_name':
        this.setInterfaceName(exporter, Number(key), String(value));
        break;
      case 'application_name':
        this.setApplicationName(exporter, String(key), String(value));
        break;
    }
  }

  /** Asks the `sampling` option again for one exporter (or all) at their next packet, after a configuration change. */
  resetSamplingConfig(exporter?: string): void {
    if (exporter !== undefined) {
      const s = this.exporterStates.get(exporter);
      if (s) s.samplingResolved = false;
    } else for (const s of this.exporterStates.values()) s.samplingResolved = false;
  }

  // -------------------------------------------------------------------------
  // Per-exporter statistics.

  /** Exporters seen (or given facts), as the caller named them. */
  exporters(): string[] {
    return [...this.exporterStates.keys()];
  }

  /** Elements of this exporter's data templates that no column takes, with the records that carried them. */
  unknownElements(exporter: string): UnknownElement[] {
    const s = this.exporterStates.get(exporter);
    if (!s) return [];
    return [...s.unknown.values()].map((u) => ({
      enterprise: u.enterprise,
      id: u.id,
      length: u.length,
      count: u.count,
      name: s.elementNames.get(u.enterprise * 65536 + u.id) ?? fieldName(u.id, u.enterprise),
    }));
  }

  /** Sequence-number accounting per version and observation domain. */
  sequenceStats(exporter: string): SequenceStats[] {
    const s = this.exporterStates.get(exporter);
    if (!s) return [];
    const out: SequenceStats[] = [];
    for (const [domain, d] of s.domains) {
      for (const [version, q] of [
        [5, d.seq5],
        [9, d.seq9],
        [10, d.seq10],
      ] as const) {
        if (!q) continue;
        const t = q.current;
        out.push({ version, domain, unit: q.unit, received: t.received, lost: t.lost, reordered: t.late, resets: t.resets, numbering: t === q.std ? 'standard' : 'ahead' });
      }
    }
    return out;
  }

  /** Clock sanity of one exporter. */
  clockStats(exporter: string): ClockStats | undefined {
    const s = this.exporterStates.get(exporter);
    if (!s) return undefined;
    return { packetsSkewed: s.packetsSkewed, lastExportSkewMs: s.lastExportSkewMs, recordsEndAfterExport: s.recordsEndAfterExport, maxEndAfterExportMs: s.maxEndAfterExportMs };
  }

  private exporterState(exporter: string, addr: Uint8Array | null): ExporterState {
    let s = this.exporterStates.get(exporter);
    if (s === undefined) {
      s = new ExporterState(exporter);
      this.exporterStates.set(exporter, s);
    }
    if (!s.samplingResolved && addr !== null) {
      s.samplingResolved = true;
      const cfg = this.samplingConfig?.(addr.slice(0, 16), exporter);
      s.samplingOverride = cfg && cfg.override > 0 ? cfg.override : 0;
      s.samplingDefault = cfg && cfg.default > 0 ? cfg.default : 0;
    }
    return s;
  }

  /**
   * The exporter column as 32-bit words, made once per column (so once per
   * batch: a sink that resets its batch keeps the column). Batch columns
   * are arrays of their own, so 4-byte aligned; both sides are in the
   * platform's byte order, so the bytes land as they are.
   */
  private exporterWords(col: Uint8Array): Uint32Array {
    if (col !== this.wordsOf) {
      this.wordsOf = col;
      this.words = new Uint32Array(col.buffer, col.byteOffset, col.length >> 2);
    }
    return this.words;
  }

  /** Loads the exporter address of the packet into addrWords. */
  private loadExporterWords(): void {
    const a = this.exporterAddr;
    const t = this.addrBytes;
    for (let k = 0; k < 16; k++) t[k] = a[k];
  }

  private domainState(ex: ExporterState, domain: number): DomainState {
    let s = ex.domains.get(domain);
    if (!s) {
      // Past the bound, facts and sequence numbers of further domains go to a state nobody keeps.
      if (ex.domains.size >= MAX_DOMAINS) return new DomainState();
      s = new DomainState();
      ex.domains.set(domain, s);
    }
    return s;
  }

  private report(message: string, version: number, domain: number, templateId: number, cause?: unknown): void {
    const cb = this.onError;
    if (cb) cb(new DecodeError(message, { exporter: this.exporter, version, domain, templateId }, cause === undefined ? undefined : { cause }));
  }

  /** Counts an export time far from the receive time. */
  private checkExportTime(exportMs: number): void {
    const skew = exportMs - this.receivedMs;
    const ex = this.ex;
    ex.lastExportSkewMs = skew;
    if (skew > this.maxExportSkewMs || -skew > this.maxExportSkewMs) {
      ex.packetsSkewed++;
      this.counters.packets_clock_skewed++;
    }
  }

  /**
   * Checks one message's sequence number. The message covers data records
   * `data`, plus `options` options records the exporter may or may not
   * count; `countable` is false when some of its sets could not be counted
   * (template missing, set cut short). `uptime` (v5/v9, else -1) going back
   * by more than a minute is a restart.
   */
  private sequence(version: number, domain: number, seq: number, data: number, options: number, countable: boolean, uptime: number): void {
    const d = this.domainState(this.ex, domain);
    let q = version === 5 ? d.seq5 : version === 9 ? d.seq9 : d.seq10;
    if (q === null) {
      q = new SeqState(version);
      if (version === 5) d.seq5 = q;
      else if (version === 9) d.seq9 = q;
      else d.seq10 = q;
    }
    const restart = uptime >= 0 && q.lastUptime >= 0 && uptime + 60_000 < q.lastUptime;
    if (uptime >= 0) q.lastUptime = uptime;
    const records = version !== 9;
    const window = records ? this.reorderRecords : this.reorderPackets;
    const maxGap = records ? this.maxGapRecords : this.maxGapPackets;
    const before = q.current;
    const gross0 = before.lost + before.late;
    const late0 = before.late;
    const resets0 = before.resets;
    const all = data + options;
    const rStd = q.std.feed(seq, seq, seq + data, seq + all, true, countable, all, restart, window, maxGap);
    if (q.ahead !== null) {
      // softflowd: the header counts the records of its own message too.
      const rAhead = q.ahead.feed(seq - all, seq - data, seq, seq, countable, true, all, restart, window, maxGap);
      if (rStd === SEQ_IN_ORDER && rAhead !== SEQ_IN_ORDER && rAhead !== SEQ_UNCHECKED) q.stdVotes++;
      else if (rAhead === SEQ_IN_ORDER && rStd !== SEQ_IN_ORDER && rStd !== SEQ_UNCHECKED) q.aheadVotes++;
    }
    const after = q.current;
    const gross = after.lost + after.late - gross0;
    const late = after.late - late0;
    const resets = after.resets - resets0;
    const c = this.counters;
    if (records) {
      if (gross > 0) c.records_lost += gross;
      if (late > 0) c.records_reordered += late;
    } else {
      if (gross > 0) c.v9_packets_lost += gross;
      if (late > 0) c.v9_packets_reordered += late;
    }
    if (resets > 0) c.sequence_resets += resets;
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
    this.domain = domain;
    this.checkExportTime(exportMs);
    this.sequence(5, domain, u32(b, 16), count, 0, true, sysUptime);
    const ex = this.ex;
    const headerRate = u16(b, 22) & 0x3fff;
    const rate = ex.samplingOverride > 0 ? ex.samplingOverride : headerRate > 0 ? headerRate : ex.samplingDefault;
    const known = rate > 0 ? 1 : 0;
    const ifNames = ex.ifNames.size > 0 ? ex.ifNames : null;
    const maxEnd = exportMs + this.maxEndAfterExportMs;
    const receivedMs = this.receivedMs;
    const sink = this.sink;
    this.loadExporterWords();
    const aw = this.addrWords;
    const a0 = aw[0];
    const a1 = aw[1];
    const a2 = aw[2];
    const a3 = aw[3];
    let ew = this.words;
    // The fill marked: next() may hand on the batch and swap in another, or
    // reset the same one (ingest does), which clears its marks.
    let marked = 0;
    for (let r = 0, p = 24; r < n; r++, p += 48) {
      const row = sink.next();
      const batch = sink.batch;
      if (batch.fill !== marked) {
        marked = batch.fill;
        markTouched(batch, V5_COLUMNS, ifNames !== null, this.lastMarked);
        ew = this.exporterWords(batch.data[C_EXPORTER] as Uint8Array);
      }
      const d = batch.data;
      (d[C_TIME_RECEIVED] as Float64Array)[row] = receivedMs;
      const w = row * 4;
      ew[w] = a0;
      ew[w + 1] = a1;
      ew[w + 2] = a2;
      ew[w + 3] = a3;
      (d[C_VERSION] as Uint8Array)[row] = 5;
      (d[C_DOMAIN] as Uint32Array)[row] = domain;
      writeV4(d[C_SRC_ADDR] as Uint8Array, row, b, p);
      writeV4(d[C_DST_ADDR] as Uint8Array, row, b, p + 4);
      writeV4(d[C_NEXT_HOP] as Uint8Array, row, b, p + 8);
      const inIf = u16(b, p + 12);
      const outIf = u16(b, p + 14);
      (d[C_INPUT_IF] as Uint32Array)[row] = inIf;
      (d[C_OUTPUT_IF] as Uint32Array)[row] = outIf;
      const packets = u32(b, p + 16);
      const bytes = u32(b, p + 20);
      (d[C_PACKETS] as Float64Array)[row] = packets;
      (d[C_BYTES] as Float64Array)[row] = bytes;
      (d[C_FLOW_START] as Float64Array)[row] = exportMs - uptimeAge(sysUptime, u32(b, p + 24));
      const end = exportMs - uptimeAge(sysUptime, u32(b, p + 28));
      (d[C_FLOW_END] as Float64Array)[row] = end;
      (d[C_SRC_PORT] as Uint16Array)[row] = u16(b, p + 32);
      (d[C_DST_PORT] as Uint16Array)[row] = u16(b, p + 34);
      (d[C_TCP_FLAGS] as Uint16Array)[row] = b[p + 37];
      (d[C_PROTOCOL] as Uint8Array)[row] = b[p + 38];
      (d[C_TOS] as Uint8Array)[row] = b[p + 39];
      (d[C_DSCP] as Uint8Array)[row] = b[p + 39] >> 2;
      (d[C_SRC_AS] as Uint32Array)[row] = u16(b, p + 40);
      (d[C_DST_AS] as Uint32Array)[row] = u16(b, p + 42);
      (d[C_SRC_MASK] as Uint8Array)[row] = b[p + 44];
      (d[C_DST_MASK] as Uint8Array)[row] = b[p + 45];
      (d[C_IP_VERSION] as Uint8Array)[row] = 4;
      (d[C_SAMPLING] as Uint32Array)[row] = rate;
      (d[C_SAMPLING_KNOWN] as Uint8Array)[row] = known;
      (d[C_BYTES_SCALED] as Float64Array)[row] = known ? bytes * rate : bytes;
      (d[C_PACKETS_SCALED] as Float64Array)[row] = known ? packets * rate : packets;
      if (ifNames !== null) {
        (d[C_INPUT_IF_NAME] as string[])[row] = ifNames.get(inIf) ?? '';
        (d[C_OUTPUT_IF_NAME] as string[])[row] = ifNames.get(outIf) ?? '';
      }
      if (end > maxEnd) this.endAfterExport(end - exportMs);
    }
    c.records += n;
    if (!known) c.records_sampling_unknown += n;
  }

  private endAfterExport(excess: number): void {
    const ex = this.ex;
    ex.recordsEndAfterExport++;
    if (excess > ex.maxEndAfterExportMs) ex.maxEndAfterExportMs = excess;
    this.counters.records_end_after_export++;
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
    this.checkExportTime(this.exportSec * 1000);
    // v9 numbers export packets: one per packet, whatever it holds.
    this.sequence(9, this.domain, u32(b, 12), 1, 0, true, this.sysUptime);
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
      let cut = false;
      if (end > b.length) {
        c.bad_packets++;
        this.report(`IPFIX message length ${len} exceeds the ${b.length - off} bytes received`, 10, this.domain, -1);
        end = b.length;
        cut = true;
      }
      this.checkExportTime(this.exportSec * 1000);
      this.msgData = 0;
      this.msgOptions = 0;
      this.msgUncountable = cut;
      this.decodeSets(b, off + 16, end);
      // RFC 7011: the sequence number counts data records (options data records included) before this message.
      this.sequence(10, u32(b, off + 12), u32(b, off + 8), this.msgData, this.msgOptions, !this.msgUncountable, -1);
      off = end;
    }
    if (off === 0) {
      c.bad_packets++;
      this.report(`IPFIX packet of ${b.length} bytes is shorter than its header`, 10, -1, -1);
      return;
    }
    // Bytes after the last whole message that are not another message.
    for (let q = off; q < b.length; q++) {
      if (b[q] !== 0) {
        c.bad_packets++;
        this.report(`${b.length - off} bytes after the last IPFIX message are not a message`, 10, this.domain, -1);
        break;
      }
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
      if (setId === 0 && setLen === 0) break; // zero fill after the last set (seen from PAN-OS), checked below
      c.sets++;
      if (setLen < 4) {
        c.bad_sets++;
        this.msgUncountable = true;
        this.report(`set ${setId} has length ${setLen}; the rest of the packet is skipped`, version, this.domain, setId);
        return;
      }
      let setEnd = p + setLen;
      if (setEnd > end) {
        c.bad_sets++;
        this.msgUncountable = true;
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
    // Zeros after the last set are fill; anything else is a set cut short
    // or garbage, and is counted rather than silently ignored.
    for (let q = p; q < end; q++) {
      if (b[q] !== 0) {
        c.bad_sets++;
        this.report(`${end - p} bytes after the last set are not a set`, version, this.domain, -1);
        break;
      }
    }
  }

  /** The template as this decoder runs it: recompiled with the configured element mappings, if any. */
  private compiled(t: CompiledTemplate): CompiledTemplate {
    const extra = this.extraTargets;
    if (extra === null) return t;
    let r = this.recompiled.get(t);
    if (r === undefined) {
      r = compileTemplate(t.def, extra);
      this.recompiled.set(t, r);
    }
    return r;
  }

  private templateSet(b: Uint8Array, start: number, end: number, setId: number): void {
    const c = this.counters;
    const r = parseTemplateSet(b, start, end, this.version, setId, this.domain);
    const store = this.templates;
    let w = 0;
    for (let i = 0; i < r.templates.length; i++) {
      // Withdrawals that came before this definition in the set go first.
      for (; w < r.withdrawals.length && r.withdrawAt[w] <= i; w++) this.withdraw(r.withdrawals[w]);
      const def = r.templates[i];
      c.templates_received++;
      const prev = store.get(this.exporter, def.version, def.domain, def.templateId);
      if (prev && sameTemplate(prev.def, def)) {
        store.refreshed?.(this.exporter, prev.def);
        continue;
      }
      store.put(this.exporter, def);
      c.templates_changed++;
      const t = store.get(this.exporter, def.version, def.domain, def.templateId);
      if (t) c.unknown_fields += this.compiled(t).unknownFields;
    }
    for (; w < r.withdrawals.length; w++) this.withdraw(r.withdrawals[w]);
    if (r.skipped.length || r.error) {
      c.bad_sets++;
      const cb = this.onError;
      if (cb) {
        for (const s of r.skipped) cb(new TemplateError(s, { exporter: this.exporter, version: this.version, domain: this.domain, templateId: -1 }));
        if (r.error) cb(new TemplateError(r.error, { exporter: this.exporter, version: this.version, domain: this.domain, templateId: -1 }));
      }
    }
  }

  private withdraw(id: number): void {
    this.counters.templates_withdrawn++;
    this.templates.withdraw(this.exporter, this.version, this.domain, id);
  }

  private missing(b: Uint8Array, p: number, setEnd: number, templateId: number): void {
    this.counters.template_misses++;
    this.msgUncountable = true;
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

  /** The exporter's unknown-element entries for one template (made once per template). */
  private unknownEntries(t: CompiledTemplate): MutableUnknown[] {
    const ex = this.ex;
    let list = ex.unknownByTemplate.get(t);
    if (list === undefined) {
      list = [];
      for (const i of t.unknownIndices) {
        const f = t.def.fields[i];
        const k = `${f.enterprise}.${f.id}.${f.length}`;
        let u = ex.unknown.get(k);
        if (u === undefined) {
          if (ex.unknown.size >= this.maxUnknown) continue;
          u = new MutableUnknown(f.enterprise, f.id, f.length);
          ex.unknown.set(k, u);
        }
        list.push(u);
      }
      ex.unknownByTemplate.set(t, list);
    }
    return list;
  }

  private decodeDataSet(storeTemplate: CompiledTemplate, b: Uint8Array, start: number, end: number): void {
    const c = this.counters;
    const t = this.compiled(storeTemplate);
    if (t.minRecordLength === 0) {
      // Every field zero-length: no record can be delimited.
      c.bad_sets++;
      this.msgUncountable = true;
      this.report('template has only zero-length fields', this.version, this.domain, t.def.templateId);
      return;
    }
    if (t.isOptions) {
      this.decodeOptionsSet(t, b, start, end);
      return;
    }
    const ex = this.ex;
    const state = ex.domains.get(this.domain) ?? NO_STATE;
    const n = t.fieldCount;
    const ops = t.code;
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
    const maxEnd = exportMs + this.maxEndAfterExportMs;
    // Uptime "now": v9 sends it; IPFIX derives it from systemInitTimeMilliseconds (NaN if not seen).
    const uptimeNow = this.version === 9 ? this.sysUptime : exportMs - state.systemInitMs;
    // Sampling for records that do not carry their own: override, options data, lone sampler, default.
    const override = ex.samplingOverride;
    const samplers = state.samplers;
    let setRate = override > 0 ? override : state.sampling;
    if (setRate === 0 && samplers.size === 1) for (const v of samplers.values()) setRate = v;
    const fallbackRate = state.sampling > 0 ? state.sampling : ex.samplingDefault;
    if (setRate === 0) setRate = ex.samplingDefault;
    const recordSampling = t.hasSampling && override === 0;
    const flags = t.flags;
    const ifNames = ex.ifNames.size > 0 ? ex.ifNames : null;
    const appNames = (flags & FLAG_APP_LOOKUP) !== 0 && ex.appNames.size > 0 ? ex.appNames : null;
    const strings = this.strings;
    const receivedMs = this.receivedMs;
    const version = this.version;
    const domain = this.domain;
    const templateId = t.def.templateId;
    const impliedIpVersion = t.impliedIpVersion;
    const sink = this.sink;
    const touched = t.touched;
    this.loadExporterWords();
    const aw = this.addrWords;
    const a0 = aw[0];
    const a1 = aw[1];
    const a2 = aw[2];
    const a3 = aw[3];
    let ew = this.words;
    // Fields read by the template's generated reader, then the others op by
    // op; a variable-length template has no reader: every field is in slow.
    const reader = t.reader;
    const slow = t.slow;
    const slowN = slow.length;
    const times = this.times;
    // The batch fill marked (see decodeV5).
    let marked = 0;
    let p = start;
    let records = 0;
    let unknownRate = 0;

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
            this.msgUncountable = true;
            this.report(`record at offset ${p - start} runs past the end of the set`, version, domain, templateId);
          }
          break;
        }
        recLen = q - p;
        offs = varOffs;
        lens = varLens;
      }

      const row = sink.next();
      const batch = sink.batch;
      if (batch.fill !== marked) {
        marked = batch.fill;
        markTouched(batch, touched, ifNames !== null, this.lastMarked);
        ew = this.exporterWords(batch.data[C_EXPORTER] as Uint8Array);
      }
      const d = batch.data;
      (d[C_TIME_RECEIVED] as Float64Array)[row] = receivedMs;
      const w = row * 4;
      ew[w] = a0;
      ew[w + 1] = a1;
      ew[w + 2] = a2;
      ew[w + 3] = a3;
      (d[C_VERSION] as Uint8Array)[row] = version;
      (d[C_DOMAIN] as Uint32Array)[row] = domain;
      (d[C_TEMPLATE] as Uint16Array)[row] = templateId;
      if (impliedIpVersion !== 0) (d[C_IP_VERSION] as Uint8Array)[row] = impliedIpVersion;

      let start_ = Number.NaN;
      let end_ = Number.NaN;
      let obs = Number.NaN;
      let dur = Number.NaN;
      let upStart = -1;
      let upEnd = -1;
      let sInterval = 0;
      let sPacketInterval = 0;
      let sPacketSpace = 0;
      let samplerId = -1;
      let artConnections = 0;
      let artResponses = 0;
      if (reader !== null) {
        times[TIMES_START] = Number.NaN;
        times[TIMES_END] = Number.NaN;
        times[TIMES_OBS] = Number.NaN;
        times[TIMES_UP_START] = -1;
        times[TIMES_UP_END] = -1;
        reader(b, p, row, d, times);
        start_ = times[TIMES_START];
        end_ = times[TIMES_END];
        obs = times[TIMES_OBS];
        upStart = times[TIMES_UP_START];
        upEnd = times[TIMES_UP_END];
      }
      for (let k = 0; k < slowN; k++) {
        const i = slow[k];
        const op = ops[i];
        const f = p + offs[i];
        // The length variants first: a switch on imported constants is a
        // chain of comparisons in V8, so the common fields are found first.
        switch (op) {
          case OP_U16_2:
            (d[cols[i]] as Uint16Array)[row] = (b[f] << 8) | b[f + 1];
            break;
          case OP_U32_4:
            // A typed-array store keeps the value modulo 2^32: the signed bits are the unsigned value.
            (d[cols[i]] as Uint32Array)[row] = (b[f] << 24) | (b[f + 1] << 16) | (b[f + 2] << 8) | b[f + 3];
            break;
          case OP_U64_8:
            (d[cols[i]] as Float64Array)[row] =
              (((b[f] << 24) >>> 0) + ((b[f + 1] << 16) | (b[f + 2] << 8) | b[f + 3])) * 4294967296 + (((b[f + 4] << 24) >>> 0) + ((b[f + 5] << 16) | (b[f + 6] << 8) | b[f + 7]));
            break;
          case OP_IP4: {
            // IPv4-mapped into a zeroed cell (see writeV4), inline.
            const col = d[cols[i]] as Uint8Array;
            const o = row * 16;
            col[o + 10] = 0xff;
            col[o + 11] = 0xff;
            col[o + 12] = b[f];
            col[o + 13] = b[f + 1];
            col[o + 14] = b[f + 2];
            col[o + 15] = b[f + 3];
            break;
          }
          case OP_U8_1:
            (d[cols[i]] as Uint8Array)[row] = b[f];
            break;
          case OP_U16_1:
            (d[cols[i]] as Uint16Array)[row] = b[f];
            break;
          case OP_MILLIS_8: {
            const v = (((b[f] << 24) >>> 0) + ((b[f + 1] << 16) | (b[f + 2] << 8) | b[f + 3])) * 4294967296 + (((b[f + 4] << 24) >>> 0) + ((b[f + 5] << 16) | (b[f + 6] << 8) | b[f + 7]));
            const slot = args[i] & 3;
            if (slot === SLOT_START) start_ = v;
            else if (slot === SLOT_END) end_ = v;
            else obs = v;
            break;
          }
          case OP_UPTIME_4:
            if ((args[i] & 3) === SLOT_START) upStart = ((b[f] << 24) >>> 0) + ((b[f + 1] << 16) | (b[f + 2] << 8) | b[f + 3]);
            else upEnd = ((b[f] << 24) >>> 0) + ((b[f + 1] << 16) | (b[f + 2] << 8) | b[f + 3]);
            break;
          case OP_U32_2:
            (d[cols[i]] as Uint32Array)[row] = (b[f] << 8) | b[f + 1];
            break;
          case OP_U64_4:
            (d[cols[i]] as Float64Array)[row] = ((b[f] << 24) >>> 0) + ((b[f + 1] << 16) | (b[f + 2] << 8) | b[f + 3]);
            break;
          case OP_U8:
            (d[cols[i]] as Uint8Array)[row] = uint(b, f, lens[i]);
            break;
          case OP_U16:
            (d[cols[i]] as Uint16Array)[row] = uint(b, f, lens[i]);
            break;
          case OP_U32:
            (d[cols[i]] as Uint32Array)[row] = uint(b, f, lens[i]);
            break;
          case OP_U64:
            (d[cols[i]] as Float64Array)[row] = uint(b, f, lens[i]);
            break;
          case OP_IP6: {
            const col = d[cols[i]] as Uint8Array;
            const o = row * 16;
            for (let k = 0; k < 16; k++) col[o + k] = b[f + k];
            break;
          }
          case OP_ICMP_TYPE: {
            const col = d[C_ICMP] as Uint16Array;
            col[row] = (col[row] & 0xff) | (b[f + lens[i] - 1] << 8);
            break;
          }
          case OP_ICMP_CODE: {
            const col = d[C_ICMP] as Uint16Array;
            col[row] = (col[row] & 0xff00) | b[f + lens[i] - 1];
            break;
          }
          case OP_DURATION:
            dur = args[i] === 1 ? uint(b, f, lens[i]) : uint(b, f, lens[i]) / 1000;
            break;
          case OP_TIME: {
            const a = args[i];
            const kind = a >> 2;
            const slot = a & 3;
            if (kind === TIME_UPTIME) {
              if (slot === SLOT_START) upStart = uint(b, f, lens[i]);
              else upEnd = uint(b, f, lens[i]);
              break;
            }
            let v: number;
            if (kind === TIME_MILLIS) v = uint(b, f, lens[i]);
            else if (kind === TIME_SECONDS) v = uint(b, f, lens[i]) * 1000;
            else if (kind === TIME_NTP) v = ntpToMs(b, f);
            else if (kind === TIME_DELTA_US) v = exportMs - uint(b, f, lens[i]) / 1000;
            else break;
            if (slot === SLOT_START) start_ = v;
            else if (slot === SLOT_END) end_ = v;
            else obs = v;
            break;
          }
          case OP_TEXT:
            (d[cols[i]] as string[])[row] = strings.get(b, f, lens[i], FMT_TEXT);
            break;
          case OP_MAC:
            (d[cols[i]] as string[])[row] = strings.get(b, f, 6, FMT_MAC);
            break;
          case OP_APPID:
            (d[cols[i]] as string[])[row] = strings.get(b, f, lens[i], FMT_APPID);
            break;
          case OP_ACL:
            (d[cols[i]] as string[])[row] = strings.get(b, f, lens[i], FMT_ACL);
            break;
          case OP_MPLS:
            (d[cols[i]] as Uint32Array)[row] = (b[f] << 12) | (b[f + 1] << 4) | (b[f + 2] >> 4);
            break;
          case OP_SAMPLING: {
            const a = args[i];
            if (a === SAMP_INTERVAL) sInterval = uint(b, f, lens[i]);
            else if (a === SAMP_PACKET_INTERVAL) sPacketInterval = uint(b, f, lens[i]);
            else sPacketSpace = uint(b, f, lens[i]);
            break;
          }
          case OP_SAMPLER_ID:
            samplerId = uint(b, f, lens[i]);
            break;
          case OP_ART_COUNT:
            if (args[i] === 1) artConnections = uint(b, f, lens[i]);
            else artResponses = uint(b, f, lens[i]);
            break;
        }
      }

      if (upStart >= 0 || upEnd >= 0) {
        if (uptimeNow === uptimeNow) {
          if (upStart >= 0) start_ = exportMs - uptimeAge(uptimeNow, upStart);
          if (upEnd >= 0) end_ = exportMs - uptimeAge(uptimeNow, upEnd);
        } else {
          // IPFIX without systemInitTimeMilliseconds: the end is taken as the export time, the duration kept.
          c.times_estimated++;
          if (upEnd >= 0) {
            end_ = exportMs;
            if (upStart >= 0) start_ = exportMs - uptimeAge(upEnd, upStart);
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
      if (end_ > maxEnd) this.endAfterExport(end_ - exportMs);

      // Sampling: the record's own rate, else its sampler's, else the set's.
      let rate = setRate;
      if (recordSampling) {
        if (sInterval > 0) rate = sInterval;
        else if (sPacketInterval > 0) rate = Math.round((sPacketInterval + sPacketSpace) / sPacketInterval);
        else if (samplerId >= 0) {
          const r = samplers.get(samplerId);
          rate = r !== undefined ? r : fallbackRate;
        }
      }
      const bytes = (d[C_BYTES] as Float64Array)[row];
      const packets = (d[C_PACKETS] as Float64Array)[row];
      if (rate > 0) {
        (d[C_SAMPLING] as Uint32Array)[row] = rate;
        (d[C_SAMPLING_KNOWN] as Uint8Array)[row] = 1;
        (d[C_BYTES_SCALED] as Float64Array)[row] = bytes * rate;
        (d[C_PACKETS_SCALED] as Float64Array)[row] = packets * rate;
      } else {
        unknownRate++;
        (d[C_BYTES_SCALED] as Float64Array)[row] = bytes;
        (d[C_PACKETS_SCALED] as Float64Array)[row] = packets;
      }

      if (flags !== 0) {
        if ((flags & FLAG_DSCP) === 0 && (flags & FLAG_TOS) !== 0) (d[C_DSCP] as Uint8Array)[row] = (d[C_TOS] as Uint8Array)[row] >> 2;
        if ((flags & FLAG_ACTION) !== 0) {
          (d[C_FLOW_ACTION] as Uint8Array)[row] = flowAction((d[C_FW_EVENT] as Uint8Array)[row], (d[C_FW_EXT_EVENT] as Uint16Array)[row], (d[C_FORWARDING_STATUS] as Uint8Array)[row]);
        }
        if (appNames !== null) {
          const id = (d[C_APP_ID] as string[])[row];
          if (id !== '') (d[C_APP_NAME] as string[])[row] = appNames.get(id) ?? '';
        }
        if ((flags & FLAG_ART) !== 0) {
          if (artConnections > 1) {
            const cnd = d[C_CLIENT_NW_DELAY] as Uint32Array;
            const snd = d[C_SERVER_NW_DELAY] as Uint32Array;
            cnd[row] = Math.round(cnd[row] / artConnections);
            snd[row] = Math.round(snd[row] / artConnections);
          }
          if (artResponses > 1) {
            const ad = d[C_APP_DELAY] as Uint32Array;
            ad[row] = Math.round(ad[row] / artResponses);
          }
        }
      }
      if (ifNames !== null) {
        (d[C_INPUT_IF_NAME] as string[])[row] = ifNames.get((d[C_INPUT_IF] as Uint32Array)[row]) ?? '';
        (d[C_OUTPUT_IF_NAME] as string[])[row] = ifNames.get((d[C_OUTPUT_IF] as Uint32Array)[row]) ?? '';
      }

      records++;
      p += recLen;
    }
    c.records += records;
    c.records_sampling_unknown += unknownRate;
    this.msgData += records;
    if (t.unknownFields !== 0 && records !== 0) {
      const list = this.unknownEntries(t);
      for (let i = 0; i < list.length; i++) list[i].count += records;
    }
  }

  // -------------------------------------------------------------------------
  // Options data: facts about the exporter, not flows.

  private decodeOptionsSet(t: CompiledTemplate, b: Uint8Array, start: number, end: number): void {
    const c = this.counters;
    const n = t.fieldCount;
    const tplLens = t.lengths;
    if (this.varOffsets.length < n) {
      this.varOffsets = new Int32Array(n);
      this.varLengths = new Int32Array(n);
    }
    const offs = this.varOffsets;
    const lens = this.varLengths;
    let p = start;
    while (end - p >= t.minRecordLength) {
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
        offs[i] = q;
        lens[i] = L;
        q += L;
        if (q > end) {
          ok = false;
          break;
        }
      }
      if (!ok || q === p) break;
      c.options_records++;
      this.msgOptions++;
      this.learnOptions(t, b, offs, lens);
      p = q;
    }
  }

  private learnOptions(t: CompiledTemplate, b: Uint8Array, offs: Int32Array, lens: Int32Array): void {
    const o = t.opt;
    const ex = this.ex;
    const exporter = this.exporter;
    const domain = this.domain;
    const hook = this.onOptionsData;
    const num = (i: number) => uint(b, offs[i], lens[i]);
    const text = (i: number) => (i >= 0 && lens[i] > 0 ? this.strings.get(b, offs[i], lens[i], FMT_TEXT) : '');
    if (o.systemInit >= 0) {
      const s = this.domainState(ex, domain);
      const v = num(o.systemInit);
      if (v !== s.systemInitMs) {
        s.systemInitMs = v;
        hook?.(exporter, domain, 'system_init_time', 0, v);
      }
    }
    let rate = 0;
    if (o.sampling >= 0) rate = num(o.sampling);
    else if (o.samplingPacketInterval >= 0) {
      const interval = num(o.samplingPacketInterval);
      // RFC 5476 systematic count-based: select `interval` packets, skip `space`.
      const space = o.samplingSpace >= 0 ? num(o.samplingSpace) : 0;
      rate = interval > 0 ? Math.round((interval + space) / interval) : 0;
    } else if (o.samplingSize >= 0 && o.samplingPopulation >= 0) {
      // Random n-out-of-N.
      const size = num(o.samplingSize);
      rate = size > 0 ? Math.round(num(o.samplingPopulation) / size) : 0;
    }
    if (rate > 0) {
      const s = this.domainState(ex, domain);
      const id = o.samplerId >= 0 ? num(o.samplerId) : -1;
      const prev = id < 0 ? s.sampling : (s.samplers.get(id) ?? 0);
      if (prev !== rate && (id < 0 || prev !== 0 || s.samplers.size < MAX_SAMPLERS)) {
        if (id < 0) s.sampling = rate;
        else s.samplers.set(id, rate);
        hook?.(exporter, domain, 'sampling_rate', id, rate);
      }
    }
    if (o.ifIndex >= 0 && (o.ifName >= 0 || o.ifDescription >= 0)) {
      const name = text(o.ifName) || text(o.ifDescription);
      const ifIndex = num(o.ifIndex);
      if (name !== '' && ex.ifNames.get(ifIndex) !== name && (ex.ifNames.size < MAX_NAMES || ex.ifNames.has(ifIndex))) {
        ex.ifNames.set(ifIndex, name);
        hook?.(exporter, domain, 'interface_name', ifIndex, name);
      }
    }
    if (o.appId >= 0 && (o.appName >= 0 || o.appDescription >= 0) && lens[o.appId] > 0) {
      const name = text(o.appName) || text(o.appDescription);
      const id = this.strings.get(b, offs[o.appId], lens[o.appId], FMT_APPID);
      if (name !== '' && ex.appNames.get(id) !== name && (ex.appNames.size < MAX_NAMES || ex.appNames.has(id))) {
        ex.appNames.set(id, name);
        hook?.(exporter, domain, 'application_name', id, name);
      }
    }
    if (o.iePen >= 0 && o.ieId >= 0 && o.ieName >= 0) {
      const name = text(o.ieName);
      if (name !== '' && ex.elementNames.size < MAX_NAMES) ex.elementNames.set(num(o.iePen) * 65536 + (num(o.ieId) & 0x7fff), name);
    }
  }
}

/** IPv4-mapped into a zeroed cell (batch cells start zero and each is written once), so only the last 6 octets are written. */
function writeV4(col: Uint8Array, row: number, b: Uint8Array, p: number): void {
  const o = row * 16;
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
