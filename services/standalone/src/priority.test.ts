import { readFileSync, readdirSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { silentLogger } from '@flowhound/runtime';
import { ThreadPriority } from './priority.ts';

/** The nice value of a thread of this process, from /proc (field 19 of stat). */
function nice(tid: number): number {
  const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]);
}

describe.runIf(process.platform === 'linux')('ThreadPriority', () => {
  it('lowers every thread but the decoding ones', async () => {
    const w = new Worker(
      "const { parentPort } = require('node:worker_threads'); parentPort.postMessage(Number(require('node:fs').readlinkSync('/proc/thread-self').split('/').pop())); setInterval(() => {}, 1000);",
      { eval: true },
    );
    const decoding = await new Promise<number>((r) => w.once('message', r));
    const before = nice(decoding);
    const p = new ThreadPriority(() => [decoding], 7, silentLogger());
    await p.start();
    try {
      const others = readdirSync('/proc/self/task').map(Number).filter((t) => t !== decoding);
      expect(others.length).toBeGreaterThan(1);
      expect(p.lowered).toBeGreaterThanOrEqual(others.length - 2); // threads may come and go
      expect(nice(process.pid)).toBe(7); // the main thread's tid is the pid
      expect(nice(decoding)).toBe(before);
    } finally {
      await p.stop();
      await w.terminate();
    }
  });

  it('does nothing while decoding runs on the main thread', async () => {
    const p = new ThreadPriority(() => [], 7, silentLogger());
    await p.start();
    expect(p.lowered).toBe(0);
    await p.stop();
  });
});
