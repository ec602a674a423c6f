// A lock shared by every process of a deployment, kept in a KV bucket
// (fh_locks on NATS; the in-memory bus's KV within one process).
//
// Taking it is a create-if-absent of the lock's key. The holder renews the
// key (a compare-and-set on its own revision) every ttlMs / 3. Someone who
// finds the key taken watches its revision: when it has not moved for
// ttlMs, by the waiter's own clock, the holder is taken to be dead and the
// waiter takes the key over with a compare-and-set on that revision, so
// that of several waiters one wins. No clock is compared across hosts.
//
// A holder that stalls longer than ttlMs (a stopped VM) can lose the lock
// while it still runs; it notices at its next renewal and logs it. Work
// under the lock should therefore be safe to run twice (migrations are).
import type { KvBucket } from './bus.ts';
import { BusError } from './errors.ts';

export interface KvLockOptions {
  /** Names the holder in the key's value and in logs, e.g. `host:pid`. */
  readonly owner: string;
  /** A lock not renewed for this long is free. */
  readonly ttlMs?: number;
  /** How often a waiter looks at the key. */
  readonly pollMs?: number;
  /** A waiter gives up after this long. */
  readonly maxWaitMs?: number;
  readonly log?: { info(o: object, msg: string): void; warn(o: object, msg: string): void };
}

const enc = new TextEncoder();
const dec = new TextDecoder();

/** A function that runs `fn` holding the lock `name` (a KV key: letters, digits, `-_/=`). */
export function kvLock(kv: KvBucket, o: KvLockOptions): <T>(name: string, fn: () => Promise<T>) => Promise<T> {
  const ttlMs = o.ttlMs ?? 30_000;
  const pollMs = o.pollMs ?? 250;
  const maxWaitMs = o.maxWaitMs ?? 15 * 60_000;
  const value = () => enc.encode(JSON.stringify({ owner: o.owner, at: new Date().toISOString() }));
  const holderOf = (v: Uint8Array) => {
    try {
      return String((JSON.parse(dec.decode(v)) as { owner?: unknown }).owner);
    } catch {
      return '?';
    }
  };

  async function acquire(name: string): Promise<number> {
    const start = Date.now();
    let seen: { revision: number; since: number } | undefined;
    let told = false;
    for (;;) {
      const rev = await kv.create(name, value());
      if (rev !== undefined) return rev;
      const e = await kv.entry(name);
      if (e) {
        const now = Date.now();
        if (!seen || seen.revision !== e.revision) seen = { revision: e.revision, since: now };
        else if (now - seen.since >= ttlMs) {
          const took = await kv.update(name, value(), e.revision);
          if (took !== undefined) {
            o.log?.warn({ lock: name, from: holderOf(e.value), silentMs: now - seen.since }, 'took over a lock its holder stopped renewing');
            return took;
          }
        }
        if (!told) {
          told = true;
          o.log?.info({ lock: name, holder: holderOf(e.value) }, 'waiting for a lock another process holds');
        }
      }
      if (Date.now() - start > maxWaitMs) throw new BusError(`lock ${name} still held after ${Math.round(maxWaitMs / 1000)} s (by ${e ? holderOf(e.value) : 'nobody now'}); is that process stuck? It is freed ${Math.round(ttlMs / 1000)} s after its holder stops renewing it`);
      await new Promise((r) => setTimeout(r, pollMs));
    }
  }

  return async <T>(name: string, fn: () => Promise<T>): Promise<T> => {
    let revision = await acquire(name);
    let lost = false;
    let renewing: Promise<void> = Promise.resolve();
    const timer = setInterval(() => {
      renewing = renewing.then(async () => {
        if (lost) return;
        try {
          const r = await kv.update(name, value(), revision);
          if (r === undefined) {
            lost = true;
            o.log?.warn({ lock: name }, 'lost a lock while holding it (not renewed in time): another process may run the same work');
          } else revision = r;
        } catch (err) {
          o.log?.warn({ lock: name, err }, 'could not renew a lock; trying again');
        }
      });
    }, Math.max(10, Math.floor(ttlMs / 3)));
    try {
      return await fn();
    } finally {
      clearInterval(timer);
      await renewing;
      if (!lost) await kv.deleteIf(name, revision).catch(() => false);
    }
  };
}
