import { hostname } from 'node:os';
import { DEFAULT_MAX_TEMPLATES_PER_EXPORTER, describeElementMapping, elementKey, elementMappingProblem } from '@flowhound/codec';
import { hostPort, validateConfig, z } from '@flowhound/runtime';
import { parseCidr } from './allowlist.ts';

/** An IPv4 or IPv6 network (`192.0.2.0/24`, `2001:db8::/32`) or a single address. */
const cidr = z.string().superRefine((s, ctx) => {
  try {
    parseCidr(s);
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: (err as Error).message });
  }
});

/**
 * An enterprise (or NetFlow v9 vendor) element into a schema column. The
 * codec's own rules (id range, a column that exists in the schema and can
 * be mapped) are checked here, so a bad entry is refused at load.
 */
const elementMapping = z
  .object({ enterprise: z.number().int().min(0).max(0xffffffff), id: z.number().int().min(1).max(65535), column: z.string().min(1) })
  .strict()
  .superRefine((m, ctx) => {
    const problem = elementMappingProblem(m);
    if (problem !== undefined) ctx.addIssue({ code: 'custom', message: `${describeElementMapping(m)}: ${problem}` });
  });

const elementMappings = z.array(elementMapping).superRefine((list, ctx) => {
  const first = new Map<number, number>();
  list.forEach((m, i) => {
    const k = elementKey(m.enterprise, m.id);
    const j = first.get(k);
    if (j === undefined) first.set(k, i);
    else ctx.addIssue({ code: 'custom', path: [i], message: `${describeElementMapping(m)}: the element is mapped twice (entry ${j} maps it too)` });
  });
});

export const ingestConfigSchema = z
  .object({
    /** UDP listen addresses; any version on any port, told apart by the header. */
    listen: z.array(hostPort).min(1).default(['0.0.0.0:2055', '0.0.0.0:4739']),
    /** IPFIX over TCP (RFC 7011 §10) listen addresses; [] for none. NetFlow v9 over TCP is not defined and refused. */
    listenTcp: z.array(hostPort).default(['0.0.0.0:4739']),
    /** Open TCP connections accepted per worker; more are closed at once (and counted). */
    tcpMaxConnections: z.number().int().min(1).max(65536).default(256),
    /**
     * Decoding threads. 1 decodes on the main thread; N > 1 starts N
     * worker threads that each bind every listen address (SO_REUSEPORT: the
     * kernel spreads exporters over them) and share templates through the
     * main thread and the registry.
     */
    workers: z.number().int().min(1).max(64).default(1),
    /** Exporters (CIDRs, IPv4 or IPv6) whose packets are decoded; others are counted and dropped. [] allows all. */
    allow: z.array(cidr).default([]),
    /** Kernel receive buffer per socket (bytes); bursts wait here. */
    receiveBufferBytes: z.number().int().min(65536).default(16 * 1024 * 1024),
    /**
     * Rows per bus message: ~100–200 KB, since every message costs the
     * decoding thread (a buffer, a post to the main thread), the main thread
     * and the bus. 1024 rather than 512: at 1M records/s from one exporter
     * the decoding thread spent ~15 % less CPU per record and the main
     * thread ~20 % less. Bigger still saves less and brings text-heavy
     * records (URLs: ~500 B a record) near NATS's default 1 MB max_payload.
     */
    batchRows: z.number().int().min(1).max(65536).default(1024),
    /** A partial batch is published after this long (ms). */
    flushIntervalMs: z.number().int().min(10).max(60_000).default(500),
    /** Bytes of batches waiting for the bus before new batches are dropped (and counted). */
    maxPendingBytes: z.number().int().min(1 << 20).default(256 * 1024 * 1024),
    /** Data sets held while their template is unknown. */
    holdMaxSets: z.number().int().min(0).default(10_000),
    holdMaxBytes: z.number().int().min(0).default(64 * 1024 * 1024),
    holdMaxAgeMs: z.number().int().min(0).default(30_000),
    /**
     * Templates one exporter address may define, all versions and
     * observation domains together, per decoding thread. New ones beyond are
     * refused (counted, logged, not written to the registry) and their data
     * dropped; the templates already known keep working.
     */
    maxTemplatesPerExporter: z.number().int().min(1).max(0xffffffff).default(DEFAULT_MAX_TEMPLATES_PER_EXPORTER),
    /** How often per-exporter statistics go to the registry (KV bucket fh_exporters), ms. */
    statsIntervalMs: z.number().int().min(100).max(600_000).default(5_000),
    /**
     * Sampling by exporter, first matching rule wins: `default` applies when
     * the exporter announces no rate, `override` replaces whatever it says
     * (0: not set). `exporters: []` matches every exporter.
     */
    sampling: z
      .array(
        z
          .object({
            exporters: z.array(cidr).default([]),
            default: z.number().int().min(0).default(0),
            override: z.number().int().min(0).default(0),
          })
          .strict(),
      )
      .default([]),
    /** Enterprise (or v9 vendor) elements mapped to schema columns: { enterprise, id, column }. */
    elements: elementMappings.default([]),
    /** Unique name of this replica; goes into batch ids, template records and exporter statistics. */
    replicaId: z.string().min(1).default(`${hostname()}-${process.pid}`),
  })
  .strict();

export type IngestConfig = z.output<typeof ingestConfigSchema>;

export function defaultConfig(): IngestConfig {
  return ingestConfigSchema.parse({});
}

export function loadConfig(raw: unknown): Readonly<IngestConfig> {
  return validateConfig(ingestConfigSchema, raw, 'ingest');
}
