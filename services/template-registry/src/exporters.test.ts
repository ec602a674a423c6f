import * as grpc from '@grpc/grpc-js';
import { metrics } from '@opentelemetry/api';
import { describe, expect, it } from 'vitest';
import { KV_BUCKETS, MemoryBus } from '@flowhound/bus';
import { ExporterStats, IngestReplicaStats, TemplateRegistryServiceClient, type ListExportersResponse } from '@flowhound/proto';
import { GrpcHost, silentLogger } from '@flowhound/runtime';
import { registryConfigSchema } from './config.ts';
import { aggregateExporters } from './exporters.ts';
import { TemplateRegistryService } from './service.ts';

function stats(exporter: string, replica: string, over: Partial<ExporterStats> = {}): ExporterStats {
  return {
    ...ExporterStats.fromPartial({ exporter, replicas: [replica] }),
    packets: 10n,
    bytes: 1000n,
    records: 100n,
    firstSeenMs: 1_000n,
    lastSeenMs: 2_000n,
    updatedAtMs: 2_500n,
    versions: [10],
    observationDomains: [0],
    transports: ['udp'],
    ...over,
  };
}

describe('exporter inventory', () => {
  it('sums two ingest replicas’ statistics of one exporter into one row', () => {
    const a = stats('192.0.2.1', 'ingest-a', { packets: 10n, records: 100n, templateMisses: 2n, recordsLost: 5n, firstSeenMs: 1_500n, lastSeenMs: 9_000n, samplingRates: [100] });
    const b = stats('192.0.2.1', 'ingest-b', { packets: 7n, records: 70n, setsExpired: 1n, recordsLost: 3n, firstSeenMs: 1_000n, lastSeenMs: 8_000n, versions: [9], transports: ['tcp'], samplingRates: [100] });
    const c = stats('10.0.0.1', 'ingest-a', { packets: 1n });
    const rows = aggregateExporters([a, b, c]);
    expect(rows.map((r) => r.exporter)).toEqual(['10.0.0.1', '192.0.2.1']);
    expect(rows[1]).toMatchObject({
      replicas: ['ingest-a', 'ingest-b'],
      packets: 17n,
      bytes: 2000n,
      records: 170n,
      templateMisses: 2n,
      setsExpired: 1n,
      recordsLost: 8n,
      firstSeenMs: 1_000n,
      lastSeenMs: 9_000n,
      versions: [9, 10],
      samplingRates: [100],
      transports: ['tcp', 'udp'],
    });
  });

  it('serves ListExporters over gRPC from what replicas wrote to the KV buckets', async () => {
    const bus = new MemoryBus();
    const log = silentLogger();
    const grpcHost = new GrpcHost('127.0.0.1:0', log);
    const svc = new TemplateRegistryService(registryConfigSchema.parse({}), { bus, grpc: grpcHost, log, meter: metrics.getMeter('test') });
    await svc.start();
    await grpcHost.start();
    const kv = await bus.kv(KV_BUCKETS.exporters);
    await kv.put('192_0_2_1.ingest-a', ExporterStats.encode(stats('192.0.2.1', 'ingest-a', { packets: 3n })).finish());
    await kv.put('192_0_2_1.ingest-b', ExporterStats.encode(stats('192.0.2.1', 'ingest-b', { packets: 4n })).finish());
    const rkv = await bus.kv(KV_BUCKETS.ingestReplicas);
    await rkv.put('ingest-a', IngestReplicaStats.encode(IngestReplicaStats.fromPartial({ replica: 'ingest-a', socketDrops: 12n, workers: 2 })).finish());
    const client = new TemplateRegistryServiceClient(`127.0.0.1:${grpcHost.boundPort}`, grpc.credentials.createInsecure());
    const call = (perReplica: boolean) =>
      new Promise<ListExportersResponse>((resolve, reject) => client.listExporters({ exporter: '', perReplica }, (err, r) => (err ? reject(err) : resolve(r))));
    try {
      const summed = await call(false);
      expect(summed.exporters).toHaveLength(1);
      expect(summed.exporters[0]).toMatchObject({ exporter: '192.0.2.1', packets: 7n, replicas: ['ingest-a', 'ingest-b'] });
      expect(summed.replicas).toEqual([expect.objectContaining({ replica: 'ingest-a', socketDrops: 12n, workers: 2 })]);
      const raw = await call(true);
      expect(raw.exporters.map((e) => [e.replicas[0], e.packets])).toEqual([
        ['ingest-a', 3n],
        ['ingest-b', 4n],
      ]);
    } finally {
      client.close();
      await grpcHost.stop();
      await svc.stop();
    }
  });
});
