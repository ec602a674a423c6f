import { validateConfig, z } from '@flowhound/runtime';

export const stitcherConfigSchema = z
  .object({
    durable: z.string().min(1).default('stitcher'),
    maxInFlight: z.number().int().min(1).max(1024).default(16),
  })
  .strict();

export type StitcherConfig = z.output<typeof stitcherConfigSchema>;

export function defaultConfig(): StitcherConfig {
  return stitcherConfigSchema.parse({});
}

export function loadConfig(raw: unknown): Readonly<StitcherConfig> {
  return validateConfig(stitcherConfigSchema, raw, 'stitcher');
}
