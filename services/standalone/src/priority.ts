import { readdirSync } from 'node:fs';
import { setPriority } from 'node:os';
import type { Component, Logger } from '@flowhound/runtime';

/**
 * Decoding first, on one machine: every thread of this process except the
 * ingest decoding threads runs at a lower scheduling priority (a higher
 * nice value).
 *
 * Why: in one process, the socket readers compete for the cores with the
 * main thread (bus, stitcher, enrichment, writer) and with ClickHouse's
 * insert and merge threads. A datagram the kernel drops because the
 * decoding thread did not get the CPU is lost for good, while storage work
 * that waits a moment only grows the bus's backlog. Lowering the others'
 * priority is allowed to an unprivileged process (raising needs
 * CAP_SYS_NICE); it changes nothing when cores are idle.
 *
 * Linux only (thread ids from /proc/self/task); new threads (ClickHouse
 * starts them lazily) are picked up by a periodic scan.
 */
export class ThreadPriority implements Component {
  readonly name = 'thread-priority';
  /** Threads lowered so far. */
  lowered = 0;
  private readonly decoding: () => number[];
  private readonly nice: number;
  private readonly log: Logger;
  private readonly done = new Set<number>();
  private timer: NodeJS.Timeout | undefined;

  constructor(decoding: () => number[], nice: number, log: Logger) {
    this.decoding = decoding;
    this.nice = nice;
    this.log = log;
  }

  async start(): Promise<void> {
    if (process.platform !== 'linux' || this.nice === 0) return;
    this.scan();
    this.log.info({ lowered: this.lowered, decodingThreads: this.decoding(), nice: this.nice }, 'decoding threads keep priority; the rest of the process runs at a lower one');
    this.timer = setInterval(() => this.scan(), 5000).unref();
  }

  private scan(): void {
    const keep = new Set(this.decoding());
    // Without decoding threads the main thread decodes: nothing to favour.
    if (keep.size === 0) return;
    let tids: string[];
    try {
      tids = readdirSync('/proc/self/task');
    } catch {
      return;
    }
    for (const t of tids) {
      const tid = Number(t);
      if (keep.has(tid) || this.done.has(tid)) continue;
      this.done.add(tid);
      try {
        setPriority(tid, this.nice);
        this.lowered++;
      } catch (err) {
        // A thread that ended meanwhile; nothing to do.
        this.log.debug({ err, tid }, 'could not lower a thread priority');
      }
    }
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
  }
}
