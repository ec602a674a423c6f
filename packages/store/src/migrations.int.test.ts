// Versioned migrations against the real ClickHouse engine (chDB): from an
// empty database, from the code before versioned migrations, from an older
// version; re-runs; several components migrating at once under the lock.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger, type Logger } from '@flowhound/runtime';
import {
  CONVERSATIONS_STORED,
  CONVERSATIONS_TABLE,
  createStoredTableSql,
  FLOWS_STORED,
  ROLLUP_VIEWS,
  STORED_TABLES,
  type StoredTable,
  type TableDef,
} from '@flowhound/schema';
import { MIGRATIONS, runMigrations } from './migrations.ts';
import { Store, type MigrationLock } from './store.ts';
import { chunks, conversations } from './test-data.ts';

const DAY = 86_400_000;
const NEW_COLUMNS = ['src_host_group', 'dst_host_group'];

/** A table as the code before versioned migrations created it: no host groups, no skip indexes. */
function asBefore(t: StoredTable): StoredTable {
  return { ...t, columns: t.columns.filter((c) => !NEW_COLUMNS.includes(c.name)), indexes: [] };
}
const OLD_CONVERSATIONS: TableDef = { ...CONVERSATIONS_TABLE, columns: CONVERSATIONS_TABLE.columns.filter((c) => !NEW_COLUMNS.includes(c.name)) };

/** Every statement run, and warnings, per store. */
function recordingLog(): Logger & { warnings: string[] } {
  const warnings: string[] = [];
  const base = silentLogger();
  return Object.assign(Object.create(base) as Logger, { warnings, warn: (_o: unknown, m: string) => void warnings.push(m) });
}

describe('migrations on chDB', () => {
  let dir: string;
  const stores: Store[] = [];
  const open = async (database: string, extra: { migrationLock?: MigrationLock; log?: Logger; ttlDays?: Record<string, number> } = {}) => {
    const s = await Store.open({ url: '', dataDir: dir, database, username: '', password: '', log: extra.log ?? silentLogger(), ...extra });
    stores.push(s);
    return s;
  };
  const ledger = (s: Store) =>
    s.rows<[number, string, string, number]>(`SELECT version, name, checksum, adopted FROM \`${s.database}\`.schema_migrations ORDER BY version, applied_at`);
  const tables = async (s: Store) =>
    new Map((await s.rows<[string, string]>('SELECT name, engine FROM system.tables WHERE database = {db:String}', { db: s.database })).map(([n, e]) => [n, e]));

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'fh-migrations-'));
  });
  afterAll(async () => {
    for (const s of stores) await s.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('builds an empty database to the newest version and records every migration', async () => {
    const s = await open('fh_empty');
    const r = await s.migrate();
    expect(r.applied).toEqual(MIGRATIONS.map((m) => m.version));
    expect(r.version).toBe(MIGRATIONS.at(-1)!.version);
    expect(r.adopted).toBe(false);
    const t = await tables(s);
    for (const st of STORED_TABLES) expect(t.get(st.name), st.name).toBe(st.engine);
    for (const v of ROLLUP_VIEWS) expect(t.get(v.name), v.name).toBe('MaterializedView');
    expect(t.get('schema_migrations')).toBe('ReplacingMergeTree');
    const l = await ledger(s);
    expect(l.map(([v, n, , a]) => [v, n, a])).toEqual(MIGRATIONS.map((m) => [m.version, m.name, 0]));
    for (const [, , sum] of l) expect(sum).toMatch(/^[0-9a-f]{16}$/);
    // Skip indexes of the base tables are there.
    const idx = await s.rows<[string, string]>("SELECT table, name FROM system.data_skipping_indices WHERE database = 'fh_empty' AND table = 'conversations' ORDER BY name");
    expect(idx.map((x) => x[1])).toEqual(CONVERSATIONS_STORED.indexes.map((i) => i.name).sort());
  });

  it('does nothing when run again: no statement, no new ledger row', async () => {
    const s = await open('fh_empty');
    const before = await ledger(s);
    const r = await s.migrate();
    expect(r.statements).toEqual([]);
    expect(r.applied).toEqual([]);
    expect(await ledger(s)).toEqual(before);
  });

  it('adopts a database made before versioned migrations as version 1, brings its tables up to date and backfills the rollups', async () => {
    const s = await open('fh_adopt');
    // What the old code created: flows and conversations, no ledger.
    await s.client.command({ query: 'CREATE DATABASE fh_adopt' });
    for (const t of [FLOWS_STORED, CONVERSATIONS_STORED]) for (const q of createStoredTableSql(asBefore(t), { database: 'fh_adopt' })) await s.client.command({ query: q });
    const start = Date.UTC(2026, 10, 20, 22, 0, 0);
    for (const [i, b] of chunks(conversations({ rows: 3000, startMs: start, spanMs: 4 * 3600_000, seed: 3, columns: OLD_CONVERSATIONS.columns }), 1000).entries()) {
      await s.insertBatch(OLD_CONVERSATIONS, b, `old-${i}`);
    }

    const r = await s.migrate();
    expect(r.adopted).toBe(true);
    expect(r.applied).toEqual([1, 2, 3]);
    const l = await ledger(s);
    expect(l.map(([v, , , a]) => [v, a])).toEqual([[1, 1], [2, 0], [3, 0]]);
    // Version 1 found its tables and created nothing.
    expect(r.statements.filter((q) => /CREATE TABLE IF NOT EXISTS `fh_adopt`\.`(flows|conversations)`/.test(q))).toHaveLength(2);
    // Reconciled: the new columns and the skip indexes.
    const cols = (await s.rows<[string]>("SELECT name FROM system.columns WHERE database = 'fh_adopt' AND table = 'conversations'")).map((x) => x[0]);
    for (const c of NEW_COLUMNS) expect(cols).toContain(c);
    expect(r.statements.filter((q) => q.includes('ADD INDEX IF NOT EXISTS'))).toHaveLength(2 * CONVERSATIONS_STORED.indexes.length);
    // The rollups hold the rows stored before they existed...
    const totals = async () => {
      const [[base]] = await s.rows<[number]>('SELECT sum(bytes_scaled + rev_bytes * greatest(sampling_interval, 1)) FROM fh_adopt.conversations');
      const [[m]] = await s.rows<[number]>('SELECT sum(bytes_sent) FROM fh_adopt.host_traffic_1m');
      const [[h]] = await s.rows<[number]>('SELECT sum(bytes_received) FROM fh_adopt.host_traffic_1h');
      const [[p]] = await s.rows<[number, number]>('SELECT sum(bytes_sent + bytes_received) FROM fh_adopt.host_peers_1h');
      const [[n]] = await s.rows<[number]>('SELECT count() FROM fh_adopt.conversations');
      const [[f]] = await s.rows<[number]>('SELECT sum(flows) FROM fh_adopt.host_peers_1h');
      return { base: Number(base), m: Number(m), h: Number(h), p: Number(p), n: Number(n), f: Number(f) };
    };
    let t = await totals();
    expect(t.n).toBe(3000);
    expect([t.m, t.h, t.p / 2]).toEqual([t.base, t.base, t.base]);
    expect(t.f).toBe(2 * t.n);
    // ...and the views keep them up to date from now on.
    for (const [i, b] of chunks(conversations({ rows: 1000, startMs: start + DAY, spanMs: 3600_000, seed: 4 }), 500).entries()) await s.insertBatch(CONVERSATIONS_TABLE, b, `new-${i}`);
    t = await totals();
    expect(t.n).toBe(4000);
    expect([t.m, t.h, t.p / 2]).toEqual([t.base, t.base, t.base]);
    // And running again changes nothing.
    expect((await s.migrate()).statements).toEqual([]);
  });

  it('upgrades a database at an older version with the migrations it lacks', async () => {
    const s = await open('fh_v2');
    const target = {
      rows: <T,>(q: string, p?: Record<string, unknown>) => s.rows<T>(q, p),
      exec: async (q: string) => void (await s.client.command({ query: q })),
      log: silentLogger(),
      appliedBy: 'test',
    };
    const first = await runMigrations(target, { database: 'fh_v2' }, MIGRATIONS.slice(0, 2));
    expect(first.applied).toEqual([1, 2]);
    expect((await tables(s)).has('security_events')).toBe(false);
    const r = await s.migrate();
    expect(r.applied).toEqual([3]);
    // Only what version 3 creates, and its ledger row.
    const created = r.statements.map((q) => /^CREATE TABLE IF NOT EXISTS `fh_v2`\.`(\w+)`/.exec(q)?.[1] ?? /^INSERT INTO `fh_v2`\.`(\w+)`/.exec(q)?.[1]);
    expect(created).toEqual([...MIGRATIONS[2].steps.map((x) => ('table' in x ? x.table.name : '?')), 'schema_migrations']);
    expect((await tables(s)).get('security_events')).toBe('MergeTree');
    expect((await ledger(s)).map((x) => x[0])).toEqual([1, 2, 3]);
  });

  it('warns when a migration was changed after the database applied it', async () => {
    const log = recordingLog();
    const s = await open('fh_empty', { log });
    await s.client.command({ query: "INSERT INTO fh_empty.schema_migrations (version, name, applied_at, checksum, applied_by, adopted) VALUES (2, 'x', now64(3) + 1, 'deadbeefdeadbeef', 'test', 0)" });
    const r = await s.migrate();
    expect(r.checksumMismatches).toEqual([2]);
    expect(r.statements).toEqual([]);
    expect(log.warnings.some((w) => w.startsWith('migration was changed after this database applied it'))).toBe(true);
  });

  it('serialises concurrent migrate() calls of one store', async () => {
    const a = await open('fh_same');
    const reports = await Promise.all([a.migrate(), a.migrate(), a.migrate()]);
    expect(reports.map((r) => r.applied)).toEqual([MIGRATIONS.map((m) => m.version), [], []]);
    expect((await ledger(a)).map((x) => x[0])).toEqual(MIGRATIONS.map((m) => m.version));
  });

  // Several components under the bus's lock: services/standalone/src/migrate-lock.int.test.ts.
  it('without a lock the same race applies migrations twice (what the lock is for)', async () => {
    const a = await open('fh_nolock');
    const b = await open('fh_nolock');
    const reports = await Promise.all([a.migrate(), b.migrate()]);
    // Both saw an empty database; the ledger shows each version twice.
    expect(reports.map((r) => r.applied.length)).toEqual([MIGRATIONS.length, MIGRATIONS.length]);
    expect((await ledger(a)).length).toBe(2 * MIGRATIONS.length);
  });

  it('refuses retention for a table that does not exist, naming the known ones', async () => {
    const s = await open('fh_empty');
    await expect(s.migrate({ ttlDays: { conversation: 10 } })).rejects.toThrow(/unknown table\(s\) conversation; tables are: flows, conversations, host_traffic_1m/);
  });
});
