// The JetStream bus against a real nats-server (Debian's, started by testkit).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '@flowhound/runtime';
import { startNats } from '@flowhound/testkit';
import { kvLock } from './lock.ts';
import { NatsBus } from './nats.ts';
import { subjects } from './subjects.ts';

const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);

describe('NATS JetStream bus', () => {
  let nats: Awaited<ReturnType<typeof startNats>>;
  const open = () => NatsBus.connect({ servers: nats.url, name: 'test', maxAgeMs: 3_600_000, maxBytes: 64 << 20, ackWaitMs: 2000, log: silentLogger() });

  beforeAll(async () => {
    nats = await startNats();
  });
  afterAll(async () => {
    await nats?.stop();
  });

  it('keeps messages published before the consumer exists, and redelivers what failed', async () => {
    const bus = await open();
    await bus.publish(subjects.flowsRaw(0), enc('early'), { msgId: 'm1', headers: { traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' } });
    await bus.publish(subjects.flowsRaw(0), enc('early'), { msgId: 'm1' }); // duplicate id: dropped by JetStream
    await bus.publish(subjects.flowsRaw(1), enc('second'), { msgId: 'm2' });
    const got: string[] = [];
    let failed = false;
    let trace = '';
    const sub = await bus.consume({
      stream: 'flows',
      durable: 'test-a',
      filter: subjects.flowsRawAll,
      handler: async (m) => {
        if (dec(m.data) === 'second' && !failed) {
          failed = true;
          throw new Error('not yet');
        }
        if (m.headers.traceparent) trace = m.headers.traceparent;
        got.push(`${dec(m.data)}${m.redelivered ? '*' : ''}`);
      },
    });
    const end = Date.now() + 10_000;
    while (got.length < 2 && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
    await sub.stop();
    expect(got.sort()).toEqual(['early', 'second*']);
    expect(trace).toBe('00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01');
    await bus.close();
  });

  it('resumes a durable consumer where it left off after a restart', async () => {
    const bus1 = await open();
    const seen: string[] = [];
    const handler = async (m: { data: Uint8Array }) => void seen.push(dec(m.data));
    let sub = await bus1.consume({ stream: 'conversations', durable: 'resume', filter: subjects.convStitchedAll, handler });
    await bus1.publish(subjects.convStitched(0), enc('one'));
    while (seen.length < 1) await new Promise((r) => setTimeout(r, 20));
    await sub.stop();
    await bus1.close();
    const bus2 = await open();
    await bus2.publish(subjects.convStitched(0), enc('two'));
    sub = await bus2.consume({ stream: 'conversations', durable: 'resume', filter: subjects.convStitchedAll, handler });
    while (seen.length < 2) await new Promise((r) => setTimeout(r, 20));
    await new Promise((r) => setTimeout(r, 200));
    await sub.stop();
    expect(seen).toEqual(['one', 'two']);
    await bus2.close();
  });

  it('shares a KV bucket between connections, with a watch from current entries on', async () => {
    const a = await open();
    const b = await open();
    const kva = await a.kv('fh_test');
    await kva.put('x.9.0.256', enc('t1'));
    const kvb = await b.kv('fh_test');
    const seen: string[] = [];
    const w = await kvb.watch((e) => seen.push(`${e.op}:${e.key}:${e.value ? dec(e.value) : ''}`));
    await kva.put('x.9.0.257', enc('t2'));
    await kva.delete('x.9.0.256');
    await kva.put('x.9.0.258', enc('t3'));
    await kva.purge('x.9.0.258');
    const end = Date.now() + 5000;
    while (seen.length < 5 && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
    await w.stop();
    expect(seen).toEqual(['put:x.9.0.256:t1', 'put:x.9.0.257:t2', 'del:x.9.0.256:', 'put:x.9.0.258:t3', 'purge:x.9.0.258:']);
    expect(await kvb.get('x.9.0.257').then((v) => v && dec(v))).toBe('t2');
    expect(await kvb.get('x.9.0.256')).toBeUndefined();
    expect(await kvb.get('x.9.0.258')).toBeUndefined();
    expect(await kvb.keys()).toEqual(['x.9.0.257']);
    await a.close();
    await b.close();
  });

  it('creates, updates and deletes KV keys only at the revision read, across connections (the lock contract)', async () => {
    const a = await open();
    const b = await open();
    const kva = await a.kv('fh_locks');
    const kvb = await b.kv('fh_locks');
    const r1 = await kva.create('k', enc('a'));
    expect(r1).toBeGreaterThan(0);
    expect(await kvb.create('k', enc('b'))).toBeUndefined();
    const r2 = await kvb.update('k', enc('c'), r1!);
    expect(r2).toBeGreaterThan(r1!);
    expect(await kva.update('k', enc('d'), r1!)).toBeUndefined();
    expect(dec((await kva.entry('k'))!.value)).toBe('c');
    expect(await kva.deleteIf('k', r1!)).toBe(false);
    expect(await kva.deleteIf('k', r2!)).toBe(true);
    expect(await kvb.entry('k')).toBeUndefined();
    // A deleted key can be created again.
    expect(await kvb.create('k', enc('e'))).toBeGreaterThan(r2!);
    await kvb.delete('k');
    await a.close();
    await b.close();
  });

  it('kvLock lets one process in at a time across connections', async () => {
    const buses = await Promise.all([open(), open(), open()]);
    let inside = 0;
    let most = 0;
    let done = 0;
    await Promise.all(
      buses.map(async (bus, i) =>
        kvLock(await bus.kv('fh_locks'), { owner: `p${i}`, ttlMs: 5000, pollMs: 20 })('migrations_fh', async () => {
          most = Math.max(most, ++inside);
          await new Promise((r) => setTimeout(r, 100));
          inside--;
          done++;
        }),
      ),
    );
    expect(most).toBe(1);
    expect(done).toBe(3);
    expect(await (await buses[0].kv('fh_locks')).entry('migrations_fh')).toBeUndefined();
    for (const b of buses) await b.close();
  });
});
