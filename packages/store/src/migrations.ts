// Versioned migrations of the flowhound database.
//
// Two kinds of change, kept apart on purpose:
//
// - Numbered migrations create objects: tables, materialized views, and
//   the backfill of a new rollup. Each is applied once, in order, and
//   recorded in `schema_migrations` (version, name, applied_at, checksum).
//   Their statements are idempotent (IF NOT EXISTS; a backfill empties its
//   table first), because ClickHouse has no transactions: a migration
//   interrupted half way is applied again, whole, by the next start.
// - What the schema declares about a table that exists is reconciled at
//   every start: missing columns, skip indexes, settings and the TTL
//   (retention) are brought to what packages/schema and the configuration
//   say, by comparing with system tables, so a start with nothing to do
//   runs no DDL. This is why adding a column stays one edit in
//   packages/schema.
//
// The checksum of a migration covers what it fixes for good: the engine,
// ORDER BY and PARTITION BY of its tables and the queries of its views.
// Columns, indexes, settings and TTL are not in it (they are reconciled).
import { createHash } from 'node:crypto';
import {
  addColumnSql,
  addIndexSql,
  CONVERSATIONS_STORED,
  createDatabaseSql,
  createStoredTableSql,
  createViewSql,
  DEFAULT_REPLICATION_PATH,
  FLOWS_STORED,
  fqLocal,
  fqName,
  INVENTORY_TABLES,
  localName,
  modifySettingsSql,
  modifyTtlSql,
  ROLLUP_TABLES,
  ROLLUP_VIEWS,
  SECURITY_TABLES,
  sqlString,
  STORED_TABLES,
  ttlDaysOf,
  type DdlOptions,
  type MaterializedView,
  type StoredTable,
} from '@flowhound/schema';

export type MigrationStep =
  | { readonly table: StoredTable }
  /** Fills a view's table from what its source already holds (a rollup added to a database with data). */
  | { readonly backfill: MaterializedView }
  | { readonly view: MaterializedView };

export interface Migration {
  readonly version: number;
  readonly name: string;
  readonly steps: readonly MigrationStep[];
}

/**
 * Version 1 is the schema as the code before versioned migrations created
 * it: a database from that code is adopted as version 1.
 */
export const MIGRATIONS: readonly Migration[] = Object.freeze([
  { version: 1, name: 'flows and conversations', steps: [{ table: FLOWS_STORED }, { table: CONVERSATIONS_STORED }] },
  {
    version: 2,
    name: 'rollups of conversations kept by materialized views',
    steps: [
      ...ROLLUP_TABLES.map((table) => ({ table })),
      // The backfills run before the views exist, so that nothing is
      // counted twice; the hourly table is filled from the minute table.
      ...ROLLUP_VIEWS.map((backfill) => ({ backfill })),
      ...ROLLUP_VIEWS.map((view) => ({ view })),
    ],
  },
  {
    version: 3,
    name: 'security events, alarms, index history, identity bindings, exporter and template inventories',
    steps: [...SECURITY_TABLES, ...INVENTORY_TABLES].map((table) => ({ table })),
  },
]);

export const LEDGER_TABLE = 'schema_migrations';

/** What a migration fixes for good, as text: the input of its checksum. */
function stepIdentity(s: MigrationStep): string {
  if ('table' in s) {
    const t = s.table;
    return `table ${t.name} ${t.engine}${t.engineArgs ? `(${t.engineArgs})` : ''} ORDER BY ${t.orderBy} PARTITION BY ${t.partitionBy}`;
  }
  if ('backfill' in s) return `backfill ${s.backfill.to} from ${s.backfill.from}`;
  return `view ${s.view.name} TO ${s.view.to} AS ${s.view.select('<source>').replace(/\s+/g, ' ')}`;
}

export function migrationChecksum(m: Migration): string {
  const h = createHash('sha256');
  h.update(`${m.version}\n`);
  for (const s of m.steps) h.update(`${stepIdentity(s)}\n`);
  return h.digest('hex').slice(0, 16);
}

function onCluster(o: DdlOptions): string {
  return o.cluster ? ` ON CLUSTER \`${o.cluster}\`` : '';
}

/** The statements of one migration, in order. */
export function migrationSql(m: Migration, o: DdlOptions): string[] {
  const out: string[] = [];
  for (const s of m.steps) {
    if ('table' in s) out.push(...createStoredTableSql(s.table, o));
    else if ('view' in s) out.push(createViewSql(s.view, o));
    else {
      // Through the plain names: on a cluster the Distributed tables read
      // every shard and spread the result by the rollup's sharding key.
      out.push(`TRUNCATE TABLE IF EXISTS ${fqLocal(s.backfill.to, o)}${onCluster(o)}`);
      out.push(`INSERT INTO ${fqName(s.backfill.to, o)} SETTINGS insert_deduplicate = 0\n${s.backfill.select(fqName(s.backfill.from, o))}`);
    }
  }
  return out;
}

/** The ledger: one row per applied migration (a re-applied one adds a row; the latest counts). */
export function ledgerSql(o: DdlOptions): string {
  // On a cluster every node holds the whole ledger: one replicated table
  // whose path has no shard in it.
  const path = (o.replicationPath || DEFAULT_REPLICATION_PATH).replaceAll('{shard}', 'all').replaceAll('{table}', LEDGER_TABLE);
  const engine = o.cluster ? `ReplicatedReplacingMergeTree(${sqlString(path)}, '{replica}', applied_at)` : 'ReplacingMergeTree(applied_at)';
  return [
    `CREATE TABLE IF NOT EXISTS \`${o.database}\`.\`${LEDGER_TABLE}\`${onCluster(o)} (`,
    `  version UInt32 COMMENT 'migration number (packages/store/src/migrations.ts)',`,
    `  name String COMMENT 'what the migration does',`,
    `  applied_at DateTime64(3, 'UTC') COMMENT 'when it finished',`,
    `  checksum String COMMENT 'hash of what the migration fixes for good (engines, sort keys, view queries)',`,
    `  applied_by String COMMENT 'host:pid of the process that applied it',`,
    `  adopted UInt8 COMMENT '1 when found already applied by the code before versioned migrations'`,
    `) ENGINE = ${engine}`,
    `ORDER BY version`,
  ].join('\n');
}

export interface MigrationReport {
  /** Schema version after the run: the highest applied migration. */
  readonly version: number;
  /** Migrations applied by this run. */
  readonly applied: readonly number[];
  /** True when this run found a database from before versioned migrations and recorded it as version 1. */
  readonly adopted: boolean;
  /** Every DDL statement this run executed, in order (none when the database was up to date). */
  readonly statements: readonly string[];
  /** Applied migrations whose recorded checksum differs from the code's (edited after they were applied). */
  readonly checksumMismatches: readonly number[];
}

/** What the migrator needs from the store. */
export interface MigrationTarget {
  rows<T = unknown[]>(query: string, params?: Record<string, unknown>): Promise<T[]>;
  exec(query: string, params?: Record<string, unknown>): Promise<void>;
  readonly log: { info(o: object, msg: string): void; warn(o: object, msg: string): void };
  readonly appliedBy: string;
}

/** Parses `k = v, …` out of the SETTINGS clause of a table's engine_full. */
export function parseSettings(engineFull: string): Map<string, string> {
  const m = /\bSETTINGS (.*)$/.exec(engineFull);
  const out = new Map<string, string>();
  if (!m) return out;
  for (const p of m[1].matchAll(/(\w+) = ('[^']*'|[^,]+)/g)) out.set(p[1], p[2].trim());
  return out;
}

/** Days of the `+ toIntervalDay(n)` TTL in a table's engine_full, or undefined. */
export function parseTtlDays(engineFull: string): number | undefined {
  const m = /\bTTL .*?toIntervalDay\((\d+)\)/.exec(engineFull);
  return m ? Number(m[1]) : undefined;
}

/**
 * Brings the database to the newest version. Call it holding the
 * migration lock (Store.migrate does).
 */
export async function runMigrations(db: MigrationTarget, o: DdlOptions, migrations: readonly Migration[] = MIGRATIONS): Promise<MigrationReport> {
  const statements: string[] = [];
  const exec = async (sql: string) => {
    statements.push(sql);
    await db.exec(sql);
  };
  const dbExists = Number((await db.rows<[number]>('SELECT count() FROM system.databases WHERE name = {db:String}', { db: o.database }))[0][0]) > 0;
  if (!dbExists) await exec(createDatabaseSql(o));
  const tables = new Set((await db.rows<[string]>('SELECT name FROM system.tables WHERE database = {db:String}', { db: o.database })).map((r) => r[0]));

  // A database without the ledger but with the tables of version 1 was
  // made by the code before versioned migrations: adopt it.
  let adopted = false;
  if (!tables.has(LEDGER_TABLE)) {
    adopted = tables.has(localName(FLOWS_STORED.name, o)) || tables.has(localName(CONVERSATIONS_STORED.name, o));
    if (adopted) db.log.info({ database: o.database }, 'found tables from before versioned migrations: adopting them as schema version 1');
    await exec(ledgerSql(o));
  }

  // Bring what exists to the schema first: a new view may read a column
  // that an older table lacks.
  await reconcile(db, o, exec);

  const recorded = new Map(
    (await db.rows<[number, string]>(`SELECT version, argMax(checksum, applied_at) FROM \`${o.database}\`.\`${LEDGER_TABLE}\` GROUP BY version`)).map(([v, c]) => [Number(v), c]),
  );
  const mismatches: number[] = [];
  const applied: number[] = [];
  for (const m of migrations) {
    const sum = migrationChecksum(m);
    const had = recorded.get(m.version);
    if (had !== undefined) {
      if (had !== sum) {
        mismatches.push(m.version);
        db.log.warn(
          { version: m.version, name: m.name, recorded: had, code: sum },
          'migration was changed after this database applied it; the database keeps what it was created with (engines, sort keys and views are not altered in place)',
        );
      }
      continue;
    }
    const isAdoption = adopted && m.version === 1;
    db.log.info({ version: m.version, name: m.name }, isAdoption ? 'recording the adopted schema as version 1' : 'applying migration');
    for (const sql of migrationSql(m, o)) {
      try {
        await exec(sql);
      } catch (err) {
        throw new Error(`migration ${m.version} (${m.name}) failed at: ${sql.split('\n')[0]}: ${(err as Error).message}`, { cause: err });
      }
    }
    await exec(
      `INSERT INTO \`${o.database}\`.\`${LEDGER_TABLE}\` (version, name, applied_at, checksum, applied_by, adopted) VALUES (${m.version}, ${sqlString(m.name)}, now64(3), ${sqlString(sum)}, ${sqlString(db.appliedBy)}, ${isAdoption ? 1 : 0})`,
    );
    applied.push(m.version);
  }
  const newer = [...recorded.keys()].filter((v) => !migrations.some((m) => m.version === v));
  if (newer.length > 0) db.log.warn({ versions: newer }, 'the database has migrations this flowhound does not know (written by a newer version); running anyway');
  const version = Math.max(0, ...recorded.keys(), ...applied);
  return { version, applied, adopted, statements, checksumMismatches: mismatches };
}

/**
 * Columns, skip indexes, settings and TTL of every existing table, as the
 * schema and the configured retention say. Reads system tables and emits
 * only what differs.
 */
async function reconcile(db: MigrationTarget, o: DdlOptions, exec: (sql: string) => Promise<void>): Promise<void> {
  const p = { db: o.database };
  const engines = new Map((await db.rows<[string, string]>('SELECT name, engine_full FROM system.tables WHERE database = {db:String}', p)).map(([n, e]) => [n, e]));
  const columns = new Map<string, Set<string>>();
  for (const [t, n] of await db.rows<[string, string]>('SELECT table, name FROM system.columns WHERE database = {db:String}', p)) {
    let s = columns.get(t);
    if (!s) columns.set(t, (s = new Set()));
    s.add(n);
  }
  const indexes = new Set((await db.rows<[string, string]>('SELECT table, name FROM system.data_skipping_indices WHERE database = {db:String}', p)).map(([t, n]) => `${t}.${n}`));
  for (const t of STORED_TABLES) {
    const local = localName(t.name, o);
    const engine = engines.get(local);
    if (engine === undefined) continue; // created by a migration below, as declared
    const have = columns.get(local) ?? new Set<string>();
    const haveDist = o.cluster ? (columns.get(t.name) ?? new Set<string>()) : have;
    for (const c of t.columns) if (!have.has(c.name) || !haveDist.has(c.name)) for (const sql of addColumnSql(t.name, c, o)) await exec(sql);
    for (const i of t.indexes) if (!indexes.has(`${local}.${i.name}`)) await exec(addIndexSql(t.name, i, o));
    const settings = parseSettings(engine);
    const differ = Object.fromEntries(Object.entries(t.settings).filter(([k, v]) => settings.get(k) !== String(v)));
    if (Object.keys(differ).length > 0) await exec(modifySettingsSql(t.name, differ, o));
    const days = ttlDaysOf(t, o);
    if (parseTtlDays(engine) !== days) {
      db.log.info({ table: t.name, from: parseTtlDays(engine) ?? null, to: days }, 'changing retention: rows older than the new TTL go as their parts expire');
      await exec(modifyTtlSql(t, o));
    }
  }
}
