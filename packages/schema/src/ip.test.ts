import { describe, expect, it } from 'vitest';
import { formatIp, parseIp } from './ip.ts';

describe('addresses', () => {
  it('formats IPv4-mapped as dotted quad and IPv6 per RFC 5952', () => {
    const b = new Uint8Array(16);
    for (const [text, want] of [
      ['192.0.2.1', '192.0.2.1'],
      ['2001:db8::1', '2001:db8::1'],
      ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
      ['::', '::'],
      ['fe80::1:2', 'fe80::1:2'],
      ['2001:db8:1:2:3:4:5:6', '2001:db8:1:2:3:4:5:6'],
      ['::ffff:10.0.0.1', '10.0.0.1'],
    ]) {
      expect(parseIp(text, b)).toBe(true);
      expect(formatIp(b)).toBe(want);
    }
  });

  it('rejects malformed addresses', () => {
    const b = new Uint8Array(16);
    for (const bad of ['10.0.0', '10.0.0.256', '1::2::3', 'g::1', '1.2.3.4.5', '']) expect(parseIp(bad, b)).toBe(false);
  });
});
