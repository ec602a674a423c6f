// IPFIX over TCP (RFC 7011 §10.4): a byte stream of IPFIX messages, each
// starting with version 10 and its own length. The framer cuts the stream
// into messages with a fixed 64 KiB buffer per connection (an IPFIX
// message is at most 65,535 bytes), so a connection never holds more.

export const FRAME_OK = 0;
/** The stream does not start a message with version 10 (NetFlow v9 over TCP is not defined). */
export const FRAME_BAD_VERSION = 1;
/** A message length shorter than the 16-byte header: the stream cannot be framed any further. */
export const FRAME_BAD_LENGTH = 2;

const HEADER = 16;

/**
 * Cuts one connection's byte stream into IPFIX messages. Whole messages
 * inside a chunk are handed out as views of the chunk (no copy); only a
 * message split across chunks is assembled in the connection's buffer.
 * A view is valid during the `onMessage` call only.
 */
export class IpfixFramer {
  private readonly buf: Uint8Array;
  private fill: number;
  private readonly onMessage: (msg: Uint8Array) => void;
  /** Version and length of the message that failed, for the error report. */
  badVersion: number;
  badLength: number;
  /** Messages handed out. */
  messages: number;

  constructor(onMessage: (msg: Uint8Array) => void) {
    this.buf = new Uint8Array(65536);
    this.fill = 0;
    this.onMessage = onMessage;
    this.badVersion = 0;
    this.badLength = 0;
    this.messages = 0;
  }

  /** Bytes of an unfinished message held now. */
  get buffered(): number {
    return this.fill;
  }

  private check(version: number, length: number): number {
    if (version !== 10) {
      this.badVersion = version;
      this.badLength = length;
      return FRAME_BAD_VERSION;
    }
    if (length < HEADER) {
      this.badVersion = version;
      this.badLength = length;
      return FRAME_BAD_LENGTH;
    }
    return FRAME_OK;
  }

  /** Feeds the next chunk of the stream; returns FRAME_OK or why the stream cannot go on. */
  push(chunk: Uint8Array): number {
    const n = chunk.length;
    const buf = this.buf;
    let p = 0;
    if (this.fill > 0) {
      // Complete the header, then the message, that the last chunk began.
      if (this.fill < 4) {
        const take = Math.min(4 - this.fill, n);
        buf.set(chunk.subarray(0, take), this.fill);
        this.fill += take;
        p = take;
        if (this.fill < 4) return FRAME_OK;
      }
      const length = (buf[2] << 8) | buf[3];
      const bad = this.check((buf[0] << 8) | buf[1], length);
      if (bad !== FRAME_OK) return bad;
      const take = Math.min(length - this.fill, n - p);
      buf.set(chunk.subarray(p, p + take), this.fill);
      this.fill += take;
      p += take;
      if (this.fill < length) return FRAME_OK;
      this.fill = 0;
      this.messages++;
      this.onMessage(buf.subarray(0, length));
    }
    while (n - p >= 4) {
      const length = (chunk[p + 2] << 8) | chunk[p + 3];
      const bad = this.check((chunk[p] << 8) | chunk[p + 1], length);
      if (bad !== FRAME_OK) return bad;
      if (n - p < length) break;
      this.messages++;
      this.onMessage(chunk.subarray(p, p + length));
      p += length;
    }
    if (p < n) {
      buf.set(chunk.subarray(p), 0);
      this.fill = n - p;
      // Check what is there of the header now, so a bad stream closes at once.
      if (this.fill >= 2 && ((buf[0] << 8) | buf[1]) !== 10) return this.check((buf[0] << 8) | buf[1], 0);
    }
    return FRAME_OK;
  }
}
