// Entry point of one decoding worker thread (ingest.workers > 1). It runs
// a Receiver: binds every listen address with SO_REUSEPORT, decodes, and
// posts to the main thread encoded batches (the ArrayBuffer is transferred,
// not copied), template news, statistics and log lines. The main thread
// owns the bus and the registry; templates learnt elsewhere come back here.
import { readlinkSync } from 'node:fs';
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import type { TemplateDef } from '@flowhound/codec';
import type { Logger } from '@flowhound/runtime';
import type { IngestConfig } from './config.ts';
import type { ExporterSnapshot } from './exporters.ts';
import type { ReceiverCounters } from './metrics.ts';
import type { Fact } from './options.ts';
import { Receiver, type BoundPort } from './receiver.ts';

export interface WorkerInit {
  readonly config: IngestConfig;
  readonly index: number;
  /** Batch id prefix, unique to this thread's run. */
  readonly batchPrefix: string;
  /** How often statistics go to the main thread (ms). */
  readonly statsEveryMs: number;
}

/** Main thread → worker. */
export type ToWorker =
  | { t: 'templates'; list: { exporter: string; def: TemplateDef }[] }
  | { t: 'withdraw'; exporter: string; version: number; domain: number; templateId: number }
  | { t: 'options'; facts: Fact[] }
  | { t: 'stop' };

export interface WorkerStats {
  counters: ReceiverCounters;
  decoder: Record<string, number>;
  exporters: ExporterSnapshot[];
  tcpConnections: number;
}

/** Worker → main thread. */
export type FromWorker =
  | { t: 'ready'; ports: BoundPort[]; osThreadId: number }
  | { t: 'failed'; message: string }
  | { t: 'batch'; id: string; rows: number; bytes: Uint8Array }
  | { t: 'template'; exporter: string; def: TemplateDef }
  | { t: 'refreshed'; exporter: string; def: TemplateDef }
  | { t: 'withdraw'; exporter: string; version: number; domain: number; templateId: number }
  | { t: 'options'; fact: Fact }
  | { t: 'stats'; stats: WorkerStats }
  | { t: 'log'; level: 'debug' | 'info' | 'warn' | 'error'; obj: Record<string, unknown>; msg: string }
  | { t: 'stopped'; stats: WorkerStats };

/** Errors do not survive postMessage whole everywhere: send what a log line needs. */
function plain(obj: unknown): Record<string, unknown> {
  if (typeof obj !== 'object' || obj === null) return {};
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(obj)) out[k] = v instanceof Error ? { type: v.name, message: v.message, stack: v.stack } : v;
  return out;
}

/** A logger that hands lines to the main thread's logger. */
function portLogger(port: MessagePort, index: number): Logger {
  const at =
    (level: 'debug' | 'info' | 'warn' | 'error') =>
    (a: unknown, b?: string): void => {
      const msg: FromWorker = typeof a === 'string' ? { t: 'log', level, obj: { worker: index }, msg: a } : { t: 'log', level, obj: { ...plain(a), worker: index }, msg: b ?? '' };
      port.postMessage(msg);
    };
  const log = { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error'), fatal: at('error'), trace: () => {} } as Record<string, unknown>;
  log.child = () => log;
  return log as unknown as Logger;
}

function stats(r: Receiver, all: boolean): WorkerStats {
  return { counters: { ...r.counters }, decoder: r.decoderCounters(), exporters: r.exporterSnapshots(all), tcpConnections: r.tcpConnections };
}

async function run(port: MessagePort, init: WorkerInit): Promise<void> {
  const post = (m: FromWorker, transfer?: ArrayBuffer[]) => port.postMessage(m, transfer);
  const r = new Receiver(init.config, {
    index: init.index,
    batchPrefix: init.batchPrefix,
    reusePort: true,
    log: portLogger(port, init.index),
    options: (fact) => post({ t: 'options', fact }),
    emit: (bytes, id, rows) => post({ t: 'batch', id, rows, bytes }, [bytes.buffer as ArrayBuffer]),
    sync: {
      put: (exporter, def) => post({ t: 'template', exporter, def }),
      refreshed: (exporter, def) => post({ t: 'refreshed', exporter, def }),
      withdraw: (exporter, version, domain, templateId) => post({ t: 'withdraw', exporter, version, domain, templateId }),
    },
  });
  let tick: NodeJS.Timeout | undefined;
  let statsTimer: NodeJS.Timeout | undefined;
  port.on('message', (m: ToWorker) => {
    switch (m.t) {
      case 'templates':
        for (const x of m.list) r.applyTemplate(x.exporter, x.def);
        break;
      case 'withdraw':
        r.applyWithdraw(m.exporter, m.version, m.domain, m.templateId);
        break;
      case 'options':
        for (const f of m.facts) r.applyOptions(f);
        break;
      case 'stop':
        clearInterval(tick);
        clearInterval(statsTimer);
        void r.close().then(() => {
          post({ t: 'stopped', stats: stats(r, true) });
          port.close();
        });
        break;
    }
  });
  try {
    await r.listen();
  } catch (err) {
    post({ t: 'failed', message: (err as Error).message });
    port.close();
    return;
  }
  tick = setInterval(() => r.tick(), Math.max(10, Math.floor(init.config.flushIntervalMs / 2)));
  statsTimer = setInterval(() => post({ t: 'stats', stats: stats(r, false) }), init.statsEveryMs);
  post({ t: 'ready', ports: r.ports, osThreadId: osThreadId() });
}

/** This thread's kernel id (Linux), so the main thread can leave it at normal priority; 0 elsewhere. */
function osThreadId(): number {
  try {
    return Number(readlinkSync('/proc/thread-self').split('/').pop()) || 0;
  } catch {
    return 0;
  }
}

if (parentPort) void run(parentPort, workerData as WorkerInit);
