import { validateConfig, z } from '@flowhound/runtime';

export const queryConfigSchema = z
  .object({
    /** Largest row count one search may ask for; larger requests are refused. */
    maxLimit: z.number().int().min(1).max(10_000_000).default(1_000_000),
    /** Rows per streamed chunk. */
    chunkRows: z.number().int().min(1).max(100_000).default(2000),
  })
  .strict();

export type QueryConfig = z.output<typeof queryConfigSchema>;

export function defaultConfig(): QueryConfig {
  return queryConfigSchema.parse({});
}

export function loadConfig(raw: unknown): Readonly<QueryConfig> {
  return validateConfig(queryConfigSchema, raw, 'query');
}
