// The main thread's side of ingest.workers > 1: starts the decoding
// threads, relays template news between them and the registry, takes
// their batches and statistics, and restarts a thread that fails.
import { Worker } from 'node:worker_threads';
import type { TemplateDef } from '@flowhound/codec';
import type { Logger } from '@flowhound/runtime';
import type { IngestConfig } from './config.ts';
import { IngestWorkerError } from './errors.ts';
import type { ExporterBook } from './exporters.ts';
import { addCounters, ReceiverCounters } from './metrics.ts';
import type { BoundPort } from './receiver.ts';
import type { Fact, RegistryOptions } from './options.ts';
import type { RegistryTemplates } from './templates.ts';
import type { FromWorker, ToWorker, WorkerInit, WorkerStats } from './worker.ts';

const WORKER_URL = new URL('./worker.ts', import.meta.url);
const STOP_TIMEOUT_MS = 10_000;
const RESTART_DELAY_MS = 1000;
/**
 * Young generation of a decoding thread. Each datagram arrives in a new
 * Buffer whose bytes live outside the JS heap; V8 frees them at the next
 * scavenge, but with the default young generation (tens of MB, filled
 * slowly: a datagram leaves a few hundred bytes of JS objects) the bytes
 * outside the heap passed V8's 64 MB mark first and forced a full GC, 15
 * in 8 s at 1M records/s (~300 ms of pauses plus concurrent marking on
 * the other core). With 8 MB, scavenges (37 in 8 s, 100 ms in all) free
 * them first, and the thread had no full GC during the load.
 */
const WORKER_YOUNG_GENERATION_MB = 8;

/** The config with each port-0 listen address replaced by the port the first worker bound. */
export function resolvePorts(config: Readonly<IngestConfig>, ports: readonly BoundPort[]): Readonly<IngestConfig> {
  const fix = (addrs: readonly string[], transport: 'udp' | 'tcp') =>
    addrs.map((a, i) => {
      const bound = ports.filter((p) => p.transport === transport)[i];
      return bound && /:0$/.test(a) ? `${a.slice(0, a.lastIndexOf(':'))}:${bound.port}` : a;
    });
  return Object.freeze({ ...config, listen: fix(config.listen, 'udp'), listenTcp: fix(config.listenTcp, 'tcp') });
}

export interface WorkerPoolDeps {
  readonly log: Logger;
  readonly registry: RegistryTemplates;
  readonly options: RegistryOptions;
  readonly book: ExporterBook;
  /** An encoded batch from a worker, to publish. */
  readonly emit: (bytes: Uint8Array, id: string, rows: number) => void;
  /** Batch ids of worker i's n-th thread start with `<batchPrefix>/<i>.<n>`. */
  readonly batchPrefix: string;
  /** Called when a worker thread had to be restarted. */
  readonly onRestart: () => void;
}

class Slot {
  readonly index: number;
  worker: Worker | undefined;
  /** Unique per started thread, so a restarted worker's counters add to, not replace, the old one's. */
  thread = -1;
  last: WorkerStats | undefined;
  stopped: (() => void) | undefined;
  /** Kernel thread id of the running worker (Linux), 0 when unknown. */
  osThreadId = 0;

  constructor(index: number) {
    this.index = index;
  }
}

export class WorkerPool {
  readonly ports: BoundPort[] = [];
  private config: Readonly<IngestConfig>;
  private readonly deps: WorkerPoolDeps;
  private readonly slots: Slot[];
  /** Counters of threads that ended (restarts), so totals never go backwards. */
  private readonly retired = new ReceiverCounters();
  private readonly retiredDecoder: Record<string, number> = {};
  private nextThread = 0;
  private stopping = false;
  private readonly statsEveryMs: number;

  constructor(config: Readonly<IngestConfig>, deps: WorkerPoolDeps) {
    this.config = config;
    this.deps = deps;
    this.slots = Array.from({ length: config.workers }, (_, i) => new Slot(i));
    this.statsEveryMs = Math.min(1000, config.statsIntervalMs);
  }

  async start(): Promise<void> {
    try {
      // The first worker binds; the others then bind the very ports it got
      // (a listen address with port 0 means "any port", once).
      await this.spawn(this.slots[0]);
      this.config = resolvePorts(this.config, this.ports);
      const started = await Promise.allSettled(this.slots.slice(1).map((s) => this.spawn(s)));
      const failed = started.find((r) => r.status === 'rejected');
      if (failed) throw (failed as PromiseRejectedResult).reason;
    } catch (err) {
      this.stopping = true;
      await Promise.all(this.slots.map((s) => s.worker?.terminate()));
      throw err;
    }
  }

  private spawn(slot: Slot): Promise<void> {
    const thread = this.nextThread++;
    const init: WorkerInit = { config: this.config, index: slot.index, batchPrefix: `${this.deps.batchPrefix}/${slot.index}.${thread}`, statsEveryMs: this.statsEveryMs };
    const w = new Worker(WORKER_URL, { workerData: init, name: `flowhound-ingest-${slot.index}`, resourceLimits: { maxYoungGenerationSizeMb: WORKER_YOUNG_GENERATION_MB } });
    slot.worker = w;
    slot.thread = thread;
    slot.last = undefined;
    // Every template and options fact known so far, before any packet can arrive.
    this.post(slot, { t: 'templates', list: [...this.deps.registry.known()] });
    this.post(slot, { t: 'options', facts: this.deps.options.all() });
    return new Promise<void>((resolve, reject) => {
      let ready = false;
      w.on('message', (m: FromWorker) => {
        switch (m.t) {
          case 'ready':
            ready = true;
            slot.osThreadId = m.osThreadId;
            if (this.ports.length === 0) this.ports.push(...m.ports);
            resolve();
            break;
          case 'failed':
            reject(new IngestWorkerError(slot.index, m.message));
            break;
          default:
            this.onMessage(slot, m);
        }
      });
      w.on('error', (err) => {
        this.deps.log.error({ err, worker: slot.index }, 'ingest worker failed');
        if (!ready) reject(new IngestWorkerError(slot.index, err.message, { cause: err }));
      });
      w.on('exit', (code) => {
        if (slot.worker !== w) return;
        this.retire(slot);
        slot.worker = undefined;
        slot.stopped?.();
        if (!ready) reject(new IngestWorkerError(slot.index, `exited with code ${code} before it was listening`));
        else if (!this.stopping) {
          this.deps.log.error({ worker: slot.index, code }, 'ingest worker exited; restarting it');
          this.deps.onRestart();
          setTimeout(() => {
            if (!this.stopping) this.spawn(slot).catch((err: unknown) => this.deps.log.error({ err, worker: slot.index }, 'could not restart an ingest worker'));
          }, RESTART_DELAY_MS).unref();
        }
      });
    });
  }

  private retire(slot: Slot): void {
    if (!slot.last) return;
    addCounters(this.retired, slot.last.counters);
    this.retired.tcpOpen = 0;
    // A thread that stopped cleanly dropped and counted its held sets itself;
    // one that died took them along: count them as of its last statistics.
    const c = slot.last.counters;
    const lost = c.held - c.heldReleased - c.heldDropped;
    if (lost > 0) {
      this.retired.heldDropped += lost;
      this.retired.heldDroppedAtShutdown += lost;
      this.deps.log.warn({ worker: slot.index, sets: lost }, `${lost} held data sets (data waiting for its template) lost with the worker, as of its last statistics`);
    }
    addCounters(this.retiredDecoder, slot.last.decoder);
    slot.last = undefined;
  }

  private post(slot: Slot, m: ToWorker): void {
    slot.worker?.postMessage(m);
  }

  private onMessage(slot: Slot, m: FromWorker): void {
    switch (m.t) {
      case 'batch':
        this.deps.emit(m.bytes, m.id, m.rows);
        break;
      case 'template':
        this.deps.registry.put(m.exporter, m.def);
        this.broadcast({ t: 'templates', list: [{ exporter: m.exporter, def: m.def }] }, slot.index);
        break;
      case 'refreshed':
        this.deps.registry.refreshed(m.exporter, m.def);
        break;
      case 'withdraw':
        this.deps.registry.withdraw(m.exporter, m.version, m.domain, m.templateId);
        this.broadcast(m, slot.index);
        break;
      case 'options':
        this.deps.options.learnt(m.fact);
        this.broadcast({ t: 'options', facts: [m.fact] }, slot.index);
        break;
      case 'stats':
        slot.last = m.stats;
        this.deps.book.update(slot.thread, m.stats.exporters);
        break;
      case 'stopped':
        slot.last = m.stats;
        this.deps.book.update(slot.thread, m.stats.exporters);
        slot.stopped?.();
        break;
      case 'log': {
        const log = this.deps.log;
        log[m.level](m.obj, m.msg);
        break;
      }
    }
  }

  /** Sends to every worker but `except`. */
  broadcast(m: ToWorker, except = -1): void {
    for (const s of this.slots) if (s.index !== except) this.post(s, m);
  }

  /** A template another replica (or the registry) knows: every worker gets it. */
  applyTemplate(exporter: string, def: TemplateDef): void {
    this.broadcast({ t: 'templates', list: [{ exporter, def }] });
  }

  /** A template another replica withdrew: every worker drops it. */
  applyWithdraw(exporter: string, version: number, domain: number, templateId: number): void {
    this.broadcast({ t: 'withdraw', exporter, version, domain, templateId });
  }

  /** A fact another replica learnt: every worker gets it. */
  applyOptions(f: Fact): void {
    this.broadcast({ t: 'options', facts: [f] });
  }

  /** Receiver counters summed over the threads, restarted ones included. */
  /** Kernel thread ids of the decoding threads (Linux; see ThreadPriority in services/standalone). */
  osThreadIds(): number[] {
    return this.slots.map((s) => s.osThreadId).filter((t) => t > 0);
  }

  counters(): ReceiverCounters {
    const sum = addCounters(new ReceiverCounters(), this.retired);
    for (const s of this.slots) if (s.last) addCounters(sum, s.last.counters);
    return sum;
  }

  decoderCounters(): Record<string, number> {
    const sum: Record<string, number> = { ...this.retiredDecoder };
    for (const s of this.slots) if (s.last) addCounters(sum, s.last.decoder);
    return sum;
  }

  /** The worker threads (for tests and diagnostics). */
  threads(): (Worker | undefined)[] {
    return this.slots.map((s) => s.worker);
  }

  /** The latest statistics of each worker (undefined before its first report). */
  workerStats(): (WorkerStats | undefined)[] {
    return this.slots.map((s) => s.last);
  }

  get tcpConnections(): number {
    let n = 0;
    for (const s of this.slots) n += s.last?.tcpConnections ?? 0;
    return n;
  }

  /** Asks every worker to close its sockets and send its last batch and statistics; waits for them. */
  async stop(): Promise<void> {
    this.stopping = true;
    await Promise.all(
      this.slots.map(async (s) => {
        const w = s.worker;
        if (!w) return;
        const done = new Promise<void>((r) => (s.stopped = r));
        this.post(s, { t: 'stop' });
        let timer: NodeJS.Timeout | undefined;
        const timeout = new Promise<boolean>((r) => (timer = setTimeout(() => r(false), STOP_TIMEOUT_MS)));
        const ok = await Promise.race([done.then(() => true), timeout]);
        clearTimeout(timer);
        if (!ok) this.deps.log.warn({ worker: s.index }, 'ingest worker did not stop in time; terminating it');
        await w.terminate();
      }),
    );
  }
}
