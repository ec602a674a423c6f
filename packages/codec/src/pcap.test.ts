import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CaptureFormatError } from './errors.ts';
import {
  CaptureStats,
  LINKTYPE_ETHERNET,
  LINKTYPE_LINUX_SLL,
  LINKTYPE_LINUX_SLL2,
  LINKTYPE_NULL,
  LINKTYPE_RAW,
  captureFormat,
  readCapture,
  readDatFile,
  readPcap,
  readPcapng,
  type UdpDatagram,
} from './pcap.ts';
import { fixture, hasTshark } from './test-util.ts';

// --- frame builders -----------------------------------------------------------

const payload = new Uint8Array([0, 10, 0, 16, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);

function udp(sport: number, dport: number, data: Uint8Array): Uint8Array {
  const u = new Uint8Array(8 + data.length);
  const v = new DataView(u.buffer);
  v.setUint16(0, sport);
  v.setUint16(2, dport);
  v.setUint16(4, u.length);
  u.set(data, 8);
  return u;
}

function ipv4(l4: Uint8Array, opts: { proto?: number; fragOffset?: number; more?: boolean } = {}): Uint8Array {
  const p = new Uint8Array(20 + l4.length);
  const v = new DataView(p.buffer);
  p[0] = 0x45;
  v.setUint16(2, p.length);
  v.setUint16(6, ((opts.more ? 1 : 0) << 13) | (opts.fragOffset ?? 0));
  p[8] = 64;
  p[9] = opts.proto ?? 17;
  p.set([192, 0, 2, 10, 198, 51, 100, 20], 12);
  p.set(l4, 20);
  return p;
}

function ipv6(l4: Uint8Array, hopByHop = false): Uint8Array {
  const ext = hopByHop ? new Uint8Array([17, 0, 1, 4, 0, 0, 0, 0]) : new Uint8Array(0);
  const p = new Uint8Array(40 + ext.length + l4.length);
  const v = new DataView(p.buffer);
  p[0] = 0x60;
  v.setUint16(4, ext.length + l4.length);
  p[6] = hopByHop ? 0 : 17;
  p[7] = 64;
  p.set([0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1], 8);
  p.set([0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2], 24);
  p.set(ext, 40);
  p.set(l4, 40 + ext.length);
  return p;
}

function eth(ethertype: number, ip: Uint8Array, vlans: number[] = []): Uint8Array {
  const f = new Uint8Array(14 + 4 * vlans.length + ip.length);
  const v = new DataView(f.buffer);
  let o = 12;
  for (const [i, id] of vlans.entries()) {
    v.setUint16(o, i === 0 && vlans.length > 1 ? 0x88a8 : 0x8100);
    v.setUint16(o + 2, id);
    o += 4;
  }
  v.setUint16(o, ethertype);
  f.set(ip, o + 2);
  return f;
}

function sll(ethertype: number, ip: Uint8Array): Uint8Array {
  const f = new Uint8Array(16 + ip.length);
  new DataView(f.buffer).setUint16(14, ethertype);
  f.set(ip, 16);
  return f;
}

function sll2(ethertype: number, ip: Uint8Array): Uint8Array {
  const f = new Uint8Array(20 + ip.length);
  new DataView(f.buffer).setUint16(0, ethertype);
  f.set(ip, 20);
  return f;
}

function nullLoop(family: number, ip: Uint8Array): Uint8Array {
  const f = new Uint8Array(4 + ip.length);
  new DataView(f.buffer).setUint32(0, family, true);
  f.set(ip, 4);
  return f;
}

function pcap(link: number, frames: Uint8Array[], opts: { le?: boolean; nanos?: boolean } = {}): Uint8Array {
  const le = opts.le ?? true;
  const parts: Uint8Array[] = [];
  const h = new DataView(new ArrayBuffer(24));
  h.setUint32(0, opts.nanos ? 0xa1b23c4d : 0xa1b2c3d4, le);
  h.setUint16(4, 2, le);
  h.setUint16(6, 4, le);
  h.setUint32(16, 65535, le);
  h.setUint32(20, link, le);
  parts.push(new Uint8Array(h.buffer));
  frames.forEach((f, i) => {
    const r = new DataView(new ArrayBuffer(16));
    r.setUint32(0, 1700000000 + i, le);
    r.setUint32(4, opts.nanos ? 123456789 : 123456, le);
    r.setUint32(8, f.length, le);
    r.setUint32(12, f.length, le);
    parts.push(new Uint8Array(r.buffer), f);
  });
  return Buffer.concat(parts);
}

function block(type: number, body: Uint8Array, le: boolean): Uint8Array {
  const len = 12 + ((body.length + 3) & ~3);
  const b = new Uint8Array(len);
  const v = new DataView(b.buffer);
  v.setUint32(0, type, le);
  v.setUint32(4, len, le);
  b.set(body, 8);
  v.setUint32(len - 4, len, le);
  return b;
}

/** A pcapng section: SHB, one IDB with if_tsresol 9 (ns), then EPBs and an SPB. */
function pcapng(link: number, frames: Uint8Array[], le: boolean): Uint8Array {
  const shb = new Uint8Array(16);
  const sv = new DataView(shb.buffer);
  sv.setUint32(0, 0x1a2b3c4d, le);
  sv.setUint16(4, 1, le);
  sv.setBigInt64(8, -1n, le);
  const idb = new Uint8Array(8 + 8 + 4);
  const iv = new DataView(idb.buffer);
  iv.setUint16(0, link, le);
  iv.setUint32(4, 0, le);
  iv.setUint16(8, 9, le); // if_tsresol
  iv.setUint16(10, 1, le);
  idb[12] = 9;
  const blocks = [block(0x0a0d0d0a, shb, le), block(1, idb, le)];
  frames.forEach((f, i) => {
    const epb = new Uint8Array(20 + f.length);
    const ev = new DataView(epb.buffer);
    const ns = BigInt(1700000000 + i) * 1_000_000_000n + 250_000_000n;
    ev.setUint32(4, Number(ns >> 32n), le);
    ev.setUint32(8, Number(ns & 0xffffffffn), le);
    ev.setUint32(12, f.length, le);
    ev.setUint32(16, f.length, le);
    epb.set(f, 20);
    blocks.push(block(6, epb, le));
  });
  const spb = new Uint8Array(4 + frames[0].length);
  new DataView(spb.buffer).setUint32(0, frames[0].length, le);
  spb.set(frames[0], 4);
  blocks.push(block(3, spb, le));
  return Buffer.concat(blocks);
}

const all = (it: Iterable<UdpDatagram>) => [...it];

describe('classic pcap', () => {
  it('reads Ethernet frames (with 802.1Q and QinQ tags) in either byte order and with µs or ns times', () => {
    const frames = [eth(0x0800, ipv4(udp(40000, 2055, payload))), eth(0x0800, ipv4(udp(40001, 2055, payload)), [100]), eth(0x86dd, ipv6(udp(40002, 4739, payload)), [10, 20])];
    for (const opts of [{ le: true }, { le: false }, { le: true, nanos: true }, { le: false, nanos: true }]) {
      const d = all(readPcap(pcap(LINKTYPE_ETHERNET, frames, opts)));
      expect(d.map((x) => x.srcPort)).toEqual([40000, 40001, 40002]);
      expect(d[0]).toMatchObject({ srcAddr: '192.0.2.10', dstAddr: '198.51.100.20', dstPort: 2055, tsMs: 1700000000123 });
      expect(d[2]).toMatchObject({ srcAddr: '2001:db8::1', dstAddr: '2001:db8::2', dstPort: 4739, tsMs: 1700000002123 });
      expect([...d[1].payload]).toEqual([...payload]);
    }
  });

  it('reads Linux cooked (SLL, SLL2), raw IP and BSD loopback link types', () => {
    const v4 = ipv4(udp(1, 2, payload));
    const v6 = ipv6(udp(3, 4, payload), true);
    const cases: [number, Uint8Array[]][] = [
      [LINKTYPE_LINUX_SLL, [sll(0x0800, v4), sll(0x86dd, v6)]],
      [LINKTYPE_LINUX_SLL2, [sll2(0x0800, v4), sll2(0x86dd, v6)]],
      [LINKTYPE_RAW, [v4, v6]],
      [LINKTYPE_NULL, [nullLoop(2, v4), nullLoop(30, v6)]],
    ];
    for (const [link, frames] of cases) {
      const d = all(readPcap(pcap(link, frames)));
      expect(d.map((x) => [x.srcAddr, x.srcPort, x.dstPort]), `link ${link}`).toEqual([
        ['192.0.2.10', 1, 2],
        ['2001:db8::1', 3, 4],
      ]);
      expect([...d[1].payload]).toEqual([...payload]);
    }
  });

  it('skips and counts non-first fragments, other protocols and unknown link types', () => {
    const stats = new CaptureStats();
    const frames = [
      eth(0x0800, ipv4(udp(5, 6, payload), { more: true })),
      eth(0x0800, ipv4(new Uint8Array(24), { fragOffset: 3 })),
      eth(0x0800, ipv4(new Uint8Array(20), { proto: 6 })),
      eth(0x0806, new Uint8Array(28)),
    ];
    const d = all(readPcap(pcap(LINKTYPE_ETHERNET, frames), stats));
    expect(d.map((x) => x.srcPort)).toEqual([5]);
    expect(stats).toMatchObject({ frames: 4, udp: 1, fragments: 1, otherTraffic: 2 });
    const other = new CaptureStats();
    expect(all(readPcap(pcap(147, frames), other))).toHaveLength(0);
    expect(other.unsupportedLink).toBe(4);
  });

  it('stops at a record cut short and counts it', () => {
    const p = pcap(LINKTYPE_ETHERNET, [eth(0x0800, ipv4(udp(1, 2, payload))), eth(0x0800, ipv4(udp(3, 4, payload)))]);
    const stats = new CaptureStats();
    expect(all(readPcap(p.subarray(0, p.length - 10), stats))).toHaveLength(1);
    expect(stats.truncated).toBe(1);
  });

  it('refuses bytes that are not a pcap file', () => {
    expect(() => all(readPcap(new Uint8Array(30)))).toThrow(CaptureFormatError);
  });
});

describe('pcapng', () => {
  it('reads a capture written by dumpcap (SHB, IDB, EPB, ISB)', () => {
    const d = all(readPcapng(fixture('softflowd-v9.pcapng')));
    expect(d).toHaveLength(1);
    expect(d[0]).toMatchObject({ srcAddr: '127.0.0.1', dstAddr: '127.0.0.1', dstPort: 39021 });
    expect(Buffer.from(d[0].payload).equals(Buffer.from(fixture('softflowd-v9.dat')))).toBe(true);
  });

  it('reads enhanced and simple packet blocks in either byte order with nanosecond resolution', () => {
    const frames = [eth(0x0800, ipv4(udp(7, 8, payload))), eth(0x86dd, ipv6(udp(9, 10, payload)))];
    for (const le of [true, false]) {
      const d = all(readPcapng(pcapng(LINKTYPE_ETHERNET, frames, le)));
      expect(d.map((x) => [x.srcPort, x.tsMs])).toEqual([
        [7, 1700000000250],
        [9, 1700000001250],
        [7, 0],
      ]);
    }
  });
});

describe('format detection', () => {
  it('tells pcap, pcapng and raw .dat payloads apart', () => {
    expect(captureFormat(fixture('softflowd-input.pcap'))).toBe('pcap');
    expect(captureFormat(fixture('softflowd-v9.pcapng'))).toBe('pcapng');
    const dat = fixture('softflowd-v9.dat');
    expect(captureFormat(dat)).toBe('raw');
    const d = all(readCapture(dat));
    expect(d).toHaveLength(1);
    expect(d[0].payload).toBe(dat);
    expect(readDatFile(dat, { srcAddr: '192.0.2.9', dstPort: 4739 })).toMatchObject({ srcAddr: '192.0.2.9', dstPort: 4739, payload: dat });
  });

  it('reads the TCP-and-UDP capture softflowd was fed, yielding only its UDP datagrams', () => {
    const stats = new CaptureStats();
    const d = all(readCapture(fixture('softflowd-input.pcap'), stats));
    expect(d.map((x) => `${x.srcAddr}:${x.srcPort}`)).toEqual(['10.0.0.1:53000', '8.8.8.8:53']);
    expect(stats).toMatchObject({ frames: 14, udp: 2, otherTraffic: 12 });
  });
});

describe.skipIf(!hasTshark())('the test captures are real captures', () => {
  it('tshark reads the built pcap and pcapng files the same way', () => {
    const dir = mkdtempSync(join(tmpdir(), 'codec-pcap-'));
    const frames = [eth(0x0800, ipv4(udp(7, 8, payload)), [5]), eth(0x86dd, ipv6(udp(9, 10, payload), true))];
    const files: [string, Uint8Array][] = [
      ['be-ns.pcap', pcap(LINKTYPE_ETHERNET, frames, { le: false, nanos: true })],
      ['sll2.pcap', pcap(LINKTYPE_LINUX_SLL2, [sll2(0x0800, ipv4(udp(7, 8, payload))), sll2(0x86dd, ipv6(udp(9, 10, payload), true))])],
      ['be.pcapng', pcapng(LINKTYPE_ETHERNET, frames, false)],
    ];
    for (const [name, bytes] of files) {
      const path = join(dir, name);
      writeFileSync(path, bytes);
      const out = execFileSync('tshark', ['-r', path, '-T', 'fields', '-e', 'ip.src', '-e', 'ipv6.src', '-e', 'udp.srcport', '-e', 'udp.length'], { stdio: ['ignore', 'pipe', 'ignore'] })
        .toString()
        .trim()
        .split('\n')
        .map((l) => l.split('\t').filter(Boolean));
      const ours = all(readCapture(bytes)).map((x) => [x.srcAddr, String(x.srcPort), String(x.payload.length + 8)]);
      expect(ours, name).toEqual(out.slice(0, ours.length));
    }
  });
});
