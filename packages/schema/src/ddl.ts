import { STORAGE_COLUMNS, type ColumnDef, type TableDef } from './columns.ts';

export interface DdlOptions {
  /** Database name; tables are created inside it. */
  readonly database: string;
  /** Retention override in days, per table name. */
  readonly ttlDays?: Readonly<Record<string, number>>;
}

/** CREATE TABLE for one table on a single ClickHouse server or chDB. */
function columnSql(c: TableDef['columns'][number]): string {
  return `\`${c.name}\` ${c.chType} COMMENT '${c.description.replace(/'/g, "\\'")}'${c.codec ? ` CODEC(${c.codec})` : ''}`;
}

/**
 * One ALTER per column, each a no-op when the column exists: brings a table
 * created by an older schema up to date (columns are only ever added).
 */
export function addColumnsSql(t: TableDef, opts: DdlOptions): string[] {
  return t.columns.map((c) => `ALTER TABLE \`${opts.database}\`.\`${t.name}\` ADD COLUMN IF NOT EXISTS ${columnSql(c)}`);
}

/** Every column a stored table has: the schema's, then the writer's. */
export function storedColumns(t: TableDef): readonly ColumnDef[] {
  return [...t.columns, ...STORAGE_COLUMNS];
}

export function createTableSql(t: TableDef, opts: DdlOptions): string {
  const cols = storedColumns(t).map((c) => `  ${columnSql(c)}`).join(',\n');
  const ttl = opts.ttlDays?.[t.name] ?? t.ttlDays;
  return [
    `CREATE TABLE IF NOT EXISTS \`${opts.database}\`.\`${t.name}\` (`,
    cols,
    `) ENGINE = MergeTree`,
    `PARTITION BY ${t.partitionBy}`,
    `ORDER BY ${t.orderBy}`,
    `TTL toDateTime(${t.timeColumn}) + INTERVAL ${ttl} DAY DELETE`,
    // A replayed batch (same insert_deduplication_token) is dropped by the
    // server, which makes writer retries after a crash harmless.
    `SETTINGS ttl_only_drop_parts = 1, non_replicated_deduplication_window = 10000`,
  ].join('\n');
}
