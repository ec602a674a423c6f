import { describe, expect, it } from 'vitest';
import { parseIp } from '@flowhound/schema';
import { Allowlist, parseCidr } from './allowlist.ts';
import { ingestConfigSchema } from './config.ts';

const ip = (s: string) => {
  const b = new Uint8Array(16);
  if (!parseIp(s, b)) throw new Error(s);
  return b;
};

describe('allowlist', () => {
  it('allows every exporter when empty', () => {
    const a = new Allowlist([]);
    expect(a.allowsAll).toBe(true);
    expect(a.allows(ip('203.0.113.9'))).toBe(true);
  });

  it('matches IPv4 networks, single addresses and IPv6 networks', () => {
    const a = new Allowlist(['192.0.2.0/24', '198.51.100.7', '2001:db8:10::/48', '10.0.0.0/8']);
    expect(a.allows(ip('192.0.2.200'))).toBe(true);
    expect(a.allows(ip('192.0.3.1'))).toBe(false);
    expect(a.allows(ip('198.51.100.7'))).toBe(true);
    expect(a.allows(ip('198.51.100.8'))).toBe(false);
    expect(a.allows(ip('10.255.1.1'))).toBe(true);
    expect(a.allows(ip('2001:db8:10:ffff::1'))).toBe(true);
    expect(a.allows(ip('2001:db8:11::1'))).toBe(false);
  });

  it('treats an IPv4 exporter on a dual-stack socket (::ffff:a.b.c.d) as IPv4', () => {
    const a = new Allowlist(['192.0.2.0/24']);
    expect(a.allows(ip('::ffff:192.0.2.1'))).toBe(true);
  });

  it('clears host bits and accepts prefixes that are not byte aligned', () => {
    expect(parseCidr('192.0.2.77/26').addr).toEqual(ip('192.0.2.64'));
    const a = new Allowlist(['172.16.0.0/12', '0.0.0.0/0']);
    expect(a.allows(ip('8.8.8.8'))).toBe(true);
    const b = new Allowlist(['172.16.0.0/12']);
    expect(b.allows(ip('172.31.255.255'))).toBe(true);
    expect(b.allows(ip('172.32.0.0'))).toBe(false);
    // 0.0.0.0/0 is every IPv4 address, not IPv6.
    expect(new Allowlist(['0.0.0.0/0']).allows(ip('2001:db8::1'))).toBe(false);
  });

  it('refuses a bad entry with a message naming it, at config validation', () => {
    expect(() => parseCidr('192.0.2.0/33')).toThrow(/'192.0.2.0\/33': the prefix length must be 0–32/);
    expect(() => parseCidr('exporter-1')).toThrow(/not an IPv4 or IPv6 address/);
    expect(() => ingestConfigSchema.parse({ allow: ['10.0.0.0/8', 'nope'] })).toThrow(/nope/);
  });
});
