// Reading UDP datagrams out of capture files (classic pcap and pcapng), for
// replaying captures through the decoder and for the decode command. Works
// on bytes the caller read; no I/O here. Not a hot path.

import { formatIp } from '@flowhound/schema';
import { CaptureFormatError } from './errors.ts';

export interface UdpDatagram {
  /** Capture time, ms since the epoch (0 when the capture has none, e.g. pcapng simple packets). */
  readonly tsMs: number;
  readonly srcAddr: string;
  readonly dstAddr: string;
  readonly srcPort: number;
  readonly dstPort: number;
  /** View into the capture's bytes (not a copy). */
  readonly payload: Uint8Array;
}

/** What the reader saw besides UDP datagrams. */
export class CaptureStats {
  frames = 0;
  udp = 0;
  /** IPv4/IPv6 fragments after the first, skipped (their UDP header is in the first). */
  fragments = 0;
  /** IP packets that are not UDP, and frames that are not IP. */
  otherTraffic = 0;
  /** Frames or IP packets cut short by the capture's snap length or a damaged file. */
  truncated = 0;
  /** Frames of a link type this reader does not know. */
  unsupportedLink = 0;
}

export const LINKTYPE_NULL = 0;
export const LINKTYPE_ETHERNET = 1;
export const LINKTYPE_RAW = 101;
export const LINKTYPE_LOOP = 108;
export const LINKTYPE_LINUX_SLL = 113;
export const LINKTYPE_IPV4 = 228;
export const LINKTYPE_IPV6 = 229;
export const LINKTYPE_LINUX_SLL2 = 276;

const PCAPNG_SHB = 0x0a0d0d0a;
const PCAPNG_BOM = 0x1a2b3c4d;

/** The kind of capture, from the first bytes. */
export function captureFormat(bytes: Uint8Array): 'pcap' | 'pcapng' | 'raw' {
  if (bytes.length >= 4) {
    const dv = view(bytes);
    const m = dv.getUint32(0, false);
    const ml = dv.getUint32(0, true);
    if (m === PCAPNG_SHB) return 'pcapng';
    if (m === 0xa1b2c3d4 || m === 0xa1b23c4d || ml === 0xa1b2c3d4 || ml === 0xa1b23c4d) return 'pcap';
  }
  return 'raw';
}

/** UDP datagrams of a pcap or pcapng capture; anything else is taken as one raw UDP payload (a `.dat` file). */
export function* readCapture(bytes: Uint8Array, stats: CaptureStats = new CaptureStats()): Generator<UdpDatagram> {
  const kind = captureFormat(bytes);
  if (kind === 'pcap') yield* readPcap(bytes, stats);
  else if (kind === 'pcapng') yield* readPcapng(bytes, stats);
  else yield readDatFile(bytes);
}

export interface DatOptions {
  readonly srcAddr?: string;
  readonly srcPort?: number;
  readonly dstPort?: number;
  readonly tsMs?: number;
}

/** A `.dat` file is one raw UDP payload, without any header; the addressing is whatever the caller says. */
export function readDatFile(bytes: Uint8Array, opts: DatOptions = {}): UdpDatagram {
  return {
    tsMs: opts.tsMs ?? 0,
    srcAddr: opts.srcAddr ?? '127.0.0.1',
    dstAddr: '127.0.0.1',
    srcPort: opts.srcPort ?? 0,
    dstPort: opts.dstPort ?? 2055,
    payload: bytes,
  };
}

function view(b: Uint8Array): DataView {
  return new DataView(b.buffer, b.byteOffset, b.byteLength);
}

/** Classic libpcap format, either byte order, microsecond or nanosecond timestamps. */
export function* readPcap(bytes: Uint8Array, stats: CaptureStats = new CaptureStats()): Generator<UdpDatagram> {
  if (bytes.length < 24) throw new CaptureFormatError(`pcap file of ${bytes.length} bytes has no complete header`);
  const dv = view(bytes);
  let le: boolean;
  const m = dv.getUint32(0, true);
  if (m === 0xa1b2c3d4 || m === 0xa1b23c4d) le = true;
  else if (dv.getUint32(0, false) === 0xa1b2c3d4 || dv.getUint32(0, false) === 0xa1b23c4d) le = false;
  else throw new CaptureFormatError('not a pcap file (bad magic number)');
  const nanos = dv.getUint32(0, le) === 0xa1b23c4d;
  // The upper bits of the link type field may carry FCS information.
  const link = dv.getUint32(20, le) & 0xffff;
  let p = 24;
  while (bytes.length - p >= 16) {
    const sec = dv.getUint32(p, le);
    const frac = dv.getUint32(p + 4, le);
    const incl = dv.getUint32(p + 8, le);
    p += 16;
    if (incl > bytes.length - p) {
      stats.truncated++;
      break;
    }
    stats.frames++;
    const tsMs = sec * 1000 + (nanos ? Math.floor(frac / 1e6) : Math.floor(frac / 1e3));
    const d = fromFrame(bytes.subarray(p, p + incl), link, tsMs, stats);
    if (d) yield d;
    p += incl;
  }
}

/** pcapng: section header, interface description, enhanced/simple/obsolete packet blocks; other blocks skipped. */
export function* readPcapng(bytes: Uint8Array, stats: CaptureStats = new CaptureStats()): Generator<UdpDatagram> {
  const dv = view(bytes);
  let le = true;
  // Per interface of the current section: link type and timestamp units per second.
  let links: number[] = [];
  let units: number[] = [];
  let snaplens: number[] = [];
  let p = 0;
  while (bytes.length - p >= 12) {
    let type = dv.getUint32(p, le);
    if (dv.getUint32(p, false) === PCAPNG_SHB) {
      const bom = dv.getUint32(p + 8, true);
      if (bom === PCAPNG_BOM) le = true;
      else if (dv.getUint32(p + 8, false) === PCAPNG_BOM) le = false;
      else throw new CaptureFormatError(`pcapng section at ${p} has a bad byte-order magic`);
      type = PCAPNG_SHB;
      links = [];
      units = [];
      snaplens = [];
    }
    const len = dv.getUint32(p + 4, le);
    if (len < 12 || len % 4 !== 0 || len > bytes.length - p) {
      if (p === 0) throw new CaptureFormatError('not a pcapng file (bad first block)');
      stats.truncated++;
      break;
    }
    const body = p + 8;
    const bodyEnd = p + len - 4;
    if (type === 1 && bodyEnd - body >= 8) {
      links.push(dv.getUint16(body, le));
      snaplens.push(dv.getUint32(body + 4, le));
      units.push(tsUnits(bytes, dv, body + 8, bodyEnd, le));
    } else if ((type === 6 || type === 2) && bodyEnd - body >= 20) {
      const iface = type === 6 ? dv.getUint32(body, le) : dv.getUint16(body, le);
      const hi = dv.getUint32(body + 4, le);
      const lo = dv.getUint32(body + 8, le);
      const cap = dv.getUint32(body + 12, le);
      stats.frames++;
      if (iface >= links.length || cap > bodyEnd - body - 20) stats.truncated++;
      else {
        const perSec = units[iface];
        const tsMs = ticksToMs(hi, lo, perSec);
        const d = fromFrame(bytes.subarray(body + 20, body + 20 + cap), links[iface], tsMs, stats);
        if (d) yield d;
      }
    } else if (type === 3 && bodyEnd - body >= 4) {
      stats.frames++;
      if (links.length === 0) stats.truncated++;
      else {
        const orig = dv.getUint32(body, le);
        const snap = snaplens[0] || Number.MAX_SAFE_INTEGER;
        const cap = Math.min(orig, snap, bodyEnd - body - 4);
        const d = fromFrame(bytes.subarray(body + 4, body + 4 + cap), links[0], 0, stats);
        if (d) yield d;
      }
    }
    p += len;
  }
}

function ticksToMs(hi: number, lo: number, perSec: number): number {
  // Nanosecond tick counts exceed 2^53: divide exactly in BigInt.
  if (perSec > 1000 && perSec % 1000 === 0) return Number(((BigInt(hi) << 32n) | BigInt(lo)) / BigInt(perSec / 1000));
  return Math.floor(((hi * 4294967296 + lo) * 1000) / perSec);
}

/** Timestamp units per second of an interface, from its if_tsresol option (default microseconds). */
function tsUnits(b: Uint8Array, dv: DataView, p: number, end: number, le: boolean): number {
  while (end - p >= 4) {
    const code = dv.getUint16(p, le);
    const olen = dv.getUint16(p + 2, le);
    if (code === 0) break;
    if (code === 9 && olen >= 1) {
      const r = b[p + 4];
      return r & 0x80 ? 2 ** (r & 0x7f) : 10 ** r;
    }
    p += 4 + ((olen + 3) & ~3);
  }
  return 1e6;
}

function fromFrame(f: Uint8Array, link: number, tsMs: number, stats: CaptureStats): UdpDatagram | undefined {
  let p = 0;
  let ethertype = 0;
  switch (link) {
    case LINKTYPE_ETHERNET: {
      if (f.length < 14) return trunc(stats);
      ethertype = (f[12] << 8) | f[13];
      p = 14;
      // 802.1Q and 802.1ad (QinQ) tags.
      while (ethertype === 0x8100 || ethertype === 0x88a8 || ethertype === 0x9100) {
        if (f.length - p < 4) return trunc(stats);
        ethertype = (f[p + 2] << 8) | f[p + 3];
        p += 4;
      }
      break;
    }
    case LINKTYPE_LINUX_SLL:
      if (f.length < 16) return trunc(stats);
      ethertype = (f[14] << 8) | f[15];
      p = 16;
      break;
    case LINKTYPE_LINUX_SLL2:
      if (f.length < 20) return trunc(stats);
      ethertype = (f[0] << 8) | f[1];
      p = 20;
      break;
    case LINKTYPE_NULL:
    case LINKTYPE_LOOP: {
      if (f.length < 4) return trunc(stats);
      // NULL: address family in the capturing host's byte order; LOOP: network order.
      const be = (f[0] << 24) | (f[1] << 16) | (f[2] << 8) | f[3];
      const lE = (f[3] << 24) | (f[2] << 16) | (f[1] << 8) | f[0];
      const fam = link === LINKTYPE_LOOP ? be : be > 0xffff ? lE : be;
      ethertype = fam === 2 ? 0x0800 : fam === 24 || fam === 28 || fam === 30 || fam === 10 ? 0x86dd : 0;
      p = 4;
      break;
    }
    case LINKTYPE_RAW:
    case 12:
    case 14:
      if (f.length < 1) return trunc(stats);
      ethertype = f[0] >> 4 === 6 ? 0x86dd : 0x0800;
      break;
    case LINKTYPE_IPV4:
      ethertype = 0x0800;
      break;
    case LINKTYPE_IPV6:
      ethertype = 0x86dd;
      break;
    default:
      stats.unsupportedLink++;
      return undefined;
  }
  if (ethertype === 0x0800) return fromIpv4(f, p, tsMs, stats);
  if (ethertype === 0x86dd) return fromIpv6(f, p, tsMs, stats);
  stats.otherTraffic++;
  return undefined;
}

function trunc(stats: CaptureStats): undefined {
  stats.truncated++;
  return undefined;
}

function fromIpv4(f: Uint8Array, p: number, tsMs: number, stats: CaptureStats): UdpDatagram | undefined {
  if (f.length - p < 20 || f[p] >> 4 !== 4) return trunc(stats);
  const ihl = (f[p] & 0x0f) * 4;
  const total = (f[p + 2] << 8) | f[p + 3];
  const fragOffset = ((f[p + 6] & 0x1f) << 8) | f[p + 7];
  if (fragOffset !== 0) {
    stats.fragments++;
    return undefined;
  }
  if (f[p + 9] !== 17) {
    stats.otherTraffic++;
    return undefined;
  }
  // Ethernet pads short frames; the IP total length says where the packet ends.
  const end = Math.min(f.length, p + total);
  const src = `${f[p + 12]}.${f[p + 13]}.${f[p + 14]}.${f[p + 15]}`;
  const dst = `${f[p + 16]}.${f[p + 17]}.${f[p + 18]}.${f[p + 19]}`;
  return fromUdp(f, p + ihl, end, src, dst, tsMs, stats);
}

function fromIpv6(f: Uint8Array, p: number, tsMs: number, stats: CaptureStats): UdpDatagram | undefined {
  if (f.length - p < 40 || f[p] >> 4 !== 6) return trunc(stats);
  const payloadLen = (f[p + 4] << 8) | f[p + 5];
  let next = f[p + 6];
  const src = formatIp(f, p + 8);
  const dst = formatIp(f, p + 24);
  const end = Math.min(f.length, p + 40 + payloadLen);
  let q = p + 40;
  // Extension headers: hop-by-hop, routing, fragment, destination options, AH.
  for (;;) {
    if (next === 17) return fromUdp(f, q, end, src, dst, tsMs, stats);
    if (next === 0 || next === 43 || next === 60 || next === 51 || next === 44) {
      if (end - q < 8) return trunc(stats);
      if (next === 44) {
        const off = ((f[q + 2] << 8) | f[q + 3]) >> 3;
        if (off !== 0) {
          stats.fragments++;
          return undefined;
        }
        next = f[q];
        q += 8;
      } else {
        const hlen = next === 51 ? (f[q + 1] + 2) * 4 : (f[q + 1] + 1) * 8;
        next = f[q];
        q += hlen;
      }
      continue;
    }
    stats.otherTraffic++;
    return undefined;
  }
}

function fromUdp(f: Uint8Array, q: number, end: number, src: string, dst: string, tsMs: number, stats: CaptureStats): UdpDatagram | undefined {
  if (end - q < 8) return trunc(stats);
  const udpLen = (f[q + 4] << 8) | f[q + 5];
  let pend = end;
  if (udpLen >= 8) {
    if (q + udpLen <= end) pend = q + udpLen;
    else stats.truncated++; // first fragment or snap length: hand on what there is
  }
  stats.udp++;
  return {
    tsMs,
    srcAddr: src,
    dstAddr: dst,
    srcPort: (f[q] << 8) | f[q + 1],
    dstPort: (f[q + 2] << 8) | f[q + 3],
    payload: f.subarray(q + 8, pend),
  };
}
