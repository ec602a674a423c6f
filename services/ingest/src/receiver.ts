// One decoding thread of ingest: its sockets, its decoder, its batch, its
// held data sets and its view of the exporters. The same class runs on the
// main thread (ingest.workers = 1) or in each worker thread (workers > 1);
// what leaves it goes through the hooks it is given: encoded batches,
// template news, log lines.
import dgram from 'node:dgram';
import net from 'node:net';
import { isIP } from 'node:net';
import { encodeBatch } from '@flowhound/bus';
import { FlowDecoder, type DecodeError, type FlowSink, type HeldSet, type SamplingConfig, type TemplateDef } from '@flowhound/codec';
import { RateLimitedLog, splitHostPort, type Logger } from '@flowhound/runtime';
import { ColumnarBatch, FLOW_COLUMNS, formatIp, parseIp } from '@flowhound/schema';
import { Allowlist } from './allowlist.ts';
import type { IngestConfig } from './config.ts';
import { TcpStreamError } from './errors.ts';
import { ExporterEntry, TRANSPORT_TCP, TRANSPORT_UDP, transportList, versionList, type ExporterSnapshot } from './exporters.ts';
import { ReceiverCounters } from './metrics.ts';
import type { Fact } from './options.ts';
import { FRAME_BAD_VERSION, FRAME_OK, IpfixFramer } from './tcp.ts';
import { heldKey, ReceiverTemplateStore, type TemplateSync } from './templates.ts';

/** How long a held set waiting for its template keeps later sets of its exporter waiting. */
const HOLD_ORDER_GRACE_MS = 2000;
/** Exporters (source addresses) tracked one by one; beyond, new ones decode but are not listed. */
const MAX_EXPORTERS = 10_000;

export interface ReceiverHooks {
  /** Worker index; -1 on the main thread. */
  readonly index: number;
  /**
   * Batch ids are `<batchPrefix>:<seq>`. The prefix must be unique per
   * receiver run (replica, start time, worker and its restart), since the
   * bus and ClickHouse drop a batch whose id they saw recently.
   */
  readonly batchPrefix: string;
  /** Bind UDP with SO_REUSEPORT so several threads share a port. */
  readonly reusePort: boolean;
  readonly sync: TemplateSync;
  /** A fact the decoder learnt from options data (new or changed). */
  readonly options: (f: Fact) => void;
  /** A full or timed-out batch, encoded; ownership passes to the hook. */
  readonly emit: (bytes: Uint8Array, id: string, rows: number) => void;
  readonly log: Logger;
}

export interface BoundPort {
  readonly transport: 'udp' | 'tcp';
  readonly listen: string;
  readonly port: number;
}

/** Decoder counters summed: what goes into ExporterEntry.decodeErrors. */
function errorsOf(c: FlowDecoder['counters']): number {
  return c.bad_packets + c.bad_sets + c.bad_version + c.internal_errors;
}

class TcpConnection {
  readonly socket: net.Socket;
  readonly entry: ExporterEntry;
  readonly framer: IpfixFramer;
  private readonly receiver: Receiver;

  constructor(receiver: Receiver, socket: net.Socket, entry: ExporterEntry) {
    this.receiver = receiver;
    this.socket = socket;
    this.entry = entry;
    this.framer = new IpfixFramer((m) => receiver.onTcpMessage(entry, m));
    socket.on('data', (chunk: Buffer) => {
      const r = this.framer.push(chunk);
      if (r !== FRAME_OK) receiver.badStream(this, r);
    });
  }
}

export class Receiver implements FlowSink {
  readonly counters = new ReceiverCounters();
  readonly templates: ReceiverTemplateStore;
  readonly decoder: FlowDecoder;
  batch: ColumnarBatch;
  readonly ports: BoundPort[] = [];
  private readonly config: Readonly<IngestConfig>;
  private readonly hooks: ReceiverHooks;
  private readonly allowlist: Allowlist;
  private readonly warn: RateLimitedLog;
  private readonly exporters = new Map<string, ExporterEntry>();
  private readonly byName = new Map<string, ExporterEntry>();
  private readonly held = new Map<string, HeldSet[]>();
  private readonly udp: dgram.Socket[] = [];
  private readonly tcp: net.Server[] = [];
  private readonly conns = new Set<TcpConnection>();
  private heldCount = 0;
  private heldBytes = 0;
  private seq = 0;
  private lastFlush = Date.now();
  /** True while a packet is decoded: records of held sets it releases are counted with the packet. */
  private decoding = false;

  constructor(config: Readonly<IngestConfig>, hooks: ReceiverHooks) {
    this.config = config;
    this.hooks = hooks;
    this.allowlist = new Allowlist(config.allow);
    this.warn = new RateLimitedLog(hooks.log);
    this.batch = new ColumnarBatch(FLOW_COLUMNS, config.batchRows);
    this.templates = new ReceiverTemplateStore(
      hooks.sync,
      (k) => this.release(k),
      config.maxTemplatesPerExporter,
      (exporter, def) => this.refused(exporter, def),
    );
    this.decoder = new FlowDecoder({
      templates: this.templates,
      sink: this,
      onMissingTemplate: (s) => this.hold(s),
      onError: (err) => this.decodeError(err),
      onOptionsData: (exporter, domain, kind, key, value) => hooks.options({ exporter, domain, kind, key, value }),
      sampling: samplingRules(config.sampling),
      elements: config.elements,
    });
  }

  // ---------------------------------------------------------------- sockets

  /** Binds every listen address; on a failure closes what it bound and rejects, naming the address. */
  async listen(): Promise<void> {
    try {
      for (const addr of this.config.listen) this.udp.push(await this.bindUdp(addr));
      for (const addr of this.config.listenTcp) this.tcp.push(await this.bindTcp(addr));
    } catch (err) {
      await this.close();
      throw err;
    }
  }

  private bindUdp(addr: string): Promise<dgram.Socket> {
    const { host, port } = splitHostPort(addr);
    const type = isIP(host) === 6 ? 'udp6' : 'udp4';
    const sock = dgram.createSocket({ type, reuseAddr: true, reusePort: this.hooks.reusePort, recvBufferSize: this.config.receiveBufferBytes });
    sock.on('message', (msg, rinfo) => this.onPacket(msg, rinfo.address));
    return new Promise((resolve, reject) => {
      sock.once('error', (err) => reject(new Error(`cannot listen on udp ${addr} (ingest.listen): ${err.message}`, { cause: err })));
      sock.bind(port, host, () => {
        sock.removeAllListeners('error');
        sock.on('error', (err) => this.hooks.log.error({ err, addr }, 'socket error'));
        const bound = sock.address().port;
        this.ports.push({ transport: 'udp', listen: addr, port: bound });
        if (this.hooks.index <= 0) this.hooks.log.info({ addr: `${host}:${bound}`, workers: this.config.workers }, 'listening for NetFlow/IPFIX on UDP');
        resolve(sock);
      });
    });
  }

  private bindTcp(addr: string): Promise<net.Server> {
    const { host, port } = splitHostPort(addr);
    const server = net.createServer({ noDelay: false, keepAlive: true, keepAliveInitialDelay: 60_000 }, (s) => this.onConnection(s));
    return new Promise((resolve, reject) => {
      server.once('error', (err) => reject(new Error(`cannot listen on tcp ${addr} (ingest.listenTcp): ${err.message}`, { cause: err })));
      // reusePort: every worker, and every replica on one host, may listen on the port; the kernel spreads connections.
      server.listen({ host, port, reusePort: true }, () => {
        server.removeAllListeners('error');
        server.on('error', (err) => this.hooks.log.error({ err, addr }, 'tcp listener error'));
        const a = server.address();
        const bound = a && typeof a === 'object' ? a.port : port;
        this.ports.push({ transport: 'tcp', listen: addr, port: bound });
        if (this.hooks.index <= 0) this.hooks.log.info({ addr: `${host}:${bound}` }, 'listening for IPFIX on TCP');
        resolve(server);
      });
    });
  }

  // ---------------------------------------------------------------- exporters

  private exporterFor(address: string): ExporterEntry {
    const e = this.exporters.get(address);
    if (e !== undefined) return e;
    const addr16 = new Uint8Array(16);
    if (!parseIp(address, addr16)) addr16.fill(0);
    // ::ffff:192.0.2.1 (an IPv4 exporter on a dual-stack socket) is the exporter 192.0.2.1.
    const name = formatIp(addr16);
    const entry = this.byName.get(name) ?? new ExporterEntry(name, addr16, this.allowlist.allows(addr16));
    if (this.exporters.size >= MAX_EXPORTERS) {
      this.counters.exportersUntracked++;
      this.warn.warn('exporters-full', { exporter: name }, `more than ${MAX_EXPORTERS} exporter addresses: new ones are decoded but not listed by 'flowhound exporters'`);
      return entry;
    }
    entry.firstSeenMs = Date.now();
    this.exporters.set(address, entry);
    this.byName.set(name, entry);
    return entry;
  }

  // ---------------------------------------------------------------- hot path

  /** One UDP datagram. */
  onPacket(msg: Uint8Array, address: string): void {
    const e = this.exporterFor(address);
    const now = Date.now();
    if (!e.allowed) {
      this.counters.denied++;
      e.packetsDenied++;
      e.lastSeenMs = now;
      e.dirty = true;
      return;
    }
    const c = this.counters;
    c.packets++;
    c.bytes += msg.length;
    e.transports |= TRANSPORT_UDP;
    this.decodeFrom(e, msg, now);
  }

  /** One IPFIX message framed from a TCP stream. */
  onTcpMessage(e: ExporterEntry, msg: Uint8Array): void {
    const c = this.counters;
    c.packets++;
    c.bytes += msg.length;
    c.tcpMessages++;
    e.transports |= TRANSPORT_TCP;
    this.decodeFrom(e, msg, Date.now());
  }

  private decodeFrom(e: ExporterEntry, msg: Uint8Array, now: number): void {
    e.packets++;
    e.bytes += msg.length;
    e.lastSeenMs = now;
    e.dirty = true;
    e.header(msg);
    const dc = this.decoder.counters;
    const r0 = dc.records;
    const m0 = dc.template_misses;
    const x0 = errorsOf(dc);
    this.decoding = true;
    this.decoder.decode(msg, e.exporter, e.addr16, now);
    this.decoding = false;
    e.records += dc.records - r0;
    e.templateMisses += dc.template_misses - m0;
    e.decodeErrors += errorsOf(dc) - x0;
  }

  /** FlowSink: the row to write next; a full batch goes out first. */
  next(): number {
    if (this.batch.rows >= this.batch.capacity) this.flush();
    return this.batch.rows++;
  }

  /** Encodes the current batch and hands it on. */
  flush(): void {
    this.lastFlush = Date.now();
    const b = this.batch;
    if (b.rows === 0) return;
    const rows = b.rows;
    const id = `${this.hooks.batchPrefix}:${++this.seq}`;
    const bytes = encodeBatch(b, id, 'ingest');
    b.reset();
    this.hooks.emit(bytes, id, rows);
  }

  /** Timer work: the partial batch after flushIntervalMs, held sets past their time. */
  tick(now = Date.now()): void {
    if (this.batch.rows > 0 && now - this.lastFlush >= this.config.flushIntervalMs) this.flush();
    this.expireHeld(now);
  }

  private decodeError(err: DecodeError): void {
    this.warn.warn(`decode:${err.exporter}`, { exporter: err.exporter, version: err.version, domain: err.domain, templateId: err.templateId }, err.message);
  }

  // ---------------------------------------------------------------- TCP

  private onConnection(s: net.Socket): void {
    const address = s.remoteAddress ?? '';
    const e = this.exporterFor(address);
    const c = this.counters;
    if (!e.allowed) {
      c.tcpDenied++;
      e.packetsDenied++;
      e.lastSeenMs = Date.now();
      e.dirty = true;
      s.destroy();
      return;
    }
    if (this.conns.size >= this.config.tcpMaxConnections) {
      c.tcpRefused++;
      this.warn.warn('tcp-full', { exporter: e.exporter, open: this.conns.size }, `more than ${this.config.tcpMaxConnections} IPFIX TCP connections (ingest.tcpMaxConnections); closing the new one from ${e.exporter}`);
      s.destroy();
      return;
    }
    c.tcpAccepted++;
    c.tcpOpen++;
    const conn = new TcpConnection(this, s, e);
    this.conns.add(conn);
    s.on('error', (err) => this.warn.warn(`tcp-error:${e.exporter}`, { err, exporter: e.exporter }, 'IPFIX TCP connection failed'));
    s.on('close', () => {
      if (this.conns.delete(conn)) c.tcpOpen--;
      if (conn.framer.buffered > 0) c.tcpTruncated++;
    });
    this.hooks.log.debug?.({ exporter: e.exporter, port: s.remotePort }, 'IPFIX TCP connection');
  }

  /** A stream that cannot be framed: count it, say why, close the connection. */
  badStream(conn: TcpConnection, reason: number): void {
    const c = this.counters;
    const f = conn.framer;
    let err: TcpStreamError;
    if (reason === FRAME_BAD_VERSION) {
      c.tcpBadVersion++;
      err =
        f.badVersion === 9
          ? new TcpStreamError(conn.entry.exporter, 'netflow_v9', 'NetFlow v9 over TCP is not defined (RFC 3954 is UDP only); send v9 over UDP, or IPFIX (version 10) over TCP')
          : new TcpStreamError(conn.entry.exporter, 'bad_version', `the TCP stream has a message with version ${f.badVersion}; only IPFIX (version 10) can be sent over TCP`);
    } else {
      c.tcpBadLength++;
      err = new TcpStreamError(conn.entry.exporter, 'bad_length', `IPFIX message length ${f.badLength} is shorter than its 16-byte header; the stream cannot be framed`);
    }
    conn.entry.decodeErrors++;
    conn.entry.dirty = true;
    this.warn.warn(`tcp-bad:${conn.entry.exporter}`, { exporter: err.exporter, reason: err.reason }, `${err.message}; closing the connection`);
    if (this.conns.delete(conn)) c.tcpOpen--;
    conn.socket.destroy();
  }

  // ---------------------------------------------------------------- templates from elsewhere

  applyTemplate(exporter: string, def: TemplateDef): void {
    this.templates.apply(exporter, def);
  }

  applyWithdraw(exporter: string, version: number, domain: number, templateId: number): void {
    this.templates.applyWithdraw(exporter, version, domain, templateId);
  }

  /** A fact another thread or replica learnt from options data. */
  applyOptions(f: Fact): void {
    this.decoder.applyOptionsData(f.exporter, f.domain, f.kind, f.key, f.value);
  }

  /** A template refused by the cap: counted and logged (rate-limited per exporter). */
  private refused(exporter: string, def: TemplateDef): void {
    this.counters.templatesRefused++;
    const max = this.config.maxTemplatesPerExporter;
    this.warn.warn(
      `template-cap:${exporter}`,
      { exporter, version: def.version, domain: def.domain, templateId: def.templateId },
      `${exporter} has ${max} templates already (ingest.maxTemplatesPerExporter); template ${def.templateId} of domain ${def.domain} refused and its data dropped. Withdraw unused templates on the exporter, or raise the cap`,
    );
  }

  // ---------------------------------------------------------------- held sets

  private hold(s: HeldSet): void {
    const c = this.counters;
    if (this.templates.full(s.exporter)) {
      // Its template would be refused when it came: holding the set only takes room.
      c.heldDropped++;
      this.expiredFor(s.exporter);
      this.warn.warn('hold-cap', { exporter: s.exporter, templateId: s.templateId }, `${s.exporter} is at ingest.maxTemplatesPerExporter (${this.config.maxTemplatesPerExporter}); data for template ${s.templateId}, which it has not defined, dropped`);
      return;
    }
    if (this.heldCount >= this.config.holdMaxSets || this.heldBytes + s.data.byteLength > this.config.holdMaxBytes) {
      c.heldDropped++;
      this.expiredFor(s.exporter);
      this.warn.warn('hold-full', { exporter: s.exporter, templateId: s.templateId }, `too many data sets wait for templates (ingest.holdMaxSets ${this.config.holdMaxSets}, holdMaxBytes ${this.config.holdMaxBytes}); dropping one`);
      return;
    }
    const k = heldKey(s.exporter, s.version, s.domain);
    let list = this.held.get(k);
    if (!list) this.held.set(k, (list = []));
    list.push(s);
    this.heldCount++;
    this.heldBytes += s.data.byteLength;
    c.held++;
  }

  private expiredFor(exporter: string): void {
    const e = this.byName.get(exporter);
    if (e) {
      e.setsExpired++;
      e.dirty = true;
    }
  }

  /**
   * Decodes held sets of one exporter/domain whose template is now known,
   * in arrival order. A set still waiting for its template holds back the
   * sets behind it for a short grace period: options data (system init
   * time, sampling) usually precedes the data it applies to, and its
   * template may arrive a moment after the data templates.
   */
  private release(key: string, now = Date.now()): void {
    const list = this.held.get(key);
    if (!list) return;
    let keep = 0;
    let blocked = false;
    const dc = this.decoder.counters;
    for (const s of list) {
      const known = this.templates.get(s.exporter, s.version, s.domain, s.templateId) !== undefined;
      if (known && !blocked) {
        this.heldCount--;
        this.heldBytes -= s.data.byteLength;
        this.counters.heldReleased++;
        const r0 = dc.records;
        this.decoder.decodeHeldSet(s);
        if (!this.decoding) {
          const e = this.byName.get(s.exporter);
          if (e) {
            e.records += dc.records - r0;
            e.dirty = true;
          }
        }
        continue;
      }
      if (!known && now - s.receivedMs < HOLD_ORDER_GRACE_MS) blocked = true;
      list[keep++] = s;
    }
    list.length = keep;
    if (keep === 0) this.held.delete(key);
  }

  private expireHeld(now: number): void {
    if (this.heldCount === 0) return;
    for (const [k, list] of this.held) {
      let keep = 0;
      for (const s of list) {
        if (now - s.receivedMs > this.config.holdMaxAgeMs) {
          this.heldCount--;
          this.heldBytes -= s.data.byteLength;
          this.counters.heldDropped++;
          this.expiredFor(s.exporter);
          this.warn.warn('hold-expired', { exporter: s.exporter, version: s.version, domain: s.domain, templateId: s.templateId }, `template ${s.templateId} from ${s.exporter} domain ${s.domain} not received within ${this.config.holdMaxAgeMs} ms (ingest.holdMaxAgeMs); dropping held data`);
        } else {
          list[keep++] = s;
        }
      }
      list.length = keep;
      if (keep === 0) this.held.delete(k);
      else this.release(k, now);
    }
  }

  // ---------------------------------------------------------------- snapshots

  /** Exporters that moved since the last call (all of them with `all`). */
  exporterSnapshots(all = false): ExporterSnapshot[] {
    const out: ExporterSnapshot[] = [];
    for (const e of this.byName.values()) {
      if (!e.dirty && !all) continue;
      e.dirty = false;
      const rates = new Set<number>();
      if (e.v5Sampling > 1) rates.add(e.v5Sampling);
      for (const d of e.domains) {
        const r = this.decoder.samplingInterval(e.exporter, d);
        if (r > 1) rates.add(r);
      }
      // Sequence gaps net of late arrivals, per unit the exporter numbers.
      let recordsLost = 0;
      let v9PacketsLost = 0;
      for (const q of this.decoder.sequenceStats(e.exporter)) {
        if (q.unit === 'packets') v9PacketsLost += q.lost;
        else recordsLost += q.lost;
      }
      const clock = this.decoder.clockStats(e.exporter);
      out.push({
        exporter: e.exporter,
        packets: e.packets,
        bytes: e.bytes,
        records: e.records,
        decodeErrors: e.decodeErrors,
        templateMisses: e.templateMisses,
        setsExpired: e.setsExpired,
        recordsLost,
        v9PacketsLost,
        packetsClockSkewed: clock?.packetsSkewed ?? 0,
        recordsEndAfterExport: clock?.recordsEndAfterExport ?? 0,
        unknownElements: this.decoder.unknownElements(e.exporter).length,
        packetsDenied: e.packetsDenied,
        firstSeenMs: e.firstSeenMs,
        lastSeenMs: e.lastSeenMs,
        versions: versionList(e.versions),
        domains: [...e.domains].sort((a, b) => a - b),
        samplingRates: [...rates].sort((a, b) => a - b),
        transports: transportList(e.transports),
      });
    }
    return out;
  }

  /** Decoder counters as a plain record (for metrics and the main thread). */
  decoderCounters(): Record<string, number> {
    return { ...(this.decoder.counters as unknown as Record<string, number>) };
  }

  get tcpConnections(): number {
    return this.conns.size;
  }

  /** Stops listening, closes TCP connections, hands out the last partial batch, and drops (counting them) the sets still held. */
  async close(): Promise<void> {
    for (const conn of this.conns) conn.socket.destroy();
    this.conns.clear();
    this.counters.tcpOpen = 0;
    await Promise.all(this.udp.map((s) => new Promise<void>((r) => s.close(() => r()))));
    await Promise.all(this.tcp.map((s) => new Promise<void>((r) => s.close(() => r()))));
    this.udp.length = 0;
    this.tcp.length = 0;
    this.flush();
    this.dropHeld();
  }

  /** Held sets die with the thread: counted as dropped (also per exporter) and logged once. */
  private dropHeld(): void {
    const n = this.heldCount;
    if (n === 0) return;
    const exporters = new Set<string>();
    for (const list of this.held.values()) {
      for (const s of list) {
        this.expiredFor(s.exporter);
        exporters.add(s.exporter);
      }
    }
    this.held.clear();
    this.heldCount = 0;
    this.heldBytes = 0;
    this.counters.heldDropped += n;
    this.counters.heldDroppedAtShutdown += n;
    this.hooks.log.warn({ sets: n, exporters: [...exporters].slice(0, 10) }, `${n} held data sets (data waiting for its template) dropped at shutdown`);
  }
}

/**
 * The configured sampling rules as the decoder asks for them: once per
 * exporter, first matching rule wins; undefined when none matches.
 */
export function samplingRules(rules: IngestConfig['sampling']): ((addr16: Uint8Array) => SamplingConfig | undefined) | undefined {
  if (rules.length === 0) return undefined;
  const compiled = rules.map((r) => ({ match: new Allowlist(r.exporters), config: { default: r.default, override: r.override } }));
  return (addr16) => compiled.find((r) => r.match.allows(addr16))?.config;
}
