// Test-side helpers for end-to-end runs: flowhound processes started the
// way a user starts them, a UDP tee that sends one exporter's packets to
// several collectors, and a splitter that sends template sets to one ingest
// replica and data sets to another.
import { spawn, type ChildProcess } from 'node:child_process';
import dgram from 'node:dgram';
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const NODE = `${ROOT}node_modules/.bin/node`;
const CLI = `${ROOT}packages/cli/src/main.ts`;

export interface FlowhoundProcess {
  readonly name: string;
  readonly child: ChildProcess;
  readonly logs: string[];
  stop(): Promise<number | null>;
}

/** Starts `flowhound <args>` and resolves once it logs 'flowhound running'. */
export function startFlowhound(name: string, args: string[], env: Record<string, string>, timeoutMs = 30_000): Promise<FlowhoundProcess> {
  const child = spawn(NODE, [CLI, ...args], { cwd: ROOT, env: { ...process.env, FLOWHOUND_METRICS_LISTEN: '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const logs: string[] = [];
  let buf = '';
  const proc: FlowhoundProcess = {
    name,
    child,
    logs,
    stop: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null) return resolve(child.exitCode);
        const t = setTimeout(() => child.kill('SIGKILL'), 20_000);
        child.once('exit', (code) => {
          clearTimeout(t);
          resolve(code);
        });
        child.kill('SIGTERM');
      }),
  };
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name} did not start within ${timeoutMs} ms:\n${logs.slice(-20).join('\n')}`)), timeoutMs);
    const onData = (d: Buffer) => {
      buf += d.toString();
      let i: number;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        logs.push(line);
        if (line.includes('"flowhound running"')) {
          clearTimeout(timer);
          resolve(proc);
        }
      }
    };
    child.stderr!.on('data', onData);
    child.stdout!.on('data', (d: Buffer) => logs.push(d.toString()));
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited with ${code} before it was running:\n${logs.slice(-30).join('\n')}`));
    });
  });
}

/** Runs the CLI to completion and returns stdout (throws with stderr on failure). */
export function cli(args: string[], env: Record<string, string> = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(NODE, [CLI, ...args], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.once('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`flowhound ${args.join(' ')} exited ${code}: ${err}`))));
  });
}

export interface Totals {
  flows: number;
  bytes: number;
  packets: number;
}

/** Sums what `flowhound flows` returns for a filter. */
export async function storedTotals(server: string, filter: string): Promise<Totals> {
  const out = await cli(['flows', '--server', server, '--filter', filter, '--limit', '1000000', '--format', 'ndjson', '--columns', 'bytes,packets']);
  const t = { flows: 0, bytes: 0, packets: 0 };
  for (const line of out.split('\n')) {
    if (!line) continue;
    const r = JSON.parse(line) as { bytes: number; packets: number };
    t.flows++;
    t.bytes += r.bytes;
    t.packets += r.packets;
  }
  return t;
}

/** Polls until `fn` returns a value `ok` accepts, or the time is up (returns the last value). */
export async function eventually<T>(fn: () => Promise<T>, ok: (v: T) => boolean, timeoutMs = 30_000, everyMs = 500): Promise<T> {
  const end = Date.now() + timeoutMs;
  let v = await fn();
  while (!ok(v) && Date.now() < end) {
    await new Promise((r) => setTimeout(r, everyMs));
    v = await fn();
  }
  return v;
}

export interface Relay {
  readonly port: number;
  packets: number;
  close(): Promise<void>;
}

/**
 * A UDP relay on 127.0.0.1: each packet it receives goes through `route`,
 * which returns [port, bytes] pairs to send on. The relay sends from one
 * socket, so every collector sees the same exporter address.
 */
export async function udpRelay(route: (pkt: Buffer) => [number, Buffer][]): Promise<Relay> {
  const sock = dgram.createSocket('udp4');
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
  const relay: Relay = {
    port: sock.address().port,
    packets: 0,
    close: () => new Promise((r) => sock.close(() => r())),
  };
  sock.on('message', (pkt) => {
    relay.packets++;
    for (const [port, bytes] of route(pkt)) sock.send(bytes, port, '127.0.0.1');
  });
  return relay;
}

/**
 * Splits a NetFlow v9 or IPFIX message into one that carries only its
 * template/options-template sets and one that carries only data sets; either
 * may be null.
 */
export function splitTemplates(pkt: Buffer): { templates: Buffer | null; data: Buffer | null } {
  const version = pkt.readUInt16BE(0);
  const hdr = version === 9 ? 20 : 16;
  const tpl: Buffer[] = [];
  const data: Buffer[] = [];
  let off = hdr;
  const end = version === 10 ? Math.min(pkt.readUInt16BE(2), pkt.length) : pkt.length;
  while (off + 4 <= end) {
    const id = pkt.readUInt16BE(off);
    const len = pkt.readUInt16BE(off + 2);
    if (len < 4 || off + len > end) break;
    const set = pkt.subarray(off, off + len);
    const isTemplate = version === 9 ? id <= 1 : id === 2 || id === 3;
    (isTemplate ? tpl : data).push(set);
    off += len;
  }
  const build = (sets: Buffer[]) => {
    if (sets.length === 0) return null;
    const b = Buffer.concat([pkt.subarray(0, hdr), ...sets]);
    // IPFIX carries the message length; v9's record count is left as it
    // was (an over-count), since a collector must not stop before the end.
    if (version === 10) b.writeUInt16BE(b.length, 2);
    return b;
  };
  return { templates: build(tpl), data: build(data) };
}

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the CLI to completion and returns its exit code, stdout and stderr (never rejects on a non-zero exit). */
export function runCli(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(NODE, [CLI, ...args], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => err.push(d));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() }));
  });
}

export interface PcapDatagram {
  /** IPv4 source and destination, dotted. */
  src: string;
  srcPort: number;
  dst: string;
  dstPort: number;
  payload: Uint8Array;
}

/**
 * Writes UDP datagrams into a classic pcap (Ethernet, µs, one second apart
 * from 2023-11-14T22:13:20Z), as tshark and `flowhound decode` read them.
 */
export function writeUdpPcap(datagrams: readonly PcapDatagram[], path: string, t0 = 1_700_000_000): void {
  const parts: Buffer[] = [];
  const gh = Buffer.alloc(24);
  gh.writeUInt32LE(0xa1b2c3d4, 0);
  gh.writeUInt16LE(2, 4);
  gh.writeUInt16LE(4, 6);
  gh.writeUInt32LE(262144, 16);
  gh.writeUInt32LE(1, 20); // LINKTYPE_ETHERNET
  parts.push(gh);
  const ip4 = (s: string) => s.split('.').map(Number);
  datagrams.forEach((d, i) => {
    const p = d.payload;
    const frame = Buffer.alloc(14 + 20 + 8 + p.length);
    frame.writeUInt16BE(0x0800, 12);
    frame[14] = 0x45;
    frame.writeUInt16BE(20 + 8 + p.length, 16);
    frame[22] = 64;
    frame[23] = 17;
    frame.set(ip4(d.src), 26);
    frame.set(ip4(d.dst), 30);
    let sum = 0;
    for (let k = 14; k < 34; k += 2) sum += frame.readUInt16BE(k);
    while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
    frame.writeUInt16BE(~sum & 0xffff, 24);
    frame.writeUInt16BE(d.srcPort, 34);
    frame.writeUInt16BE(d.dstPort, 36);
    frame.writeUInt16BE(8 + p.length, 38);
    frame.set(p, 42);
    const rh = Buffer.alloc(16);
    rh.writeUInt32LE(t0 + i, 0);
    rh.writeUInt32LE(frame.length, 8);
    rh.writeUInt32LE(frame.length, 12);
    parts.push(rh, frame);
  });
  writeFileSync(path, Buffer.concat(parts));
}

/**
 * `udpRelay`, but sending from `source` (any 127.0.0.0/8 address on Linux
 * loopback): collectors see that address as the exporter, so runs through
 * one collector can be told apart by `exporter_address`. The relay still
 * listens on 127.0.0.1, and sends only to 127.0.0.1.
 */
export async function udpRelayFrom(source: string, route: (pkt: Buffer) => [number, Buffer][]): Promise<Relay> {
  const inbound = dgram.createSocket('udp4');
  const outbound = dgram.createSocket('udp4');
  await new Promise<void>((r) => inbound.bind(0, '127.0.0.1', () => r()));
  await new Promise<void>((r) => outbound.bind(0, source, () => r()));
  const relay: Relay = {
    port: inbound.address().port,
    packets: 0,
    close: async () => {
      await new Promise<void>((r) => inbound.close(() => r()));
      await new Promise<void>((r) => outbound.close(() => r()));
    },
  };
  inbound.on('message', (pkt) => {
    relay.packets++;
    for (const [port, bytes] of route(pkt)) outbound.send(bytes, port, '127.0.0.1');
  });
  return relay;
}

/** Row count and the sum of each numeric column of what `flowhound flows` returns for a filter. */
export async function storedSums<C extends string>(server: string, filter: string, columns: readonly C[]): Promise<{ flows: number } & Record<C, number>> {
  const out = await cli(['flows', '--server', server, '--filter', filter, '--limit', '1000000', '--format', 'ndjson', '--columns', columns.join(',')]);
  const t = { flows: 0 } as { flows: number } & Record<C, number>;
  for (const c of columns) (t as Record<string, number>)[c] = 0;
  for (const line of out.split('\n')) {
    if (!line) continue;
    const r = JSON.parse(line) as Record<string, number>;
    t.flows++;
    for (const c of columns) (t as Record<string, number>)[c] += Number(r[c]);
  }
  return t;
}
