import { hostname } from 'node:os';
import { hostPort, validateConfig, z } from '@flowhound/runtime';

export const ingestConfigSchema = z
  .object({
    /** UDP listen addresses; any version on any port, told apart by the header. */
    listen: z.array(hostPort).min(1).default(['0.0.0.0:2055', '0.0.0.0:4739']),
    /** Kernel receive buffer per socket (bytes); bursts wait here. */
    receiveBufferBytes: z.number().int().min(65536).default(16 * 1024 * 1024),
    /** Rows per bus message: tens of KB, since JetStream costs per message. */
    batchRows: z.number().int().min(1).max(65536).default(512),
    /** A partial batch is published after this long (ms). */
    flushIntervalMs: z.number().int().min(10).max(60_000).default(500),
    /** Bytes of batches waiting for the bus before new batches are dropped (and counted). */
    maxPendingBytes: z.number().int().min(1 << 20).default(256 * 1024 * 1024),
    /** Data sets held while their template is unknown. */
    holdMaxSets: z.number().int().min(0).default(10_000),
    holdMaxBytes: z.number().int().min(0).default(64 * 1024 * 1024),
    holdMaxAgeMs: z.number().int().min(0).default(30_000),
    /** Unique name of this replica; goes into batch ids and template records. */
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
