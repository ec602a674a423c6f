// Which exporters ingest decodes: a list of IPv4/IPv6 networks. Addresses
// are compared as 16 bytes (IPv4 as ::ffff:a.b.c.d), so an IPv4 exporter
// reaching a dual-stack socket matches its IPv4 network.
import { parseIp } from '@flowhound/schema';
import { AllowlistError } from './errors.ts';

export interface Cidr {
  /** Network address, 16 bytes (IPv4-mapped for IPv4). */
  readonly addr: Uint8Array;
  /** Prefix length over the 16 bytes (an IPv4 /24 is 120). */
  readonly bits: number;
  readonly text: string;
}

/** Parses `192.0.2.0/24`, `2001:db8::/32`, or a single address (a host). */
export function parseCidr(text: string): Cidr {
  const s = text.trim();
  const slash = s.indexOf('/');
  const ip = slash < 0 ? s : s.slice(0, slash);
  const addr = new Uint8Array(16);
  if (!parseIp(ip, addr)) throw new AllowlistError(`'${text}' is not an IPv4 or IPv6 address or network (e.g. 192.0.2.0/24, 2001:db8::/32)`);
  const v4 = !ip.includes(':');
  const max = v4 ? 32 : 128;
  let len = max;
  if (slash >= 0) {
    const p = s.slice(slash + 1);
    len = /^\d{1,3}$/.test(p) ? Number(p) : -1;
    if (len < 0 || len > max) throw new AllowlistError(`'${text}': the prefix length must be 0–${max}`);
  }
  const bits = v4 ? 96 + len : len;
  // Clear host bits so 192.0.2.7/24 means 192.0.2.0/24.
  for (let i = 0; i < 16; i++) {
    const keep = Math.max(0, Math.min(8, bits - i * 8));
    addr[i] &= (0xff << (8 - keep)) & 0xff;
  }
  return { addr, bits, text: s };
}

function contains(c: Cidr, a: Uint8Array): boolean {
  const full = c.bits >> 3;
  for (let i = 0; i < full; i++) if (a[i] !== c.addr[i]) return false;
  const rest = c.bits & 7;
  if (rest === 0) return true;
  const mask = (0xff << (8 - rest)) & 0xff;
  return (a[full] & mask) === c.addr[full];
}

/**
 * Decides per exporter address. Ingest asks once per new source address
 * and caches the answer with the exporter's entry, so the per-packet cost
 * is the lookup ingest does anyway.
 */
export class Allowlist {
  readonly networks: readonly Cidr[];

  constructor(entries: readonly string[]) {
    this.networks = entries.map(parseCidr);
  }

  /** True when every exporter is allowed (empty list). */
  get allowsAll(): boolean {
    return this.networks.length === 0;
  }

  /** `addr16`: the exporter address as 16 bytes (IPv4-mapped for IPv4). */
  allows(addr16: Uint8Array): boolean {
    if (this.networks.length === 0) return true;
    for (const c of this.networks) if (contains(c, addr16)) return true;
    return false;
  }
}
