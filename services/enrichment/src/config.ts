import { validateConfig, z } from '@flowhound/runtime';

export const enrichmentConfigSchema = z
  .object({
    durable: z.string().min(1).default('enrichment'),
    maxInFlight: z.number().int().min(1).max(1024).default(16),
  })
  .strict();

export type EnrichmentConfig = z.output<typeof enrichmentConfigSchema>;

export function defaultConfig(): EnrichmentConfig {
  return enrichmentConfigSchema.parse({});
}

export function loadConfig(raw: unknown): Readonly<EnrichmentConfig> {
  return validateConfig(enrichmentConfigSchema, raw, 'enrichment');
}
