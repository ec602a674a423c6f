// Every flow column is declared here once. The ClickHouse DDL, the in-memory
// columnar batch, the bus encoding, the IPFIX element map and the query
// language's field list are all derived from these declarations.

/**
 * Storage kind of a column in a columnar batch.
 * - u8/u16/u32: unsigned integers in the typed array of that width.
 * - u64: counters kept in a Float64Array: exact up to 2^53 (9 PB in one
 *   flow record), and writing a double is much cheaper than a BigInt.
 * - time: milliseconds since the Unix epoch, Float64Array.
 * - ip: 16 bytes per row; IPv4 is stored IPv4-mapped (::ffff:a.b.c.d), so
 *   one column and one ClickHouse IPv6 type serve both families.
 * - str: a JS string per row (rare columns only: names, not hot counters).
 */
export type ColumnKind = 'u8' | 'u16' | 'u32' | 'u64' | 'time' | 'ip' | 'str';

export interface ColumnDef {
  /** ClickHouse column name; also the name in CLI/JSON/CSV output. */
  readonly name: string;
  readonly kind: ColumnKind;
  /** ClickHouse type including LowCardinality wrappers. */
  readonly chType: string;
  /** ClickHouse compression codec expression, if not the table default. */
  readonly codec?: string;
  /** IANA IPFIX information element ids that fill this column (PEN 0). */
  readonly ies: readonly number[];
  readonly description: string;
}

function col(
  name: string,
  kind: ColumnKind,
  chType: string,
  ies: readonly number[],
  description: string,
  codec?: string,
): ColumnDef {
  return Object.freeze({ name, kind, chType, ies: Object.freeze([...ies]), description, codec });
}

/**
 * The columns of one flow record as an exporter sent it (after decoding and
 * making times absolute). Order matters: it is the order of the DDL and of
 * the bus encoding. Add a column at the end.
 */
export const FLOW_COLUMNS: readonly ColumnDef[] = Object.freeze([
  col('time_received', 'time', "DateTime64(3, 'UTC')", [], 'when the collector received the export packet', 'DoubleDelta, ZSTD(1)'),
  col('exporter_address', 'ip', 'IPv6', [130, 131], 'address the export packet came from (IPv4-mapped for IPv4)', 'ZSTD(1)'),
  col('flow_version', 'u8', 'UInt8', [], 'export protocol version: 5, 9 or 10 (IPFIX)'),
  col('observation_domain_id', 'u32', 'UInt32', [149], 'observation domain id (IPFIX) or source id (NetFlow v9)'),
  col('template_id', 'u16', 'UInt16', [145], 'template that described the record (0 for NetFlow v5)'),
  col('flow_start', 'time', "DateTime64(3, 'UTC')", [150, 152, 154, 156, 22], 'first packet of the flow, absolute', 'DoubleDelta, ZSTD(1)'),
  col('flow_end', 'time', "DateTime64(3, 'UTC')", [151, 153, 155, 157, 21], 'last packet of the flow, absolute', 'DoubleDelta, ZSTD(1)'),
  col('src_addr', 'ip', 'IPv6', [8, 27], 'source address', 'ZSTD(1)'),
  col('dst_addr', 'ip', 'IPv6', [12, 28], 'destination address', 'ZSTD(1)'),
  col('src_port', 'u16', 'UInt16', [7], 'source transport port'),
  col('dst_port', 'u16', 'UInt16', [11], 'destination transport port'),
  col('protocol', 'u8', 'UInt8', [4], 'IP protocol number'),
  col('tcp_flags', 'u16', 'UInt16', [6], 'union of TCP flags seen'),
  col('tos', 'u8', 'UInt8', [5], 'IP type of service / traffic class'),
  col('bytes', 'u64', 'UInt64', [1, 85, 23], 'octets as received (not scaled by sampling)', 'T64, ZSTD(1)'),
  col('packets', 'u64', 'UInt64', [2, 86, 24], 'packets as received (not scaled by sampling)', 'T64, ZSTD(1)'),
  col('input_if', 'u32', 'UInt32', [10], 'ingress interface ifIndex'),
  col('output_if', 'u32', 'UInt32', [14], 'egress interface ifIndex'),
  col('src_as', 'u32', 'UInt32', [16], 'source BGP AS'),
  col('dst_as', 'u32', 'UInt32', [17], 'destination BGP AS'),
  col('next_hop', 'ip', 'IPv6', [15, 62], 'IP next hop', 'ZSTD(1)'),
  col('src_mask', 'u8', 'UInt8', [9, 29], 'source prefix length'),
  col('dst_mask', 'u8', 'UInt8', [13, 30], 'destination prefix length'),
  col('ip_version', 'u8', 'UInt8', [60], 'IP version of the flow: 4 or 6'),
  col('icmp_type_code', 'u16', 'UInt16', [32, 139], 'ICMP type * 256 + code'),
  col('vlan_id', 'u16', 'UInt16', [58], 'VLAN id'),
  col('flow_direction', 'u8', 'UInt8', [61], 'direction on the observing interface: 0 ingress, 1 egress'),
  col('sampling_interval', 'u32', 'UInt32', [34, 305], 'one packet in N sampled; 0 when unknown'),
  col('flow_end_reason', 'u8', 'UInt8', [136], 'why the exporter ended the flow record'),
]);

/**
 * Conversations as the pipeline emits them after stitching and enrichment.
 * In the walking skeleton a conversation is one record passed through;
 * the stitcher issue replaces this with two-way columns.
 */
export const CONVERSATION_COLUMNS: readonly ColumnDef[] = Object.freeze([
  ...FLOW_COLUMNS,
  col('enrichment_version', 'u32', 'UInt32', [], 'version of the enrichment data that enriched the conversation'),
]);

export interface TableDef {
  readonly name: string;
  readonly columns: readonly ColumnDef[];
  /** Column holding the row time used for partitioning, TTL and time filters. */
  readonly timeColumn: string;
  readonly orderBy: string;
  readonly partitionBy: string;
  readonly ttlDays: number;
}

export const FLOWS_TABLE: TableDef = Object.freeze({
  name: 'flows',
  columns: FLOW_COLUMNS,
  timeColumn: 'time_received',
  // Time bucket first so time-range scans prune; then the host columns the
  // investigator filters on.
  orderBy: '(toStartOfFiveMinutes(time_received), exporter_address, src_addr, dst_addr)',
  partitionBy: 'toYYYYMMDD(time_received)',
  ttlDays: 30,
});

export const CONVERSATIONS_TABLE: TableDef = Object.freeze({
  name: 'conversations',
  columns: CONVERSATION_COLUMNS,
  timeColumn: 'time_received',
  orderBy: '(toStartOfFiveMinutes(time_received), src_addr, dst_addr)',
  partitionBy: 'toYYYYMMDD(time_received)',
  ttlDays: 30,
});

export const TABLES: readonly TableDef[] = Object.freeze([FLOWS_TABLE, CONVERSATIONS_TABLE]);

/** Bumped whenever a column is added; carried in every bus batch. */
export const SCHEMA_VERSION = 1;

export function columnByName(columns: readonly ColumnDef[], name: string): ColumnDef | undefined {
  for (const c of columns) if (c.name === name) return c;
  return undefined;
}
