import { decodeTemplate, encodeTemplate, KV_BUCKETS, sameTemplate, templateKvKey, type Bus, type KvBucket, type Subscription } from '@flowhound/bus';
import { MemoryTemplateStore, type CompiledTemplate, type TemplateDef, type TemplateStore } from '@flowhound/codec';
import type { Template } from '@flowhound/proto';
import type { Logger } from '@flowhound/runtime';

/** Re-announce an unchanged template at most this often, to keep it fresh in the registry. */
const REFRESH_MS = 10 * 60 * 1000;

/** Held data sets queue per exporter, version and observation domain. */
export function heldKey(exporter: string, version: number, domain: number): string {
  return `${exporter}|${version}|${domain}`;
}

/**
 * The decoder's template store for one ingest replica: a local compiled
 * cache in front of the registry's KV bucket. Templates this replica
 * receives are written to the bucket; templates any replica wrote arrive by
 * the bucket's watch, so data decodes wherever its template came in.
 */
export class RegistryTemplateStore implements TemplateStore {
  readonly local = new MemoryTemplateStore();
  kvWrites = 0;
  kvWriteErrors = 0;
  remoteTemplates = 0;
  private readonly bus: Bus;
  private readonly log: Logger;
  private readonly replicaId: string;
  private readonly onTemplate: (key: string) => void;
  private readonly announced = new Map<string, { t: Template; at: number }>();
  private kv: KvBucket | undefined;
  private watch: Subscription | undefined;
  private readonly pending = new Set<Promise<void>>();

  constructor(bus: Bus, log: Logger, replicaId: string, onTemplate: (key: string) => void) {
    this.bus = bus;
    this.log = log;
    this.replicaId = replicaId;
    this.onTemplate = onTemplate;
  }

  async start(): Promise<void> {
    this.kv = await this.bus.kv(KV_BUCKETS.templates);
    this.watch = await this.kv.watch((e) => {
      if (e.op !== 'put' || !e.value) return;
      let t: Template;
      try {
        t = decodeTemplate(e.value);
      } catch (err) {
        this.log.warn({ err, key: e.key }, 'ignoring an undecodable template in the registry');
        return;
      }
      const k = templateKvKey(t.exporter, t.version, t.observationDomainId, t.templateId);
      const mine = this.announced.get(k);
      if (mine && sameTemplate(mine.t, t)) return;
      this.announced.set(k, { t, at: Number(t.receivedAtMs) });
      this.remoteTemplates++;
      this.local.put(t.exporter, fromProto(t));
      this.onTemplate(heldKey(t.exporter, t.version, t.observationDomainId));
    });
  }

  get(exporter: string, version: number, domain: number, templateId: number): CompiledTemplate | undefined {
    return this.local.get(exporter, version, domain, templateId);
  }

  put(exporter: string, def: TemplateDef): void {
    this.local.put(exporter, def);
    this.onTemplate(heldKey(exporter, def.version, def.domain));
    this.announce(exporter, def);
  }

  refreshed(exporter: string, def: TemplateDef): void {
    const prev = this.announced.get(templateKvKey(exporter, def.version, def.domain, def.templateId));
    if (!prev || Date.now() - prev.at >= REFRESH_MS) this.announce(exporter, def);
  }

  /** Writes a template to the registry when new, changed, or due for a refresh. */
  private announce(exporter: string, def: TemplateDef): void {
    const t = toProto(exporter, def, this.replicaId);
    const k = templateKvKey(exporter, def.version, def.domain, def.templateId);
    const prev = this.announced.get(k);
    const now = Date.now();
    if (prev && sameTemplate(prev.t, t) && now - prev.at < REFRESH_MS) return;
    this.announced.set(k, { t, at: now });
    if (!this.kv) return;
    const p = this.kv.put(k, encodeTemplate(t)).then(
      () => {
        this.kvWrites++;
      },
      (err: unknown) => {
        this.kvWriteErrors++;
        this.announced.delete(k);
        this.log.warn({ err, key: k }, 'could not write a template to the registry; other replicas cannot decode its data yet');
      },
    );
    this.pending.add(p);
    void p.finally(() => this.pending.delete(p));
  }

  withdraw(exporter: string, version: number, domain: number, templateId: number): void {
    this.local.withdraw(exporter, version, domain, templateId);
    if (templateId >= 0) {
      const k = templateKvKey(exporter, version, domain, templateId);
      this.announced.delete(k);
      void this.kv?.delete(k).catch(() => {});
    }
  }

  async stop(): Promise<void> {
    await Promise.all([...this.pending]);
    await this.watch?.stop();
  }
}

export function toProto(exporter: string, d: TemplateDef, receivedBy: string): Template {
  return {
    exporter,
    version: d.version,
    observationDomainId: d.domain,
    templateId: d.templateId,
    scopeFieldCount: d.scopeFieldCount,
    fields: d.fields.map((f) => ({ id: f.id, length: f.length, enterprise: f.enterprise })),
    receivedAtMs: BigInt(Date.now()),
    receivedBy,
  };
}

export function fromProto(t: Template): TemplateDef {
  return {
    version: t.version,
    domain: t.observationDomainId,
    templateId: t.templateId,
    scopeFieldCount: t.scopeFieldCount,
    fields: t.fields.map((f) => ({ id: f.id, length: f.length, enterprise: f.enterprise })),
  };
}
