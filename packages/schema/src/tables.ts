// Every stored table and materialized view, declared once. Migrations
// (packages/store) create them; docs/storage.md explains the choices.
//
// - flows, conversations: filled by the writer from the bus (columns.ts).
// - rollups: kept by materialized views from the conversations table.
// - security events, alarms, index history, identity bindings, exporter
//   and template inventories: declared now so that migrations own them;
//   their writers come with the services that produce them.
import { CONVERSATIONS_TABLE, FLOWS_TABLE, STORAGE_COLUMNS, type IndexDef } from './columns.ts';
import { SMALL_TABLE_SETTINGS, storedTable, type MaterializedView, type StoredColumn, type StoredTable } from './ddl.ts';

function c(name: string, chType: string, description: string, codec?: string): StoredColumn {
  return Object.freeze({ name, chType, description, codec });
}

function table(t: Omit<StoredTable, 'settings' | 'indexes'> & { settings?: StoredTable['settings']; indexes?: readonly IndexDef[] }): StoredTable {
  return Object.freeze({ settings: SMALL_TABLE_SETTINGS, indexes: [], ...t });
}

const TIME_CODEC = 'DoubleDelta, ZSTD(1)';
const COUNTER_CODEC = 'T64, ZSTD(1)';
const ADDR_CODEC = 'ZSTD(1)';

/** Default retention of rollups: 13 months, so a year can be compared with the same month last year. */
export const ROLLUP_TTL_DAYS = 395;
/** Default retention of security events, alarms and what explains them. */
export const SECURITY_TTL_DAYS = 730;

export const FLOWS_STORED: StoredTable = storedTable(FLOWS_TABLE);
export const CONVERSATIONS_STORED: StoredTable = storedTable(CONVERSATIONS_TABLE);

// --- rollups -------------------------------------------------------------------

/**
 * What a conversation row carried each way, scaled by sampling: the
 * forward direction has bytes_scaled/packets_scaled from the decoder; the
 * reverse (RFC 5103 biflows) is scaled here by the same interval (0, when
 * unknown, counts as 1, as bytes_scaled does).
 */
export const TRAFFIC = Object.freeze({
  fwdBytes: 'bytes_scaled',
  fwdPackets: 'packets_scaled',
  revBytes: 'rev_bytes * greatest(sampling_interval, 1)',
  revPackets: 'rev_packets * greatest(sampling_interval, 1)',
});

const sum = (name: string, what: string) => c(name, 'SimpleAggregateFunction(sum, UInt64)', what, COUNTER_CODEC);

const HOST_COUNTERS: readonly StoredColumn[] = [
  sum('bytes_sent', 'bytes the host sent (scaled by sampling): forward bytes where it is src_addr, reverse bytes where it is dst_addr'),
  sum('bytes_received', 'bytes the host received (scaled by sampling)'),
  sum('packets_sent', 'packets the host sent (scaled by sampling)'),
  sum('packets_received', 'packets the host received (scaled by sampling)'),
  sum('flows_as_src', 'conversation rows where the host was src_addr'),
  sum('flows_as_dst', 'conversation rows where the host was dst_addr'),
];

function hostTraffic(name: string, seconds: number, partitionBy: string, orderBy: string): StoredTable {
  return table({
    name,
    columns: [
      c('time', "DateTime('UTC')", `start of the ${seconds === 60 ? 'minute' : 'hour'} (time_received of the conversations)`, TIME_CODEC),
      c('host', 'IPv6', 'one address of the conversations, each side in turn (IPv4-mapped for IPv4)', ADDR_CODEC),
      ...HOST_COUNTERS,
      c('peers', 'AggregateFunction(uniq, IPv6)', 'distinct addresses the host talked with: read with uniqMerge(peers)'),
    ],
    engine: 'AggregatingMergeTree',
    orderBy,
    partitionBy,
    ttlFrom: 'time',
    ttlDays: ROLLUP_TTL_DAYS,
    shardingKey: 'cityHash64(host)',
  });
}

/**
 * Per host per minute. Time first: its questions span hours ("top hosts of
 * the last hour", a host's minutes in an incident), and a day partition
 * holds what one such question reads.
 */
export const HOST_TRAFFIC_1M: StoredTable = hostTraffic('host_traffic_1m', 60, 'toYYYYMMDD(time)', '(time, host)');
/**
 * Per host per hour. Host first: its questions are one host over weeks or
 * months ("has this happened before?"), which then read a few granules
 * instead of one per hour.
 */
export const HOST_TRAFFIC_1H: StoredTable = hostTraffic('host_traffic_1h', 3600, 'toMonday(time)', '(host, time)');

/** Per host group per hour; traffic inside one group counts as sent and received by it. */
export const HOST_GROUP_TRAFFIC_1H: StoredTable = table({
  name: 'host_group_traffic_1h',
  columns: [
    c('time', "DateTime('UTC')", 'start of the hour (time_received of the conversations)', TIME_CODEC),
    c('host_group', 'LowCardinality(String)', "host group of one side of the conversations (src_host_group or dst_host_group); '' for addresses in no group"),
    ...HOST_COUNTERS.map((x) => ({ ...x, description: x.description.replace('the host', 'the group’s hosts') })),
    c('hosts', 'AggregateFunction(uniq, IPv6)', 'distinct addresses of the group seen: read with uniqMerge(hosts)'),
  ],
  engine: 'AggregatingMergeTree',
  orderBy: '(host_group, time)',
  partitionBy: 'toYYYYMM(time)',
  ttlFrom: 'time',
  ttlDays: ROLLUP_TTL_DAYS,
  shardingKey: 'cityHash64(host_group)',
});

/** Per host, per peer, per hour: top peers of a host over any range of hours. */
export const HOST_PEERS_1H: StoredTable = table({
  name: 'host_peers_1h',
  columns: [
    c('time', "DateTime('UTC')", 'start of the hour (time_received of the conversations)', TIME_CODEC),
    c('host', 'IPv6', 'one address of the conversations, each side in turn', ADDR_CODEC),
    c('peer', 'IPv6', 'the other address', ADDR_CODEC),
    c('bytes_sent', 'UInt64', 'bytes host sent to peer (scaled by sampling)', COUNTER_CODEC),
    c('bytes_received', 'UInt64', 'bytes host received from peer (scaled by sampling)', COUNTER_CODEC),
    c('packets_sent', 'UInt64', 'packets host sent to peer (scaled by sampling)', COUNTER_CODEC),
    c('packets_received', 'UInt64', 'packets host received from peer (scaled by sampling)', COUNTER_CODEC),
    c('flows', 'UInt64', 'conversation rows between host and peer', COUNTER_CODEC),
  ],
  engine: 'SummingMergeTree',
  engineArgs: '(bytes_sent, bytes_received, packets_sent, packets_received, flows)',
  orderBy: '(host, time, peer)',
  partitionBy: 'toMonday(time)',
  ttlFrom: 'time',
  ttlDays: ROLLUP_TTL_DAYS,
  shardingKey: 'cityHash64(host)',
});

const T = TRAFFIC;
/** Both sides of a conversation row: (host, sent bytes, received bytes, sent packets, received packets, as src, as dst, peer). */
const SIDES = `[
  (src_addr, ${T.fwdBytes}, ${T.revBytes}, ${T.fwdPackets}, ${T.revPackets}, toUInt64(1), toUInt64(0), dst_addr),
  (dst_addr, ${T.revBytes}, ${T.fwdBytes}, ${T.revPackets}, ${T.fwdPackets}, toUInt64(0), toUInt64(1), src_addr)
] AS side`;
const GROUP_SIDES = `[
  (src_host_group, ${T.fwdBytes}, ${T.revBytes}, ${T.fwdPackets}, ${T.revPackets}, toUInt64(1), toUInt64(0), src_addr),
  (dst_host_group, ${T.revBytes}, ${T.fwdBytes}, ${T.revPackets}, ${T.fwdPackets}, toUInt64(0), toUInt64(1), dst_addr)
] AS side`;
const SIDE_SUMS = `sum(side.2) AS bytes_sent, sum(side.3) AS bytes_received, sum(side.4) AS packets_sent, sum(side.5) AS packets_received,
  sum(side.6) AS flows_as_src, sum(side.7) AS flows_as_dst`;

export const HOST_TRAFFIC_1M_MV: MaterializedView = Object.freeze({
  name: 'host_traffic_1m_mv',
  to: HOST_TRAFFIC_1M.name,
  from: CONVERSATIONS_STORED.name,
  select: (source: string) => `SELECT toStartOfMinute(toDateTime(time_received)) AS time, side.1 AS host,
  ${SIDE_SUMS},
  uniqState(side.8) AS peers
FROM ${source}
ARRAY JOIN ${SIDES}
GROUP BY time, host`,
});

/** The hourly table is fed from the minute table's inserts: a block already summed per minute. */
export const HOST_TRAFFIC_1H_MV: MaterializedView = Object.freeze({
  name: 'host_traffic_1h_mv',
  to: HOST_TRAFFIC_1H.name,
  from: HOST_TRAFFIC_1M.name,
  select: (source: string) => `SELECT toStartOfHour(time) AS time, host,
  sum(bytes_sent) AS bytes_sent, sum(bytes_received) AS bytes_received, sum(packets_sent) AS packets_sent, sum(packets_received) AS packets_received,
  sum(flows_as_src) AS flows_as_src, sum(flows_as_dst) AS flows_as_dst,
  uniqMergeState(peers) AS peers
FROM ${source}
GROUP BY time, host`,
});

export const HOST_GROUP_TRAFFIC_1H_MV: MaterializedView = Object.freeze({
  name: 'host_group_traffic_1h_mv',
  to: HOST_GROUP_TRAFFIC_1H.name,
  from: CONVERSATIONS_STORED.name,
  select: (source: string) => `SELECT toStartOfHour(toDateTime(time_received)) AS time, side.1 AS host_group,
  ${SIDE_SUMS},
  uniqState(side.8) AS hosts
FROM ${source}
ARRAY JOIN ${GROUP_SIDES}
GROUP BY time, host_group`,
});

export const HOST_PEERS_1H_MV: MaterializedView = Object.freeze({
  name: 'host_peers_1h_mv',
  to: HOST_PEERS_1H.name,
  from: CONVERSATIONS_STORED.name,
  select: (source: string) => `SELECT toStartOfHour(toDateTime(time_received)) AS time, side.1 AS host, side.8 AS peer,
  sum(side.2) AS bytes_sent, sum(side.3) AS bytes_received, sum(side.4) AS packets_sent, sum(side.5) AS packets_received,
  count() AS flows
FROM ${source}
ARRAY JOIN ${SIDES}
GROUP BY time, host, peer`,
});

export const ROLLUP_TABLES: readonly StoredTable[] = Object.freeze([HOST_TRAFFIC_1M, HOST_TRAFFIC_1H, HOST_GROUP_TRAFFIC_1H, HOST_PEERS_1H]);
/** In creation order: a view's source and target exist before it. */
export const ROLLUP_VIEWS: readonly MaterializedView[] = Object.freeze([HOST_TRAFFIC_1M_MV, HOST_TRAFFIC_1H_MV, HOST_GROUP_TRAFFIC_1H_MV, HOST_PEERS_1H_MV]);

// --- tables for the detector, identity and inventory services ---------------------------

const GROUPS = 'Array(LowCardinality(String))';

/** One security event: a behaviour the detector saw, with the index points it added. */
export const SECURITY_EVENTS: StoredTable = table({
  name: 'security_events',
  columns: [
    c('time', "DateTime64(3, 'UTC')", 'when the behaviour was seen (time of the evidence, not of detection)', TIME_CODEC),
    c('event_id', 'UUID', 'identifies the event; alarms and UIs refer to it'),
    c('event_type', 'LowCardinality(String)', "what was seen, e.g. 'port_scan', 'high_concern_index', 'suspect_data_hoarding', 'feed_hit'"),
    c('category', 'LowCardinality(String)', "alarm category the event counts towards: 'concern', 'target', 'recon', 'c2', 'exploitation', 'ddos_source', 'ddos_target', 'exfiltration', 'policy_violation', 'anomaly'"),
    c('actor_addr', 'IPv6', 'address that behaved so (the source of the behaviour)', ADDR_CODEC),
    c('target_addr', 'IPv6', 'address it was aimed at; :: when none (a sweep, a volume anomaly)', ADDR_CODEC),
    c('actor_host_groups', GROUPS, 'host groups of actor_addr when the event was raised'),
    c('target_host_groups', GROUPS, 'host groups of target_addr when the event was raised'),
    c('protocol', 'UInt8', 'IP protocol of the evidence; 0 when several'),
    c('port', 'UInt16', 'service port of the evidence (the target side); 0 when several'),
    c('concern_points', 'UInt32', "points added to actor_addr's concern index", COUNTER_CODEC),
    c('target_points', 'UInt32', "points added to target_addr's target index", COUNTER_CODEC),
    c('policy', 'LowCardinality(String)', 'detection policy (rule) that raised it'),
    c('details', 'String', 'event-specific evidence as JSON: counts, thresholds, sample conversations, feed names', 'ZSTD(3)'),
    ...STORAGE_COLUMNS,
  ],
  engine: 'MergeTree',
  orderBy: '(toStartOfHour(time), actor_addr, event_type)',
  partitionBy: 'toYYYYMM(time)',
  ttlFrom: 'toDateTime(time)',
  ttlDays: SECURITY_TTL_DAYS,
  indexes: [
    { name: 'idx_target', expr: 'target_addr', type: 'bloom_filter(0.01)', granularity: 4 },
    { name: 'idx_event_type', expr: 'event_type', type: 'set(256)', granularity: 4 },
  ],
  shardingKey: 'cityHash64(actor_addr)',
});

/**
 * Alarms: one row per state of an alarm. An alarm opens when a host's
 * points in a category pass a threshold, grows while events add points,
 * and closes; each change is a new row with a later updated_at, and
 * ReplacingMergeTree keeps the last (read with FINAL or argMax).
 */
export const ALARMS: StoredTable = table({
  name: 'alarms',
  columns: [
    c('alarm_id', 'UUID', 'identifies the alarm across its states'),
    c('opened_at', "DateTime64(3, 'UTC')", 'when the points first passed the threshold', TIME_CODEC),
    c('updated_at', "DateTime64(3, 'UTC')", 'when this state was written; the latest wins', TIME_CODEC),
    c('closed_at', "DateTime64(3, 'UTC')", 'when the alarm closed (expired or acknowledged); 1970-01-01 while open', TIME_CODEC),
    c('state', 'LowCardinality(String)', "'open', 'acknowledged' or 'closed'"),
    c('host_addr', 'IPv6', 'the host the alarm is about', ADDR_CODEC),
    c('host_groups', GROUPS, 'host groups of host_addr when the alarm opened'),
    c('category', 'LowCardinality(String)', "alarm category, as security_events.category (e.g. 'concern', 'target', 'exfiltration')"),
    c('points', 'UInt64', 'points accumulated in the category since the alarm opened', COUNTER_CODEC),
    c('threshold', 'UInt64', 'points that open an alarm in this category for this host (policy or baseline)', COUNTER_CODEC),
    c('threshold_pct', 'UInt32', 'points as a percentage of threshold (the CI% / TI% an analyst sorts by)'),
    c('event_count', 'UInt32', 'security events that added points to this alarm'),
    c('policy', 'LowCardinality(String)', 'policy that set the threshold'),
    c('details', 'String', 'JSON: top event types, first and last event ids, notes of whoever acknowledged it', 'ZSTD(3)'),
    ...STORAGE_COLUMNS,
  ],
  engine: 'ReplacingMergeTree',
  engineArgs: 'updated_at',
  orderBy: '(host_addr, category, opened_at, alarm_id)',
  partitionBy: 'toYYYYMM(opened_at)',
  ttlFrom: 'toDateTime(opened_at)',
  ttlDays: SECURITY_TTL_DAYS,
  indexes: [{ name: 'idx_opened', expr: 'opened_at', type: 'minmax', granularity: 1 }],
  shardingKey: 'cityHash64(host_addr)',
});

/** Concern and target index of each host per interval (the detector's running totals). */
export const HOST_INDEX_HISTORY: StoredTable = table({
  name: 'host_index_history',
  columns: [
    c('time', "DateTime('UTC')", 'start of the interval', TIME_CODEC),
    c('interval_seconds', 'UInt32', 'length of the interval (the detector’s setting when written)'),
    c('host_addr', 'IPv6', 'the host', ADDR_CODEC),
    c('host_groups', GROUPS, 'host groups of host_addr in this interval'),
    c('concern_index', 'UInt64', 'concern index at the end of the interval: points for behaving as an attacker, since the daily reset', COUNTER_CODEC),
    c('target_index', 'UInt64', 'target index at the end of the interval: points for being attacked, since the daily reset', COUNTER_CODEC),
    c('concern_points', 'UInt64', 'concern points added during the interval', COUNTER_CODEC),
    c('target_points', 'UInt64', 'target points added during the interval', COUNTER_CODEC),
    c('concern_threshold', 'UInt64', 'concern index that opens an alarm for this host', COUNTER_CODEC),
    c('target_threshold', 'UInt64', 'target index that opens an alarm for this host', COUNTER_CODEC),
    ...STORAGE_COLUMNS,
  ],
  engine: 'MergeTree',
  orderBy: '(host_addr, time)',
  partitionBy: 'toYYYYMM(time)',
  ttlFrom: 'time',
  ttlDays: SECURITY_TTL_DAYS,
  shardingKey: 'cityHash64(host_addr)',
});

/**
 * Who had an address when: user logons (AD, ISE, VPN), DHCP leases.
 * A binding is written when it starts and again when it ends (same key,
 * later updated_at); "who was 10.1.2.3 at T" is address = … AND
 * valid_from <= T AND (valid_to = 0 OR valid_to > T).
 */
export const IDENTITY_BINDINGS: StoredTable = table({
  name: 'identity_bindings',
  columns: [
    c('address', 'IPv6', 'the bound address', ADDR_CODEC),
    c('valid_from', "DateTime64(3, 'UTC')", 'start of the binding', TIME_CODEC),
    c('valid_to', "DateTime64(3, 'UTC')", 'end of the binding; 1970-01-01 while it holds', TIME_CODEC),
    c('updated_at', "DateTime64(3, 'UTC')", 'when this row was written; the latest wins', TIME_CODEC),
    c('username', 'String', "user name as the source gives it ('' for a DHCP lease)"),
    c('domain', 'LowCardinality(String)', 'user domain or realm'),
    c('mac', 'LowCardinality(String)', 'MAC address (aa:bb:cc:dd:ee:ff) when the source knows it'),
    c('hostname', 'String', 'device name when the source knows it'),
    c('source', 'LowCardinality(String)', "where the binding came from: 'ad', 'ise', 'vpn', 'dhcp', 'manual'"),
    ...STORAGE_COLUMNS,
  ],
  engine: 'ReplacingMergeTree',
  engineArgs: 'updated_at',
  orderBy: '(address, valid_from, source, username)',
  partitionBy: 'toYYYYMM(valid_from)',
  ttlFrom: 'toDateTime(valid_from)',
  ttlDays: SECURITY_TTL_DAYS,
  indexes: [{ name: 'idx_username', expr: 'username', type: 'bloom_filter(0.01)', granularity: 4 }],
  shardingKey: 'cityHash64(address)',
});

/** Periodic snapshots of what each ingest replica knows of each exporter (the fh_exporters KV, over time). */
export const EXPORTER_INVENTORY: StoredTable = table({
  name: 'exporter_inventory',
  columns: [
    c('time', "DateTime('UTC')", 'when the snapshot was taken', TIME_CODEC),
    c('exporter_address', 'IPv6', 'exporter (IPv4-mapped for IPv4)', ADDR_CODEC),
    c('replica', 'LowCardinality(String)', 'ingest replica that counted'),
    c('versions', 'UInt8', 'export versions seen, bits: 1 NetFlow v5, 2 v9, 4 IPFIX, 8 other'),
    c('transports', 'UInt8', 'bits: 1 UDP, 2 TCP'),
    c('observation_domains', 'Array(UInt32)', 'observation domains (source ids) seen, at most 64'),
    c('packets', 'UInt64', 'export packets since the replica started', COUNTER_CODEC),
    c('bytes', 'UInt64', 'export bytes since the replica started', COUNTER_CODEC),
    c('records', 'UInt64', 'flow records decoded since the replica started', COUNTER_CODEC),
    c('decode_errors', 'UInt64', 'packets that failed to decode', COUNTER_CODEC),
    c('template_misses', 'UInt64', 'data sets that arrived before their template', COUNTER_CODEC),
    c('sequence_lost', 'UInt64', 'records lost according to sequence numbers', COUNTER_CODEC),
    c('sampling_interval', 'UInt32', 'sampling interval in use (one in N); 0 when unknown'),
    c('first_seen', "DateTime64(3, 'UTC')", 'first packet from the exporter'),
    c('last_seen', "DateTime64(3, 'UTC')", 'last packet from the exporter'),
  ],
  engine: 'MergeTree',
  orderBy: '(exporter_address, time)',
  partitionBy: 'toYYYYMM(time)',
  ttlFrom: 'time',
  ttlDays: ROLLUP_TTL_DAYS,
  shardingKey: 'cityHash64(exporter_address)',
});

/** Periodic snapshots of the template registry: which templates each exporter used when. */
export const TEMPLATE_INVENTORY: StoredTable = table({
  name: 'template_inventory',
  columns: [
    c('time', "DateTime('UTC')", 'when the snapshot was taken', TIME_CODEC),
    c('exporter_address', 'IPv6', 'exporter (IPv4-mapped for IPv4)', ADDR_CODEC),
    c('flow_version', 'UInt8', 'export version: 9 or 10 (IPFIX)'),
    c('observation_domain_id', 'UInt32', 'observation domain id (IPFIX) or source id (NetFlow v9)'),
    c('template_id', 'UInt16', 'template id'),
    c('scope_field_count', 'UInt16', 'scope fields of an options template; 0 for a data template'),
    c('fields', 'Array(String)', "fields in order as 'id:length' or 'pen/id:length' (length 65535: variable)"),
    c('received_at', "DateTime64(3, 'UTC')", 'when a collector last received the template'),
    c('received_by', 'LowCardinality(String)', 'ingest replica that received it'),
  ],
  engine: 'MergeTree',
  orderBy: '(exporter_address, time, template_id)',
  partitionBy: 'toYYYYMM(time)',
  ttlFrom: 'time',
  ttlDays: ROLLUP_TTL_DAYS,
  shardingKey: 'cityHash64(exporter_address)',
});

export const SECURITY_TABLES: readonly StoredTable[] = Object.freeze([SECURITY_EVENTS, ALARMS, HOST_INDEX_HISTORY, IDENTITY_BINDINGS]);
export const INVENTORY_TABLES: readonly StoredTable[] = Object.freeze([EXPORTER_INVENTORY, TEMPLATE_INVENTORY]);

/** Every stored table, in creation order. */
export const STORED_TABLES: readonly StoredTable[] = Object.freeze([FLOWS_STORED, CONVERSATIONS_STORED, ...ROLLUP_TABLES, ...SECURITY_TABLES, ...INVENTORY_TABLES]);

/** Names whose retention can be set (writer.ttlDays). */
export const RETENTION_TABLES: readonly string[] = Object.freeze(STORED_TABLES.map((t) => t.name));
