// nfcapd/nfdump 1.7.1 as the test oracle: what a reference collector stores
// from the very same export packets.
import { readdir } from 'node:fs/promises';
import { ToolFailedError, ToolTimeoutError } from './errors.ts';
import { delay, udpSocketsOnPort } from './ports.ts';
import { runTool, spawnTool } from './process.ts';
import { tempDir } from './temp.ts';

export interface StartNfcapdOptions {
  port: number;
  /** Address to bind; default 127.0.0.1. */
  host?: string;
  /** Extra nfcapd arguments. */
  args?: string[];
  /** Default 10 s. */
  startTimeoutMs?: number;
}

export interface NfdumpTotals {
  flows: number;
  bytes: number;
  packets: number;
}

/** One record as nfdump prints it (`-o json`, times in UTC). */
export interface NfdumpFlow {
  /** Epoch milliseconds. nfdump 1.7.1 swaps IPFIX flowStart/EndSysUpTime, so first > last there. */
  first: number;
  last: number;
  proto: number;
  src: string;
  dst: string;
  sport: number;
  /** For ICMP: type * 256 + code. */
  dport: number;
  packets: number;
  bytes: number;
  /** Reverse counters of biflows (softflowd -b); 0 otherwise. */
  outPackets: number;
  outBytes: number;
  tcpFlags: string;
  /** DIRECTION (IE 61) as exported; softflowd sends 0 for the lower address's direction, 1 for the other. */
  direction: number;
  /** The exporter's address as nfcapd saw it. */
  exporter: string;
}

export interface Nfcapd {
  /** The directory nfcapd writes its files into (removed by `cleanup()`). */
  readonly dir: string;
  readonly port: number;
  /** Lets nfcapd read what is queued, then SIGTERM (nfcapd flushes and closes its file) and waits. Safe to call twice. */
  stop(): Promise<void>;
  /** Totals of everything stored, from `nfdump -R dir -I`. Stops nfcapd first if it still runs. */
  summary(): Promise<NfdumpTotals>;
  /** Every stored record, from `nfdump -R dir -o json`. Stops nfcapd first if it still runs. */
  flows(): Promise<NfdumpFlow[]>;
  /** nfcapd's log so far. */
  output(): string;
  /** Stops nfcapd if needed and removes the directory. */
  cleanup(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

const NFDUMP_HINT = 'install it with `apt-get install nfdump` (Debian/Ubuntu)';

/** Starts `nfcapd -b HOST -p PORT -w DIR` in the foreground and waits until its socket is bound. */
export async function startNfcapd(opts: StartNfcapdOptions): Promise<Nfcapd> {
  const dir = await tempDir('flowhound-nfcapd');
  const host = opts.host ?? '127.0.0.1';
  const args = ['-b', host, '-p', String(opts.port), '-w', dir.path, ...(opts.args ?? [])];
  // Sockets already on the port (someone else's) must not count as nfcapd's.
  const before = (await udpSocketsOnPort(opts.port))?.length ?? 0;
  const proc = spawnTool('nfcapd', args, { hint: NFDUMP_HINT });
  const timeoutMs = opts.startTimeoutMs ?? 10_000;
  try {
    const ready = await Promise.race([waitBound(opts.port, before, () => proc.output(), timeoutMs, () => proc.exited()), proc.exit.then(() => false)]);
    if (!ready) {
      if (proc.exited()) {
        const { code, signal } = await proc.exit;
        throw new ToolFailedError('nfcapd', args, code, signal, proc.output());
      }
      throw new ToolTimeoutError('nfcapd', `did not bind ${host}:${opts.port}`, timeoutMs, proc.output());
    }
  } catch (err) {
    await proc.stop('SIGKILL').catch(() => {});
    await dir.cleanup();
    throw err;
  }

  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> =>
    (stopped ??= (async () => {
      if (proc.exited()) return;
      await drain(opts.port);
      const { code, signal } = await proc.stop('SIGTERM', 10_000);
      if (code !== 0 && signal === null) throw new ToolFailedError('nfcapd', args, code, signal, proc.output());
    })());

  const files = async (): Promise<boolean> => (await readdir(dir.path)).some((f) => f.startsWith('nfcapd.'));

  const summary = async (): Promise<NfdumpTotals> => {
    await stop();
    // nfdump 1.7.1 segfaults on a directory without files: nothing stored is zero.
    if (!(await files())) return { flows: 0, bytes: 0, packets: 0 };
    const { stdout } = await runTool('nfdump', ['-R', dir.path, '-I'], { hint: NFDUMP_HINT, timeoutMs: 30_000, env: { ...process.env, TZ: 'UTC' } });
    return parseStatInfo(stdout);
  };

  const flows = async (): Promise<NfdumpFlow[]> => {
    await stop();
    if (!(await files())) return [];
    const { stdout } = await runTool('nfdump', ['-R', dir.path, '-o', 'json'], { hint: NFDUMP_HINT, timeoutMs: 30_000, env: { ...process.env, TZ: 'UTC' } });
    return parseJsonFlows(stdout);
  };

  const cleanup = async (): Promise<void> => {
    await stop().catch(() => {});
    await dir.cleanup();
  };

  return { dir: dir.path, port: opts.port, stop, summary, flows, output: () => proc.output(), cleanup, [Symbol.asyncDispose]: cleanup };
}

/** Bound once /proc/net/udp lists one more socket on the port; where /proc is missing, once nfcapd logs its startup. */
async function waitBound(port: number, before: number, output: () => string, timeoutMs: number, dead: () => boolean): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline && !dead()) {
    const socks = await udpSocketsOnPort(port);
    if (socks === null ? /Startup/.test(output()) : socks.length > before) return true;
    await delay(20);
  }
  return false;
}

/**
 * nfcapd drops what is still queued in its socket when SIGTERM arrives. Wait
 * (up to 3 s) until the receive queue is empty twice in a row, so every
 * datagram already sent is stored.
 */
async function drain(port: number): Promise<void> {
  const deadline = Date.now() + 3_000;
  let emptyRuns = 0;
  while (Date.now() < deadline) {
    const socks = await udpSocketsOnPort(port);
    if (socks === null) {
      await delay(200);
      return;
    }
    emptyRuns = socks.every((s) => s.rxQueue === 0) ? emptyRuns + 1 : 0;
    if (emptyRuns >= 2) return;
    await delay(25);
  }
}

/** Parses `nfdump -I`: lines like `Flows: 156`, `Bytes: 432425`, `Packets: 1637`. */
export function parseStatInfo(text: string): NfdumpTotals {
  const get = (name: string): number => {
    const m = new RegExp(`^\\s*${name}\\s*:\\s*(\\d+)\\s*$`, 'mi').exec(text);
    if (!m) throw new Error(`nfdump -I output has no "${name}:" line:\n${text}`);
    return Number(m[1]);
  };
  return { flows: get('Flows'), bytes: get('Bytes'), packets: get('Packets') };
}

const parseTime = (s: unknown): number => (typeof s === 'string' ? Date.parse(s.endsWith('Z') ? s : `${s}Z`) : Number.NaN);

/** Parses `nfdump -o json` (a JSON array; objects of other types than FLOW are skipped). */
export function parseJsonFlows(text: string): NfdumpFlow[] {
  const trimmed = text.trim();
  if (trimmed === '') return [];
  // With -q nfdump 1.7.1 drops the brackets; accept both.
  const json = trimmed.startsWith('[') ? trimmed : `[${trimmed.replace(/,\s*$/, '')}]`;
  const rows = JSON.parse(json) as Array<Record<string, unknown>>;
  const num = (v: unknown): number => (typeof v === 'number' ? v : Number(v ?? 0));
  return rows
    .filter((r) => r.type === undefined || r.type === 'FLOW')
    .map((r) => ({
      first: parseTime(r.first),
      last: parseTime(r.last),
      proto: num(r.proto),
      src: String(r.src4_addr ?? r.src6_addr ?? ''),
      dst: String(r.dst4_addr ?? r.dst6_addr ?? ''),
      // ICMP records carry icmp_type/icmp_code instead of ports: type * 256 + code, as exported.
      sport: r.icmp_type !== undefined ? 0 : num(r.src_port),
      dport: r.icmp_type !== undefined ? num(r.icmp_type) * 256 + num(r.icmp_code) : num(r.dst_port),
      packets: num(r.in_packets),
      bytes: num(r.in_bytes),
      outPackets: num(r.out_packets),
      outBytes: num(r.out_bytes),
      tcpFlags: String(r.tcp_flags ?? ''),
      direction: num(r.direction),
      exporter: String(r.ip4_router ?? r.ip6_router ?? ''),
    }));
}
