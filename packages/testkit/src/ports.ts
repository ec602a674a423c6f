import { createSocket } from 'node:dgram';
import { readFile } from 'node:fs/promises';
import { connect, createServer } from 'node:net';

/**
 * A port that was free on 127.0.0.1 a moment ago: binds port 0, reads the
 * port the kernel chose, and closes. Another process may take it before the
 * caller binds it, so callers that start servers retry on "address in use".
 */
export async function freePort(kind: 'tcp' | 'udp'): Promise<number> {
  if (kind === 'udp') {
    const sock = createSocket('udp4');
    await new Promise<void>((resolve, reject) => {
      sock.once('error', reject);
      sock.bind(0, '127.0.0.1', () => resolve());
    });
    const { port } = sock.address();
    await new Promise<void>((resolve) => sock.close(() => resolve()));
    return port;
  }
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const addr = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (addr === null || typeof addr === 'string') throw new Error('tcp server has no port');
  return addr.port;
}

export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Resolves true once a TCP connection to host:port succeeds, false if it never does by the deadline. */
export async function waitForTcp(host: string, port: number, timeoutMs: number, giveUp: () => boolean = () => false): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline && !giveUp()) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect({ host, port });
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => {
        s.destroy();
        resolve(false);
      });
    });
    if (ok) return true;
    await delay(25);
  }
  return false;
}

/** One UDP socket bound on this machine, from /proc/net/udp and /proc/net/udp6 (Linux). */
export interface UdpSocketState {
  port: number;
  /** Bytes waiting in the socket's receive queue. */
  rxQueue: number;
}

/** The UDP sockets bound to `port`, or null where /proc/net is not available. */
export async function udpSocketsOnPort(port: number): Promise<UdpSocketState[] | null> {
  const out: UdpSocketState[] = [];
  let seen = false;
  for (const file of ['/proc/net/udp', '/proc/net/udp6']) {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch {
      continue;
    }
    seen = true;
    for (const line of text.split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols.length < 5) continue;
      const local = cols[1].split(':');
      const p = parseInt(local[local.length - 1], 16);
      if (p !== port) continue;
      const rx = parseInt(cols[4].split(':')[1] ?? '0', 16);
      out.push({ port: p, rxQueue: rx });
    }
  }
  return seen ? out : null;
}
