// ClickHouse DDL for every stored table, on a single server (or chDB) and
// on a cluster. Tables are declared once (columns.ts for the tables the
// writer fills from the bus, tables.ts for the others); this file only
// renders them. docs/storage.md explains the choices.
import { STORAGE_COLUMNS, type ColumnDef, type IndexDef, type TableDef } from './columns.ts';

/** A column of a stored table; ColumnDef (bus columns) is one. */
export interface StoredColumn {
  readonly name: string;
  readonly chType: string;
  readonly codec?: string;
  readonly description: string;
}

export type MergeTreeEngine = 'MergeTree' | 'SummingMergeTree' | 'AggregatingMergeTree' | 'ReplacingMergeTree';

/** A MergeTree table as migrations create it. */
export interface StoredTable {
  readonly name: string;
  readonly columns: readonly StoredColumn[];
  readonly engine: MergeTreeEngine;
  /** Engine arguments: the version column of ReplacingMergeTree, the summed columns of SummingMergeTree. */
  readonly engineArgs?: string;
  /** ORDER BY expression, parenthesised. */
  readonly orderBy: string;
  readonly partitionBy: string;
  /** DateTime expression rows expire from (`TTL <expr> + INTERVAL n DAY`). */
  readonly ttlFrom: string;
  /** Default retention; DdlOptions.ttlDays overrides it by table name. */
  readonly ttlDays: number;
  readonly settings: Readonly<Record<string, number>>;
  readonly indexes: readonly IndexDef[];
  /** Sharding key of the Distributed table on a cluster. */
  readonly shardingKey: string;
}

/**
 * A materialized view that keeps a table up to date from another one's
 * inserts. On a cluster it reads and writes the local tables, so each
 * shard aggregates the rows it stores.
 */
export interface MaterializedView {
  readonly name: string;
  /** Table written to. */
  readonly to: string;
  /** Table whose inserts feed the view. */
  readonly from: string;
  /** The view's SELECT; `source` is the fully qualified table to read. */
  readonly select: (source: string) => string;
}

export interface DdlOptions {
  /** Database name; tables are created inside it. */
  readonly database: string;
  /**
   * Cluster name from the server's remote_servers; empty for a single
   * server or chDB. On a cluster every statement runs ON CLUSTER, tables
   * are Replicated*MergeTree named `<table>_local`, and a Distributed
   * table carries the plain name, so queries and inserts do not change.
   */
  readonly cluster?: string;
  /**
   * Replication path of a cluster's tables; `{table}` is replaced by the
   * table's name, `{shard}`, `{database}` and `{replica}` are server macros.
   */
  readonly replicationPath?: string;
  /** Retention override in days, per table name. */
  readonly ttlDays?: Readonly<Record<string, number>>;
}

export const DEFAULT_REPLICATION_PATH = '/clickhouse/tables/{shard}/{database}/{table}';

/**
 * MergeTree settings of the tables the writer fills, set at creation and
 * re-applied by migrations (ALTER … MODIFY SETTING) so older tables get
 * them too.
 */
export const TABLE_SETTINGS: Readonly<Record<string, number>> = Object.freeze({
  // TTL removes whole parts (a day partition once all of it has expired),
  // never rewrites parts row by row.
  ttl_only_drop_parts: 1,
  // A replayed insert (same insert_deduplication_token) is dropped by the
  // server, which makes the writer's retries harmless.
  non_replicated_deduplication_window: 10000,
  // Inserts (≤ ~1M rows) are written as compact parts: one file for all
  // columns instead of two per column. With ~75 columns, most of them empty
  // for a given exporter, that made inserts 1.4–2× faster here; merges
  // produce wide parts once a part passes a million rows.
  min_bytes_for_wide_part: 268435456,
  min_rows_for_wide_part: 1000000,
});

/**
 * Settings of tables that are not the writer's large inserts (rollups,
 * events, inventories). The deduplication window matters for rollups too:
 * a replayed insert that the base table drops still reaches the views,
 * and only the view's own table, deduplicating on the token derived from
 * the insert's, keeps it from being counted twice (measured on chDB 26.7).
 */
export const SMALL_TABLE_SETTINGS: Readonly<Record<string, number>> = Object.freeze({
  ttl_only_drop_parts: 1,
  non_replicated_deduplication_window: 10000,
});

function q(id: string): string {
  return `\`${id}\``;
}

/** A SQL string literal; ClickHouse escapes are backslash-based. */
export function sqlString(s: string): string {
  return `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

function onCluster(o: DdlOptions): string {
  return o.cluster ? ` ON CLUSTER ${q(o.cluster)}` : '';
}

/** Name of the table that holds the rows: `<name>_local` on a cluster. */
export function localName(name: string, o: DdlOptions): string {
  return o.cluster ? `${name}_local` : name;
}

/** Fully qualified name of the table queries and inserts use. */
export function fqName(name: string, o: DdlOptions): string {
  return `${q(o.database)}.${q(name)}`;
}

/** Fully qualified name of the table that holds the rows. */
export function fqLocal(name: string, o: DdlOptions): string {
  return `${q(o.database)}.${q(localName(name, o))}`;
}

export function columnSql(c: StoredColumn): string {
  return `${q(c.name)} ${c.chType} COMMENT ${sqlString(c.description)}${c.codec ? ` CODEC(${c.codec})` : ''}`;
}

function indexSql(i: IndexDef): string {
  return `INDEX ${q(i.name)} ${i.expr} TYPE ${i.type} GRANULARITY ${i.granularity}`;
}

function settingsSql(s: Readonly<Record<string, number>>): string {
  return Object.entries(s)
    .map(([k, v]) => `${k} = ${v}`)
    .join(', ');
}

export function ttlDaysOf(t: StoredTable, o: DdlOptions): number {
  return o.ttlDays?.[t.name] ?? t.ttlDays;
}

export function ttlSql(t: StoredTable, o: DdlOptions): string {
  return `${t.ttlFrom} + INTERVAL ${ttlDaysOf(t, o)} DAY DELETE`;
}

function engineSql(t: StoredTable, o: DdlOptions): string {
  if (!o.cluster) return `${t.engine}${t.engineArgs ? `(${t.engineArgs})` : ''}`;
  const path = (o.replicationPath || DEFAULT_REPLICATION_PATH).replaceAll('{table}', t.name);
  return `Replicated${t.engine}(${[sqlString(path), "'{replica}'", ...(t.engineArgs ? [t.engineArgs] : [])].join(', ')})`;
}

export function createDatabaseSql(o: DdlOptions): string {
  return `CREATE DATABASE IF NOT EXISTS ${q(o.database)}${onCluster(o)}`;
}

/**
 * The statements that create a table: the table itself on a single
 * server; on a cluster the replicated local table, then the Distributed
 * table under the plain name.
 */
export function createStoredTableSql(t: StoredTable, o: DdlOptions): string[] {
  const body = [...t.columns.map(columnSql), ...t.indexes.map(indexSql)].map((l) => `  ${l}`).join(',\n');
  const local = [
    `CREATE TABLE IF NOT EXISTS ${fqLocal(t.name, o)}${onCluster(o)} (`,
    body,
    `) ENGINE = ${engineSql(t, o)}`,
    `PARTITION BY ${t.partitionBy}`,
    `ORDER BY ${t.orderBy}`,
    `TTL ${ttlSql(t, o)}`,
    `SETTINGS ${settingsSql(t.settings)}`,
  ].join('\n');
  if (!o.cluster) return [local];
  return [local, createDistributedSql(t, o)];
}

/** On a cluster: the Distributed table under the plain name, over the local tables. */
export function createDistributedSql(t: StoredTable, o: DdlOptions): string {
  return (
    `CREATE TABLE IF NOT EXISTS ${fqName(t.name, o)}${onCluster(o)} AS ${fqLocal(t.name, o)}\n` +
    `ENGINE = Distributed(${q(o.cluster!)}, ${q(o.database)}, ${q(localName(t.name, o))}, ${t.shardingKey})`
  );
}

export function createViewSql(v: MaterializedView, o: DdlOptions): string {
  return `CREATE MATERIALIZED VIEW IF NOT EXISTS ${fqName(v.name, o)}${onCluster(o)} TO ${fqLocal(v.to, o)} AS\n${v.select(fqLocal(v.from, o))}`;
}

/**
 * ADD COLUMN for a column an older table lacks: on a cluster both the
 * local table and the Distributed one (which has its own column list).
 */
export function addColumnSql(table: string, c: StoredColumn, o: DdlOptions): string[] {
  const add = (fq: string) => `ALTER TABLE ${fq}${onCluster(o)} ADD COLUMN IF NOT EXISTS ${columnSql(c)}`;
  return o.cluster ? [add(fqLocal(table, o)), add(fqName(table, o))] : [add(fqLocal(table, o))];
}

export function addIndexSql(table: string, i: IndexDef, o: DdlOptions): string {
  return `ALTER TABLE ${fqLocal(table, o)}${onCluster(o)} ADD INDEX IF NOT EXISTS ${q(i.name)} ${i.expr} TYPE ${i.type} GRANULARITY ${i.granularity}`;
}

export function modifySettingsSql(table: string, s: Readonly<Record<string, number>>, o: DdlOptions): string {
  return `ALTER TABLE ${fqLocal(table, o)}${onCluster(o)} MODIFY SETTING ${settingsSql(s)}`;
}

export function modifyTtlSql(t: StoredTable, o: DdlOptions): string {
  return `ALTER TABLE ${fqLocal(t.name, o)}${onCluster(o)} MODIFY TTL ${ttlSql(t, o)}`;
}

// --- the tables the writer fills from the bus --------------------------------

/** The ORDER BY of a table, from its sort key (the writer sorts by the same key). */
export function orderBySql(t: TableDef): string {
  const s = t.sortKey.bucketSeconds;
  // toStartOfFiveMinutes for 300 s keeps the DDL of tables created before
  // sort keys were declared (a table's ORDER BY cannot be changed later).
  const bucket = s === 300 ? `toStartOfFiveMinutes(${t.timeColumn})` : `toStartOfInterval(${t.timeColumn}, INTERVAL ${s} SECOND)`;
  return `(${[bucket, ...t.sortKey.columns].join(', ')})`;
}

/** Every column a stored table has: the schema's, then the writer's. */
export function storedColumns(t: TableDef): readonly ColumnDef[] {
  return [...t.columns, ...STORAGE_COLUMNS];
}

/** A bus-fed table as a stored table. */
export function storedTable(t: TableDef): StoredTable {
  return Object.freeze({
    name: t.name,
    columns: storedColumns(t),
    engine: 'MergeTree',
    orderBy: orderBySql(t),
    partitionBy: t.partitionBy,
    ttlFrom: `toDateTime(${t.timeColumn})`,
    ttlDays: t.ttlDays,
    settings: TABLE_SETTINGS,
    indexes: t.indexes,
    shardingKey: t.shardingKey,
  });
}

/** CREATE TABLE of a bus-fed table (the local table on a cluster). */
export function createTableSql(t: TableDef, opts: DdlOptions): string {
  return createStoredTableSql(storedTable(t), opts)[0];
}
