import * as grpc from '@grpc/grpc-js';
import type { Meter } from '@opentelemetry/api';
import { decodeTemplate, KV_BUCKETS, type Bus, type KvBucket, type KvEntry, type Subscription } from '@flowhound/bus';
import { ExporterStats, IngestReplicaStats, TemplateRegistryServiceService, type Template, type TemplateRegistryServiceServer } from '@flowhound/proto';
import type { Component, GrpcHost, Logger } from '@flowhound/runtime';
import type { RegistryConfig } from './config.ts';
import { aggregateExporters, compareExporters } from './exporters.ts';

export interface RegistryDeps {
  readonly bus: Bus;
  readonly grpc: GrpcHost;
  readonly log: Logger;
  readonly meter: Meter;
}

/** Mirrors a KV bucket of protobuf values in a map, decoding each entry once. */
function mirror<T>(into: Map<string, T>, decode: (b: Uint8Array) => T, log: Logger, what: string): (e: KvEntry) => void {
  return (e) => {
    if (e.op === 'put' && e.value) {
      try {
        into.set(e.key, decode(e.value));
      } catch (err) {
        log.warn({ err, key: e.key }, `ignoring an undecodable ${what} entry`);
      }
    } else {
      into.delete(e.key);
    }
  };
}

/**
 * Owns the template bucket: creates it, mirrors it in memory for the gRPC
 * ListTemplates call and the per-exporter gauges, and expires (purges)
 * templates an exporter stopped refreshing. Withdrawals are deletes made by
 * the ingest replica that received them. Ingest replicas write and watch the bucket
 * directly, so a template reaches every replica in one KV round trip.
 *
 * Also mirrors the exporter inventory (fh_exporters, fh_ingest_replicas)
 * that ingest replicas write every few seconds, for ListExporters.
 */
export class TemplateRegistryService implements Component {
  readonly name = 'template-registry';
  readonly templates = new Map<string, Template>();
  /** `<exporter>.<replica>` → what that replica saw from that exporter. */
  readonly exporters = new Map<string, ExporterStats>();
  /** `<replica>` → replica-wide ingest facts. */
  readonly replicas = new Map<string, IngestReplicaStats>();
  updates = 0;
  expired = 0;
  exportersExpired = 0;
  private readonly config: Readonly<RegistryConfig>;
  private readonly deps: RegistryDeps;
  private kv: KvBucket | undefined;
  private exportersKv: KvBucket | undefined;
  private replicasKv: KvBucket | undefined;
  private watch: Subscription | undefined;
  private readonly watches: Subscription[] = [];
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
    const ekv = (this.exportersKv = await this.deps.bus.kv(KV_BUCKETS.exporters));
    const rkv = (this.replicasKv = await this.deps.bus.kv(KV_BUCKETS.ingestReplicas));
    this.watches.push(await ekv.watch(mirror(this.exporters, (b) => ExporterStats.decode(b), this.deps.log, 'exporter statistics')));
    this.watches.push(await rkv.watch(mirror(this.replicas, (b) => IngestReplicaStats.decode(b), this.deps.log, 'ingest replica')));
    const a = { component: this.name };
    this.deps.meter.createObservableGauge('flowhound_templates', { description: 'templates held in the registry' }).addCallback((r) => r.observe(this.templates.size, a));
    this.deps.meter.createObservableCounter('flowhound_template_updates_total', { description: 'template puts and deletes seen' }).addCallback((r) => r.observe(this.updates, a));
    this.deps.meter.createObservableCounter('flowhound_templates_expired_total', { description: 'templates dropped after expireAfterMs' }).addCallback((r) => r.observe(this.expired, a));
    this.deps.meter.createObservableGauge('flowhound_exporters', { description: 'exporters in the inventory (any replica heard from them)' }).addCallback((r) => r.observe(new Set([...this.exporters.values()].map((e) => e.exporter)).size, a));
    const impl: TemplateRegistryServiceServer = {
      listExporters: (call, cb) => {
        cb(null, this.listExporters(call.request.exporter, call.request.perReplica));
      },
      listTemplates: (call, cb) => {
        const want = call.request.exporter;
        const list = [...this.templates.values()].filter((t) => !want || t.exporter === want);
        list.sort((a, b) => a.exporter.localeCompare(b.exporter) || a.version - b.version || a.observationDomainId - b.observationDomainId || a.templateId - b.templateId);
        cb(null, { templates: list });
      },
    };
    this.deps.grpc.addService(TemplateRegistryServiceService, impl as unknown as grpc.UntypedServiceImplementation);
    if (this.config.expireAfterMs > 0 || this.config.exportersExpireAfterMs > 0) {
      this.sweep = setInterval(() => void this.expire(), this.config.sweepIntervalMs);
      this.sweep.unref();
    }
  }

  /** The inventory: one row per exporter (replicas summed), or per exporter and replica. */
  listExporters(exporter = '', perReplica = false): { exporters: ExporterStats[]; replicas: IngestReplicaStats[] } {
    const rows = [...this.exporters.values()].filter((e) => !exporter || e.exporter === exporter);
    const exporters = perReplica ? rows.sort(compareExporters) : aggregateExporters(rows);
    const replicas = [...this.replicas.values()].sort((x, y) => x.replica.localeCompare(y.replica));
    return { exporters, replicas };
  }

  private async expire(): Promise<void> {
    if (this.config.exportersExpireAfterMs > 0) {
      const cutoff = BigInt(Date.now() - this.config.exportersExpireAfterMs);
      for (const [key, e] of this.exporters) {
        if (e.updatedAtMs >= cutoff) continue;
        await this.exportersKv?.delete(key).catch((err: unknown) => this.deps.log.warn({ err, key }, 'exporter statistics expiry failed'));
        this.exportersExpired++;
      }
      for (const [key, r] of this.replicas) {
        if (r.updatedAtMs < cutoff) await this.replicasKv?.delete(key).catch(() => {});
      }
    }
    if (this.config.expireAfterMs === 0) return;
    const cutoff = Date.now() - this.config.expireAfterMs;
    for (const [key, t] of this.templates) {
      if (Number(t.receivedAtMs) < cutoff) {
        // A purge, not a delete: ingest replicas apply deletes (withdrawals)
        // to the templates they decode with, but keep an expired one (an
        // IPFIX-over-TCP session sends its templates once, at its start).
        await this.kv?.purge(key).catch((err: unknown) => this.deps.log.warn({ err, key }, 'template expiry failed'));
        this.expired++;
      }
    }
  }

  async stop(): Promise<void> {
    clearInterval(this.sweep);
    await this.watch?.stop();
    await Promise.all(this.watches.splice(0).map((w) => w.stop()));
  }
}
