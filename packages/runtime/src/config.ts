import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { ConfigError } from './errors.ts';

export { z };

/** Reads a YAML (or JSON, which is YAML) config file into a plain object. */
export function readConfigFile(path: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(`cannot read config file ${path}: ${(err as Error).message}`, { cause: err });
  }
  let obj: unknown;
  try {
    obj = parseYaml(text);
  } catch (err) {
    throw new ConfigError(`config file ${path} is not valid YAML: ${(err as Error).message}`, { cause: err });
  }
  if (obj === null || obj === undefined) return {};
  if (typeof obj !== 'object' || Array.isArray(obj)) throw new ConfigError(`config file ${path} must hold a mapping at the top level`);
  return obj as Record<string, unknown>;
}

function deepFreeze<T>(o: T): T {
  if (o && typeof o === 'object' && !Object.isFrozen(o)) {
    Object.freeze(o);
    for (const v of Object.values(o)) deepFreeze(v);
  }
  return o;
}

/**
 * Validates a config once, at start, and freezes it: no component ever
 * sees an unchecked value. Errors name every bad key.
 */
export function validateConfig<S extends z.ZodType>(schema: S, raw: unknown, what: string): Readonly<z.output<S>> {
  const r = schema.safeParse(raw ?? {});
  if (!r.success) throw new ConfigError(`invalid ${what} configuration:\n${z.prettifyError(r.error)}`, { cause: r.error });
  return deepFreeze(r.data);
}

/** Merges b over a, recursively for plain objects. */
export function mergeConfig(a: Record<string, unknown>, b: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...a };
  for (const [k, v] of Object.entries(b)) {
    if (v === undefined) continue;
    const prev = out[k];
    if (prev && v && typeof prev === 'object' && typeof v === 'object' && !Array.isArray(prev) && !Array.isArray(v)) {
      out[k] = mergeConfig(prev as Record<string, unknown>, v as Record<string, unknown>);
    } else {
      out[k] = v;
    }
  }
  return out;
}

/** host:port with a port in range; used by listeners and servers. */
export const hostPort = z.string().regex(/^(\[[0-9a-fA-F:.]+\]|[^:\s]+):\d{1,5}$/, 'expected host:port, e.g. 0.0.0.0:2055');

export function splitHostPort(s: string): { host: string; port: number } {
  const i = s.lastIndexOf(':');
  let host = s.slice(0, i);
  if (host.startsWith('[')) host = host.slice(1, -1);
  const port = Number(s.slice(i + 1));
  if (!(port >= 0 && port <= 65535)) throw new ConfigError(`port out of range in ${s}`);
  return { host, port };
}

/** Duration like "500ms", "30s", "5m", "2h", "7d" or a number of ms. */
export const duration = z.union([
  z.number().int().nonnegative(),
  z.string().regex(/^\d+(ms|s|m|h|d)$/, 'expected a duration like 500ms, 30s, 5m, 2h or 7d').transform(parseDuration),
]);

export function parseDuration(s: string): number {
  const m = /^(\d+)(ms|s|m|h|d)$/.exec(s);
  if (!m) throw new ConfigError(`not a duration: ${s}`);
  const n = Number(m[1]);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] as 'ms' | 's' | 'm' | 'h' | 'd'];
  return n * unit;
}
