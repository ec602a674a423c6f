// The only place subject and stream names are built.

export interface StreamDef {
  readonly name: string;
  readonly subjects: readonly string[];
}

export const STREAMS = Object.freeze({
  /** One-way flow records as decoded by ingest. */
  flows: Object.freeze({ name: 'FH_FLOWS', subjects: Object.freeze(['fh.flows.>']) }),
  /** Conversations: stitched, then enriched. */
  conversations: Object.freeze({ name: 'FH_CONV', subjects: Object.freeze(['fh.conv.>']) }),
  /** Security events and alarms from the detector. */
  events: Object.freeze({ name: 'FH_EVENTS', subjects: Object.freeze(['fh.events.>']) }),
}) satisfies Record<string, StreamDef>;

export type StreamKey = keyof typeof STREAMS;

export const subjects = Object.freeze({
  flowsRaw: (partition: number) => `fh.flows.raw.${partition}`,
  flowsRawAll: 'fh.flows.raw.>',
  convStitched: (partition: number) => `fh.conv.stitched.${partition}`,
  convStitchedAll: 'fh.conv.stitched.>',
  convEnriched: (partition: number) => `fh.conv.enriched.${partition}`,
  convEnrichedAll: 'fh.conv.enriched.>',
  events: (partition: number) => `fh.events.security.${partition}`,
  eventsAll: 'fh.events.>',
});

export const KV_BUCKETS = Object.freeze({
  /** Templates, key `<exporter>.<version>.<domain>.<template id>`; a withdrawal deletes the key, the registry's expiry purges it. */
  templates: 'fh_templates',
  /** Per-exporter statistics of each ingest replica, key `<exporter>.<replica>`. */
  exporters: 'fh_exporters',
  /** Replica-wide ingest facts (kernel socket drops, denied packets), key `<replica>`. */
  ingestReplicas: 'fh_ingest_replicas',
  /** Facts learnt from options data (system init time, sampling, names), key `<exporter>.<domain>.<kind>.<key>`, `any` for the domain of names (services/ingest optionsKvKey). */
  options: 'fh_options',
  /** Locks between processes (kvLock), key = the lock's name, value = holder and time (JSON). */
  locks: 'fh_locks',
});

/** True when a NATS subject matches a filter with `*` and `>` wildcards. */
export function subjectMatches(filter: string, subject: string): boolean {
  const f = filter.split('.');
  const s = subject.split('.');
  for (let i = 0; i < f.length; i++) {
    if (f[i] === '>') return s.length > i;
    if (i >= s.length) return false;
    if (f[i] !== '*' && f[i] !== s[i]) return false;
  }
  return f.length === s.length;
}
