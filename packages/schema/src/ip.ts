// Addresses are 16 bytes everywhere; IPv4 is IPv4-mapped (::ffff:a.b.c.d).

export function isV4Mapped(b: Uint8Array, o: number): boolean {
  for (let i = 0; i < 10; i++) if (b[o + i] !== 0) return false;
  return b[o + 10] === 0xff && b[o + 11] === 0xff;
}

export function writeV4(out: Uint8Array, o: number, v4: number): void {
  out.fill(0, o, o + 10);
  out[o + 10] = 0xff;
  out[o + 11] = 0xff;
  out[o + 12] = v4 >>> 24;
  out[o + 13] = (v4 >>> 16) & 0xff;
  out[o + 14] = (v4 >>> 8) & 0xff;
  out[o + 15] = v4 & 0xff;
}

/** Formats 16 bytes as dotted IPv4 when mapped, else RFC 5952 IPv6. */
export function formatIp(b: Uint8Array, o = 0): string {
  if (isV4Mapped(b, o)) return `${b[o + 12]}.${b[o + 13]}.${b[o + 14]}.${b[o + 15]}`;
  return formatV6(b, o);
}

export function formatV6(b: Uint8Array, o = 0): string {
  const w: number[] = [];
  for (let i = 0; i < 8; i++) w.push((b[o + 2 * i] << 8) | b[o + 2 * i + 1]);
  // Longest run of two or more zero words becomes "::" (RFC 5952 §4.2).
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (w[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && w[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  if (bestStart < 0) return w.map((x) => x.toString(16)).join(':');
  const head = w.slice(0, bestStart).map((x) => x.toString(16)).join(':');
  const tail = w.slice(bestStart + bestLen).map((x) => x.toString(16)).join(':');
  return `${head}::${tail}`;
}

/** Parses dotted IPv4 or IPv6 text into 16 bytes; returns false if invalid. */
export function parseIp(text: string, out: Uint8Array, o = 0): boolean {
  if (text.includes(':')) return parseV6(text, out, o);
  const v4 = parseV4(text);
  if (v4 < 0) return false;
  writeV4(out, o, v4);
  return true;
}

export function parseV4(text: string): number {
  const parts = text.split('.');
  if (parts.length !== 4) return -1;
  let v = 0;
  for (const p of parts) {
    if (!/^\d{1,3}$/.test(p)) return -1;
    const n = Number(p);
    if (n > 255) return -1;
    v = v * 256 + n;
  }
  return v;
}

function parseV6(text: string, out: Uint8Array, o: number): boolean {
  let s = text;
  let v4tail = -1;
  const lastColon = s.lastIndexOf(':');
  if (s.indexOf('.', lastColon) > 0) {
    v4tail = parseV4(s.slice(lastColon + 1));
    if (v4tail < 0) return false;
    s = `${s.slice(0, lastColon + 1)}0:0`;
  }
  const dbl = s.indexOf('::');
  if (dbl !== s.lastIndexOf('::')) return false;
  const parse = (part: string): number[] | null => {
    if (part === '') return [];
    const ws = part.split(':');
    const r: number[] = [];
    for (const x of ws) {
      if (!/^[0-9a-fA-F]{1,4}$/.test(x)) return null;
      r.push(parseInt(x, 16));
    }
    return r;
  };
  let words: number[];
  if (dbl >= 0) {
    const h = parse(s.slice(0, dbl));
    const t = parse(s.slice(dbl + 2));
    if (!h || !t || h.length + t.length > 7) return false;
    words = [...h, ...new Array<number>(8 - h.length - t.length).fill(0), ...t];
  } else {
    const a = parse(s);
    if (!a || a.length !== 8) return false;
    words = a;
  }
  for (let i = 0; i < 8; i++) {
    out[o + 2 * i] = words[i] >>> 8;
    out[o + 2 * i + 1] = words[i] & 0xff;
  }
  if (v4tail >= 0) {
    out[o + 12] = v4tail >>> 24;
    out[o + 13] = (v4tail >>> 16) & 0xff;
    out[o + 14] = (v4tail >>> 8) & 0xff;
    out[o + 15] = v4tail & 0xff;
  }
  return true;
}
