import { describe, expect, it } from 'vitest';
import { FMT_ACL, FMT_APPID, FMT_MAC, FMT_TEXT, StringCache, formatAcl, formatAppId, formatMac, formatText } from './strings.ts';

const bytes = (...xs: number[]) => Uint8Array.from(xs);

describe('text formats of str columns', () => {
  it('writes application ids as engine:selector, with the PEN for engine 20 (PANA-L7-PEN)', () => {
    // NBAR2 (engine 13, 3-octet selector) as tshark shows "13" / "00:01:df".
    expect(formatAppId(bytes(13, 0, 1, 0xdf), 0, 4)).toBe('13:479');
    // FortiOS 5.4: engine 20, PEN 12356 (Fortinet), selector 36660.
    expect(formatAppId(bytes(0x14, 0, 0, 0x30, 0x44, 0, 0, 0x8f, 0x34), 0, 9)).toBe('20:12356:36660');
    expect(formatAppId(bytes(3, 0, 0, 0, 0, 0, 0, 0, 0x50), 0, 9)).toBe('3:0x0000000000000050');
    expect(formatAppId(bytes(1), 0, 1)).toBe('1:0');
  });

  it('writes NSEL ACL ids as three hex words, and no ACL as empty', () => {
    // tshark: ingress_acl_id 0f:8e:7f:f3:fc:1a:03:0f:00:00:00:00
    expect(formatAcl(bytes(0x0f, 0x8e, 0x7f, 0xf3, 0xfc, 0x1a, 0x03, 0x0f, 0, 0, 0, 0), 0, 12)).toBe('0f8e7ff3-fc1a030f-00000000');
    expect(formatAcl(new Uint8Array(12), 0, 12)).toBe('');
    expect(formatAcl(bytes(1, 2), 0, 2)).toBe('0102');
  });

  it('writes MAC addresses with colons and drops the NUL padding of fixed-length text', () => {
    expect(formatMac(bytes(0x90, 0xe2, 0xba, 0x23, 0x09, 0xfc), 0)).toBe('90:e2:ba:23:09:fc');
    expect(formatText(bytes(0x6b, 0x65, 0x72, 0, 0, 0), 0, 6)).toBe('ker');
    expect(formatText(bytes(0, 0), 0, 2)).toBe('');
    expect(formatText(new TextEncoder().encode('café'), 0, 5)).toBe('café');
  });
});

describe('StringCache', () => {
  it('hands out the same string for the same bytes, so records allocate no text they repeat', () => {
    const c = new StringCache();
    const b = bytes(0xaa, 0x90, 0xe2, 0xba, 0x23, 0x09, 0xfc, 0xbb);
    const a1 = c.get(b, 1, 6, FMT_MAC);
    const a2 = c.get(b.slice(), 1, 6, FMT_MAC);
    expect(a1).toBe('90:e2:ba:23:09:fc');
    expect(a2).toBe(a1);
    expect(c.hits).toBe(1);
    expect(c.misses).toBe(1);
  });

  it('keeps formats apart for the same bytes and formats long values without caching them', () => {
    const c = new StringCache();
    const b = bytes(13, 0, 1, 0xdf);
    expect(c.get(b, 0, 4, FMT_APPID)).toBe('13:479');
    expect(c.get(b, 0, 4, FMT_ACL)).toBe('0d0001df');
    expect(c.get(b, 0, 4, FMT_APPID)).toBe('13:479');
    const url = new TextEncoder().encode(`/${'x'.repeat(100)}`);
    expect(c.get(url, 0, url.length, FMT_TEXT)).toBe(`/${'x'.repeat(100)}`);
    expect(c.get(b, 0, 0, FMT_TEXT)).toBe('');
  });

  it('survives slot collisions: a different value in the same slot is formatted again', () => {
    const c = new StringCache();
    let wrong = 0;
    for (let round = 0; round < 2; round++) {
      for (let i = 0; i < 20000; i++) {
        const b = bytes(i & 255, (i >> 8) & 255, 7, 7, 7, 7);
        if (c.get(b, 0, 6, FMT_MAC) !== formatMac(b, 0)) wrong++;
      }
    }
    expect(wrong).toBe(0);
    expect(c.hits).toBeGreaterThan(0);
  });
});
