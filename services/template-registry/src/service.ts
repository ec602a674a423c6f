import * as grpc from '@grpc/grpc-js';
import type { Meter } from '@opentelemetry/api';
import { decodeTemplate, KV_BUCKETS, type Bus, type KvBucket, type Subscription } from '@flowhound/bus';
import { TemplateRegistryServiceService, type Template, type TemplateRegistryServiceServer } from '@flowhound/proto';
import type { Component, GrpcHost, Logger } from '@flowhound/runtime';
import type { RegistryConfig } from './config.ts';

export interface RegistryDeps {
  readonly bus: Bus;
  readonly grpc: GrpcHost;
  readonly log: Logger;
  readonly meter: Meter;
}

/**
 * Owns the template bucket: creates it, mirrors it in memory for the gRPC
 * ListTemplates call and the per-exporter gauges, and expires templates an
 * exporter stopped refreshing. Ingest replicas write and watch the bucket
 * directly, so a template reaches every replica in one KV round trip.
 */
export class TemplateRegistryService implements Component {
  readonly name = 'template-registry';
  readonly templates = new Map<string, Template>();
  updates = 0;
  expired = 0;
  private readonly config: Readonly<RegistryConfig>;
  private readonly deps: RegistryDeps;
  private kv: KvBucket | undefined;
  private watch: Subscription | undefined;
  private sweep: NodeJS.Timeout | undefined;

  constructor(config: Readonly<RegistryConfig>, deps: RegistryDeps) {
    this.config = config;
    this.deps = deps;
  }

  async start(): Promise<void> {
    const kv = (this.kv = await this.deps.bus.kv(KV_BUCKETS.templates));
    this.watch = await kv.watch((e) => {
      this.updates++;
      if (e.op === 'put' && e.value) {
        try {
          this.templates.set(e.key, decodeTemplate(e.value));
        } catch (err) {
          this.deps.log.warn({ err, key: e.key }, 'ignoring an undecodable template entry');
        }
      } else {
        this.templates.delete(e.key);
      }
    });
    const a = { component: this.name };
    this.deps.meter.createObservableGauge('flowhound_templates', { description: 'templates held in the registry' }).addCallback((r) => r.observe(this.templates.size, a));
    this.deps.meter.createObservableCounter('flowhound_template_updates_total', { description: 'template puts and deletes seen' }).addCallback((r) => r.observe(this.updates, a));
    this.deps.meter.createObservableCounter('flowhound_templates_expired_total', { description: 'templates dropped after expireAfterMs' }).addCallback((r) => r.observe(this.expired, a));
    const impl: TemplateRegistryServiceServer = {
      listTemplates: (call, cb) => {
        const want = call.request.exporter;
        const list = [...this.templates.values()].filter((t) => !want || t.exporter === want);
        list.sort((a, b) => a.exporter.localeCompare(b.exporter) || a.version - b.version || a.observationDomainId - b.observationDomainId || a.templateId - b.templateId);
        cb(null, { templates: list });
      },
    };
    this.deps.grpc.addService(TemplateRegistryServiceService, impl as unknown as grpc.UntypedServiceImplementation);
    if (this.config.expireAfterMs > 0) {
      this.sweep = setInterval(() => void this.expire(), this.config.sweepIntervalMs);
      this.sweep.unref();
    }
  }

  private async expire(): Promise<void> {
    const cutoff = Date.now() - this.config.expireAfterMs;
    for (const [key, t] of this.templates) {
      if (Number(t.receivedAtMs) < cutoff) {
        await this.kv?.delete(key).catch((err: unknown) => this.deps.log.warn({ err, key }, 'template expiry failed'));
        this.expired++;
      }
    }
  }

  async stop(): Promise<void> {
    clearInterval(this.sweep);
    await this.watch?.stop();
  }
}
