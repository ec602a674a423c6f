import { describe, expect, it } from 'vitest';
import { FLOW_COLUMNS } from '@flowhound/schema';
import { FilterError } from './errors.ts';
import { cidrRange, compileFilter } from './filter.ts';

const c = (s: string) => compileFilter(s, FLOW_COLUMNS);

describe('flow filter', () => {
  it('an empty filter matches everything', () => {
    expect(c('  ')).toEqual({ sql: '1', params: {} });
  });

  it('binds every value as a parameter, never as SQL text', () => {
    const f = c("dst_port = 443 and src_addr = 10.1.2.3");
    expect(f.sql).toBe('(`dst_port` = {f0:UInt32} AND `src_addr` = {f1:IPv6})');
    expect(f.params).toEqual({ f0: 443, f1: '0:0:0:0:0:ffff:a01:203' });
  });

  it('turns a network into an address range of IPv4-mapped addresses', () => {
    const f = c('src_addr in 10.1.0.0/16');
    expect(f.sql).toBe('`src_addr` BETWEEN {f0:IPv6} AND {f1:IPv6}');
    expect(f.params).toEqual({ f0: '0:0:0:0:0:ffff:a01:0', f1: '0:0:0:0:0:ffff:a01:ffff' });
    expect(cidrRange('2001:db8::/32', () => { throw new Error('bad'); })).toEqual(['2001:db8:0:0:0:0:0:0', '2001:db8:ffff:ffff:ffff:ffff:ffff:ffff']);
  });

  it('knows host, port and proto shorthands and operator precedence', () => {
    const f = c('host 192.0.2.7 or port 53 and not proto udp');
    expect(f.sql).toBe(
      '((`src_addr` = {f0:IPv6} OR `dst_addr` = {f1:IPv6}) OR ((`src_port` = {f2:UInt32} OR `dst_port` = {f3:UInt32}) AND (NOT `protocol` = {f4:UInt32})))',
    );
    expect(f.params.f4).toBe(17);
  });

  it('names the position of an unknown field', () => {
    try {
      c('dst_port = 80 and colour = red');
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(FilterError);
      expect((err as FilterError).position).toBe(18);
      expect((err as Error).message).toMatch(/position 19: unknown field 'colour'/);
    }
  });

  it('refuses malformed values, unbalanced parentheses and SQL', () => {
    expect(() => c('dst_port = 70000')).toThrow(/out of range/);
    expect(() => c('src_addr = 10.1.2')).toThrow(/not an IP address/);
    expect(() => c('(dst_port = 1')).toThrow(/expected '\)'/);
    expect(() => c("dst_port = 1; DROP TABLE flows")).toThrow(FilterError);
    expect(() => c('dst_port =')).toThrow(/expected a value/);
  });
});
