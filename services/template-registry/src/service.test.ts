import { metrics } from '@opentelemetry/api';
import { describe, expect, it } from 'vitest';
import { encodeTemplate, KV_BUCKETS, MemoryBus, templateKvKey, type KvOp } from '@flowhound/bus';
import type { Template } from '@flowhound/proto';
import { GrpcHost, silentLogger } from '@flowhound/runtime';
import { registryConfigSchema } from './config.ts';
import { TemplateRegistryService } from './service.ts';

const template = (templateId: number, receivedAtMs: number): Template => ({
  exporter: '192.0.2.1',
  version: 10,
  observationDomainId: 0,
  templateId,
  scopeFieldCount: 0,
  fields: [{ id: 8, length: 4, enterprise: 0 }],
  receivedAtMs: BigInt(receivedAtMs),
  receivedBy: 'ingest-a',
});

describe('template registry', () => {
  it('expires a template not refreshed for expireAfterMs with a purge, which replicas tell apart from a withdrawal (a delete)', async () => {
    const bus = new MemoryBus();
    const log = silentLogger();
    const svc = new TemplateRegistryService(registryConfigSchema.parse({ expireAfterMs: 60_000, sweepIntervalMs: 1000 }), { bus, grpc: new GrpcHost('127.0.0.1:0', log), log, meter: metrics.getMeter('test') });
    const kv = await bus.kv(KV_BUCKETS.templates);
    const stale = templateKvKey('192.0.2.1', 10, 0, 256);
    const fresh = templateKvKey('192.0.2.1', 10, 0, 257);
    await kv.put(stale, encodeTemplate(template(256, Date.now() - 120_000)));
    await kv.put(fresh, encodeTemplate(template(257, Date.now())));
    const seen: [KvOp, string][] = [];
    const w = await kv.watch((e) => void (e.op !== 'put' && seen.push([e.op, e.key])));
    await svc.start();
    try {
      const end = Date.now() + 5000;
      while (svc.expired === 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
      expect(svc.expired).toBe(1);
      expect(seen).toEqual([['purge', stale]]);
      expect([...svc.templates.keys()]).toEqual([fresh]);
    } finally {
      await w.stop();
      await svc.stop();
    }
  });
});
