// Kernel receive-buffer drops of ingest's own UDP sockets. Linux lists
// every UDP socket in /proc/net/udp and /proc/net/udp6 with its local
// port, inode, queued bytes and drop counter; /proc/self/fd names the
// inodes of this process's sockets (worker threads share the table). A
// socket counts when it is ours (inode) and on one of ingest's UDP ports,
// so other processes on the same port (SO_REUSEPORT) are left out.
import { readdir, readFile, readlink } from 'node:fs/promises';

export interface UdpSocketDrops {
  readonly port: number;
  readonly inode: number;
  /** Bytes waiting in the receive buffer. */
  readonly queued: number;
  /** Datagrams dropped because the receive buffer was full, since the socket opened. */
  readonly drops: number;
}

/** Parses /proc/net/udp or /proc/net/udp6 text. */
export function parseProcNetUdp(text: string): UdpSocketDrops[] {
  const out: UdpSocketDrops[] = [];
  const lines = text.split('\n');
  for (let i = 1; i < lines.length; i++) {
    const c = lines[i].trim().split(/\s+/);
    // sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode ref pointer drops
    if (c.length < 13) continue;
    const local = c[1];
    const port = parseInt(local.slice(local.lastIndexOf(':') + 1), 16);
    const queue = c[4];
    const queued = parseInt(queue.slice(queue.indexOf(':') + 1), 16);
    const inode = Number(c[9]);
    const drops = Number(c[12]);
    if (Number.isNaN(port) || Number.isNaN(inode) || Number.isNaN(drops)) continue;
    out.push({ port, inode, queued: Number.isNaN(queued) ? 0 : queued, drops });
  }
  return out;
}

/** Inodes of the sockets this process holds open (empty where /proc is not there). */
export async function ownSocketInodes(): Promise<Set<number>> {
  const out = new Set<number>();
  let fds: string[];
  try {
    fds = await readdir('/proc/self/fd');
  } catch {
    return out;
  }
  await Promise.all(
    fds.map(async (fd) => {
      try {
        const l = await readlink(`/proc/self/fd/${fd}`);
        if (l.startsWith('socket:[')) out.add(Number(l.slice(8, -1)));
      } catch {
        // closed meanwhile
      }
    }),
  );
  return out;
}

/**
 * The sockets of this process bound to `ports`, with their drops. Returns
 * undefined where /proc/net/udp cannot be read (not Linux): the metric is
 * then not reported rather than reported as zero.
 */
export async function readSocketDrops(ports: ReadonlySet<number>): Promise<UdpSocketDrops[] | undefined> {
  let seen = false;
  const all: UdpSocketDrops[] = [];
  for (const file of ['/proc/net/udp', '/proc/net/udp6']) {
    try {
      all.push(...parseProcNetUdp(await readFile(file, 'utf8')));
      seen = true;
    } catch {
      // udp6 is missing without IPv6
    }
  }
  if (!seen) return undefined;
  const mine = await ownSocketInodes();
  return all.filter((s) => ports.has(s.port) && (mine.size === 0 || mine.has(s.inode)));
}

/** Sums drops and queued bytes per port. */
export function byPort(socks: readonly UdpSocketDrops[]): { port: number; drops: number; queued: number }[] {
  const m = new Map<number, { port: number; drops: number; queued: number }>();
  for (const s of socks) {
    const x = m.get(s.port);
    if (x) {
      x.drops += s.drops;
      x.queued += s.queued;
    } else {
      m.set(s.port, { port: s.port, drops: s.drops, queued: s.queued });
    }
  }
  return [...m.values()].sort((a, b) => a.port - b.port);
}
