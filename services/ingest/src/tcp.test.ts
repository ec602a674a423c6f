import { describe, expect, it } from 'vitest';
import { FRAME_BAD_LENGTH, FRAME_BAD_VERSION, FRAME_OK, IpfixFramer } from './tcp.ts';

function message(len: number, fill: number): Uint8Array {
  const b = new Uint8Array(len);
  b[0] = 0;
  b[1] = 10;
  b[2] = len >> 8;
  b[3] = len & 0xff;
  b.fill(fill, 4);
  return b;
}

/** Messages as short fingerprints: deep-comparing 64 KiB arrays is slow. */
const ids = (ms: Uint8Array[]) => ms.map((m) => `${m.length}:${m[4] ?? ''}:${Buffer.from(m).toString('base64').length}:${m.every((x, i) => i < 4 || x === m[4])}`);

function frame(chunks: Uint8Array[]): { msgs: Uint8Array[]; result: number } {
  const msgs: Uint8Array[] = [];
  const f = new IpfixFramer((m) => msgs.push(new Uint8Array(m)));
  let result = FRAME_OK;
  for (const c of chunks) {
    result = f.push(c);
    if (result !== FRAME_OK) break;
  }
  return { msgs, result };
}

describe('IPFIX over TCP framing', () => {
  const msgs = [message(16, 1), message(100, 2), message(65535, 3), message(40, 4)];
  const stream = Buffer.concat(msgs);

  it('hands out every message of a stream cut at any point', () => {
    for (const cut of [1, 2, 3, 4, 5, 15, 16, 17, 99, 116, 117, 1000, 65550, stream.length - 1]) {
      const { msgs: got, result } = frame([stream.subarray(0, cut), stream.subarray(cut)]);
      expect(result).toBe(FRAME_OK);
      expect(ids(got)).toEqual(ids(msgs));
    }
  });

  it('hands out every message of a stream fed one byte at a time', () => {
    const chunks = Array.from(stream.subarray(0, 300), (b) => Uint8Array.of(b));
    const { msgs: got } = frame(chunks);
    expect(ids(got)).toEqual(ids([msgs[0], msgs[1]]));
  });

  it('refuses NetFlow v9 (not defined over TCP) and other versions', () => {
    const v9 = Uint8Array.of(0, 9, 0, 2, 1, 2, 3, 4);
    const f = new IpfixFramer(() => {});
    expect(f.push(v9)).toBe(FRAME_BAD_VERSION);
    expect(f.badVersion).toBe(9);
    // A bad version after good messages, even when only its first byte pair has arrived.
    expect(frame([msgs[0], Uint8Array.of(0, 5)]).result).toBe(FRAME_BAD_VERSION);
  });

  it('refuses a length shorter than the header, which cannot be framed', () => {
    expect(frame([Uint8Array.of(0, 10, 0, 15, 0, 0)]).result).toBe(FRAME_BAD_LENGTH);
    expect(frame([Uint8Array.of(0, 10, 0), Uint8Array.of(3)]).result).toBe(FRAME_BAD_LENGTH);
  });

  it('holds at most one unfinished message', () => {
    const f = new IpfixFramer(() => {});
    f.push(msgs[2].subarray(0, 60_000));
    expect(f.buffered).toBe(60_000);
    f.push(msgs[2].subarray(60_000));
    expect(f.buffered).toBe(0);
  });
});
