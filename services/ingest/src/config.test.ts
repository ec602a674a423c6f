import { describe, expect, it } from 'vitest';
import { ConfigError } from '@flowhound/runtime';
import { loadConfig } from './config.ts';

describe('ingest configuration', () => {
  it('takes element mappings into existing columns', () => {
    const c = loadConfig({ elements: [{ enterprise: 9, id: 12235, column: 'http_host' }, { enterprise: 0, id: 40001, column: 'src_port' }] });
    expect(c.elements).toHaveLength(2);
  });

  it('refuses an enterprise element id above 32767 at load, naming the entry', () => {
    const load = () => loadConfig({ elements: [{ enterprise: 9, id: 12235, column: 'http_host' }, { enterprise: 9, id: 40000, column: 'http_host' }] });
    expect(load).toThrow(ConfigError);
    expect(load).toThrow(/enterprise 9, id 40000 → http_host.*0–32767[\s\S]*elements\[1\]/);
  });

  it('refuses an unknown column and a column the decoder fills, naming the entry', () => {
    expect(() => loadConfig({ elements: [{ enterprise: 9, id: 1, column: 'no_such_column' }] })).toThrow(/no column no_such_column[\s\S]*elements\[0\]/);
    expect(() => loadConfig({ elements: [{ enterprise: 9, id: 1, column: 'flow_version' }] })).toThrow(/flow_version is filled by the decoder[\s\S]*elements\[0\]/);
  });

  it('refuses the same element mapped twice', () => {
    expect(() =>
      loadConfig({
        elements: [
          { enterprise: 9, id: 1, column: 'http_host' },
          { enterprise: 9, id: 1, column: 'app_name' },
        ],
      }),
    ).toThrow(/enterprise 9, id 1 → app_name.*mapped twice[\s\S]*elements\[1\]/);
  });
});
