import dgram from 'node:dgram';
import { isIP } from 'node:net';
import { context, trace, type Meter } from '@opentelemetry/api';
import { encodeBatch, subjects, traceHeaders, type Bus } from '@flowhound/bus';
import { FlowDecoder, type FlowSink, type HeldSet } from '@flowhound/codec';
import { RateLimitedLog, splitHostPort, type Component, type Logger } from '@flowhound/runtime';
import { ColumnarBatch, FLOW_COLUMNS, parseIp } from '@flowhound/schema';
import type { IngestConfig } from './config.ts';
import { IngestCounters, registerIngestMetrics } from './metrics.ts';
import { heldKey, RegistryTemplateStore } from './templates.ts';

/** How long a held set waiting for its template keeps later sets of its exporter waiting. */
const HOLD_ORDER_GRACE_MS = 2000;

export interface IngestDeps {
  readonly bus: Bus;
  readonly log: Logger;
  readonly meter: Meter;
}

/**
 * Receives NetFlow v5/v9 and IPFIX over UDP, decodes into columnar batches
 * and publishes them to the bus. Packets from all sockets share one decoder
 * and one batch; the message handler is synchronous and allocation-light.
 */
export class IngestService implements Component, FlowSink {
  readonly name = 'ingest';
  readonly counters = new IngestCounters();
  readonly templates: RegistryTemplateStore;
  batch: ColumnarBatch;
  private readonly config: Readonly<IngestConfig>;
  private readonly deps: IngestDeps;
  private readonly decoder: FlowDecoder;
  private readonly sockets: dgram.Socket[] = [];
  private readonly exporterCache = new Map<string, Uint8Array>();
  private readonly held = new Map<string, HeldSet[]>();
  private heldCount = 0;
  private heldBytes = 0;
  private readonly inflight = new Set<Promise<void>>();
  private readonly warn: RateLimitedLog;
  private flushTimer: NodeJS.Timeout | undefined;
  private seq = 0;
  private lastFlush = Date.now();
  boundPorts: number[] = [];

  constructor(config: Readonly<IngestConfig>, deps: IngestDeps) {
    this.config = config;
    this.deps = deps;
    this.batch = new ColumnarBatch(FLOW_COLUMNS, config.batchRows);
    this.warn = new RateLimitedLog(deps.log);
    this.templates = new RegistryTemplateStore(deps.bus, deps.log, config.replicaId, (k) => this.release(k));
    this.decoder = new FlowDecoder({ templates: this.templates, sink: this, onMissingTemplate: (s) => this.hold(s) });
  }

  get decoderCounters(): Record<string, number> {
    return { ...(this.decoder.counters as unknown as Record<string, number>) };
  }

  async start(): Promise<void> {
    registerIngestMetrics(this.deps.meter, this.counters, () => this.decoderCounters, () => ({
      kv_writes: this.templates.kvWrites,
      kv_write_errors: this.templates.kvWriteErrors,
      remote: this.templates.remoteTemplates,
    }));
    await this.templates.start();
    for (const addr of this.config.listen) this.sockets.push(await this.bind(addr));
    this.flushTimer = setInterval(() => this.tick(), Math.max(10, Math.floor(this.config.flushIntervalMs / 2)));
  }

  private bind(addr: string): Promise<dgram.Socket> {
    const { host, port } = splitHostPort(addr);
    const type = isIP(host) === 6 ? 'udp6' : 'udp4';
    const sock = dgram.createSocket({ type, reuseAddr: true, recvBufferSize: this.config.receiveBufferBytes });
    sock.on('message', (msg, rinfo) => this.onPacket(msg, rinfo.address));
    return new Promise((resolve, reject) => {
      sock.once('error', (err) => reject(new Error(`cannot listen on udp ${addr}: ${err.message}`, { cause: err })));
      sock.bind(port, host, () => {
        sock.removeAllListeners('error');
        sock.on('error', (err) => this.deps.log.error({ err, addr }, 'socket error'));
        this.boundPorts.push(sock.address().port);
        this.deps.log.info({ addr: `${host}:${sock.address().port}` }, 'listening for NetFlow/IPFIX');
        resolve(sock);
      });
    });
  }

  /** Hot path: one call per datagram. */
  onPacket(msg: Buffer, address: string): void {
    const c = this.counters;
    c.packets++;
    c.bytes += msg.length;
    let ex = this.exporterCache.get(address);
    if (ex === undefined) {
      ex = new Uint8Array(16);
      parseIp(address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address, ex);
      if (this.exporterCache.size > 100_000) this.exporterCache.clear();
      this.exporterCache.set(address, ex);
    }
    const exporter = address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
    this.decoder.decode(msg, exporter, ex, Date.now());
  }

  /** FlowSink: the row to write next; a full batch goes to the bus first. */
  next(): number {
    if (this.batch.rows >= this.batch.capacity) this.flush();
    return this.batch.rows++;
  }

  private tick(): void {
    const now = Date.now();
    if (this.batch.rows > 0 && now - this.lastFlush >= this.config.flushIntervalMs) this.flush();
    this.expireHeld(now);
  }

  /** Encodes the current batch, hands it to the bus, starts a fresh one. */
  flush(): void {
    this.lastFlush = Date.now();
    const b = this.batch;
    if (b.rows === 0) return;
    const rows = b.rows;
    const id = `${this.config.replicaId}:${++this.seq}`;
    const bytes = encodeBatch(b, id, 'ingest');
    b.reset();
    const c = this.counters;
    if (c.pendingBytes + bytes.byteLength > this.config.maxPendingBytes) {
      c.batchesDropped++;
      c.rowsDropped += rows;
      this.warn.warn('backlog', { pendingBytes: c.pendingBytes }, 'the bus is not keeping up; dropping a batch');
      return;
    }
    c.pendingBytes += bytes.byteLength;
    const span = trace.getTracer('flowhound').startSpan('ingest.publish', { attributes: { 'flowhound.rows': rows } });
    const headers = traceHeaders(trace.setSpan(context.active(), span));
    const p = this.publish(bytes, id, headers, rows).finally(() => {
      c.pendingBytes -= bytes.byteLength;
      span.end();
      this.inflight.delete(p);
    });
    this.inflight.add(p);
  }

  private async publish(bytes: Uint8Array, id: string, headers: Record<string, string>, rows: number): Promise<void> {
    const c = this.counters;
    // The bus may be briefly unavailable (a NATS leader change): retry a
    // few times before counting the batch as lost.
    for (let attempt = 0; attempt < 5; attempt++) {
      try {
        await this.deps.bus.publish(subjects.flowsRaw(0), bytes, { msgId: id, headers });
        c.batchesPublished++;
        c.rowsPublished += rows;
        return;
      } catch (err) {
        c.publishErrors++;
        this.warn.warn('publish', { err, attempt }, 'publishing a flow batch failed');
        await new Promise((r) => setTimeout(r, 200 * 2 ** attempt));
      }
    }
    c.batchesDropped++;
    c.rowsDropped += rows;
  }

  private hold(s: HeldSet): void {
    const c = this.counters;
    if (this.heldCount >= this.config.holdMaxSets || this.heldBytes + s.data.byteLength > this.config.holdMaxBytes) {
      c.heldDropped++;
      this.warn.warn('hold-full', { exporter: s.exporter, templateId: s.templateId }, 'too many data sets wait for templates; dropping one');
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
    for (const s of list) {
      const known = this.templates.get(s.exporter, s.version, s.domain, s.templateId) !== undefined;
      if (known && !blocked) {
        this.heldCount--;
        this.heldBytes -= s.data.byteLength;
        this.counters.heldReleased++;
        this.decoder.decodeHeldSet(s);
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
          this.warn.warn('hold-expired', { exporter: s.exporter, version: s.version, domain: s.domain, templateId: s.templateId }, `template ${s.templateId} from ${s.exporter} domain ${s.domain} not received within ${this.config.holdMaxAgeMs} ms; dropping held data`);
        } else {
          list[keep++] = s;
        }
      }
      list.length = keep;
      if (keep === 0) this.held.delete(k);
      else this.release(k, now);
    }
  }

  async stop(): Promise<void> {
    clearInterval(this.flushTimer);
    await Promise.all(this.sockets.map((s) => new Promise<void>((r) => s.close(() => r()))));
    this.sockets.length = 0;
    this.flush();
    await Promise.all([...this.inflight]);
    await this.templates.stop();
  }
}
