// Test-side helpers for end-to-end runs: flowhound processes started the
// way a user starts them, a UDP tee that sends one exporter's packets to
// several collectors, and a splitter that sends template sets to one ingest
// replica and data sets to another.
import { spawn, type ChildProcess } from 'node:child_process';
import dgram from 'node:dgram';
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
