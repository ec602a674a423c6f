import { describe, expect, it } from 'vitest';
import type { KvBucket } from './bus.ts';
import { kvLock } from './lock.ts';
import { MemoryBus } from './memory.ts';

const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Runs `n` holders at once; returns the most that ran together and the order they ran in. */
async function contend(kv: KvBucket, n: number, workMs: number, ttlMs = 2000) {
  let inside = 0;
  let most = 0;
  const order: number[] = [];
  await Promise.all(
    Array.from({ length: n }, (_, i) =>
      kvLock(kv, { owner: `p${i}`, ttlMs, pollMs: 10 })('migrations_fh', async () => {
        most = Math.max(most, ++inside);
        await sleep(workMs);
        order.push(i);
        inside--;
      }),
    ),
  );
  return { most, order };
}

describe('KV compare-and-set (in-memory bus)', () => {
  it('creates only an absent key, updates only at the revision it read, deletes only at it', async () => {
    const kv = await new MemoryBus().kv('fh_locks');
    const r1 = await kv.create('k', enc('a'));
    expect(r1).toBeGreaterThan(0);
    expect(await kv.create('k', enc('b'))).toBeUndefined();
    const r2 = await kv.update('k', enc('c'), r1!);
    expect(r2).toBeGreaterThan(r1!);
    expect(await kv.update('k', enc('d'), r1!)).toBeUndefined();
    expect(dec((await kv.entry('k'))!.value)).toBe('c');
    expect(await kv.deleteIf('k', r1!)).toBe(false);
    expect(await kv.deleteIf('k', r2!)).toBe(true);
    expect(await kv.entry('k')).toBeUndefined();
    expect(await kv.create('k', enc('e'))).toBeGreaterThan(r2!);
  });
});

describe('kvLock (in-memory bus)', () => {
  it('lets one holder in at a time, and every one in turn', async () => {
    const kv = await new MemoryBus().kv('fh_locks');
    const { most, order } = await contend(kv, 4, 30);
    expect(most).toBe(1);
    expect(order.sort()).toEqual([0, 1, 2, 3]);
    expect(await kv.keys()).toEqual([]);
  });

  it('keeps the lock while the holder renews it, past the TTL', async () => {
    const kv = await new MemoryBus().kv('fh_locks');
    const lock = kvLock(kv, { owner: 'a', ttlMs: 100, pollMs: 10 });
    let other = false;
    const long = lock('x', () => sleep(400));
    await sleep(20);
    const second = kvLock(kv, { owner: 'b', ttlMs: 100, pollMs: 10 })('x', async () => {
      other = true;
    });
    await sleep(300);
    expect(other).toBe(false);
    await long;
    await second;
    expect(other).toBe(true);
  });

  it('takes over a lock whose holder died (not renewed for the TTL)', async () => {
    const kv = await new MemoryBus().kv('fh_locks');
    await kv.create('x', enc('{"owner":"dead"}'));
    const warned: string[] = [];
    const t0 = Date.now();
    await kvLock(kv, { owner: 'b', ttlMs: 150, pollMs: 10, log: { info: () => {}, warn: (_o, m) => warned.push(m) } })('x', async () => {});
    expect(Date.now() - t0).toBeGreaterThanOrEqual(150);
    expect(warned).toEqual(['took over a lock its holder stopped renewing']);
  });

  it('gives up after maxWaitMs with a message naming the holder', async () => {
    const kv = await new MemoryBus().kv('fh_locks');
    const lock = kvLock(kv, { owner: 'a', ttlMs: 10_000, pollMs: 10 });
    let release!: () => void;
    const held = lock('x', () => new Promise<void>((r) => (release = r)));
    await sleep(10);
    await expect(kvLock(kv, { owner: 'b', ttlMs: 10_000, pollMs: 10, maxWaitMs: 50 })('x', async () => {})).rejects.toThrow(/lock x still held after .*\(by a\)/);
    release();
    await held;
  });
});
