// The IPFIX messages of the lossless-ingest benchmark (ingest.ts), shared
// with the decode benchmark (decode.ts) so that both measure the very same
// template and records.

export const TEMPLATE_ID = 256;
export const DOMAIN = 1;
/** [information element, length]: 54 bytes a record. */
export const FIELDS: [number, number][] = [
  [8, 4], // sourceIPv4Address
  [12, 4], // destinationIPv4Address
  [7, 2], // sourceTransportPort
  [11, 2], // destinationTransportPort
  [4, 1], // protocolIdentifier
  [6, 1], // tcpControlBits (1 byte, as most exporters send it)
  [1, 8], // octetDeltaCount
  [2, 8], // packetDeltaCount
  [152, 8], // flowStartMilliseconds
  [153, 8], // flowEndMilliseconds
  [10, 4], // ingressInterface
  [14, 4], // egressInterface
];
export const RECORD_BYTES = FIELDS.reduce((s, [, l]) => s + l, 0);
export const HEADER_BYTES = 16;
/** Distinct data messages cycled through; 2048 × 26 ≈ 53k distinct records. */
export const POOL = 2048;

/** mulberry32: a small deterministic PRNG. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function writeHeader(buf: Buffer, length: number, exportSecs: number, seq: number): void {
  buf.writeUInt16BE(10, 0);
  buf.writeUInt16BE(length, 2);
  buf.writeUInt32BE(exportSecs >>> 0, 4);
  buf.writeUInt32BE(seq >>> 0, 8);
  buf.writeUInt32BE(DOMAIN, 12);
}

/** The template message (header + template set); header is rewritten before each send. */
export function templateMessage(): Buffer {
  const setLen = 4 + 4 + FIELDS.length * 4;
  const buf = Buffer.alloc(HEADER_BYTES + setLen);
  buf.writeUInt16BE(2, 16); // template set
  buf.writeUInt16BE(setLen, 18);
  buf.writeUInt16BE(TEMPLATE_ID, 20);
  buf.writeUInt16BE(FIELDS.length, 22);
  let o = 24;
  for (const [ie, len] of FIELDS) {
    buf.writeUInt16BE(ie, o);
    buf.writeUInt16BE(len, o + 2);
    o += 4;
  }
  return buf;
}

/**
 * Data sets (set header + `records` records) without the message header:
 * the sender prepends a fresh 16-byte header (export time, sequence number)
 * to each datagram, so the pool itself is never written while sends are queued.
 */
export function dataSets(records: number, seed: number, nowMs: number): Buffer[] {
  const rnd = prng(seed);
  const int = (n: number) => Math.floor(rnd() * n);
  const out: Buffer[] = [];
  const setLen = 4 + records * RECORD_BYTES;
  for (let m = 0; m < POOL; m++) {
    const b = Buffer.alloc(setLen);
    b.writeUInt16BE(TEMPLATE_ID, 0);
    b.writeUInt16BE(setLen, 2);
    let o = 4;
    for (let r = 0; r < records; r++) {
      const proto = rnd() < 0.7 ? 6 : rnd() < 0.9 ? 17 : 1;
      b.writeUInt32BE(((10 << 24) | (int(256) << 16) | (int(256) << 8) | (1 + int(254))) >>> 0, o);
      b.writeUInt32BE(((int(2) === 0 ? 192 << 24 | 168 << 16 : 172 << 24 | 16 << 16) | (int(256) << 8) | (1 + int(254))) >>> 0, o + 4);
      b.writeUInt16BE(proto === 1 ? 0 : 1024 + int(64_000), o + 8);
      b.writeUInt16BE(proto === 1 ? 0x0800 : [443, 80, 53, 22, 25, 123, 3389, 8080][int(8)], o + 10);
      b.writeUInt8(proto, o + 12);
      b.writeUInt8(proto === 6 ? [0x02, 0x12, 0x18, 0x10, 0x11, 0x1b][int(6)] : 0, o + 13);
      const packets = 1 + int(2000);
      b.writeBigUInt64BE(BigInt(packets * (40 + int(1460))), o + 14);
      b.writeBigUInt64BE(BigInt(packets), o + 22);
      const end = nowMs - int(5_000);
      b.writeBigUInt64BE(BigInt(end - int(60_000)), o + 30);
      b.writeBigUInt64BE(BigInt(end), o + 38);
      b.writeUInt32BE(1 + int(48), o + 46);
      b.writeUInt32BE(1 + int(48), o + 50);
      o += RECORD_BYTES;
    }
    out.push(b);
  }
  return out;
}
