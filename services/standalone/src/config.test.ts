import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '@flowhound/runtime';
import { loadProcessConfig } from './config.ts';
import { startServices } from './run.ts';

describe('process configuration', () => {
  it('defaults to the standard ports, embedded storage and the in-memory bus', () => {
    const c = loadProcessConfig({ env: {} });
    expect(c.ingest.listen).toEqual(['0.0.0.0:2055', '0.0.0.0:4739']);
    expect(c.nats.url).toBe('');
    expect(c.clickhouse.url).toBe('');
    expect(c.grpc.listen).toBe('127.0.0.1:50051');
    expect(c.dataDir).toMatch(/\/data$/);
  });

  it('takes file, then environment, then flags', () => {
    const dir = mkdtempSync(join(tmpdir(), 'fh-pc-'));
    const file = join(dir, 'f.yaml');
    writeFileSync(file, 'dataDir: /from/file\ngrpc: { listen: "127.0.0.1:1" }\ningest: { batchRows: 100 }\n');
    const c = loadProcessConfig({
      file,
      env: { FLOWHOUND_GRPC_LISTEN: '127.0.0.1:2', FLOWHOUND_INGEST_LISTEN: '127.0.0.1:9995,[::1]:9996', FLOWHOUND_METRICS_LISTEN: '' },
      overrides: { dataDir: '/from/flag' },
    });
    expect(c.dataDir).toBe('/from/flag');
    expect(c.grpc.listen).toBe('127.0.0.1:2');
    expect(c.ingest.listen).toEqual(['127.0.0.1:9995', '[::1]:9996']);
    expect(c.ingest.batchRows).toBe(100);
    expect(c.metrics.listen).toBe('');
  });

  it('refuses a bad value and names it', () => {
    expect(() => loadProcessConfig({ env: { FLOWHOUND_INGEST_LISTEN: 'localhost' } })).toThrow(/ingest\.listen/);
    expect(() => loadProcessConfig({ env: {}, overrides: { writer: { maxInFlight: 0 } } })).toThrow(ConfigError);
  });

  it('refuses an ingest element mapping that cannot work at load, not when ingest starts', () => {
    const dir = mkdtempSync(join(tmpdir(), 'fh-pc-'));
    const file = join(dir, 'f.yaml');
    writeFileSync(file, 'ingest:\n  elements:\n    - { enterprise: 9, id: 12235, column: http_host }\n    - { enterprise: 9, id: 12236, column: http_hots }\n');
    expect(() => loadProcessConfig({ file, env: {} })).toThrow(/no column http_hots[\s\S]*ingest\.elements\[1\]/);
  });

  it('refuses to split services across processes without a bus, and unknown services', async () => {
    const c = loadProcessConfig({ env: {} });
    await expect(startServices(['ingest'], c)).rejects.toThrow(/need a bus/);
    await expect(startServices(['ingest', 'teleporter'], c)).rejects.toThrow(/unknown service 'teleporter'/);
  });
});

describe('decoding threads by default', () => {
  it('uses one per core (1 to 4) unless the configuration says', async () => {
    const { defaultWorkers } = await import('./config.ts');
    const { availableParallelism } = await import('node:os');
    const n = availableParallelism();
    expect(defaultWorkers()).toBe(n < 2 ? 1 : Math.min(4, n));
    expect(loadProcessConfig({ env: {} }).ingest.workers).toBe(defaultWorkers());
    expect(loadProcessConfig({ env: { FLOWHOUND_INGEST_WORKERS: '1' } }).ingest.workers).toBe(1);
    expect(loadProcessConfig({ env: {}, overrides: { ingest: { workers: 3 } } }).ingest.workers).toBe(3);
  });
});

describe('storage configuration', () => {
  it('selects a single server by default and a cluster by name, which needs a ClickHouse URL', () => {
    const d = loadProcessConfig({ env: {} });
    expect([d.clickhouse.cluster, d.clickhouse.replicationPath]).toEqual(['', '/clickhouse/tables/{shard}/{database}/{table}']);
    const c = loadProcessConfig({ env: { FLOWHOUND_CLICKHOUSE_URL: 'http://ch:8123', FLOWHOUND_CLICKHOUSE_CLUSTER: 'flows' } });
    expect(c.clickhouse.cluster).toBe('flows');
    expect(() => loadProcessConfig({ env: { FLOWHOUND_CLICKHOUSE_CLUSTER: 'flows' } })).toThrow(/clickhouse\.cluster is 'flows' but clickhouse\.url is empty/);
    expect(() => loadProcessConfig({ env: {}, overrides: { clickhouse: { replicationPath: '/ch/{shard}/x' } } })).toThrow(/must contain \{table\}.*at clickhouse\.replicationPath/s);
  });

  it('takes retention for any stored table and refuses a table that does not exist', () => {
    const c = loadProcessConfig({ env: {}, overrides: { writer: { ttlDays: { conversations: 7, host_traffic_1h: 800, alarms: 3650 } } } });
    expect(c.writer.ttlDays).toEqual({ conversations: 7, host_traffic_1h: 800, alarms: 3650 });
    expect(() => loadProcessConfig({ env: {}, overrides: { writer: { ttlDays: { conversation: 7 } } } })).toThrow(/no table conversation; tables are: flows, conversations.*at writer\.ttlDays\.conversation/s);
  });
});
