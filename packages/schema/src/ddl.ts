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

/**
 * MergeTree settings of every table, set at creation and re-applied by
 * migrations (ALTER … MODIFY SETTING) so older tables get them too.
 */
export const TABLE_SETTINGS: Readonly<Record<string, number>> = Object.freeze({
  // TTL removes whole day partitions, never rewrites parts row by row.
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

/** ALTERs that bring a table's settings to TABLE_SETTINGS. */
export function tableSettingsSql(t: TableDef, opts: DdlOptions): string {
  return `ALTER TABLE \`${opts.database}\`.\`${t.name}\` MODIFY SETTING ${Object.entries(TABLE_SETTINGS).map(([k, v]) => `${k} = ${v}`).join(', ')}`;
}

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

export function createTableSql(t: TableDef, opts: DdlOptions): string {
  const cols = storedColumns(t).map((c) => `  ${columnSql(c)}`).join(',\n');
  const ttl = opts.ttlDays?.[t.name] ?? t.ttlDays;
  return [
    `CREATE TABLE IF NOT EXISTS \`${opts.database}\`.\`${t.name}\` (`,
    cols,
    `) ENGINE = MergeTree`,
    `PARTITION BY ${t.partitionBy}`,
    `ORDER BY ${orderBySql(t)}`,
    `TTL toDateTime(${t.timeColumn}) + INTERVAL ${ttl} DAY DELETE`,
    `SETTINGS ${Object.entries(TABLE_SETTINGS).map(([k, v]) => `${k} = ${v}`).join(', ')}`,
  ].join('\n');
}
