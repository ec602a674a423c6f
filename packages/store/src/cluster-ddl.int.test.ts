// The DDL for a ClickHouse cluster: rendered, checked for what it must name
// (ON CLUSTER, Replicated*MergeTree local tables, Distributed tables under
// the plain names, views on the local tables), and parsed by the real
// engine (chDB's formatQuery). chDB has no cluster or Keeper, so the
// statements are parsed, not run; their expressions are run against the
// single-server tables where that is possible (sharding keys).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '@flowhound/runtime';
import {
  addColumnSql,
  addIndexSql,
  CONVERSATIONS_STORED,
  modifySettingsSql,
  modifyTtlSql,
  ROLLUP_VIEWS,
  STORED_TABLES,
  type DdlOptions,
} from '@flowhound/schema';
import { ledgerSql, MIGRATIONS, migrationSql } from './migrations.ts';
import { Store } from './store.ts';

const CLUSTER: DdlOptions = { database: 'flowhound', cluster: 'fh_cluster' };
const SINGLE: DdlOptions = { database: 'flowhound' };

function allSql(o: DdlOptions): string[] {
  const t = CONVERSATIONS_STORED;
  return [
    ledgerSql(o),
    ...MIGRATIONS.flatMap((m) => migrationSql(m, o)),
    // What reconciling an older table emits.
    ...addColumnSql(t.name, t.columns[0], o),
    addIndexSql(t.name, t.indexes[0], o),
    modifySettingsSql(t.name, t.settings, o),
    modifyTtlSql(t, o),
  ];
}

describe('cluster DDL', () => {
  let dir: string;
  let store: Store;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'fh-cluster-ddl-'));
    store = await Store.open({ url: '', dataDir: dir, database: 'flowhound', username: '', password: '', log: silentLogger() });
    await store.migrate();
  });
  afterAll(async () => {
    await store?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('parses every statement (chDB formatQuery), on a cluster and on a single server', async () => {
    for (const o of [CLUSTER, SINGLE]) {
      for (const q of allSql(o)) {
        const [[formatted]] = await store.rows<[string]>('SELECT formatQuery({q:String})', { q });
        expect(formatted.length, q).toBeGreaterThan(20);
      }
    }
    // And formatQuery does reject a broken statement, so the check means something.
    await expect(store.rows('SELECT formatQuery({q:String})', { q: 'CREATE TABLE x (a UInt8) ENGIN = MergeTree' })).rejects.toThrow(/Syntax error/);
  });

  it('runs every statement ON CLUSTER, and none on a single server', () => {
    for (const q of allSql(CLUSTER)) {
      if (q.startsWith('INSERT')) continue; // a backfill goes through the Distributed tables
      expect(q.split('\n')[0], q).toContain('ON CLUSTER `fh_cluster`');
    }
    for (const q of allSql(SINGLE)) expect(q).not.toMatch(/ON CLUSTER|Replicated|Distributed|_local/);
  });

  it('creates each table as a replicated local table and a Distributed table under the plain name', () => {
    const sql = allSql(CLUSTER).join('\n;\n');
    for (const t of STORED_TABLES) {
      expect(sql).toContain(
        `CREATE TABLE IF NOT EXISTS \`flowhound\`.\`${t.name}_local\` ON CLUSTER \`fh_cluster\` (`,
      );
      expect(sql).toContain(`) ENGINE = Replicated${t.engine}('/clickhouse/tables/{shard}/{database}/${t.name}', '{replica}'${t.engineArgs ? `, ${t.engineArgs}` : ''})`);
      expect(sql).toContain(
        `CREATE TABLE IF NOT EXISTS \`flowhound\`.\`${t.name}\` ON CLUSTER \`fh_cluster\` AS \`flowhound\`.\`${t.name}_local\`\nENGINE = Distributed(\`fh_cluster\`, \`flowhound\`, \`${t.name}_local\`, ${t.shardingKey})`,
      );
    }
    // One conversation's rows, both directions, go to one shard.
    expect(CONVERSATIONS_STORED.shardingKey).toBe('cityHash64(least(src_addr, dst_addr), greatest(src_addr, dst_addr))');
    // The ledger is one table replicated to every node, not sharded.
    expect(ledgerSql(CLUSTER)).toContain("ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/all/{database}/schema_migrations', '{replica}', applied_at)");
  });

  it('puts materialized views on the local tables', () => {
    const sql = allSql(CLUSTER);
    for (const v of ROLLUP_VIEWS) {
      const q = sql.find((x) => x.startsWith(`CREATE MATERIALIZED VIEW IF NOT EXISTS \`flowhound\`.\`${v.name}\``))!;
      expect(q).toContain(`TO \`flowhound\`.\`${v.to}_local\` AS`);
      expect(q).toContain(`FROM \`flowhound\`.\`${v.from}_local\``);
    }
  });

  it('adds a column to both the local and the Distributed table, and alters settings and TTL on the local one', () => {
    const t = CONVERSATIONS_STORED;
    expect(addColumnSql(t.name, t.columns[0], CLUSTER).map((q) => q.split(' ADD ')[0])).toEqual([
      'ALTER TABLE `flowhound`.`conversations_local` ON CLUSTER `fh_cluster`',
      'ALTER TABLE `flowhound`.`conversations` ON CLUSTER `fh_cluster`',
    ]);
    expect(modifyTtlSql(t, { ...CLUSTER, ttlDays: { conversations: 7 } })).toBe(
      'ALTER TABLE `flowhound`.`conversations_local` ON CLUSTER `fh_cluster` MODIFY TTL toDateTime(time_received) + INTERVAL 7 DAY DELETE',
    );
  });

  it('uses a configured replication path', () => {
    const [local] = migrationSql(MIGRATIONS[0], { ...CLUSTER, replicationPath: '/ch/{cluster}/{shard}/fh/{table}' });
    expect(local).toContain("ENGINE = ReplicatedMergeTree('/ch/{cluster}/{shard}/fh/flows', '{replica}')");
  });

  it('has sharding keys that evaluate on each table’s columns', async () => {
    for (const t of STORED_TABLES) {
      const [[n]] = await store.rows<[number]>(`SELECT count() FROM (SELECT ${t.shardingKey} AS k FROM flowhound.${t.name})`);
      expect(Number(n), t.name).toBe(0);
    }
  });
});
