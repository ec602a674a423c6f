import { validateConfig, z } from '@flowhound/runtime';
import { RETENTION_TABLES } from '@flowhound/schema';

export const writerConfigSchema = z
  .object({
    /** Durable consumer names: replicas with the same names share the work. */
    flowsDurable: z.string().min(1).default('writer-flows'),
    conversationsDurable: z.string().min(1).default('writer-conversations'),
    /**
     * Bus messages held unacknowledged per stream: the rows being inserted
     * plus the next insert filling up. When it is reached the bus stops
     * delivering (back-pressure) and holds the rest.
     */
    maxInFlight: z.number().int().min(1).max(8192).default(512),
    /**
     * Rows per INSERT. ClickHouse wants few large inserts (each makes a part
     * that merges later): 100k+ rows an insert is what lets chDB store ~1M
     * rows/s; small ones are mostly overhead.
     */
    batchRows: z.number().int().min(1).max(1_000_000).default(131_072),
    /** An insert goes out at the latest this long after its first row arrived. */
    flushMs: z.number().int().min(10).max(60_000).default(1000),
    /** Longest wait between attempts while ClickHouse fails (doubling from 250 ms). */
    maxBackoffMs: z.number().int().min(100).max(600_000).default(30_000),
    /**
     * Retention in days per table (any stored table, rollups included);
     * defaults come from packages/schema. Every process that migrates
     * applies it (standalone passes it to the store), so give the writer
     * and query processes the same value; see docs/storage.md.
     */
    ttlDays: z
      .record(z.string(), z.number().int().min(1).max(36500))
      .superRefine((m, ctx) => {
        for (const t of Object.keys(m)) {
          if (!RETENTION_TABLES.includes(t)) ctx.addIssue({ code: 'custom', path: [t], message: `no table ${t}; tables are: ${RETENTION_TABLES.join(', ')}` });
        }
      })
      .default({}),
  })
  .strict();

export type WriterConfig = z.output<typeof writerConfigSchema>;

export function defaultConfig(): WriterConfig {
  return writerConfigSchema.parse({});
}

export function loadConfig(raw: unknown): Readonly<WriterConfig> {
  return validateConfig(writerConfigSchema, raw, 'writer');
}
