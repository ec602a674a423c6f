import { validateConfig, z } from '@flowhound/runtime';

export const writerConfigSchema = z
  .object({
    /** Durable consumer names: replicas with the same names share the work. */
    flowsDurable: z.string().min(1).default('writer-flows'),
    conversationsDurable: z.string().min(1).default('writer-conversations'),
    /** Bus messages inserted concurrently per stream. */
    maxInFlight: z.number().int().min(1).max(1024).default(8),
    /** Retention in days per table; defaults come from packages/schema. */
    ttlDays: z.record(z.string(), z.number().int().min(1)).default({}),
  })
  .strict();

export type WriterConfig = z.output<typeof writerConfigSchema>;

export function defaultConfig(): WriterConfig {
  return writerConfigSchema.parse({});
}

export function loadConfig(raw: unknown): Readonly<WriterConfig> {
  return validateConfig(writerConfigSchema, raw, 'writer');
}
