import { decodeTemplate, encodeTemplate, KV_BUCKETS, templateKvKey, type Bus, type KvBucket, type Subscription } from '@flowhound/bus';
import { MemoryTemplateStore, sameTemplate, withdrawalTakes, type CompiledTemplate, type TemplateDef, type TemplateStore } from '@flowhound/codec';
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
  readonly local: MemoryTemplateStore;
  private readonly sync: TemplateSync;
  private readonly onTemplate: (key: string) => void;
  private readonly onRefused: (exporter: string, def: TemplateDef) => void;
  private readonly refreshedAt = new Map<string, number>();

  /**
   * `maxTemplatesPerExporter` caps the templates of one exporter (all
   * versions and domains); a template refused for it, from a packet or from
   * elsewhere, goes to `onRefused` and nowhere else.
   */
  constructor(sync: TemplateSync, onTemplate: (key: string) => void, maxTemplatesPerExporter?: number, onRefused: (exporter: string, def: TemplateDef) => void = () => {}) {
    this.local = new MemoryTemplateStore({ maxTemplatesPerExporter });
    this.sync = sync;
    this.onTemplate = onTemplate;
    this.onRefused = onRefused;
  }

  get(exporter: string, version: number, domain: number, templateId: number): CompiledTemplate | undefined {
    return this.local.get(exporter, version, domain, templateId);
  }

  put(exporter: string, def: TemplateDef): void {
    if (!this.local.put(exporter, def)) return this.onRefused(exporter, def);
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

  /** The exporter has as many templates as the cap allows: data for any other template cannot decode. */
  full(exporter: string): boolean {
    return this.local.full(exporter);
  }

  /** A template learnt elsewhere: stored without telling anyone. */
  apply(exporter: string, def: TemplateDef): void {
    if (!this.local.put(exporter, def)) return this.onRefused(exporter, def);
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
 * or due for a refresh), and withdrawals delete them; templates any other
 * replica wrote arrive by the bucket's watch and go to `onRemote`, and
 * entries another replica deleted (its exporter withdrew them) go to
 * `onRemoteWithdraw`, so data decodes, or stops decoding, wherever its
 * template came in. Purged entries (the registry's expiry) are not
 * withdrawals: replicas keep those templates. Also remembers every
 * template it knows, so a worker that starts later is handed them all.
 */
export class RegistryTemplates implements TemplateSync {
  kvWrites = 0;
  kvWriteErrors = 0;
  remoteTemplates = 0;
  /** Templates other replicas withdrew (entries deleted from the bucket), applied here. */
  remoteWithdrawals = 0;
  private readonly bus: Bus;
  private readonly log: Logger;
  private readonly replicaId: string;
  private readonly onRemote: (exporter: string, def: TemplateDef) => void;
  private readonly onRemoteWithdraw: (exporter: string, version: number, domain: number, templateId: number) => void;
  private readonly announced = new Map<string, { t: Template; at: number }>();
  /** Deletes this replica sent and has not seen come back through the watch yet, per key. */
  private readonly ownDeletes = new Map<string, number>();
  private kv: KvBucket | undefined;
  private watch: Subscription | undefined;
  private readonly pending = new Set<Promise<void>>();

  constructor(
    bus: Bus,
    log: Logger,
    replicaId: string,
    onRemote: (exporter: string, def: TemplateDef) => void,
    onRemoteWithdraw: (exporter: string, version: number, domain: number, templateId: number) => void = () => {},
  ) {
    this.bus = bus;
    this.log = log;
    this.replicaId = replicaId;
    this.onRemote = onRemote;
    this.onRemoteWithdraw = onRemoteWithdraw;
  }

  async start(): Promise<void> {
    this.kv = await this.bus.kv(KV_BUCKETS.templates);
    this.watch = await this.kv.watch((e) => {
      if (e.op === 'del') return this.deleted(e.key);
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

  /**
   * An entry deleted from the bucket: a withdrawal. This replica's own
   * deletes were applied when its exporter sent them; another replica's are
   * applied here (to templates this replica knows).
   */
  private deleted(key: string): void {
    const own = this.ownDeletes.get(key);
    if (own !== undefined) {
      if (own <= 1) this.ownDeletes.delete(key);
      else this.ownDeletes.set(key, own - 1);
      return;
    }
    const known = this.announced.get(key);
    if (!known) return;
    this.announced.delete(key);
    this.remoteWithdrawals++;
    const t = known.t;
    this.onRemoteWithdraw(t.exporter, t.version, t.observationDomainId, t.templateId);
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

  /**
   * A withdrawal this replica's exporter sent: one template, or every
   * template of the domain of one kind (the codec's WITHDRAW_ALL* ids).
   * Deletes the registry entries, which withdraws them at the other
   * replicas and keeps a restarted replica from reading them back.
   */
  withdraw(exporter: string, version: number, domain: number, templateId: number): void {
    if (templateId >= 0) {
      this.unannounce(templateKvKey(exporter, version, domain, templateId));
      return;
    }
    // Withdraw-all: every entry of that exporter, version and domain (and kind) this replica knows of.
    for (const [k, { t }] of this.announced) {
      if (t.exporter === exporter && t.version === version && t.observationDomainId === domain && withdrawalTakes(templateId, t)) this.unannounce(k);
    }
  }

  private unannounce(k: string): void {
    this.announced.delete(k);
    const kv = this.kv;
    if (!kv) return;
    // Counted before the call: the in-memory bus calls watchers back inside delete().
    this.ownDeletes.set(k, (this.ownDeletes.get(k) ?? 0) + 1);
    const p = kv.delete(k).catch((err: unknown) => {
      const n = this.ownDeletes.get(k) ?? 0;
      if (n <= 1) this.ownDeletes.delete(k);
      else this.ownDeletes.set(k, n - 1);
      this.log.warn({ err, key: k }, 'could not delete a withdrawn template from the registry; other replicas keep it');
    });
    this.pending.add(p);
    void p.finally(() => this.pending.delete(p));
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
