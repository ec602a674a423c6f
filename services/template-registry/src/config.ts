import { validateConfig, z } from '@flowhound/runtime';

export const registryConfigSchema = z
  .object({
    /** Templates not refreshed by their exporter for this long are dropped (ms). 0 keeps them. */
    expireAfterMs: z.number().int().min(0).default(7 * 24 * 3600 * 1000),
    /** How often expiry runs (ms). */
    sweepIntervalMs: z.number().int().min(1000).default(60_000),
    /** Exporter statistics a replica stopped updating for this long are dropped (ms); 0 keeps them. */
    exportersExpireAfterMs: z.number().int().min(0).default(7 * 24 * 3600 * 1000),
  })
  .strict();

export type RegistryConfig = z.output<typeof registryConfigSchema>;

export function defaultConfig(): RegistryConfig {
  return registryConfigSchema.parse({});
}

export function loadConfig(raw: unknown): Readonly<RegistryConfig> {
  return validateConfig(registryConfigSchema, raw, 'template-registry');
}
