import { decodeTemplate, encodeTemplate, KV_BUCKETS, templateKvKey, type Bus, type KvBucket, type Subscription } from '@flowhound/bus';
import { MemoryTemplateStore, sameTemplate, type CompiledTemplate, type TemplateDef, type TemplateStore } from '@flowhound/codec';
import type { Template } from '@flowhound/proto';
import type { Logger } from '@flowhound/runtime';

/** Re-announce an unchanged template at most this often, to keep it fresh in the registry. */
const REFRESH_MS = 10 * 60 * 1000;

/** Held data sets queue per exporter, version and observation domain. */
export function heldKey(exporter: string, version: number, domain: number): string {
  return `${exporter}|${version}|${domain}`;
}

/**
 * Where a decoder's template news goes: to the registry directly (one
 * decoding thread), or to the main thread, which writes the registry and
 * tells the other workers (several decoding threads).
 */
export interface TemplateSync {
  /** A template new or changed in a packet. */
  put(exporter: string, def: TemplateDef): void;
  /** An unchanged template came again; called at most every few minutes per template. */
  refreshed(exporter: string, def: TemplateDef): void;
  withdraw(exporter: string, version: number, domain: number, templateId: number): void;
}

/**
 * The decoder's template store in one decoding thread: compiled templates
 * in memory. Templates from the thread's own packets go to `sync`; those
 * learnt elsewhere (another worker, another replica, the registry at
 * start) arrive through `apply`. Either way held data sets of that
 * exporter are re-examined.
 */
export class ReceiverTemplateStore implements TemplateStore {
  readonly local = new MemoryTemplateStore();
  private readonly sync: TemplateSync;
  private readonly onTemplate: (key: string) => void;
  private readonly refreshedAt = new Map<string, number>();

  constructor(sync: TemplateSync, onTemplate: (key: string) => void) {
    this.sync = sync;
    this.onTemplate = onTemplate;
  }

  get(exporter: string, version: number, domain: number, templateId: number): CompiledTemplate | undefined {
    return this.local.get(exporter, version, domain, templateId);
  }

  put(exporter: string, def: TemplateDef): void {
    this.local.put(exporter, def);
    this.refreshedAt.set(templateKvKey(exporter, def.version, def.domain, def.templateId), Date.now());
    this.onTemplate(heldKey(exporter, def.version, def.domain));
    this.sync.put(exporter, def);
  }

  refreshed(exporter: string, def: TemplateDef): void {
    // Called per template record an exporter repeats: tell the registry only every few minutes.
    const k = templateKvKey(exporter, def.version, def.domain, def.templateId);
    const now = Date.now();
    const at = this.refreshedAt.get(k);
    if (at !== undefined && now - at < REFRESH_MS / 2) return;
    this.refreshedAt.set(k, now);
    this.sync.refreshed(exporter, def);
  }

  withdraw(exporter: string, version: number, domain: number, templateId: number): void {
    this.local.withdraw(exporter, version, domain, templateId);
    this.sync.withdraw(exporter, version, domain, templateId);
  }

  /** A template learnt elsewhere: stored without telling anyone. */
  apply(exporter: string, def: TemplateDef): void {
    this.local.put(exporter, def);
    this.refreshedAt.set(templateKvKey(exporter, def.version, def.domain, def.templateId), Date.now());
    this.onTemplate(heldKey(exporter, def.version, def.domain));
  }

  applyWithdraw(exporter: string, version: number, domain: number, templateId: number): void {
    this.local.withdraw(exporter, version, domain, templateId);
  }
}

/**
 * One replica's side of the template registry's KV bucket. Templates this
 * replica's decoders receive are written to the bucket (when new, changed,
 * or due for a refresh); templates any other replica wrote arrive by the
 * bucket's watch and go to `onRemote`, so data decodes wherever its
 * template came in. Also remembers every template it knows, so a worker
 * that starts later is handed them all.
 */
export class RegistryTemplates implements TemplateSync {
  kvWrites = 0;
  kvWriteErrors = 0;
  remoteTemplates = 0;
  private readonly bus: Bus;
  private readonly log: Logger;
  private readonly replicaId: string;
  private readonly onRemote: (exporter: string, def: TemplateDef) => void;
  private readonly announced = new Map<string, { t: Template; at: number }>();
  private kv: KvBucket | undefined;
  private watch: Subscription | undefined;
  private readonly pending = new Set<Promise<void>>();

  constructor(bus: Bus, log: Logger, replicaId: string, onRemote: (exporter: string, def: TemplateDef) => void) {
    this.bus = bus;
    this.log = log;
    this.replicaId = replicaId;
    this.onRemote = onRemote;
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
      this.onRemote(t.exporter, fromProto(t));
    });
  }

  /** Every template this replica knows (its own and the registry's). */
  *known(): IterableIterator<{ exporter: string; def: TemplateDef }> {
    for (const { t } of this.announced.values()) yield { exporter: t.exporter, def: fromProto(t) };
  }

  put(exporter: string, def: TemplateDef): void {
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
    if (templateId < 0) {
      // Withdraw-all of a domain: forget it here; registry entries expire unless re-sent.
      const prefix = templateKvKey(exporter, version, domain, 0).slice(0, -1);
      for (const k of this.announced.keys()) if (k.startsWith(prefix)) this.announced.delete(k);
      return;
    }
    const k = templateKvKey(exporter, version, domain, templateId);
    this.announced.delete(k);
    void this.kv?.delete(k).catch(() => {});
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
