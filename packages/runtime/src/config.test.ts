import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { duration, hostPort, mergeConfig, parseDuration, readConfigFile, splitHostPort, validateConfig, z } from './config.ts';
import { ConfigError } from './errors.ts';

describe('config', () => {
  const schema = z.object({ listen: hostPort.default('0.0.0.0:2055'), every: duration.default(1000), nested: z.object({ n: z.number().int().min(1).default(3) }).strict().default({ n: 3 }) }).strict();

  it('fills defaults, validates once and freezes', () => {
    const c = validateConfig(schema, { every: '5m' }, 'test');
    expect(c).toEqual({ listen: '0.0.0.0:2055', every: 300_000, nested: { n: 3 } });
    expect(Object.isFrozen(c.nested)).toBe(true);
  });

  it('names every bad key and refuses unknown ones', () => {
    expect(() => validateConfig(schema, { listen: 'nope', nested: { n: 0 }, colour: 'red' }, 'test')).toThrow(ConfigError);
    try {
      validateConfig(schema, { listen: 'nope', nested: { n: 0 } }, 'test');
    } catch (err) {
      expect((err as Error).message).toMatch(/listen/);
      expect((err as Error).message).toMatch(/nested\.n/);
    }
  });

  it('reads YAML files and says which file is broken', () => {
    const dir = mkdtempSync(join(tmpdir(), 'fh-cfg-'));
    writeFileSync(join(dir, 'ok.yaml'), 'ingest:\n  listen: [127.0.0.1:2055]\n');
    writeFileSync(join(dir, 'bad.yaml'), 'ingest: [\n');
    expect(readConfigFile(join(dir, 'ok.yaml'))).toEqual({ ingest: { listen: ['127.0.0.1:2055'] } });
    expect(() => readConfigFile(join(dir, 'bad.yaml'))).toThrow(/bad\.yaml is not valid YAML/);
    expect(() => readConfigFile(join(dir, 'missing.yaml'))).toThrow(/cannot read config file/);
  });

  it('merges deeply and parses durations and addresses', () => {
    expect(mergeConfig({ a: { b: 1, c: 2 } }, { a: { c: 3 } })).toEqual({ a: { b: 1, c: 3 } });
    expect(parseDuration('2h')).toBe(7_200_000);
    expect(splitHostPort('[::1]:50051')).toEqual({ host: '::1', port: 50051 });
  });
});
