import { describe, expect, it } from 'vitest';
import { MemoryBus } from './memory.ts';
import { subjectMatches, subjects } from './subjects.ts';

const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);

describe('in-memory bus', () => {
  it('matches NATS wildcards', () => {
    expect(subjectMatches('fh.flows.>', 'fh.flows.raw.0')).toBe(true);
    expect(subjectMatches('fh.flows.raw.*', 'fh.flows.raw.0')).toBe(true);
    expect(subjectMatches('fh.flows.raw.*', 'fh.flows.raw')).toBe(false);
    expect(subjectMatches('fh.conv.>', 'fh.flows.raw.0')).toBe(false);
  });

  it('gives each durable group every message, and redelivers what failed', async () => {
    const bus = new MemoryBus({ redeliveryDelayMs: 10 });
    const a: string[] = [];
    const b: string[] = [];
    let failOnce = true;
    await bus.consume({ stream: 'flows', durable: 'a', filter: subjects.flowsRawAll, handler: async (m) => void a.push(dec(m.data)) });
    await bus.consume({
      stream: 'flows',
      durable: 'b',
      filter: subjects.flowsRawAll,
      handler: async (m) => {
        if (failOnce) {
          failOnce = false;
          throw new Error('insert failed');
        }
        b.push(`${dec(m.data)}${m.redelivered ? '*' : ''}`);
      },
    });
    await bus.publish(subjects.flowsRaw(0), enc('x'));
    await bus.publish(subjects.flowsRaw(1), enc('y'));
    await new Promise((r) => setTimeout(r, 50));
    expect(a).toEqual(['x', 'y']);
    expect(b.sort()).toEqual(['x*', 'y']);
  });

  it('drops a duplicate message id', async () => {
    const bus = new MemoryBus();
    const got: string[] = [];
    await bus.consume({ stream: 'flows', durable: 'a', filter: subjects.flowsRawAll, handler: async (m) => void got.push(dec(m.data)) });
    await bus.publish(subjects.flowsRaw(0), enc('1'), { msgId: 'batch-1' });
    await bus.publish(subjects.flowsRaw(0), enc('1'), { msgId: 'batch-1' });
    await new Promise((r) => setTimeout(r, 10));
    expect(got).toEqual(['1']);
  });

  it('drains a group before its last consumer stops', async () => {
    const bus = new MemoryBus();
    let done = 0;
    const sub = await bus.consume({ stream: 'flows', durable: 'slow', filter: subjects.flowsRawAll, maxInFlight: 1, handler: () => new Promise((r) => setTimeout(() => r(void done++), 5)) });
    for (let i = 0; i < 5; i++) await bus.publish(subjects.flowsRaw(0), enc(String(i)));
    await sub.stop();
    expect(done).toBe(5);
  });

  it('watches a KV bucket from its current entries on', async () => {
    const bus = new MemoryBus();
    const kv = await bus.kv('t');
    await kv.put('a', enc('1'));
    const seen: string[] = [];
    const w = await kv.watch((e) => seen.push(`${e.op}:${e.key}`));
    await kv.put('b', enc('2'));
    await kv.delete('a');
    await kv.purge('b');
    await w.stop();
    expect(seen).toEqual(['put:a', 'put:b', 'del:a', 'purge:b']);
    expect(await kv.keys()).toEqual([]);
  });
});

describe('MemoryBus backlog', () => {
  it('counts what consumers have not acknowledged, in flight or queued', async () => {
    const bus = new MemoryBus();
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    const sub = await bus.consume({ stream: 'flows', durable: 'w', filter: 'fh.flows.>', maxInFlight: 1, handler: () => held });
    for (let i = 0; i < 3; i++) await bus.publish('fh.flows.raw.0', new Uint8Array(10));
    expect(bus.backlog()).toEqual({ messages: 3, bytes: 30 });
    release();
    await sub.stop();
    expect(bus.backlog()).toEqual({ messages: 0, bytes: 0 });
    await bus.close();
  });
});
