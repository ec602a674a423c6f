import { validateConfig, z } from '@flowhound/runtime';

export const detectorConfigSchema = z
  .object({
    durable: z.string().min(1).default('detector'),
    maxInFlight: z.number().int().min(1).max(1024).default(16),
  })
  .strict();

export type DetectorConfig = z.output<typeof detectorConfigSchema>;

export function defaultConfig(): DetectorConfig {
  return detectorConfigSchema.parse({});
}

export function loadConfig(raw: unknown): Readonly<DetectorConfig> {
  return validateConfig(detectorConfigSchema, raw, 'detector');
}
