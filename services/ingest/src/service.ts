import { context, trace, type Meter } from '@opentelemetry/api';
import { subjects, traceHeaders, type Bus } from '@flowhound/bus';
import type { TemplateDef } from '@flowhound/codec';
import { RateLimitedLog, type Component, type Logger } from '@flowhound/runtime';
import type { IngestConfig } from './config.ts';
import { ExporterBook } from './exporters.ts';
import { IngestCounters, registerIngestMetrics, type ReceiverCounters } from './metrics.ts';
import { RegistryOptions, type Fact } from './options.ts';
import { Receiver, type BoundPort } from './receiver.ts';
import { byPort, readSocketDrops } from './socket-drops.ts';
import { RegistryTemplates } from './templates.ts';
import { WorkerPool } from './workers.ts';

/** Denied exporters named one by one in the metric's `exporter` label; the rest are `other`. */
const MAX_DENIED_LABELS = 64;

export interface IngestDeps {
  readonly bus: Bus;
  readonly log: Logger;
  readonly meter: Meter;
}

/**
 * Receives NetFlow v5/v9 and IPFIX over UDP, and IPFIX over TCP, decodes
 * into columnar batches and publishes them to the bus.
 *
 * With `workers: 1` one Receiver decodes on the main thread. With more,
 * each worker thread runs its own Receiver on the same ports
 * (SO_REUSEPORT) and posts encoded batches here; the main thread alone
 * talks to the bus and to the registry (templates, exporter statistics),
 * so the in-memory bus of standalone and JetStream behave the same.
 */
export class IngestService implements Component {
  readonly name = 'ingest';
  readonly counters = new IngestCounters();
  readonly registry: RegistryTemplates;
  readonly options: RegistryOptions;
  readonly book: ExporterBook;
  /** The main-thread decoder (workers = 1). */
  receiver: Receiver | undefined;
  pool: WorkerPool | undefined;
  /** Bound UDP ports (port 0 in the config becomes the kernel's choice). */
  boundPorts: number[] = [];
  /** Bound TCP ports. */
  tcpPorts: number[] = [];
  private readonly config: Readonly<IngestConfig>;
  private readonly deps: IngestDeps;
  private readonly inflight = new Set<Promise<void>>();
  private readonly warn: RateLimitedLog;
  private flushTimer: NodeJS.Timeout | undefined;
  private statsTimer: NodeJS.Timeout | undefined;
  private writeTimer: NodeJS.Timeout | undefined;
  private sockets: { port: number; drops: number; queued: number }[] = [];
  /** Drops of sockets that closed (a restarted worker), per port, so the counter never goes back. */
  private readonly socketDropsGone = new Map<number, number>();
  private readonly socketDropsSeen = new Map<number, { port: number; drops: number }>();
  private writing: Promise<void> | undefined;

  constructor(config: Readonly<IngestConfig>, deps: IngestDeps) {
    this.config = config;
    this.deps = deps;
    this.warn = new RateLimitedLog(deps.log);
    this.registry = new RegistryTemplates(
      deps.bus,
      deps.log,
      config.replicaId,
      (exporter, def) => this.onRemoteTemplate(exporter, def),
      (exporter, version, domain, templateId) => this.onRemoteWithdraw(exporter, version, domain, templateId),
    );
    this.options = new RegistryOptions(deps.bus, deps.log, config.replicaId, (f) => this.onRemoteOptions(f));
    this.book = new ExporterBook(config.replicaId, deps.log);
  }

  private onRemoteOptions(f: Fact): void {
    this.receiver?.applyOptions(f);
    this.pool?.applyOptions(f);
  }

  private onRemoteTemplate(exporter: string, def: TemplateDef): void {
    this.receiver?.applyTemplate(exporter, def);
    this.pool?.applyTemplate(exporter, def);
  }

  private onRemoteWithdraw(exporter: string, version: number, domain: number, templateId: number): void {
    this.receiver?.applyWithdraw(exporter, version, domain, templateId);
    this.pool?.applyWithdraw(exporter, version, domain, templateId);
  }

  async start(): Promise<void> {
    const c = this.config;
    const emit = (bytes: Uint8Array, id: string, rows: number) => this.publishBatch(bytes, id, rows);
    const options = (f: Fact) => this.options.learnt(f);
    // Batch ids must not repeat after a restart within the bus's (2 min) and ClickHouse's de-duplication windows.
    const batchPrefix = `${c.replicaId}@${Date.now().toString(36)}`;
    if (c.workers === 1) this.receiver = new Receiver(c, { index: -1, batchPrefix, reusePort: false, sync: this.registry, options, emit, log: this.deps.log });
    registerIngestMetrics(this.deps.meter, {
      publish: this.counters,
      receiver: () => this.receiverCounters(),
      decoder: () => this.decoderCounters(),
      templates: () => ({
        kv_writes: this.registry.kvWrites,
        kv_write_errors: this.registry.kvWriteErrors,
        remote: this.registry.remoteTemplates,
        remote_withdrawals: this.registry.remoteWithdrawals,
        options_kv_writes: this.options.kvWrites,
        options_kv_write_errors: this.options.kvWriteErrors,
        options_remote: this.options.remoteFacts,
      }),
      denied: () => this.deniedByExporter(),
      sockets: () => this.sockets,
    });
    let ports: BoundPort[];
    try {
      // Templates and facts the registry holds reach the receiver (or, below, each worker) before any packet.
      await this.registry.start();
      await this.options.start();
      await this.book.start(this.deps.bus);
      if (this.receiver) {
        await this.receiver.listen();
        ports = this.receiver.ports;
      } else {
        this.pool = new WorkerPool(c, { log: this.deps.log, registry: this.registry, options: this.options, book: this.book, emit, batchPrefix, onRestart: () => this.counters.workerRestarts++ });
        await this.pool.start();
        ports = this.pool.ports;
      }
    } catch (err) {
      // The listeners closed themselves; let go of the registry's watches too.
      this.pool = undefined;
      await Promise.allSettled([this.registry.stop(), this.options.stop()]);
      throw err;
    }
    if (this.receiver) this.flushTimer = setInterval(() => this.receiver?.tick(), Math.max(10, Math.floor(c.flushIntervalMs / 2)));
    this.boundPorts = ports.filter((p) => p.transport === 'udp').map((p) => p.port);
    this.tcpPorts = ports.filter((p) => p.transport === 'tcp').map((p) => p.port);
    this.statsTimer = setInterval(() => void this.collect(), Math.min(1000, c.statsIntervalMs));
    this.writeTimer = setInterval(() => void this.writeStats(), c.statsIntervalMs);
    this.statsTimer.unref();
    this.writeTimer.unref();
    if (c.workers > 1) this.deps.log.info({ workers: c.workers, udp: this.boundPorts, tcp: this.tcpPorts }, 'ingest workers listening');
  }

  /** Receiver counters, summed over the decoding threads. */
  /** Kernel thread ids of decoding worker threads; empty when decoding runs on the main thread. */
  decodingThreadIds(): number[] {
    return this.pool?.osThreadIds() ?? [];
  }

  receiverCounters(): ReceiverCounters {
    return this.receiver?.counters ?? this.pool!.counters();
  }

  decoderCounters(): Record<string, number> {
    return this.receiver ? this.receiver.decoderCounters() : (this.pool?.decoderCounters() ?? {});
  }

  /** Denied packets per source for the metric, at most MAX_DENIED_LABELS labels plus `other`. */
  private deniedByExporter(): Map<string, number> {
    const out = new Map<string, number>();
    let other = 0;
    for (const t of this.book.totals()) {
      if (t.packetsDenied === 0) continue;
      if (out.size < MAX_DENIED_LABELS) out.set(t.exporter, t.packetsDenied);
      else other += t.packetsDenied;
    }
    if (other > 0) out.set('other', other);
    return out;
  }

  /** Brings the exporter book and the kernel's socket counters up to date. */
  async collect(): Promise<void> {
    if (this.receiver) this.book.update(0, this.receiver.exporterSnapshots());
    const socks = await readSocketDrops(new Set(this.boundPorts)).catch(() => undefined);
    if (!socks) return;
    // Per-socket counters restart with a new socket; keep what closed sockets had dropped.
    const now = new Set<number>();
    for (const s of socks) {
      now.add(s.inode);
      this.socketDropsSeen.set(s.inode, { port: s.port, drops: s.drops });
    }
    for (const [inode, s] of this.socketDropsSeen) {
      if (now.has(inode)) continue;
      this.socketDropsGone.set(s.port, (this.socketDropsGone.get(s.port) ?? 0) + s.drops);
      this.socketDropsSeen.delete(inode);
    }
    const ports = new Map<number, { port: number; drops: number; queued: number }>();
    for (const p of byPort(socks)) ports.set(p.port, p);
    for (const [port, drops] of this.socketDropsGone) {
      const p = ports.get(port);
      if (p) p.drops += drops;
      else ports.set(port, { port, drops, queued: 0 });
    }
    this.sockets = [...ports.values()].sort((a, b) => a.port - b.port);
  }

  /** Kernel receive-buffer drops of this replica's UDP sockets. */
  get socketDrops(): number {
    let n = 0;
    for (const s of this.sockets) n += s.drops;
    return n;
  }

  /** Writes exporter statistics to the registry; one write at a time. */
  async writeStats(): Promise<void> {
    if (this.writing) return this.writing;
    const r = this.receiverCounters();
    this.writing = this.book
      .write({
        socketDrops: this.socketDrops,
        packetsDenied: r.denied + r.tcpDenied,
        recordsDropped: this.counters.rowsDropped,
        tcpConnections: r.tcpOpen,
        workers: this.config.workers,
      })
      .catch((err: unknown) => this.warn.warn('stats', { err }, 'could not write exporter statistics'))
      .finally(() => (this.writing = undefined));
    return this.writing;
  }

  /** An encoded batch from a decoding thread: hands it to the bus unless too much is waiting already. */
  publishBatch(bytes: Uint8Array, id: string, rows: number): void {
    const c = this.counters;
    if (c.pendingBytes + bytes.byteLength > this.config.maxPendingBytes) {
      c.batchesDropped++;
      c.rowsDropped += rows;
      this.warn.warn('backlog', { pendingBytes: c.pendingBytes }, 'the bus is not keeping up; dropping a batch (see docs/ingest.md, "why are my flows missing")');
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

  async stop(): Promise<void> {
    clearInterval(this.flushTimer);
    clearInterval(this.statsTimer);
    clearInterval(this.writeTimer);
    if (this.receiver) await this.receiver.close();
    if (this.pool) await this.pool.stop();
    await Promise.all([...this.inflight]);
    await this.writing;
    await this.collect();
    await this.writeStats();
    await this.registry.stop();
    await this.options.stop();
  }
}
