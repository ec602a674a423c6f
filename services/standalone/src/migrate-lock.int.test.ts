// Several components starting at once against one database migrate it once:
// the stores take the migration lock from the bus's KV, as run.ts wires
// them. On the in-memory bus (standalone) and on NATS (distributed: one
// connection per component). The stores share one chDB directory, which
// one process allows; a ClickHouse server would be shared the same way.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KV_BUCKETS, kvLock, MemoryBus, NatsBus, type Bus } from '@flowhound/bus';
import { silentLogger } from '@flowhound/runtime';
import { MIGRATIONS, Store } from '@flowhound/store';
import { startNats } from '@flowhound/testkit';

describe('migration lock between components', () => {
  let dir: string;
  let nats: Awaited<ReturnType<typeof startNats>>;
  const stores: Store[] = [];
  const buses: Bus[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'fh-migrate-lock-'));
    nats = await startNats();
  });
  afterAll(async () => {
    for (const s of stores) await s.close();
    for (const b of buses) await b.close();
    await nats?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  async function race(database: string, busFor: (i: number) => Promise<Bus>) {
    const components = await Promise.all(
      [0, 1, 2, 3].map(async (i) => {
        const bus = await busFor(i);
        const store = await Store.open({
          url: '',
          dataDir: dir,
          database,
          username: '',
          password: '',
          log: silentLogger(),
          migrationLock: kvLock(await bus.kv(KV_BUCKETS.locks), { owner: `component-${i}`, pollMs: 20 }),
        });
        stores.push(store);
        return store;
      }),
    );
    const reports = await Promise.all(components.map((s) => s.migrate()));
    const ledger = await components[0].rows<[number]>(`SELECT version FROM \`${database}\`.schema_migrations ORDER BY version`);
    return { reports, ledger: ledger.map((r) => Number(r[0])) };
  }

  it('applies each migration once on the in-memory bus', async () => {
    const bus = new MemoryBus();
    buses.push(bus);
    const { reports, ledger } = await race('fh_mem', async () => bus);
    expect(ledger).toEqual(MIGRATIONS.map((m) => m.version));
    expect(reports.filter((r) => r.applied.length > 0)).toHaveLength(1);
    expect(reports.filter((r) => r.statements.length === 0)).toHaveLength(3);
  });

  it('applies each migration once with the lock on NATS, one connection per component', async () => {
    const { reports, ledger } = await race('fh_nats', async (i) => {
      const bus = await NatsBus.connect({ servers: nats.url, name: `c${i}`, maxAgeMs: 3_600_000, maxBytes: 64 << 20, ackWaitMs: 5000, log: silentLogger() });
      buses.push(bus);
      return bus;
    });
    expect(ledger).toEqual(MIGRATIONS.map((m) => m.version));
    expect(reports.filter((r) => r.applied.length > 0)).toHaveLength(1);
  });
});
