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

/** An enterprise-specific information element (RFC 7011 §3.2): private enterprise number and element id. */
export interface EnterpriseIe {
  readonly enterprise: number;
  readonly id: number;
}

export interface ColumnDef {
  /** ClickHouse column name; also the name in CLI/JSON/CSV output. */
  readonly name: string;
  readonly kind: ColumnKind;
  /** ClickHouse type including LowCardinality wrappers. */
  readonly chType: string;
  /** ClickHouse compression codec expression, if not the table default. */
  readonly codec?: string;
  /**
   * Information element ids (PEN 0) that fill this column, best first: IANA
   * IPFIX ids below 32768, and NetFlow v9 vendor field types from 32768 up
   * (Cisco NSEL 33000–40005), which no IPFIX element id can equal.
   */
  readonly ies: readonly number[];
  /** Enterprise-specific elements that fill this column, after `ies` (RFC 5103 reverse elements: PEN 29305). */
  readonly enterpriseIes: readonly EnterpriseIe[];
  /** Computed by the decoder from other elements or from state (sampling, options data), not copied from one element. */
  readonly derived: boolean;
  readonly description: string;
}

interface ColOptions {
  readonly codec?: string;
  readonly pen?: ReadonlyArray<readonly [enterprise: number, id: number]>;
  readonly derived?: boolean;
}

function col(name: string, kind: ColumnKind, chType: string, ies: readonly number[], description: string, opts: ColOptions | string = {}): ColumnDef {
  const o: ColOptions = typeof opts === 'string' ? { codec: opts } : opts;
  return Object.freeze({
    name,
    kind,
    chType,
    ies: Object.freeze([...ies]),
    enterpriseIes: Object.freeze((o.pen ?? []).map(([enterprise, id]) => Object.freeze({ enterprise, id }))),
    derived: o.derived ?? false,
    description,
    codec: o.codec,
  });
}

/** RFC 5103 reverse-direction elements: the IANA element of the same id, PEN 29305. */
const REV = 29305;
/** Cisco (PEN 9) Application Response Time elements. */
const CISCO = 9;
/** Citrix NetScaler (PEN 5951). */
const NETSCALER = 5951;

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
  col('bytes', 'u64', 'UInt64', [1, 85, 23, 231], 'octets as received (not scaled by sampling); initiatorOctets for Cisco ASA', 'T64, ZSTD(1)'),
  col('packets', 'u64', 'UInt64', [2, 86, 24, 298], 'packets as received (not scaled by sampling)', 'T64, ZSTD(1)'),
  col('input_if', 'u32', 'UInt32', [10], 'ingress interface ifIndex'),
  col('output_if', 'u32', 'UInt32', [14], 'egress interface ifIndex'),
  col('src_as', 'u32', 'UInt32', [16], 'source BGP AS'),
  col('dst_as', 'u32', 'UInt32', [17], 'destination BGP AS'),
  col('next_hop', 'ip', 'IPv6', [15, 62], 'IP next hop', 'ZSTD(1)'),
  col('src_mask', 'u8', 'UInt8', [9, 29], 'source prefix length'),
  col('dst_mask', 'u8', 'UInt8', [13, 30], 'destination prefix length'),
  col('ip_version', 'u8', 'UInt8', [60], 'IP version of the flow: 4 or 6'),
  col('icmp_type_code', 'u16', 'UInt16', [32, 139], 'ICMP type * 256 + code'),
  col('vlan_id', 'u16', 'UInt16', [58, 243], 'VLAN id'),
  col('flow_direction', 'u8', 'UInt8', [61], 'direction on the observing interface: 0 ingress, 1 egress'),
  col('sampling_interval', 'u32', 'UInt32', [34, 305, 50], 'one packet in N sampled, as applied to bytes_scaled/packets_scaled; 0 when unknown'),
  col('flow_end_reason', 'u8', 'UInt8', [136], 'why the exporter ended the flow record'),
  // --- schema version 2 ---------------------------------------------------
  // RFC 5103 biflows: one record, both directions.
  col('rev_bytes', 'u64', 'UInt64', [232], 'octets in the reverse direction (RFC 5103 biflow; responderOctets for Cisco ASA)', { codec: 'T64, ZSTD(1)', pen: [[REV, 1], [REV, 85], [REV, 23]] }),
  col('rev_packets', 'u64', 'UInt64', [299], 'packets in the reverse direction (RFC 5103 biflow)', { codec: 'T64, ZSTD(1)', pen: [[REV, 2], [REV, 86], [REV, 24]] }),
  col('rev_tcp_flags', 'u16', 'UInt16', [], 'union of TCP flags seen in the reverse direction (RFC 5103 biflow)', { pen: [[REV, 6]] }),
  // Firewall (Cisco ASA NSEL, Palo Alto, Barracuda…) and NAT (NEL).
  col('fw_event', 'u8', 'UInt8', [233, 40005], 'firewall event: 0 none, 1 created, 2 deleted, 3 denied, 4 alert, 5 update (IANA firewallEvent = Cisco NSEL NF_F_FW_EVENT)'),
  col('fw_ext_event', 'u16', 'UInt16', [33002], 'Cisco NSEL extended event: 1001–1004 why a flow was denied, 2000 and up why it was deleted'),
  col('ingress_acl', 'str', 'LowCardinality(String)', [33000], 'Cisco NSEL ingress ACL: ACL id, ACE id, extended ACE id in hex ("0f8e7ff3-fc1a030f-00000000"); empty when none'),
  col('egress_acl', 'str', 'LowCardinality(String)', [33001], 'Cisco NSEL egress ACL, as ingress_acl'),
  col('forwarding_status', 'u8', 'UInt8', [89], 'forwardingStatus (RFC 7270): top 2 bits 1 forwarded, 2 dropped, 3 consumed; low 6 bits the reason'),
  col('flow_action', 'u8', 'UInt8', [], '1 permitted, 2 denied, 0 unknown: from fw_event (3 denied; 1, 2, 5 permitted), fw_ext_event (1001–1999 denied), else forwarding_status (dropped: denied; forwarded, consumed: permitted)', { derived: true }),
  col('post_nat_src_addr', 'ip', 'IPv6', [225, 281, 40001], 'source address after NAT', 'ZSTD(1)'),
  col('post_nat_dst_addr', 'ip', 'IPv6', [226, 282, 40002], 'destination address after NAT', 'ZSTD(1)'),
  col('post_napt_src_port', 'u16', 'UInt16', [227, 40003], 'source port after NAPT'),
  col('post_napt_dst_port', 'u16', 'UInt16', [228, 40004], 'destination port after NAPT'),
  col('nat_event', 'u8', 'UInt8', [230], 'NAT event (IANA natEvent: 1 create, 2 delete, 3 pool exhausted, …)'),
  col('port_range_start', 'u16', 'UInt16', [361], 'NAT port block: first port'),
  col('port_range_end', 'u16', 'UInt16', [362], 'NAT port block: last port'),
  col('port_range_step', 'u16', 'UInt16', [363], 'NAT port block: step size'),
  col('port_range_ports', 'u16', 'UInt16', [364], 'NAT port block: number of ports'),
  // Application identity.
  col('app_id', 'str', 'LowCardinality(String)', [95], 'application id as "engine:selector" (NBAR: "13:453"; PEN-based engine 20: "20:pen:selector")'),
  col('app_name', 'str', 'LowCardinality(String)', [96], 'application name: sent in the record, or learnt for app_id from options data (IEs 95 + 96, else 94)'),
  // Layer 3 / layer 2 details.
  col('min_ttl', 'u8', 'UInt8', [52], 'smallest TTL / hop limit seen'),
  col('max_ttl', 'u8', 'UInt8', [53], 'largest TTL / hop limit seen'),
  col('dscp', 'u8', 'UInt8', [195], 'DSCP: ipDiffServCodePoint, else tos >> 2'),
  col('post_vlan_id', 'u16', 'UInt16', [59, 254], 'VLAN id after the observation point'),
  col('mpls_label', 'u32', 'UInt32', [70], 'top MPLS label (20-bit label value of mplsTopLabelStackSection)'),
  col('src_mac', 'str', 'LowCardinality(String)', [56], 'source MAC address (aa:bb:cc:dd:ee:ff)'),
  col('dst_mac', 'str', 'LowCardinality(String)', [80], 'destination MAC address'),
  col('post_src_mac', 'str', 'LowCardinality(String)', [81], 'source MAC address after the observation point'),
  col('post_dst_mac', 'str', 'LowCardinality(String)', [57], 'destination MAC address after the observation point'),
  col('input_if_name', 'str', 'LowCardinality(String)', [], 'name of input_if, learnt from options data (interfaceName 82, else interfaceDescription 83)', { derived: true }),
  col('output_if_name', 'str', 'LowCardinality(String)', [], 'name of output_if, learnt from options data', { derived: true }),
  // HTTP and application response time.
  col('http_host', 'str', 'String', [460], 'HTTP request host', { pen: [[NETSCALER, 142]] }),
  col('http_url', 'str', 'String', [461], 'HTTP request target (URL path)', { pen: [[NETSCALER, 130]] }),
  col('client_nw_delay_ms', 'u32', 'UInt32', [], 'client network delay, ms (Cisco ART client network time per new connection)', { pen: [[CISCO, 9316]] }),
  col('server_nw_delay_ms', 'u32', 'UInt32', [], 'server network delay, ms (Cisco ART server network time per new connection)', { pen: [[CISCO, 9319]] }),
  col('app_delay_ms', 'u32', 'UInt32', [], 'application delay, ms (Cisco ART server response time per response)', { pen: [[CISCO, 9306]] }),
  // TCP flag counters.
  col('tcp_syn_count', 'u64', 'UInt64', [218], 'TCP packets with SYN', 'T64, ZSTD(1)'),
  col('tcp_fin_count', 'u64', 'UInt64', [219], 'TCP packets with FIN', 'T64, ZSTD(1)'),
  col('tcp_rst_count', 'u64', 'UInt64', [220], 'TCP packets with RST', 'T64, ZSTD(1)'),
  col('tcp_psh_count', 'u64', 'UInt64', [221], 'TCP packets with PSH', 'T64, ZSTD(1)'),
  col('tcp_ack_count', 'u64', 'UInt64', [222], 'TCP packets with ACK', 'T64, ZSTD(1)'),
  col('tcp_urg_count', 'u64', 'UInt64', [223], 'TCP packets with URG', 'T64, ZSTD(1)'),
  // Sampling.
  col('bytes_scaled', 'u64', 'UInt64', [], 'bytes × sampling_interval; bytes as received when the rate is unknown', { codec: 'T64, ZSTD(1)', derived: true }),
  col('packets_scaled', 'u64', 'UInt64', [], 'packets × sampling_interval; packets as received when the rate is unknown', { codec: 'T64, ZSTD(1)', derived: true }),
  col('sampling_known', 'u8', 'UInt8', [], '1 when the sampling rate is known (exporter or configuration), 0 when bytes_scaled/packets_scaled are unscaled guesses', { derived: true }),
]);

/**
 * Conversations as the pipeline emits them after stitching and enrichment.
 * In the walking skeleton a conversation is one record passed through;
 * the stitcher issue replaces this with two-way columns.
 */
export const CONVERSATION_COLUMNS: readonly ColumnDef[] = Object.freeze([
  ...FLOW_COLUMNS,
  col('enrichment_version', 'u32', 'UInt32', [], 'version of the enrichment data that enriched the conversation', { derived: true }),
  // --- schema version 3 ---------------------------------------------------
  // Host groups, one per side: the rollups keep per-group traffic from them.
  col('src_host_group', 'str', 'LowCardinality(String)', [], 'host group of src_addr, set by enrichment; empty when the address is in no group (or before host groups exist)', { derived: true }),
  col('dst_host_group', 'str', 'LowCardinality(String)', [], 'host group of dst_addr, set by enrichment; empty when the address is in no group', { derived: true }),
]);

/**
 * A data-skipping index of a stored table. Created with the table, and
 * added to a table from an older version by migrations (ADD INDEX IF NOT
 * EXISTS, matched by name: to change an index, give it a new name).
 */
export interface IndexDef {
  readonly name: string;
  /** Column or tuple of columns. */
  readonly expr: string;
  /** ClickHouse index type, e.g. `bloom_filter(0.01)`, `minmax`, `set(100)`. */
  readonly type: string;
  /** Granules (of 8192 rows) one index entry covers. */
  readonly granularity: number;
}

/**
 * Skip indexes of the flow and conversation tables, measured on chDB with
 * 4M rows a day and 2M distinct addresses on each side (see
 * docs/storage.md): without them `src_addr = X OR dst_addr = X` reads
 * every granule, with one bloom filter over both columns it read 36 of 489.
 */
const FLOW_INDEXES: readonly IndexDef[] = Object.freeze([
  // One bloom filter over both addresses answers "this host, either side"
  // (an OR over two columns), which two separate filters of granularity 4
  // did not (375 of 489 granules read).
  { name: 'idx_addrs', expr: '(src_addr, dst_addr)', type: 'bloom_filter(0.01)', granularity: 4 },
  // Rare ports (a backdoor's 4444, SMB's 445 seen outside the LAN) are
  // found without a scan; common ones are everywhere and skip nothing.
  { name: 'idx_ports', expr: '(src_port, dst_port)', type: 'bloom_filter(0.01)', granularity: 4 },
  // The query service selects by flow_start/flow_end, which the primary
  // key (on time_received) does not cover; they follow time_received
  // closely, so min/max per granule prunes almost as well.
  { name: 'idx_flow_start', expr: 'flow_start', type: 'minmax', granularity: 1 },
  { name: 'idx_flow_end', expr: 'flow_end', type: 'minmax', granularity: 1 },
]);

export interface TableDef {
  readonly name: string;
  readonly columns: readonly ColumnDef[];
  /** Column holding the row time used for partitioning, TTL and time filters. */
  readonly timeColumn: string;
  /**
   * The table's sorting key: rows in time buckets of `bucketSeconds` of
   * `timeColumn`, then by these columns (ip or integer columns). The
   * ClickHouse ORDER BY is derived from it, and the writer sorts each
   * insert by it first, so that ClickHouse finds the block already sorted
   * and skips its own sort (the largest part of an insert's cost).
   */
  readonly sortKey: { readonly bucketSeconds: number; readonly columns: readonly string[] };
  readonly partitionBy: string;
  /** Default retention in days (configurable per table: writer.ttlDays). */
  readonly ttlDays: number;
  readonly indexes: readonly IndexDef[];
  /**
   * Distributed-table sharding key on a cluster. Both directions of an
   * address pair hash alike, so one conversation's rows (and its replays)
   * land on one shard.
   */
  readonly shardingKey: string;
}

/** Sharding key of tables with src_addr/dst_addr: a hash of the unordered address pair. */
export const ADDRESS_PAIR_SHARDING_KEY = 'cityHash64(least(src_addr, dst_addr), greatest(src_addr, dst_addr))';

export const FLOWS_TABLE: TableDef = Object.freeze({
  name: 'flows',
  columns: FLOW_COLUMNS,
  timeColumn: 'time_received',
  // Time bucket first so time-range scans prune; then the host columns the
  // investigator filters on.
  sortKey: { bucketSeconds: 300, columns: ['exporter_address', 'src_addr', 'dst_addr'] },
  partitionBy: 'toYYYYMMDD(time_received)',
  ttlDays: 30,
  indexes: FLOW_INDEXES,
  shardingKey: ADDRESS_PAIR_SHARDING_KEY,
});

export const CONVERSATIONS_TABLE: TableDef = Object.freeze({
  name: 'conversations',
  columns: CONVERSATION_COLUMNS,
  timeColumn: 'time_received',
  sortKey: { bucketSeconds: 300, columns: ['src_addr', 'dst_addr'] },
  partitionBy: 'toYYYYMMDD(time_received)',
  ttlDays: 30,
  indexes: FLOW_INDEXES,
  shardingKey: ADDRESS_PAIR_SHARDING_KEY,
});

/**
 * Columns the writer adds to every stored table; never on the bus. A bus
 * message is a batch with an id; the writer stores a 53-bit hash of that id
 * with each row so that, after a crash between an insert and its
 * acknowledgement, a redelivered batch is found in the table and not stored
 * twice (see packages/store and docs/storage.md).
 */
export const STORAGE_COLUMNS: readonly ColumnDef[] = Object.freeze([
  col('batch_id', 'u64', 'UInt64', [], 'hash of the bus batch that carried the row (replay detection)', { codec: 'Delta, ZSTD(1)', derived: true }),
]);

export const TABLES: readonly TableDef[] = Object.freeze([FLOWS_TABLE, CONVERSATIONS_TABLE]);

/** Bumped whenever a column is added; carried in every bus batch. */
export const SCHEMA_VERSION = 3;

export function columnByName(columns: readonly ColumnDef[], name: string): ColumnDef | undefined {
  for (const c of columns) if (c.name === name) return c;
  return undefined;
}
