import { Readable } from 'node:stream';
import { mkdirSync, rmSync } from 'node:fs';
import { open as openFile, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { hostname } from 'node:os';
import { createClient, type ClickHouseClient } from '@clickhouse/client';
import type { Logger } from '@flowhound/runtime';
import { fqLocal, RETENTION_TABLES, type ColumnarBatch, type DdlOptions, type TableDef } from '@flowhound/schema';
import { StoreError } from './errors.ts';
import { runMigrations, type MigrationReport } from './migrations.ts';
import { batchIdHash, nativeBlock, nativeColumnNames } from './native.ts';

/**
 * Runs `fn` while holding a lock named `name` shared by every process of
 * the deployment, so that one of several components starting at once
 * applies the migrations. The composition root builds it from the bus's
 * KV (packages/bus kvLock); the store itself knows no bus.
 */
export type MigrationLock = <T>(name: string, fn: () => Promise<T>) => Promise<T>;

export interface StoreOptions {
  /** ClickHouse HTTP URL; when empty, chDB embedded in `dataDir`. */
  readonly url: string;
  readonly dataDir: string;
  readonly database: string;
  readonly username: string;
  readonly password: string;
  readonly log: Logger;
  /**
   * ClickHouse cluster (remote_servers) to create tables on; '' or absent
   * for a single server or chDB. See DdlOptions.cluster.
   */
  readonly cluster?: string;
  /** Replication path of a cluster's tables (DdlOptions.replicationPath). */
  readonly replicationPath?: string;
  /** Retention in days per table name; defaults from packages/schema. */
  readonly ttlDays?: Readonly<Record<string, number>>;
  /** Cross-process lock for migrations; without it only this process's migrate() calls are serialised. */
  readonly migrationLock?: MigrationLock;
}

/** A SQL string literal; ClickHouse escapes are backslash-based. */
function sqlString(s: string): string {
  return `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

/**
 * Settings of every statement. optimize_on_insert = 0: a rollup view's
 * output is already grouped by its table's key, so merging each inserted
 * block again (sort + aggregate, the default) only costs time: it made the
 * views' inserts 1.7–2.5× slower (docs/storage.md). It only ever affects
 * Summing/Aggregating/Replacing tables, which merge later anyway.
 */
const CLIENT_SETTINGS = { optimize_on_insert: 0 } as const;

function checkRetention(ttlDays: Readonly<Record<string, number>> | undefined): void {
  const unknown = Object.keys(ttlDays ?? {}).filter((t) => !RETENTION_TABLES.includes(t));
  if (unknown.length > 0) throw new StoreError(`retention set for unknown table(s) ${unknown.join(', ')}; tables are: ${RETENTION_TABLES.join(', ')}`);
}

/**
 * ClickHouse through @clickhouse/client on both back ends: a server over
 * HTTP, or chDB plugged in as the client's connection. SQL, schema and
 * migrations are one code path; only the raw insert differs.
 */
export class Store {
  readonly client: ClickHouseClient;
  readonly kind: 'chdb' | 'http';
  readonly database: string;
  /** Cluster name, '' on a single server or chDB. */
  readonly cluster: string;
  /** chDB only: where insert files are staged (inside the data directory). */
  private readonly stageDir: string;
  private readonly log: Logger;
  private readonly opts: StoreOptions;
  private staged = 0;
  /** Serialises this store's migrate() calls (the lock may not be reentrant, or absent). */
  private migrating: Promise<unknown> = Promise.resolve();
  /** Statements running now: close() waits for them (closing chDB under a running insert crashes the process). */
  private readonly running = new Set<Promise<unknown>>();

  private constructor(client: ClickHouseClient, kind: 'chdb' | 'http', o: StoreOptions, stageDir: string) {
    this.client = client;
    this.kind = kind;
    this.database = o.database;
    this.cluster = o.cluster ?? '';
    this.stageDir = stageDir;
    this.log = o.log;
    this.opts = o;
  }

  static async open(o: StoreOptions): Promise<Store> {
    checkRetention(o.ttlDays);
    if (o.url) {
      const client = createClient({
        url: o.url,
        username: o.username,
        password: o.password,
        request_timeout: 60_000,
        // On a cluster, an INSERT into a Distributed table returns once the
        // shards hold the rows (the default queues them on this node), so
        // the writer's acknowledgement still means "stored".
        clickhouse_settings: { ...CLIENT_SETTINGS, ...(o.cluster ? { distributed_foreground_insert: 1 } : {}) },
      });
      const store = new Store(client, 'http', o, '');
      await store.ping();
      return store;
    }
    if (o.cluster) throw new StoreError(`clickhouse.cluster is '${o.cluster}' but no ClickHouse URL is set: embedded ClickHouse (chDB) is a single server; set clickhouse.url to a node of the cluster`);
    mkdirSync(o.dataDir, { recursive: true });
    // Staged insert files left by a crash are useless (their batches are
    // redelivered by the bus): start empty.
    const stageDir = join(o.dataDir, 'insert-staging');
    rmSync(stageDir, { recursive: true, force: true });
    mkdirSync(stageDir, { recursive: true });
    let conn: unknown;
    try {
      const { createChdbConnection } = await import('chdb/connection');
      conn = createChdbConnection({ path: o.dataDir });
    } catch (err) {
      throw new StoreError(
        `cannot open embedded ClickHouse (chDB) in ${o.dataDir}: ${(err as Error).message}. ` +
          'chDB allows one process per data directory: is another flowhound process using it?',
        { cause: err },
      );
    }
    const client = createClient({ connection: conn as never, clickhouse_settings: CLIENT_SETTINGS });
    return new Store(client, 'chdb', o, stageDir);
  }

  async ping(): Promise<void> {
    const r = await this.client.ping();
    if (!r.success) throw new StoreError(`ClickHouse does not answer: ${String((r as { error?: Error }).error?.message)}`);
  }

  /** How DDL is rendered for this store: database, cluster, retention. */
  ddlOptions(ttlDays?: Readonly<Record<string, number>>): DdlOptions {
    return { database: this.database, cluster: this.cluster, replicationPath: this.opts.replicationPath, ttlDays: { ...this.opts.ttlDays, ...ttlDays } };
  }

  /**
   * Brings the database to the newest schema version (see migrations.ts):
   * applies the numbered migrations it lacks, in order, adopts a database
   * made before versioned migrations as version 1, and reconciles columns,
   * skip indexes, settings and retention of existing tables. Safe to run
   * again; runs under the migration lock, so that of several components
   * starting at once one applies and the others find it done. `ttlDays`
   * adds to (and wins over) the store's retention settings.
   */
  async migrate(opts: { ttlDays?: Readonly<Record<string, number>> } = {}): Promise<MigrationReport> {
    checkRetention(opts.ttlDays);
    const run = () => {
      const lock: MigrationLock = this.opts.migrationLock ?? ((_name, fn) => fn());
      return lock(`migrations_${this.database}`, () => this.migrateNow(opts.ttlDays));
    };
    const p = this.migrating.then(run, run);
    this.migrating = p.catch(() => {});
    return p;
  }

  private async migrateNow(ttlDays: Readonly<Record<string, number>> | undefined): Promise<MigrationReport> {
    const t0 = performance.now();
    let report: MigrationReport;
    try {
      report = await runMigrations(
        {
          rows: (q, p) => this.rows(q, p),
          exec: async (query, params) => {
            await this.client.command({ query, query_params: params });
          },
          log: this.log,
          appliedBy: `${hostname()}:${process.pid}`,
        },
        this.ddlOptions(ttlDays),
      );
    } catch (err) {
      throw new StoreError(`schema migration of database ${this.database} failed: ${(err as Error).message}`, { cause: err });
    }
    this.log.info(
      { database: this.database, cluster: this.cluster || undefined, version: report.version, applied: report.applied, adopted: report.adopted, statements: report.statements.length, ms: Math.round(performance.now() - t0) },
      report.statements.length ? 'schema migrated' : 'schema is up to date',
    );
    return report;
  }

  /** Inserts one batch (tests and small callers); the token also names its rows' batch_id. */
  async insertBatch(table: TableDef, batch: ColumnarBatch, token: string): Promise<void> {
    if (batch.rows === 0) return;
    await this.insertNative(table, [nativeBlock(batch, batchIdHash(token))], batch.rows, token);
  }

  /**
   * Inserts Native blocks (see native.ts) as one INSERT; `columns` names
   * the blocks' columns (others get their defaults). `token` makes it
   * idempotent: the same token again (a retry after an error whose insert
   * did land) is dropped by ClickHouse. One code path builds the bytes; the
   * back ends differ only in delivery. chDB's insert API takes text formats
   * only, so the bytes are staged in a file that the engine reads with
   * `file(…, 'Native')`; a server gets them as the body of an
   * `INSERT … FORMAT Native`.
   */
  async insertNative(table: TableDef, blocks: readonly Uint8Array[], rows: number, token: string, columns: readonly string[] = nativeColumnNames(table.columns)): Promise<void> {
    if (rows === 0) return;
    await this.track(this.insertNow(table, blocks, rows, token, columns));
  }

  private track<T>(p: Promise<T>): Promise<T> {
    this.running.add(p);
    const done = () => this.running.delete(p);
    p.then(done, done);
    return p;
  }

  private async insertNow(table: TableDef, blocks: readonly Uint8Array[], rows: number, token: string, columns: readonly string[]): Promise<void> {
    const fq = `\`${this.database}\`.\`${table.name}\``;
    const cols = columns.map((c) => `\`${c}\``).join(', ');
    try {
      if (this.kind === 'chdb') {
        const path = join(this.stageDir, `${process.pid}-${++this.staged}.native`);
        const fh = await openFile(path, 'w');
        try {
          await fh.writev(blocks as Uint8Array[]);
        } finally {
          await fh.close();
        }
        try {
          await this.client.command({
            query: `INSERT INTO ${fq} (${cols}) SETTINGS insert_deduplication_token = ${sqlString(token)} SELECT * FROM file(${sqlString(path)}, 'Native')`,
          });
        } finally {
          await unlink(path).catch(() => {});
        }
      } else {
        const r = await this.client.exec({
          query: `INSERT INTO ${fq} (${cols}) FORMAT Native`,
          values: Readable.from(blocks),
          clickhouse_settings: { insert_deduplication_token: token },
        });
        r.stream.resume();
        await new Promise<void>((res, rej) => {
          r.stream.on('end', res);
          r.stream.on('error', rej);
        });
      }
    } catch (err) {
      throw new StoreError(`insert of ${rows} rows into ${fq} failed: ${(err as Error).message}`, { cause: err });
    }
  }

  /**
   * Rows stored per batch id among `ids`, looking only at rows received in
   * [fromMs, toMs] (the batches' own time span, so the lookup reads a few
   * parts, not the table). Used for redelivered batches only.
   */
  async storedBatchRows(table: TableDef, ids: readonly number[], fromMs: number, toMs: number): Promise<Map<number, number>> {
    const rows = await this.rows<[number, number]>(
      `SELECT batch_id, count() FROM \`${this.database}\`.\`${table.name}\`
       WHERE ${table.timeColumn} BETWEEN fromUnixTimestamp64Milli({from:Int64}) AND fromUnixTimestamp64Milli({to:Int64})
         AND batch_id IN {ids:Array(UInt64)}
       GROUP BY batch_id`,
      { from: Math.floor(fromMs), to: Math.ceil(toMs), ids },
    );
    return new Map(rows.map(([id, n]) => [Number(id), Number(n)]));
  }

  /** Removes the rows of the given batches (a partly stored batch before it is stored again). */
  async deleteBatches(table: TableDef, ids: readonly number[]): Promise<void> {
    // A Distributed table takes no DELETE: on a cluster, every shard's local table.
    await this.client.command({
      query: `DELETE FROM ${fqLocal(table.name, this.ddlOptions())}${this.cluster ? ` ON CLUSTER \`${this.cluster}\`` : ''} WHERE batch_id IN {ids:Array(UInt64)}`,
      query_params: { ids },
    });
  }

  /** Runs a parameterised query; values are bound, never spliced into SQL. */
  async rows<T = unknown[]>(query: string, params: Record<string, unknown> = {}): Promise<T[]> {
    const rs = await this.client.query({ query, query_params: params, format: 'JSONCompactEachRow' });
    return (await rs.json()) as T[];
  }

  /** Waits up to `waitMs` for running inserts, then closes. */
  async close(waitMs = 60_000): Promise<void> {
    if (this.running.size > 0) {
      this.log.info({ inserts: this.running.size }, 'waiting for running inserts before closing the store');
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([Promise.allSettled([...this.running]), new Promise((r) => (timer = setTimeout(r, waitMs)))]);
      clearTimeout(timer);
    }
    await this.client.close();
  }
}
