// Lossless ingest rate: flowhound against nfcapd, same machine, same run.
//   node test/bench/ingest.ts [--rates 100k,250k,500k,1M,1.5M] [--seconds 5] [--targets flowhound,nfcapd]
//                             [--records 26] [--senders 1] [--drain-max 60] [--all] [--flowhound DIR]
//
// A paced sender (a worker thread: bursts every 1 ms from one UDP socket on
// 127.0.0.1) replays IPFIX messages built in memory, one template
// (id 256, 12 fields, 54 bytes a record) sent first and again every second,
// at R records/s for D seconds, into a fresh collector for each rate:
//   flowhound  `bin/flowhound standalone` (in-memory bus, embedded chDB):
//              decoded, published on the bus, stored (writer rows), from /metrics
//   nfcapd     1.7.1 with -B 16000000; stored = `nfdump -R dir -I` "Flows:"
//   flowhound-ingest (only with --targets): `flowhound run ingest,template-registry`
//              on a local nats-server, stored = acknowledged by JetStream: the
//              ingest service alone, to tell its cost from the writer's and chDB's
// plus, for both, the kernel's receive-buffer drops of the listening socket
// (/proc/net/udp), the collector's CPU and the machine's while the load ran.
// The lossless rate of a target is the highest rate at which it stored at
// least 99.9 % of what was sent. A rate the sender could not reach (achieved
// < 95 % of the target) does not count and ends that target's escalation, as
// does keeping < 50 % (unless --all).
// Results go to stdout as a table; progress goes to stderr.
import { once } from 'node:events';
import dgram from 'node:dgram';
import { readdir, readFile } from 'node:fs/promises';
import { cpus, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { delay, freePort, runTool, spawnTool, startNats, startNfcapd, tempDir, type ToolProcess } from '@flowhound/testkit';
import { dataSets, HEADER_BYTES, POOL, RECORD_BYTES, templateMessage, writeHeader } from './ingest-messages.ts';

// ───────────────────────── sender (worker thread) ─────────────────────────

interface SendJob {
  port: number;
  /** Records per second for this sender. */
  rate: number;
  seconds: number;
  records: number;
  seed: number;
}

interface SendResult {
  packets: number;
  records: number;
  templates: number;
  /** Packets the pacing could not send in time (lag beyond 20 ms is given up, not bursted). */
  missedPackets: number;
  sendErrors: number;
  elapsedMs: number;
}

/** Builds its messages and connects, calls `ready` and waits for it, then sends. */
async function sender(job: SendJob, ready: () => Promise<void>): Promise<SendResult> {
  const pool = dataSets(job.records, job.seed, Date.now());
  const tpl = templateMessage();
  const dataLen = HEADER_BYTES + pool[0].length;
  const sock = dgram.createSocket('udp4');
  let sendErrors = 0;
  sock.on('error', () => sendErrors++);
  sock.connect(job.port, '127.0.0.1');
  await once(sock, 'connect');
  try {
    sock.setSendBufferSize(4 * 1024 * 1024);
  } catch {
    // the default is fine on loopback
  }
  await ready();
  const pps = job.rate / job.records;
  const maxBurst = Math.max(1, Math.ceil(pps * 0.02)); // at most 20 ms worth at once
  const durMs = job.seconds * 1000;
  let seq = 0; // IPFIX: data records sent before this message
  let packets = 0;
  let missed = 0;
  let templates = 0;
  const sendTemplate = () => {
    writeHeader(tpl, tpl.length, Date.now() / 1000, seq);
    sock.send(Buffer.from(tpl)); // a copy: the next template rewrites tpl
    templates++;
  };
  const tick = () => new Promise<void>((r) => setTimeout(r, 1));
  const t0 = performance.now();
  sendTemplate();
  let lastTpl = t0;
  let i = 0;
  for (;;) {
    const now = performance.now();
    const el = Math.min(now - t0, durMs);
    if (now - lastTpl >= 1000 && el < durMs) {
      sendTemplate();
      lastTpl = now;
    }
    let owed = Math.floor((el * pps) / 1000) - packets - missed;
    if (owed > maxBurst) {
      missed += owed - maxBurst;
      owed = maxBurst;
    }
    const secs = Date.now() / 1000;
    for (let k = 0; k < owed; k++) {
      const h = Buffer.allocUnsafe(HEADER_BYTES);
      writeHeader(h, dataLen, secs, seq);
      sock.send([h, pool[i]]);
      i = i + 1 === POOL ? 0 : i + 1;
      seq += job.records;
      packets++;
    }
    if (el >= durMs) break;
    await tick();
  }
  const elapsedMs = performance.now() - t0;
  // Everything handed to the kernel before reporting.
  while (sock.getSendQueueCount() > 0) await delay(1);
  sock.close();
  return { packets, records: packets * job.records, templates, missedPackets: missed, sendErrors, elapsedMs };
}

if (!isMainThread) {
  const port = parentPort!;
  const result = await sender(workerData as SendJob, () => {
    // port.once (not events.once): a listener added this way keeps the thread alive.
    const go = new Promise<void>((r) => port.once('message', () => r()));
    port.postMessage('ready');
    return go;
  });
  port.postMessage(result);
}

/**
 * Runs `senders` worker threads that together send `rate` records/s. Once
 * every sender has built its messages, `onReady` runs (to start measuring)
 * and the senders start together.
 */
async function send(port: number, rate: number, o: Options, onReady: () => Promise<void>): Promise<SendResult> {
  const jobs = Array.from({ length: o.senders }, (_, k): SendJob => ({ port, rate: rate / o.senders, seconds: o.seconds, records: o.records, seed: 0x5eed + k }));
  const workers = jobs.map((job) => {
    const w = new Worker(fileURLToPath(import.meta.url), { workerData: job });
    let onReady!: () => void;
    let onResult!: (r: SendResult) => void;
    let onFail!: (e: Error) => void;
    const ready = new Promise<void>((res, rej) => {
      onReady = res;
      onFail = rej;
    });
    const result = new Promise<SendResult>((res, rej) => {
      onResult = res;
      const prev = onFail;
      onFail = (e) => {
        prev(e);
        rej(e);
      };
    });
    ready.catch(() => {});
    result.catch(() => {});
    let got = false;
    w.on('message', (m: unknown) => {
      if (m === 'ready') onReady();
      else {
        got = true;
        onResult(m as SendResult);
      }
    });
    w.once('error', (e) => onFail(e));
    w.once('exit', (code) => {
      if (!got) onFail(new Error(`sender exited with ${code} before reporting`));
    });
    return { w, ready, result };
  });
  await Promise.all(workers.map((x) => x.ready));
  await onReady();
  for (const { w } of workers) w.postMessage('go');
  const results = await Promise.all(workers.map((x) => x.result));
  return results.reduce((a, b) => ({
    packets: a.packets + b.packets,
    records: a.records + b.records,
    templates: a.templates + b.templates,
    missedPackets: a.missedPackets + b.missedPackets,
    sendErrors: a.sendErrors + b.sendErrors,
    elapsedMs: Math.max(a.elapsedMs, b.elapsedMs),
  }));
}

// ───────────────────────── /proc ─────────────────────────

interface UdpSock {
  rxQueue: number;
  drops: number;
  sockets: number;
}

/**
 * The IPv4 UDP sockets bound to `port` (several when a collector uses
 * SO_REUSEPORT), from /proc/net/udp: bytes queued and datagrams dropped, summed.
 */
async function udpSock(port: number): Promise<UdpSock | undefined> {
  const text = await readFile('/proc/net/udp', 'utf8').catch(() => '');
  let found: UdpSock | undefined;
  for (const line of text.split('\n').slice(1)) {
    const c = line.trim().split(/\s+/);
    if (c.length < 13) continue;
    if (parseInt(c[1].split(':')[1], 16) !== port) continue;
    found ??= { rxQueue: 0, drops: 0, sockets: 0 };
    found.rxQueue += parseInt(c[4].split(':')[1], 16);
    found.drops += Number(c[12]);
    found.sockets++;
  }
  return found;
}

/** The effective receive buffer of the socket on `port` (`ss` skmem rb), or undefined. */
async function rcvBuf(port: number): Promise<number | undefined> {
  try {
    const { stdout } = await runTool('ss', ['-uamnH', `sport = :${port}`], { hint: 'iproute2', timeoutMs: 5_000 });
    const m = /\brb(\d+)/.exec(stdout);
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

const TICKS = 100; // USER_HZ

/** CPU seconds per thread of a process: main thread (tid = pid) and the rest. */
async function threadCpu(pid: number): Promise<{ main: number; other: number }> {
  let main = 0;
  let other = 0;
  const tids = await readdir(`/proc/${pid}/task`).catch(() => [] as string[]);
  for (const tid of tids) {
    const stat = await readFile(`/proc/${pid}/task/${tid}/stat`, 'utf8').catch(() => '');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const s = (Number(f[11]) + Number(f[12])) / TICKS; // utime, stime
    if (Number.isNaN(s)) continue;
    if (Number(tid) === pid) main += s;
    else other += s;
  }
  return { main, other };
}

async function peakRssMiB(pid: number): Promise<number | undefined> {
  const st = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
  const m = /VmHWM:\s+(\d+) kB/.exec(st);
  return m ? Number(m[1]) / 1024 : undefined;
}

/** Busy and total jiffies of the whole machine, from /proc/stat. */
async function machineCpu(): Promise<{ busy: number; total: number }> {
  const line = (await readFile('/proc/stat', 'utf8').catch(() => 'cpu 0 0 0 0')).split('\n')[0];
  const v = line.trim().split(/\s+/).slice(1, 9).map(Number);
  const total = v.reduce((a, b) => a + b, 0);
  return { busy: total - v[3] - (v[4] ?? 0), total };
}

/** The pid of a running process whose command line contains every string in `parts`. */
async function findPid(parts: string[]): Promise<number | undefined> {
  for (const d of await readdir('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    const cmd = await readFile(`/proc/${d}/cmdline`, 'utf8').catch(() => '');
    if (parts.every((p) => cmd.includes(p))) return Number(d);
  }
  return undefined;
}

// ───────────────────────── targets ─────────────────────────

/**
 * flowhound: `bin/flowhound standalone` as shipped (in-memory bus, embedded chDB).
 * flowhound-ingest: `bin/flowhound run ingest,template-registry` on a local
 * nats-server: the ingest service alone, "stored" = acknowledged by
 * JetStream. A diagnostic (ingest without writer, stages and chDB beside
 * it), not a competitor.
 * nfcapd: nfcapd 1.7.1 writing nfcapd files.
 */
type Target = 'flowhound' | 'flowhound-ingest' | 'nfcapd';
const TARGETS: Target[] = ['flowhound', 'flowhound-ingest', 'nfcapd'];

interface Options {
  rates: number[];
  seconds: number;
  targets: Target[];
  records: number;
  senders: number;
  drainMaxS: number;
  all: boolean;
  /** Root of the flowhound checkout to run (its bin/flowhound). */
  flowhoundRoot: string;
}

interface RunResult {
  target: Target;
  rate: number;
  sent: SendResult;
  decoded?: number;
  onBus?: number;
  stored: number;
  ingestDropped?: number;
  /** Datagrams the kernel dropped: the socket's receive buffer was full. */
  sockDrops?: number;
  /** UDP sockets on the port (SO_REUSEPORT collectors have several). */
  sockets?: number;
  rcvBuf?: number;
  /** Max receive-queue bytes seen while sending. */
  maxRxQueue: number;
  /** Max ingest pending bytes (batches waiting for the bus) seen. */
  maxPending?: number;
  /** CPU % while sending (100 = one core): the collector's main thread and its other threads. */
  cpuMain?: number;
  cpuOther?: number;
  /** Whole machine busy % while sending, and this process's (the sender's) CPU %. */
  machineBusy: number;
  benchCpu: number;
  /** Average ms a flows insert took, and stored rows per second from the first byte sent to the last row stored. */
  insertMs?: number;
  storeRate?: number;
  drainS: number;
  drained: boolean;
  peakRss?: number;
  note?: string;
}

const log = (s: string) => process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${s}\n`);
const REPO = fileURLToPath(new URL('../../', import.meta.url));

function metric(text: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  let found = false;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name) || (line[name.length] !== '{' && line[name.length] !== ' ')) continue;
    if (!Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) continue;
    const v = Number(line.slice(line.lastIndexOf(' ') + 1));
    if (!Number.isNaN(v)) {
      sum += v;
      found = true;
    }
  }
  return found ? sum : Number.NaN;
}

interface FhCounters {
  decoded: number;
  published: number;
  dropped: number;
  pending: number;
  stored: number;
  conversations: number;
  insertMs: number;
  inserts: number;
  insertFailures: number;
  badPackets: number;
  misses: number;
}

async function scrape(url: string): Promise<FhCounters | undefined> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(5_000) });
    const t = await res.text();
    const flows = { table: 'flows' };
    return {
      decoded: metric(t, 'flowhound_decoder_total', { kind: 'records' }),
      published: metric(t, 'flowhound_ingest_records_published_total'),
      dropped: metric(t, 'flowhound_ingest_records_dropped_total'),
      pending: metric(t, 'flowhound_ingest_pending_bytes'),
      stored: metric(t, 'flowhound_writer_rows_total', flows),
      conversations: metric(t, 'flowhound_writer_rows_total', { table: 'conversations' }),
      insertMs: metric(t, 'flowhound_writer_insert_ms_total', flows),
      inserts: metric(t, 'flowhound_writer_batches_total', flows),
      insertFailures: metric(t, 'flowhound_writer_insert_failures_total'),
      badPackets: metric(t, 'flowhound_decoder_total', { kind: 'bad_packets' }) + metric(t, 'flowhound_decoder_total', { kind: 'bad_sets' }),
      misses: metric(t, 'flowhound_decoder_total', { kind: 'template_misses' }),
    };
  } catch {
    return undefined;
  }
}

/** Samples the socket (and flowhound's pending bytes) while the sender runs. */
function sampler(port: number, metricsUrl?: string): { stop(): Promise<{ maxRxQueue: number; maxPending: number }> } {
  let running = true;
  let maxRxQueue = 0;
  let maxPending = 0;
  const loop = (async () => {
    let n = 0;
    while (running) {
      const s = await udpSock(port);
      if (s) maxRxQueue = Math.max(maxRxQueue, s.rxQueue);
      if (metricsUrl && n++ % 4 === 0) {
        const c = await scrape(metricsUrl);
        if (c && !Number.isNaN(c.pending)) maxPending = Math.max(maxPending, c.pending);
      }
      await delay(250);
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return { maxRxQueue, maxPending };
    },
  };
}

/** Sends the load while measuring the collector `pid`, the machine and this process. */
async function measuredSend(port: number, rate: number, o: Options, pids: (number | undefined)[], metricsUrl?: string) {
  const s = sampler(port, metricsUrl);
  const pid = pids[0];
  /** The collector's main thread, and everything else of it (other threads, helper processes). */
  const cpuOf = async () => {
    if (pid === undefined) return undefined;
    const all = await Promise.all(pids.filter((p) => p !== undefined).map((p) => threadCpu(p)));
    return { main: all[0].main, other: all[0].other + all.slice(1).reduce((a, b) => a + b.main + b.other, 0) };
  };
  // Taken when the senders are ready, right before the first datagram.
  const start = { cpu: undefined as Awaited<ReturnType<typeof cpuOf>>, machine: { busy: 0, total: 0 }, bench: process.cpuUsage(), t: 0 };
  const sent = await send(port, rate, o, async () => {
    start.cpu = await cpuOf();
    start.machine = await machineCpu();
    start.bench = process.cpuUsage();
    start.t = performance.now();
  });
  const t0 = start.t;
  const sendS = (performance.now() - t0) / 1000;
  const c0 = start.cpu;
  const c1 = await cpuOf();
  const m0 = start.machine;
  const m1 = await machineCpu();
  const b1 = process.cpuUsage(start.bench);
  const samples = await s.stop();
  return {
    sent,
    t0,
    ...samples,
    cpuMain: c0 && c1 ? (100 * (c1.main - c0.main)) / sendS : undefined,
    cpuOther: c0 && c1 ? (100 * (c1.other - c0.other)) / sendS : undefined,
    machineBusy: (100 * (m1.busy - m0.busy)) / Math.max(1, m1.total - m0.total),
    benchCpu: (100 * (b1.user + b1.system)) / 1e6 / sendS,
  };
}

async function runFlowhound(target: Target, rate: number, o: Options): Promise<RunResult> {
  const dir = await tempDir('flowhound-bench');
  const port = await freePort('udp');
  const grpcPort = await freePort('tcp');
  const metricsPort = await freePort('tcp');
  const url = `http://127.0.0.1:${metricsPort}/metrics`;
  const nats = target === 'flowhound-ingest' ? await startNats({ runtime: 'local' }) : undefined;
  const env = {
    ...process.env,
    FLOWHOUND_INGEST_LISTEN: `127.0.0.1:${port}`,
    FLOWHOUND_GRPC_LISTEN: `127.0.0.1:${grpcPort}`,
    FLOWHOUND_METRICS_LISTEN: `127.0.0.1:${metricsPort}`,
    // info: the "flowhound running" line is the readiness signal; after
    // start flowhound logs only warnings (dropped batches…) and errors.
    FLOWHOUND_LOG_LEVEL: 'info',
    ...(nats ? { FLOWHOUND_NATS_URL: nats.url } : {}),
  };
  const args = nats ? ['run', 'ingest,template-registry'] : ['standalone', '--data', `${dir.path}/data`];
  const proc: ToolProcess = spawnTool(join(o.flowhoundRoot, 'bin/flowhound'), args, { hint: 'run scripts/bootstrap', env, cwd: dir.path });
  let drained = false;
  const notes: string[] = [];
  try {
    const deadline = Date.now() + 60_000;
    while (!proc.output().includes('"flowhound running"')) {
      if (proc.exited() || Date.now() > deadline) throw new Error(`flowhound did not start:\n${proc.output().slice(-4000)}`);
      await delay(50);
    }
    // Warnings and errors after the start (pino JSON lines on stderr).
    const warnings = new Set<string>();
    let partial = '';
    proc.child.stderr?.on('data', (chunk: string) => {
      const lines = (partial + chunk).split('\n');
      partial = lines.pop() ?? '';
      for (const l of lines) if (/"level":(4|5|6)0/.test(l)) warnings.add(/"msg":"([^"]*)"/.exec(l)?.[1] ?? l.slice(0, 120));
    });
    const pid = proc.child.pid!;
    const buf = await rcvBuf(port);
    const natsPid = nats ? await findPid(['nats-server', String(nats.port)]) : undefined;
    const m = await measuredSend(port, rate, o, [pid, natsPid], url);
    log(`  ${target}: sent ${fmtN(m.sent.records)} records in ${(m.sent.elapsedMs / 1000).toFixed(2)} s (${fmtRate(m.sent.records / (m.sent.elapsedMs / 1000))}/s); draining…`);

    // Drain: until every decoded record is stored (or dropped), or nothing
    // moved for 5 s, or drainMaxS.
    const d0 = performance.now();
    let last: FhCounters | undefined;
    let lastMove = d0;
    let lastStored = d0;
    let lastLog = d0;
    for (;;) {
      await delay(500);
      const c = await scrape(url);
      const sk = await udpSock(port);
      const now = performance.now();
      if (proc.exited()) {
        notes.push(`flowhound exited during the run: ${proc.output().slice(-300)}`);
        break;
      }
      if (c) {
        if (nats) c.stored = c.published; // acknowledged by JetStream: stored on the bus
        if (!last || c.stored !== last.stored) lastStored = now;
        if (!last || c.decoded !== last.decoded || c.published !== last.published || c.stored !== last.stored || c.conversations !== last.conversations) lastMove = now;
        last = c;
        const settled = (sk?.rxQueue ?? 0) === 0 && c.published + c.dropped >= c.decoded && c.stored >= c.published && c.pending === 0;
        if (settled && now - d0 > 1000) {
          drained = true;
          break;
        }
        if (now - lastLog > 5000) {
          lastLog = now;
          log(`    decoded ${fmtN(c.decoded)}, on bus ${fmtN(c.published)}, stored ${fmtN(c.stored)} (conversations ${fmtN(c.conversations)}), pending ${fmtBytes(c.pending)}`);
        }
      }
      // A scrape that timed out (a busy main thread) is no sign that
      // nothing moves: only a collector that answers and stands still is
      // settled; drainMaxS bounds the wait either way.
      if ((c && now - lastMove > 5000) || now - d0 > o.drainMaxS * 1000) break;
    }
    const drainS = (performance.now() - d0) / 1000;
    const sk = await udpSock(port);
    const peakRss = await peakRssMiB(pid);
    const c = last ?? ({} as FhCounters);
    if (c.badPackets > 0 || c.misses > 0) notes.push(`bad packets/sets ${c.badPackets}, template misses ${c.misses}`);
    if (c.insertFailures > 0) notes.push(`${c.insertFailures} failed inserts`);
    notes.push(...warnings);
    return {
      target,
      rate,
      sent: m.sent,
      decoded: c.decoded,
      onBus: c.published,
      stored: c.stored,
      ingestDropped: c.dropped,
      sockDrops: sk?.drops,
      sockets: sk?.sockets,
      rcvBuf: buf,
      maxRxQueue: m.maxRxQueue,
      maxPending: m.maxPending,
      cpuMain: m.cpuMain,
      cpuOther: m.cpuOther,
      machineBusy: m.machineBusy,
      benchCpu: m.benchCpu,
      insertMs: c.inserts > 0 ? c.insertMs / c.inserts : undefined,
      storeRate: c.stored / ((lastStored - m.t0) / 1000),
      drainS,
      drained,
      peakRss,
      get note() {
        return notes.length ? notes.join('; ') : undefined;
      },
    };
  } finally {
    // Settled: a polite stop (flowhound drains and exits). Not settled: the
    // counts are taken already, and draining the backlog would only cost time.
    const exit = await proc.stop(drained ? 'SIGTERM' : 'SIGKILL', 20_000).catch(() => undefined);
    if (drained && exit && (exit.code !== 0 || exit.signal !== null)) notes.push(`exit after SIGTERM: ${exit.signal ?? `code ${exit.code}`}`);
    await nats?.stop();
    await dir.cleanup();
  }
}

async function runNfcapd(rate: number, o: Options): Promise<RunResult> {
  const port = await freePort('udp');
  const nf = await startNfcapd({ port, args: ['-B', '16000000'] });
  try {
    const pid = await findPid(['nfcapd', nf.dir]);
    const buf = await rcvBuf(port);
    const m = await measuredSend(port, rate, o, [pid]);
    log(`  nfcapd: sent ${fmtN(m.sent.records)} records in ${(m.sent.elapsedMs / 1000).toFixed(2)} s (${fmtRate(m.sent.records / (m.sent.elapsedMs / 1000))}/s); draining…`);
    const d0 = performance.now();
    let drained = false;
    let empty = 0;
    while (performance.now() - d0 < o.drainMaxS * 1000) {
      const sk = await udpSock(port);
      empty = !sk || sk.rxQueue === 0 ? empty + 1 : 0;
      if (empty >= 3) {
        drained = true;
        break;
      }
      await delay(50);
    }
    const sk = await udpSock(port);
    const peakRss = pid ? await peakRssMiB(pid) : undefined;
    const t = await nf.summary(); // SIGTERM (nfcapd flushes its file), then nfdump -R dir -I
    const drainS = (performance.now() - d0) / 1000;
    return {
      target: 'nfcapd',
      rate,
      sent: m.sent,
      stored: t.flows,
      sockDrops: sk?.drops,
      sockets: sk?.sockets,
      rcvBuf: buf,
      maxRxQueue: m.maxRxQueue,
      cpuMain: m.cpuMain !== undefined ? m.cpuMain + (m.cpuOther ?? 0) : undefined,
      machineBusy: m.machineBusy,
      benchCpu: m.benchCpu,
      storeRate: t.flows / ((performance.now() - m.t0) / 1000),
      drainS,
      drained,
      peakRss,
    };
  } finally {
    await nf.cleanup();
  }
}

// ───────────────────────── report ─────────────────────────

function fmtN(n: number | undefined): string {
  if (n === undefined || Number.isNaN(n)) return '-';
  return n.toLocaleString('en-US');
}
function fmtRate(n: number): string {
  if (n >= 1e6) return `${(n / 1e6).toFixed(n % 1e6 === 0 ? 0 : n % 1e5 === 0 ? 1 : 2)}M`;
  return `${(n / 1e3).toFixed(0)}k`;
}
function fmtBytes(n: number | undefined): string {
  if (n === undefined || Number.isNaN(n)) return '-';
  return n >= 1 << 20 ? `${(n / (1 << 20)).toFixed(1)} MiB` : n >= 1024 ? `${(n / 1024).toFixed(0)} KiB` : `${n} B`;
}
function pct(a: number | undefined, b: number): string {
  if (a === undefined || Number.isNaN(a) || b === 0) return '-';
  const p = (100 * a) / b;
  return `${p >= 99.995 && a < b ? '99.99' : p.toFixed(2)}%`;
}
function parseRate(s: string): number {
  const m = /^([\d.]+)\s*([kKmM]?)$/.exec(s.trim());
  if (!m) throw new Error(`bad rate '${s}' (e.g. 250k, 1M, 1.5M)`);
  return Math.round(Number(m[1]) * (m[2].toLowerCase() === 'k' ? 1e3 : m[2].toLowerCase() === 'm' ? 1e6 : 1));
}
const achieved = (r: RunResult) => r.sent.records / (r.sent.elapsedMs / 1000);
const senderOk = (r: RunResult) => achieved(r) >= 0.95 * r.rate;
const lossless = (r: RunResult) => r.sent.records > 0 && r.stored >= 0.999 * r.sent.records;

function table(rows: string[][], rightFrom = 1): string {
  const w = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows.map((r) => r.map((c, i) => (i < rightFrom ? c.padEnd(w[i]) : c.padStart(w[i]))).join('  ').trimEnd()).join('\n');
}

function report(results: RunResult[], o: Options, version: string, busyBefore: number): void {
  const out: string[] = [];
  const bufs = [...new Set(results.map((r) => fmtBytes(r.rcvBuf)))].join(', ');
  out.push(
    `IPFIX over UDP on 127.0.0.1: ${o.records} records (${HEADER_BYTES + 4 + o.records * RECORD_BYTES} B) a datagram, template every 1 s, ` +
      `${o.seconds} s a rate, ${o.senders} sender thread(s), a fresh collector each run, socket rcvbuf ${bufs}`,
  );
  out.push(`${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, node ${process.version}; machine ${busyBefore.toFixed(0)} % busy before the run; flowhound ${o.flowhoundRoot} (${version})`);
  out.push('');
  const rows: string[][] = [['rate', 'target', 'achieved/s', 'sent', 'decoded', 'on bus', 'stored', 'stored %', 'socket drops', 'ingest drops', 'stored/s', 'drain s']];
  for (const r of results) {
    rows.push([
      fmtRate(r.rate),
      r.target,
      fmtRate(achieved(r)) + (senderOk(r) ? '' : ' (!)'),
      fmtN(r.sent.records),
      fmtN(r.decoded),
      fmtN(r.onBus),
      fmtN(r.stored),
      pct(r.stored, r.sent.records),
      r.sockDrops === undefined ? '-' : `${fmtN(r.sockDrops * o.records)} rec`,
      fmtN(r.ingestDropped),
      r.storeRate === undefined || !Number.isFinite(r.storeRate) ? '-' : fmtRate(r.storeRate),
      `${r.drainS.toFixed(1)}${r.drained ? '' : '*'}`,
    ]);
  }
  out.push(table(rows, 2));
  out.push('');
  const res: string[][] = [['rate', 'target', 'sockets', 'CPU% main+other', 'machine busy%', 'sender CPU%', 'max rx queue', 'max pending', 'ms/insert', 'peak RSS']];
  for (const r of results) {
    res.push([
      fmtRate(r.rate),
      r.target,
      fmtN(r.sockets),
      r.cpuMain === undefined ? '-' : r.cpuOther === undefined ? `${r.cpuMain.toFixed(0)}` : `${r.cpuMain.toFixed(0)}+${r.cpuOther.toFixed(0)}`,
      r.machineBusy.toFixed(0),
      r.benchCpu.toFixed(0),
      fmtBytes(r.maxRxQueue),
      fmtBytes(r.maxPending),
      r.insertMs === undefined ? '-' : r.insertMs.toFixed(0),
      r.peakRss === undefined ? '-' : `${r.peakRss.toFixed(0)} MiB`,
    ]);
  }
  out.push(table(res, 2));
  out.push('');

  // Side by side.
  const side: string[][] = [['rate', ...o.targets.flatMap((t) => [`${t} sent`, 'stored', '%'])]];
  for (const rate of o.rates) {
    const byT = o.targets.map((t) => results.find((r) => r.rate === rate && r.target === t));
    if (byT.every((r) => r === undefined)) continue;
    side.push([fmtRate(rate), ...byT.flatMap((r) => (r ? [fmtN(r.sent.records), fmtN(r.stored), pct(r.stored, r.sent.records) + (lossless(r) ? ' ok' : ' LOSS')] : ['-', '-', 'not run']))]);
  }
  out.push(table(side, 1));
  out.push('');
  const w = Math.max(...o.targets.map((t) => t.length));
  for (const t of o.targets) {
    const mine = results.filter((r) => r.target === t && senderOk(r));
    const ok = mine.filter(lossless);
    const best = ok.length ? Math.max(...ok.map((r) => r.rate)) : undefined;
    const lost = mine.filter((r) => !lossless(r));
    const lowerFail = best !== undefined && lost.some((r) => r.rate < best);
    let s = `lossless rate (≥ 99.9 % stored) ${t.padEnd(w)}  `;
    if (best === undefined) s += `below ${fmtRate(Math.min(...o.rates))} records/s (loses at every tested rate)`;
    else {
      s += `${fmtRate(best)} records/s`;
      if (lowerFail) s += ' (but a lower rate lost records)';
      else if (lost.length) s += `; loses at ${fmtRate(Math.min(...lost.map((r) => r.rate)))}/s`;
      else if (best === Math.max(...o.rates)) s += ' or more (the highest rate tested)';
    }
    out.push(s);
  }
  out.push('');
  out.push(
    [
      '(!) the sender reached < 95 % of the rate: not counted.  * the drain window ended before the pipeline settled (stored may still grow up to "on bus").',
      'socket drops: datagrams the kernel dropped because the receive buffer was full (/proc/net/udp), × records a datagram.',
      'stored/s: stored rows / seconds from the first datagram to the last row stored.',
      'CPU% while sending, 100 = one core: flowhound main (JS) thread + its other threads (chDB, libuv, GC; flowhound-ingest: + nats-server); nfcapd: the whole process.',
      'sender CPU%: this process (sender thread + measuring).  max pending: encoded batches waiting for the in-memory bus.',
      'ms/insert: average time of one flows insert (512 rows) as the writer saw it.',
    ].join('\n'),
  );
  const notes = results.filter((r) => r.note).map((r) => `  ${r.target} ${fmtRate(r.rate)}: ${r.note}`);
  if (notes.length) out.push(`collector warnings:\n${notes.join('\n')}`);
  process.stdout.write(`${out.join('\n')}\n`);
}

// ───────────────────────── main ─────────────────────────

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      rates: { type: 'string', default: '100k,250k,500k,1M,1.5M' },
      seconds: { type: 'string', default: '5' },
      targets: { type: 'string', default: 'flowhound,nfcapd' },
      records: { type: 'string', default: '26' },
      senders: { type: 'string', default: '1' },
      'drain-max': { type: 'string', default: '60' },
      all: { type: 'boolean', default: false },
      flowhound: { type: 'string', default: REPO },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(
      [
        'node test/bench/ingest.ts [options]',
        '  --rates 100k,250k,500k,1M,1.5M  records/s, tested in ascending order',
        '  --seconds 5                 send duration per rate',
        `  --targets flowhound,nfcapd  any of ${TARGETS.join(', ')}`,
        '                              (flowhound-ingest: `flowhound run ingest,template-registry` on nats-server,',
        '                              stored = acknowledged by JetStream; a diagnostic: ingest without writer and chDB)',
        '  --records 26                records per IPFIX message (54 B each; 26 → 1,424 B datagrams)',
        '  --senders 1                 sender threads (each its own socket; they share the rate)',
        '  --drain-max 60              seconds to wait for a collector to settle after the send',
        '  --all                       keep testing a target above a rate where it kept < 50 %',
        '  --flowhound DIR             the flowhound checkout to run (DIR/bin/flowhound); default this repository',
        '',
      ].join('\n'),
    );
    return;
  }
  const o: Options = {
    rates: values.rates.split(',').map(parseRate).sort((a, b) => a - b),
    seconds: Number(values.seconds),
    targets: values.targets.split(',').map((t) => t.trim()) as Target[],
    records: Number(values.records),
    senders: Math.max(1, Number(values.senders)),
    drainMaxS: Number(values['drain-max']),
    all: values.all,
    flowhoundRoot: resolve(values.flowhound),
  };
  for (const t of o.targets) if (!TARGETS.includes(t)) throw new Error(`unknown target '${t}' (${TARGETS.join(', ')})`);
  if (!(o.seconds > 0) || !(o.records >= 1) || HEADER_BYTES + 4 + o.records * RECORD_BYTES > 65_507) throw new Error('bad --seconds or --records');

  // Other work on the machine skews every figure here: measure it first.
  const i0 = await machineCpu();
  await delay(1000);
  const i1 = await machineCpu();
  const busyBefore = (100 * (i1.busy - i0.busy)) / Math.max(1, i1.total - i0.total);
  if (busyBefore > 10) log(`warning: the machine is ${busyBefore.toFixed(0)} % busy before the benchmark starts; results will be skewed`);

  const results: RunResult[] = [];
  const skip = new Set<Target>();
  const t0 = performance.now();
  for (const rate of o.rates) {
    log(`rate ${fmtRate(rate)} records/s (${fmtN(Math.round(rate / o.records))} datagrams/s) for ${o.seconds} s`);
    for (const t of o.targets) {
      if (skip.has(t)) {
        log(`  ${t}: not run (kept < 50 % at a lower rate, or the sender could not keep up beside it)`);
        continue;
      }
      const r = t === 'nfcapd' ? await runNfcapd(rate, o) : await runFlowhound(t, rate, o);
      results.push(r);
      if (r.sent.missedPackets > 0 || r.sent.sendErrors > 0) {
        log(`  sender: fell behind by ${fmtN(r.sent.missedPackets)} datagrams (not sent), ${fmtN(r.sent.sendErrors)} send errors`);
      }
      log(
        `  ${t}: stored ${fmtN(r.stored)} of ${fmtN(r.sent.records)} (${pct(r.stored, r.sent.records)})` +
          (r.decoded !== undefined ? `, decoded ${fmtN(r.decoded)}, on bus ${fmtN(r.onBus)}` : '') +
          `, socket drops ${fmtN(r.sockDrops)} datagrams, drain ${r.drainS.toFixed(1)} s${r.drained ? '' : ' (not settled)'}`,
      );
      // The sender could not keep up beside this collector: higher rates
      // would measure the sender, not the collector.
      if (!senderOk(r)) {
        log(`  the sender reached less than 95 % of ${fmtRate(rate)}/s beside ${t}: not escalating ${t} further`);
        skip.add(t);
      }
      // What it will have stored once drained: at most what reached the bus.
      if (!o.all && Math.max(r.stored, r.onBus ?? 0) < 0.5 * r.sent.records) skip.add(t);
    }
    if (skip.size === o.targets.length) break;
  }
  log(`done in ${((performance.now() - t0) / 1000).toFixed(0)} s`);
  const version = await runTool('git', ['-C', o.flowhoundRoot, 'describe', '--always', '--dirty'], { hint: 'git', timeoutMs: 5_000 })
    .then((r) => `git ${r.stdout.trim()}`)
    .catch(() => 'not a git checkout');
  report(results, o, version, busyBefore);
}

if (isMainThread) {
  main().catch((err) => {
    process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  });
}
