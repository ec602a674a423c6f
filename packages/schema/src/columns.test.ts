import { describe, expect, it } from 'vitest';
import { ColumnarBatch } from './batch.ts';
import { CONVERSATION_COLUMNS, FLOWS_TABLE, FLOW_COLUMNS, SCHEMA_VERSION, columnByName } from './columns.ts';
import { createTableSql } from './ddl.ts';

// The columns of schema version 1, in their order. Columns are only ever added at the end:
// the bus encoding and the DDL follow this order, and older consumers read a prefix.
const V1 = [
  'time_received',
  'exporter_address',
  'flow_version',
  'observation_domain_id',
  'template_id',
  'flow_start',
  'flow_end',
  'src_addr',
  'dst_addr',
  'src_port',
  'dst_port',
  'protocol',
  'tcp_flags',
  'tos',
  'bytes',
  'packets',
  'input_if',
  'output_if',
  'src_as',
  'dst_as',
  'next_hop',
  'src_mask',
  'dst_mask',
  'ip_version',
  'icmp_type_code',
  'vlan_id',
  'flow_direction',
  'sampling_interval',
  'flow_end_reason',
];

describe('flow columns', () => {
  it('keeps the columns of version 1 first and in order, and bumps the version for the added ones', () => {
    expect(FLOW_COLUMNS.slice(0, V1.length).map((c) => c.name)).toEqual(V1);
    expect(FLOW_COLUMNS.length).toBeGreaterThan(V1.length);
    expect(SCHEMA_VERSION).toBe(3);
    expect(CONVERSATION_COLUMNS.slice(0, FLOW_COLUMNS.length)).toEqual(FLOW_COLUMNS);
  });

  it('has unique snake_case names and element lists no other column claims', () => {
    const names = FLOW_COLUMNS.map((c) => c.name);
    expect(new Set(names).size).toBe(names.length);
    for (const n of names) expect(n).toMatch(/^[a-z][a-z0-9_]*$/);
    const owner = new Map<string, string>();
    for (const c of FLOW_COLUMNS) {
      for (const e of [...c.ies.map((id) => ({ enterprise: 0, id })), ...c.enterpriseIes]) {
        const k = `${e.enterprise}.${e.id}`;
        expect(owner.get(k), `${k} in ${c.name} and ${owner.get(k)}`).toBeUndefined();
        owner.set(k, c.name);
      }
    }
  });

  it('declares biflow, firewall, NAT, application, sampling and the other issue 3 columns with their elements', () => {
    const ies = (name: string) => {
      const c = columnByName(FLOW_COLUMNS, name);
      expect(c, name).toBeDefined();
      return [...(c?.ies ?? []), ...(c?.enterpriseIes ?? []).map((e) => `${e.enterprise}/${e.id}`)];
    };
    expect(ies('rev_bytes')).toEqual([232, '29305/1', '29305/85', '29305/23']);
    expect(ies('fw_event')).toEqual([233, 40005]);
    expect(ies('ingress_acl')).toEqual([33000]);
    expect(ies('post_nat_src_addr')).toEqual([225, 281, 40001]);
    expect(ies('port_range_ports')).toEqual([364]);
    expect(ies('app_id')).toEqual([95]);
    expect(ies('http_host')).toEqual([460, '5951/142']);
    expect(ies('client_nw_delay_ms')).toEqual(['9/9316']);
    expect(ies('tcp_urg_count')).toEqual([223]);
    for (const n of ['flow_action', 'bytes_scaled', 'packets_scaled', 'sampling_known', 'input_if_name', 'output_if_name']) expect(columnByName(FLOW_COLUMNS, n)?.derived, n).toBe(true);
  });

  it('derives the ClickHouse DDL of every column, text columns as String or LowCardinality(String)', () => {
    const sql = createTableSql(FLOWS_TABLE, { database: 'fh' });
    for (const c of FLOW_COLUMNS) expect(sql).toContain(`\`${c.name}\` ${c.chType} COMMENT`);
    for (const c of FLOW_COLUMNS.filter((x) => x.kind === 'str')) expect(c.chType).toMatch(/^(LowCardinality\(String\)|String)$/);
    expect(sql).toContain("`ingress_acl` LowCardinality(String) COMMENT 'Cisco NSEL ingress ACL");
    expect(sql).toContain('`http_url` String COMMENT');
  });

  it('stores every kind in a batch, text cells empty until written, and copies rows with text', () => {
    const a = new ColumnarBatch(FLOW_COLUMNS, 4);
    const row = a.rows++;
    expect((a.column('app_name') as string[])[row]).toBe('');
    (a.column('app_name') as string[])[row] = 'https';
    (a.column('rev_bytes') as Float64Array)[row] = 42;
    const b = new ColumnarBatch(CONVERSATION_COLUMNS, 4);
    const r = b.copyRowFrom(a, row);
    expect((b.column('app_name') as string[])[r]).toBe('https');
    expect((b.column('rev_bytes') as Float64Array)[r]).toBe(42);
    a.reset();
    expect((a.column('app_name') as string[])[0]).toBe('');
  });
});
