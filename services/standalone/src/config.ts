import { availableParallelism } from 'node:os';
import { resolve } from 'node:path';
import { ConfigError, hostPort, mergeConfig, readConfigFile, validateConfig, z } from '@flowhound/runtime';
import { DEFAULT_REPLICATION_PATH } from '@flowhound/store';
import { ingestConfigSchema } from '@flowhound/svc-ingest';
import { registryConfigSchema } from '@flowhound/svc-template-registry';
import { stitcherConfigSchema } from '@flowhound/svc-stitcher';
import { enrichmentConfigSchema } from '@flowhound/svc-enrichment';
import { detectorConfigSchema } from '@flowhound/svc-detector';
import { writerConfigSchema } from '@flowhound/svc-writer';
import { queryConfigSchema } from '@flowhound/svc-query';

/** Every service's config, under its name, plus what processes share. */
export const processConfigSchema = z
  .object({
    /** Embedded ClickHouse (chDB) data folder when no ClickHouse URL is set. */
    dataDir: z.string().min(1).default('./data'),
    nats: z
      .object({
        /** NATS server URL(s), comma-separated; empty = in-memory bus (one process only). */
        url: z.string().default(''),
        maxAgeMs: z.number().int().min(60_000).default(24 * 3600 * 1000),
        maxBytes: z.number().int().min(1 << 20).default(10 * 1024 * 1024 * 1024),
        ackWaitMs: z.number().int().min(1000).default(60_000),
      })
      .strict()
      .default({ url: '', maxAgeMs: 24 * 3600 * 1000, maxBytes: 10 * 1024 * 1024 * 1024, ackWaitMs: 60_000 }),
    clickhouse: z
      .object({
        /** ClickHouse HTTP URL, e.g. http://clickhouse:8123; empty = embedded chDB in dataDir. */
        url: z.string().default(''),
        database: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'a plain identifier').default('flowhound'),
        username: z.string().default('default'),
        password: z.string().default(''),
        /**
         * Cluster name (the server's remote_servers) to create tables on;
         * '' for a single server. On a cluster: ON CLUSTER DDL,
         * Replicated*MergeTree <table>_local tables, Distributed tables
         * under the plain names (docs/storage.md). Needs url.
         */
        cluster: z.string().regex(/^([A-Za-z_][A-Za-z0-9_-]*)?$/, 'a cluster name from remote_servers, or empty').default(''),
        /** Keeper path of each replicated table; {table} is the table's name, {shard} and {database} are server macros. */
        replicationPath: z.string().includes('{table}', { message: 'must contain {table}, or every table would share one path' }).default(DEFAULT_REPLICATION_PATH),
      })
      .strict()
      .default({ url: '', database: 'flowhound', username: 'default', password: '', cluster: '', replicationPath: DEFAULT_REPLICATION_PATH }),
    /** gRPC listen address of this process (query, template registry). */
    grpc: z.object({ listen: hostPort.default('127.0.0.1:50051') }).strict().default({ listen: '127.0.0.1:50051' }),
    /** Prometheus endpoint; empty string for none. */
    metrics: z.object({ listen: z.union([hostPort, z.literal('')]).default('127.0.0.1:9464') }).strict().default({ listen: '127.0.0.1:9464' }),
    log: z
      .object({
        level: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info'),
        /** json lines, pretty for people, or auto: pretty on a terminal, json otherwise. */
        format: z.enum(['json', 'pretty', 'auto']).default('auto'),
      })
      .strict()
      .default({ level: 'info', format: 'auto' }),
    /**
     * Nice value for every thread but ingest's decoding threads when they
     * exist (ingest.workers > 1), so that storage work never starves the
     * socket readers (see priority.ts); 0 turns it off.
     */
    storageNice: z.number().int().min(0).max(19).default(10),
    /**
     * How long each component may take to stop (ingest flushes, consumers
     * drain the in-memory bus, the writer stores what it holds) before the
     * next one is stopped anyway.
     */
    shutdownGraceMs: z.number().int().min(1000).max(600_000).default(60_000),
    ingest: ingestConfigSchema.default(ingestConfigSchema.parse({})),
    'template-registry': registryConfigSchema.default(registryConfigSchema.parse({})),
    stitcher: stitcherConfigSchema.default(stitcherConfigSchema.parse({})),
    enrichment: enrichmentConfigSchema.default(enrichmentConfigSchema.parse({})),
    detector: detectorConfigSchema.default(detectorConfigSchema.parse({})),
    writer: writerConfigSchema.default(writerConfigSchema.parse({})),
    query: queryConfigSchema.default(queryConfigSchema.parse({})),
  })
  .strict();

export type ProcessConfig = z.output<typeof processConfigSchema>;

/** Environment variables that override the file (documented in docs/configuration.md). */
const ENV: [string, string[]][] = [
  ['FLOWHOUND_DATA_DIR', ['dataDir']],
  ['FLOWHOUND_NATS_URL', ['nats', 'url']],
  ['FLOWHOUND_CLICKHOUSE_URL', ['clickhouse', 'url']],
  ['FLOWHOUND_CLICKHOUSE_DATABASE', ['clickhouse', 'database']],
  ['FLOWHOUND_CLICKHOUSE_USER', ['clickhouse', 'username']],
  ['FLOWHOUND_CLICKHOUSE_PASSWORD', ['clickhouse', 'password']],
  ['FLOWHOUND_CLICKHOUSE_CLUSTER', ['clickhouse', 'cluster']],
  ['FLOWHOUND_GRPC_LISTEN', ['grpc', 'listen']],
  ['FLOWHOUND_METRICS_LISTEN', ['metrics', 'listen']],
  ['FLOWHOUND_LOG_LEVEL', ['log', 'level']],
  ['FLOWHOUND_LOG_FORMAT', ['log', 'format']],
  ['FLOWHOUND_INGEST_LISTEN', ['ingest', 'listen']],
  ['FLOWHOUND_INGEST_REPLICA_ID', ['ingest', 'replicaId']],
  ['FLOWHOUND_INGEST_LISTEN_TCP', ['ingest', 'listenTcp']],
  ['FLOWHOUND_INGEST_WORKERS', ['ingest', 'workers']],
  ['FLOWHOUND_INGEST_ALLOW', ['ingest', 'allow']],
  ['FLOWHOUND_STORAGE_NICE', ['storageNice']],
];

/** Settings whose environment value is a comma-separated list ('' is the empty list). */
const ENV_LISTS = new Set(['ingest.listen', 'ingest.listenTcp', 'ingest.allow']);
/** Settings whose environment value is a number (a bad one is named by validation). */
const ENV_NUMBERS = new Set(['ingest.workers', 'storageNice']);

function envValue(path: string[], v: string): unknown {
  const key = path.join('.');
  if (ENV_LISTS.has(key)) return v.trim() === '' ? [] : v.split(',').map((x) => x.trim());
  if (ENV_NUMBERS.has(key) && /^\d+$/.test(v.trim())) return Number(v);
  return v;
}

function setPath(o: Record<string, unknown>, path: string[], v: unknown): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  let cur = out;
  for (let i = 0; i < path.length - 1; i++) cur = cur[path[i]] = {} as Record<string, unknown>;
  cur[path[path.length - 1]] = v;
  return mergeConfig(o, out);
}

export interface LoadOptions {
  readonly file?: string;
  readonly env?: Record<string, string | undefined>;
  /** Flags given on the command line win over file and environment. */
  readonly overrides?: Record<string, unknown>;
}

/** Decoding threads when the configuration does not say: one per core, 1 to 4 (1 = the main thread). */
export function defaultWorkers(): number {
  const n = availableParallelism();
  return n < 2 ? 1 : Math.min(4, n);
}

/** File, then environment, then flags; validated once and frozen. */
export function loadProcessConfig(o: LoadOptions = {}): Readonly<ProcessConfig> {
  let raw: Record<string, unknown> = o.file ? readConfigFile(o.file) : {};
  const env = o.env ?? process.env;
  for (const [name, path] of ENV) {
    const v = env[name];
    if (v === undefined) continue;
    raw = setPath(raw, path, envValue(path, v));
  }
  if (o.overrides) raw = mergeConfig(raw, o.overrides);
  // Unless told otherwise, a flowhound process decodes on worker threads
  // when the machine has cores for them: the socket readers then never wait
  // for the main thread's bus and storage work (see priority.ts). One core:
  // the main thread decodes.
  if ((raw.ingest as Record<string, unknown> | undefined)?.workers === undefined) raw = setPath(raw, ['ingest', 'workers'], defaultWorkers());
  const cfg = validateConfig(processConfigSchema, raw, 'flowhound');
  if (cfg.clickhouse.cluster && !cfg.clickhouse.url) {
    throw new ConfigError(`flowhound: clickhouse.cluster is '${cfg.clickhouse.cluster}' but clickhouse.url is empty: a cluster needs a ClickHouse server (set clickhouse.url to one of its nodes); embedded chDB is a single server`);
  }
  return Object.freeze({ ...cfg, dataDir: resolve(cfg.dataDir) });
}
