import { Readable } from 'node:stream';
import { mkdirSync, rmSync } from 'node:fs';
import { open as openFile, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { createClient, type ClickHouseClient } from '@clickhouse/client';
import type { Logger } from '@flowhound/runtime';
import { addColumnsSql, createTableSql, storedColumns, tableSettingsSql, TABLES, type ColumnarBatch, type TableDef } from '@flowhound/schema';
import { StoreError } from './errors.ts';
import { batchIdHash, nativeBlock, nativeColumnNames } from './native.ts';

export interface StoreOptions {
  /** ClickHouse HTTP URL; when empty, chDB embedded in `dataDir`. */
  readonly url: string;
  readonly dataDir: string;
  readonly database: string;
  readonly username: string;
  readonly password: string;
  readonly log: Logger;
}

/** A SQL string literal; ClickHouse escapes are backslash-based. */
function sqlString(s: string): string {
  return `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
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
  /** chDB only: where insert files are staged (inside the data directory). */
  private readonly stageDir: string;
  private readonly log: Logger;
  private staged = 0;
  /** Statements running now: close() waits for them (closing chDB under a running insert crashes the process). */
  private readonly running = new Set<Promise<unknown>>();

  private constructor(client: ClickHouseClient, kind: 'chdb' | 'http', database: string, stageDir: string, log: Logger) {
    this.client = client;
    this.kind = kind;
    this.database = database;
    this.stageDir = stageDir;
    this.log = log;
  }

  static async open(o: StoreOptions): Promise<Store> {
    if (o.url) {
      const client = createClient({ url: o.url, username: o.username, password: o.password, request_timeout: 60_000 });
      const store = new Store(client, 'http', o.database, '', o.log);
      await store.ping();
      return store;
    }
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
    const client = createClient({ connection: conn as never });
    return new Store(client, 'chdb', o.database, stageDir, o.log);
  }

  async ping(): Promise<void> {
    const r = await this.client.ping();
    if (!r.success) throw new StoreError(`ClickHouse does not answer: ${String((r as { error?: Error }).error?.message)}`);
  }

  /** Creates the database and every table declared in packages/schema. */
  async migrate(opts: { ttlDays?: Record<string, number> } = {}): Promise<void> {
    await this.client.command({ query: `CREATE DATABASE IF NOT EXISTS \`${this.database}\`` });
    const existing = new Set(
      (await this.rows<[string]>('SELECT name FROM system.tables WHERE database = {db:String}', { db: this.database })).map((r) => r[0]),
    );
    for (const t of TABLES) {
      if (!existing.has(t.name)) {
        await this.client.command({ query: createTableSql(t, { database: this.database, ttlDays: opts.ttlDays }) });
        continue;
      }
      // A table from an older schema version: add the columns it lacks.
      const have = new Set(
        (await this.rows<[string]>('SELECT name FROM system.columns WHERE database = {db:String} AND table = {t:String}', { db: this.database, t: t.name })).map((r) => r[0]),
      );
      for (const sql of addColumnsSql({ ...t, columns: storedColumns(t).filter((c) => !have.has(c.name)) }, { database: this.database })) {
        await this.client.command({ query: sql });
      }
      await this.client.command({ query: tableSettingsSql(t, { database: this.database }) });
    }
    this.log.info({ database: this.database, tables: TABLES.map((t) => t.name) }, 'schema is up to date');
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
    await this.client.command({
      query: `DELETE FROM \`${this.database}\`.\`${table.name}\` WHERE batch_id IN {ids:Array(UInt64)}`,
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
