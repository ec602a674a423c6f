// Facts exporters announce in options data (system init time, sampling
// rates, interface and application names) shared across decoding threads
// and replicas, like templates: a decoder that learns a new or changed
// fact reports it (the codec's onOptionsData hook); the main thread writes
// it to the KV bucket fh_options and hands it to its other workers; facts
// other replicas wrote arrive by the bucket's watch and go to every worker.
// A restarted replica reads them all at start.
import { KV_BUCKETS, kvSafe, type Bus, type KvBucket, type Subscription } from '@flowhound/bus';
import type { OptionsFact as FactKind } from '@flowhound/codec';
import { OptionsFact } from '@flowhound/proto';
import type { Logger } from '@flowhound/runtime';

/** One fact as the codec reports and applies it (structured-clone friendly). */
export interface Fact {
  exporter: string;
  domain: number;
  kind: FactKind;
  key: number | string;
  value: number | string;
}

const KINDS: ReadonlySet<string> = new Set(['system_init_time', 'sampling_rate', 'interface_name', 'application_name']);
/** Names hold for the whole exporter; times and rates per observation domain. */
const PER_EXPORTER: ReadonlySet<string> = new Set(['interface_name', 'application_name']);

/** Key in fh_options: `<exporter>.<domain or any>.<kind>.<key>`. */
export function optionsKvKey(f: Fact): string {
  return `${kvSafe(f.exporter)}.${PER_EXPORTER.has(f.kind) ? 'any' : f.domain}.${f.kind}.${kvSafe(String(f.key))}`;
}

function toProto(f: Fact, replica: string): OptionsFact {
  return { exporter: f.exporter, observationDomainId: f.domain, kind: f.kind, key: String(f.key), value: String(f.value), learntAtMs: BigInt(Date.now()), learntBy: replica };
}

function fromProto(p: OptionsFact): Fact | undefined {
  if (!KINDS.has(p.kind)) return undefined;
  const numericKey = p.kind === 'system_init_time' || p.kind === 'sampling_rate' || p.kind === 'interface_name';
  const numericValue = p.kind === 'system_init_time' || p.kind === 'sampling_rate';
  return { exporter: p.exporter, domain: p.observationDomainId, kind: p.kind as FactKind, key: numericKey ? Number(p.key) : p.key, value: numericValue ? Number(p.value) : p.value };
}

/** The main thread's side of fh_options. */
export class RegistryOptions {
  kvWrites = 0;
  kvWriteErrors = 0;
  remoteFacts = 0;
  private readonly bus: Bus;
  private readonly log: Logger;
  private readonly replicaId: string;
  private readonly onRemote: (f: Fact) => void;
  /** Key → value as last learnt or applied, so an echo or a repeat is not passed on. */
  private readonly known = new Map<string, Fact>();
  private kv: KvBucket | undefined;
  private watch: Subscription | undefined;
  private readonly pending = new Set<Promise<void>>();

  constructor(bus: Bus, log: Logger, replicaId: string, onRemote: (f: Fact) => void) {
    this.bus = bus;
    this.log = log;
    this.replicaId = replicaId;
    this.onRemote = onRemote;
  }

  async start(): Promise<void> {
    this.kv = await this.bus.kv(KV_BUCKETS.options);
    this.watch = await this.kv.watch((e) => {
      if (e.op !== 'put' || !e.value) return;
      let f: Fact | undefined;
      try {
        f = fromProto(OptionsFact.decode(e.value));
      } catch (err) {
        this.log.warn({ err, key: e.key }, 'ignoring an undecodable options fact in the registry');
        return;
      }
      if (!f) return;
      const k = optionsKvKey(f);
      if (this.known.get(k)?.value === f.value) return;
      this.known.set(k, f);
      this.remoteFacts++;
      this.onRemote(f);
    });
  }

  /** Every fact known, for a worker that starts now. */
  all(): Fact[] {
    return [...this.known.values()];
  }

  /** A decoder of this replica learnt a new or changed fact: write it to the registry. */
  learnt(f: Fact): void {
    const k = optionsKvKey(f);
    if (this.known.get(k)?.value === f.value) return;
    this.known.set(k, f);
    if (!this.kv) return;
    const p = this.kv.put(k, OptionsFact.encode(toProto(f, this.replicaId)).finish()).then(
      () => {
        this.kvWrites++;
      },
      (err: unknown) => {
        this.kvWriteErrors++;
        this.log.warn({ err, key: k }, 'could not write an options fact to the registry; other replicas decode without it');
      },
    );
    this.pending.add(p);
    void p.finally(() => this.pending.delete(p));
  }

  async stop(): Promise<void> {
    await Promise.all([...this.pending]);
    await this.watch?.stop();
  }
}
