// The writer against the real ClickHouse engine (chDB) and the in-memory
// bus, which has the JetStream contract (ack after the handler, redelivery
// flagged as such). Crashes are simulated at the store: an insert that
// lands and then reports failure is what a crash between insert and
// acknowledgement looks like to the bus.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { metrics } from '@opentelemetry/api';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { encodeBatch, MemoryBus, subjects } from '@flowhound/bus';
import { silentLogger } from '@flowhound/runtime';
import { ColumnarBatch, FLOW_COLUMNS, FLOWS_TABLE, type TableDef, writeV4 } from '@flowhound/schema';
import { batchIdHash, nativeBlock, Store } from '@flowhound/store';
import { writerConfigSchema } from './config.ts';
import { WriterService } from './service.ts';

const ROWS = 100;

function batch(n: number): ColumnarBatch {
  const b = new ColumnarBatch(FLOW_COLUMNS, ROWS);
  for (let r = 0; r < ROWS; r++) {
    b.rows++;
    (b.column('time_received') as Float64Array)[r] = Date.UTC(2026, 10, 5, 12, 0, 0) + n * 10 + (r % 10);
    writeV4(b.column('src_addr') as Uint8Array, r * 16, 0x0a000000 + n);
    (b.column('bytes') as Float64Array)[r] = n * 1000 + r;
    (b.column('packets') as Float64Array)[r] = 1;
  }
  return b;
}

const until = async (cond: () => boolean | Promise<boolean>, ms = 20_000) => {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 25));
  }
};

/** The real store, with faults injected around its inserts. */
class FaultyStore {
  /** Inserts that land and then throw, as if the process died before acknowledging. */
  landThenFail = 0;
  /** Inserts that hang until released. */
  hold: Promise<void> | undefined;
  inserts = 0;
  readonly real: Store;
  constructor(real: Store) {
    this.real = real;
    return new Proxy(this, {
      get: (t, p) => (p in t ? (t as never)[p] : typeof (real as never)[p] === 'function' ? ((real as never)[p] as Function).bind(real) : (real as never)[p]),
    });
  }
  async insertNative(table: TableDef, blocks: readonly Uint8Array[], rows: number, token: string): Promise<void> {
    this.inserts++;
    if (this.hold) await this.hold;
    await this.real.insertNative(table, blocks, rows, token);
    if (this.landThenFail > 0) {
      this.landThenFail--;
      throw new Error('simulated crash after the insert landed');
    }
  }
}

describe('writer on chDB', () => {
  let dir: string;
  let real: Store;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'fh-writer-'));
    real = await Store.open({ url: '', dataDir: dir, database: 'fh', username: '', password: '', log: silentLogger() });
  });
  afterAll(async () => {
    await real?.close();
    rmSync(dir, { recursive: true, force: true });
  });
  beforeEach(async () => {
    await real.migrate();
    await real.client.command({ query: 'TRUNCATE TABLE fh.flows' });
  });

  const stored = async () => (await real.rows<[number, number]>('SELECT count(), sum(bytes) FROM fh.flows'))[0].map(Number);
  const expectedBytes = (from: number, to: number) => {
    let s = 0;
    for (let n = from; n < to; n++) for (let r = 0; r < ROWS; r++) s += n * 1000 + r;
    return s;
  };

  async function start(store: FaultyStore, bus: MemoryBus, cfg: Record<string, unknown> = {}) {
    const w = new WriterService(writerConfigSchema.parse({ flushMs: 50, ...cfg }), {
      bus,
      store: store as unknown as Store,
      log: silentLogger(),
      meter: metrics.getMeter('test'),
    });
    await w.start();
    return w;
  }
  const publish = async (bus: MemoryBus, from: number, to: number) => {
    for (let n = from; n < to; n++) await bus.publish(subjects.flowsRaw(0), encodeBatch(batch(n), `ingest-a:${n}`, 'ingest-a'));
  };

  it('gathers many bus batches into few inserts and stores every row once', async () => {
    const bus = new MemoryBus();
    const store = new FaultyStore(real);
    // Hold the first insert so the rest queue up behind it.
    let release!: () => void;
    store.hold = new Promise<void>((r) => (release = r));
    const w = await start(store, bus, { batchRows: 2000, maxInFlight: 64 });
    await publish(bus, 0, 40);
    await until(() => w.counters.flows.pendingRows === 40 * ROWS);
    store.hold = undefined;
    release();
    await until(() => w.counters.flows.rows === 40 * ROWS);
    expect(await stored()).toEqual([40 * ROWS, expectedBytes(0, 40)]);
    expect(w.counters.flows.batches).toBe(40);
    // One batch went out alone before the hold, the other 39 in 2000-row groups.
    expect(w.counters.flows.inserts).toBeLessThanOrEqual(4);
    expect(w.counters.flows.pendingRows).toBe(0);
    await w.stop();
    await bus.close();
  });

  it('a crash between insert and acknowledgement leaves no duplicate and no gap', async () => {
    const bus = new MemoryBus({ redeliveryDelayMs: 50 });
    const store = new FaultyStore(real);
    store.landThenFail = 2;
    const w = await start(store, bus, { batchRows: 1000, maxBackoffMs: 100 });
    await publish(bus, 0, 30);
    await until(() => w.counters.flows.batches >= 30 && w.counters.flows.pendingRows === 0);
    expect(w.counters.flows.failures).toBe(2);
    // Every batch of the failed inserts came back flagged and was found stored.
    expect(w.counters.flows.replaysSkipped).toBeGreaterThan(0);
    expect(await stored()).toEqual([30 * ROWS, expectedBytes(0, 30)]);
    const [[distinct]] = await real.rows<[number]>('SELECT uniqExact(batch_id) FROM fh.flows');
    expect(Number(distinct)).toBe(30);
    await w.stop();
    await bus.close();
  });

  it('a restarted writer neither loses nor repeats what its predecessor left unacknowledged', async () => {
    // Writer 1 stores batches 0..9 and dies before acknowledging any; the
    // bus delivers them again to writer 2 (flagged), with 10 new ones.
    const bus1 = new MemoryBus();
    const store1 = new FaultyStore(real);
    store1.landThenFail = 1;
    const w1 = await start(store1, bus1, { batchRows: 10_000, flushMs: 200 });
    await publish(bus1, 0, 10);
    await until(() => w1.counters.flows.failures === 1);
    await w1.stop();
    await bus1.close();
    expect((await stored())[0]).toBe(10 * ROWS);

    // The bus of the restarted process has 0..9 as delivered once and not
    // acknowledged (a consumer that fails them stands in for the dead
    // writer), so they come again flagged as redelivered, then 10 new ones.
    const bus2 = new MemoryBus({ redeliveryDelayMs: 20 });
    let failed = 0;
    const dead = await bus2.consume({ stream: 'flows', durable: 'writer-flows', filter: subjects.flowsRawAll, handler: async () => Promise.reject(new Error(`dead writer ${++failed}`)) });
    await publish(bus2, 0, 10);
    await until(() => failed >= 10);
    await dead.stop();
    const w2 = await start(new FaultyStore(real), bus2, { batchRows: 10_000 });
    await publish(bus2, 10, 20);
    await until(() => w2.counters.flows.batches >= 20 && w2.counters.flows.pendingRows === 0);
    expect(w2.counters.flows.replaysSkipped).toBe(10);
    expect(await stored()).toEqual([20 * ROWS, expectedBytes(0, 20)]);
    await w2.stop();
    await bus2.close();
  });

  it('a redelivered batch found partly stored is stored again whole', async () => {
    // Half of batch 3's rows made it (an insert that failed between two
    // partitions); the redelivery must complete it, not skip it.
    const half = batch(3);
    half.rows = ROWS / 2;
    await real.insertNative(FLOWS_TABLE, [nativeBlock(half, batchIdHash('ingest-a:3'))], half.rows, 'half');
    const bus = new MemoryBus({ redeliveryDelayMs: 20 });
    const store = new FaultyStore(real);
    const failing = await bus.consume({ stream: 'flows', durable: 'writer-flows', filter: subjects.flowsRawAll, handler: async () => Promise.reject(new Error('first delivery fails')) });
    await publish(bus, 3, 4);
    await failing.stop();
    const w = await start(store, bus);
    await until(() => w.counters.flows.batches === 1);
    expect(w.counters.flows.replaysRepaired).toBe(1);
    expect(await stored()).toEqual([ROWS, expectedBytes(3, 4)]);
    await w.stop();
    await bus.close();
  });

  it('stops pulling from the bus while ClickHouse is stuck, and catches up after', async () => {
    const bus = new MemoryBus();
    const store = new FaultyStore(real);
    let release!: () => void;
    store.hold = new Promise<void>((r) => (release = r));
    const w = await start(store, bus, { batchRows: 500, maxInFlight: 8 });
    const publishing = publish(bus, 0, 40);
    await until(() => w.counters.flows.pendingRows >= 8 * ROWS);
    await new Promise((r) => setTimeout(r, 300));
    // No more than the in-flight limit was taken off the bus.
    expect(w.counters.flows.pendingRows).toBe(8 * ROWS);
    store.hold = undefined;
    release();
    await publishing;
    await until(() => w.counters.flows.rows === 40 * ROWS);
    expect(await stored()).toEqual([40 * ROWS, expectedBytes(0, 40)]);
    await w.stop();
    await bus.close();
  });
});
