import { Readable } from 'node:stream';
import { mkdirSync } from 'node:fs';
import { createClient, type ClickHouseClient } from '@clickhouse/client';
import type { Logger } from '@flowhound/runtime';
import { addColumnsSql, createTableSql, TABLES, type ColumnarBatch, type TableDef } from '@flowhound/schema';
import { StoreError } from './errors.ts';
import { batchToTsv } from './tsv.ts';

export interface StoreOptions {
  /** ClickHouse HTTP URL; when empty, chDB embedded in `dataDir`. */
  readonly url: string;
  readonly dataDir: string;
  readonly database: string;
  readonly username: string;
  readonly password: string;
  readonly log: Logger;
}

interface ChdbConn {
  chdb: {
    rawInsert(p: { table: string; values: Buffer; format: 'TSV'; columns?: readonly string[]; settings?: Record<string, string | number> }): Promise<unknown>;
  };
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
  private readonly chdb: ChdbConn | undefined;
  private readonly log: Logger;

  private constructor(client: ClickHouseClient, kind: 'chdb' | 'http', database: string, chdb: ChdbConn | undefined, log: Logger) {
    this.client = client;
    this.kind = kind;
    this.database = database;
    this.chdb = chdb;
    this.log = log;
  }

  static async open(o: StoreOptions): Promise<Store> {
    if (o.url) {
      const client = createClient({ url: o.url, username: o.username, password: o.password, request_timeout: 60_000 });
      const store = new Store(client, 'http', o.database, undefined, o.log);
      await store.ping();
      return store;
    }
    mkdirSync(o.dataDir, { recursive: true });
    let conn: ChdbConn;
    try {
      const { createChdbConnection } = await import('chdb/connection');
      conn = createChdbConnection({ path: o.dataDir }) as unknown as ChdbConn;
    } catch (err) {
      throw new StoreError(
        `cannot open embedded ClickHouse (chDB) in ${o.dataDir}: ${(err as Error).message}. ` +
          'chDB allows one process per data directory: is another flowhound process using it?',
        { cause: err },
      );
    }
    const client = createClient({ connection: conn as never });
    return new Store(client, 'chdb', o.database, conn, o.log);
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
      for (const sql of addColumnsSql({ ...t, columns: t.columns.filter((c) => !have.has(c.name)) }, { database: this.database })) {
        await this.client.command({ query: sql });
      }
    }
    this.log.info({ database: this.database, tables: TABLES.map((t) => t.name) }, 'schema is up to date');
  }

  /**
   * Inserts a batch. `token` makes the insert idempotent: the same token
   * again (a redelivered bus message) is dropped by ClickHouse.
   */
  async insertBatch(table: TableDef, batch: ColumnarBatch, token: string): Promise<void> {
    if (batch.rows === 0) return;
    const tsv = batchToTsv(batch);
    const columns = table.columns.map((c) => c.name);
    const settings = { insert_deduplication_token: token };
    const fq = `${this.database}.${table.name}`;
    try {
      if (this.chdb) {
        await this.chdb.chdb.rawInsert({ table: fq, values: Buffer.from(tsv), format: 'TSV', columns, settings });
      } else {
        // A byte stream, not object mode: the client refuses object-mode
        // streams for raw formats.
        const body = new Readable({ read() {} });
        body.push(tsv);
        body.push(null);
        await this.client.insert({ table: fq, values: body, format: 'TabSeparated', columns: columns as [string, ...string[]], clickhouse_settings: settings });
      }
    } catch (err) {
      throw new StoreError(`insert of ${batch.rows} rows into ${fq} failed: ${(err as Error).message}`, { cause: err });
    }
  }

  /** Runs a parameterised query; values are bound, never spliced into SQL. */
  async rows<T = unknown[]>(query: string, params: Record<string, unknown> = {}): Promise<T[]> {
    const rs = await this.client.query({ query, query_params: params, format: 'JSONCompactEachRow' });
    return (await rs.json()) as T[];
  }

  async close(): Promise<void> {
    await this.client.close();
  }
}
