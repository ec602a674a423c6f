// Text for str columns without a new string per record: short values
// (MAC addresses, application ids, ACL ids, host names) are interned in a
// direct-mapped cache keyed by their bytes, so a value seen before costs a
// hash and a compare. Only a miss formats and allocates.

/** How the bytes of a value become text. */
export const FMT_TEXT = 0;
export const FMT_MAC = 1;
export const FMT_APPID = 2;
export const FMT_ACL = 3;

const SLOT_BYTES = 48;
const SLOTS = 4096;
const utf8 = new TextDecoder('utf-8', { fatal: false });
const HEX: string[] = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

function u32(b: Uint8Array, p: number): number {
  return ((b[p] << 24) >>> 0) + ((b[p + 1] << 16) | (b[p + 2] << 8) | b[p + 3]);
}

function hex(b: Uint8Array, p: number, len: number): string {
  let s = '';
  for (let i = 0; i < len; i++) s += HEX[b[p + i]];
  return s;
}

/** UTF-8 text with trailing NUL padding dropped (fixed-length string fields are NUL-filled). */
export function formatText(b: Uint8Array, p: number, len: number): string {
  let e = p + len;
  while (e > p && b[e - 1] === 0) e--;
  if (e === p) return '';
  return utf8.decode(b.subarray(p, e));
}

/** "aa:bb:cc:dd:ee:ff". */
export function formatMac(b: Uint8Array, p: number): string {
  return `${HEX[b[p]]}:${HEX[b[p + 1]]}:${HEX[b[p + 2]]}:${HEX[b[p + 3]]}:${HEX[b[p + 4]]}:${HEX[b[p + 5]]}`;
}

/**
 * applicationId (RFC 6759): classification engine id, then the selector.
 * "engine:selector" with the selector in decimal; engine 20 (PANA-L7-PEN)
 * carries a private enterprise number first: "20:pen:selector". Selectors
 * too long for an exact number are written in hex.
 */
export function formatAppId(b: Uint8Array, p: number, len: number): string {
  if (len <= 0) return '';
  const engine = b[p];
  if (engine === 20 && len >= 6) return `20:${u32(b, p + 1)}:${selector(b, p + 5, len - 5)}`;
  return `${engine}:${selector(b, p + 1, len - 1)}`;
}

function selector(b: Uint8Array, p: number, len: number): string {
  if (len > 6) return `0x${hex(b, p, len)}`;
  let v = 0;
  for (let i = 0; i < len; i++) v = v * 256 + b[p + i];
  return String(v);
}

/**
 * Cisco NSEL ACL id (33000/33001): ACL id, ACE id and extended ACE id, 4
 * octets each, as "0f8e7ff3-fc1a030f-00000000"; all zero (no ACL) is ''.
 */
export function formatAcl(b: Uint8Array, p: number, len: number): string {
  let zero = true;
  for (let i = 0; i < len; i++) {
    if (b[p + i] !== 0) {
      zero = false;
      break;
    }
  }
  if (zero) return '';
  if (len !== 12) return hex(b, p, len);
  return `${hex(b, p, 4)}-${hex(b, p + 4, 4)}-${hex(b, p + 8, 4)}`;
}

export function formatValue(b: Uint8Array, p: number, len: number, fmt: number): string {
  switch (fmt) {
    case FMT_MAC:
      return len === 6 ? formatMac(b, p) : hex(b, p, len);
    case FMT_APPID:
      return formatAppId(b, p, len);
    case FMT_ACL:
      return formatAcl(b, p, len);
    default:
      return formatText(b, p, len);
  }
}

/** Direct-mapped cache of formatted values by (format, bytes). Lookups allocate nothing. */
export class StringCache {
  hits: number;
  misses: number;
  private readonly keys: Uint8Array;
  private readonly lens: Int16Array;
  private readonly fmts: Uint8Array;
  private readonly values: string[];
  // Values of at most 6 octets (MACs, most application ids) keyed by one exact number.
  private readonly shortKeys: Float64Array;
  private readonly shortValues: string[];

  constructor() {
    this.hits = 0;
    this.misses = 0;
    this.keys = new Uint8Array(SLOTS * SLOT_BYTES);
    this.lens = new Int16Array(SLOTS).fill(-1);
    this.fmts = new Uint8Array(SLOTS);
    this.values = new Array<string>(SLOTS).fill('');
    this.shortKeys = new Float64Array(SLOTS);
    this.shortValues = new Array<string>(SLOTS).fill('');
  }

  /** Values of 1–6 octets: the bytes as a number, tagged with length and format (exact below 2^53). */
  private getShort(b: Uint8Array, p: number, len: number, fmt: number): string {
    let v = 0;
    for (let i = 0; i < len; i++) v = v * 256 + b[p + i];
    const tag = len * 4 + fmt + 1;
    const key = v + tag * 281474976710656;
    let h = Math.imul((v >>> 0) ^ Math.imul(((v / 4294967296) | 0) + tag, 0x9e3779b1), 0x85ebca6b);
    h ^= h >>> 15;
    const slot = h & (SLOTS - 1);
    if (this.shortKeys[slot] === key) {
      this.hits++;
      return this.shortValues[slot];
    }
    this.misses++;
    const s = formatValue(b, p, len, fmt);
    this.shortKeys[slot] = key;
    this.shortValues[slot] = s;
    return s;
  }

  get(b: Uint8Array, p: number, len: number, fmt: number): string {
    if (len === 0) return '';
    if (len <= 6) return this.getShort(b, p, len, fmt);
    if (len > SLOT_BYTES) return formatValue(b, p, len, fmt);
    let h = Math.imul(fmt + 1, 0x9e3779b1) ^ len;
    for (let i = 0; i < len; i++) h = Math.imul(h ^ b[p + i], 16777619);
    const slot = (h ^ (h >>> 15)) & (SLOTS - 1);
    const keys = this.keys;
    const o = slot * SLOT_BYTES;
    if (this.lens[slot] === len && this.fmts[slot] === fmt) {
      let same = true;
      for (let i = 0; i < len; i++) {
        if (keys[o + i] !== b[p + i]) {
          same = false;
          break;
        }
      }
      if (same) {
        this.hits++;
        return this.values[slot];
      }
    }
    this.misses++;
    const s = formatValue(b, p, len, fmt);
    for (let i = 0; i < len; i++) keys[o + i] = b[p + i];
    this.lens[slot] = len;
    this.fmts[slot] = fmt;
    this.values[slot] = s;
    return s;
  }
}
