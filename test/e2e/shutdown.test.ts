// Stopping `flowhound standalone` right after a burst: every record it
// decoded is stored before it exits (the in-memory bus drains, the writer
// stores what it holds, the store waits for running inserts), and a second
// start on the same data directory finds them all.
import dgram from 'node:dgram';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../packages/runtime/src/index.ts';
import { Store } from '../../packages/store/src/index.ts';
import { freePort, tempDir } from '@flowhound/testkit';
import { eventually, startFlowhound } from './harness.ts';

const RECORDS_PER_PACKET = 26;
const PACKETS = 2000;
/** IPFIX template 256: src/dst IPv4, ports, protocol, octets, packets, start/end ms (45 bytes a record). */
const FIELDS: [number, number][] = [
  [8, 4],
  [12, 4],
  [7, 2],
  [11, 2],
  [4, 1],
  [1, 8],
  [2, 8],
  [152, 8],
  [153, 8],
];
const REC = FIELDS.reduce((s, [, l]) => s + l, 0);

function packet(seq: number, now: number): Buffer {
  const tpl = 4 + 4 + FIELDS.length * 4;
  const data = 4 + RECORDS_PER_PACKET * REC;
  const b = Buffer.alloc(16 + tpl + data);
  b.writeUInt16BE(10, 0);
  b.writeUInt16BE(b.length, 2);
  b.writeUInt32BE(Math.floor(now / 1000), 4);
  b.writeUInt32BE(seq * RECORDS_PER_PACKET, 8);
  b.writeUInt32BE(1, 12);
  let o = 16;
  b.writeUInt16BE(2, o);
  b.writeUInt16BE(tpl, o + 2);
  b.writeUInt16BE(256, o + 4);
  b.writeUInt16BE(FIELDS.length, o + 6);
  o += 8;
  for (const [id, len] of FIELDS) {
    b.writeUInt16BE(id, o);
    b.writeUInt16BE(len, o + 2);
    o += 4;
  }
  b.writeUInt16BE(256, o);
  b.writeUInt16BE(data, o + 2);
  o += 4;
  for (let r = 0; r < RECORDS_PER_PACKET; r++) {
    const n = seq * RECORDS_PER_PACKET + r;
    b.writeUInt32BE(0x0a000000 + (n % 60000), o);
    b.writeUInt32BE(0xc0a80001 + (n % 250), o + 4);
    b.writeUInt16BE(1024 + (n % 50000), o + 8);
    b.writeUInt16BE(443, o + 10);
    b.writeUInt8(6, o + 12);
    b.writeBigUInt64BE(BigInt(100 + (n % 1000)), o + 13);
    b.writeBigUInt64BE(1n, o + 21);
    b.writeBigUInt64BE(BigInt(now - 1000), o + 29);
    b.writeBigUInt64BE(BigInt(now), o + 37);
    o += REC;
  }
  return b;
}

describe('flowhound standalone stops without losing what it decoded', () => {
  const dirs: string[] = [];
  afterAll(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it('stores every decoded record of a burst when stopped right after it', async () => {
    const dir = await tempDir('fh-shutdown');
    dirs.push(dir.path);
    const port = await freePort('udp');
    const metrics = `127.0.0.1:${await freePort('tcp')}`;
    const fh = await startFlowhound('standalone', ['standalone', '--data', join(dir.path, 'data')], {
      FLOWHOUND_INGEST_LISTEN: `127.0.0.1:${port}`,
      FLOWHOUND_GRPC_LISTEN: `127.0.0.1:${await freePort('tcp')}`,
      FLOWHOUND_METRICS_LISTEN: metrics,
    });
    const sock = dgram.createSocket('udp4');
    const now = Date.now();
    let expectedBytes = 0;
    for (let s = 0; s < PACKETS; s++) {
      for (let r = 0; r < RECORDS_PER_PACKET; r++) expectedBytes += 100 + ((s * RECORDS_PER_PACKET + r) % 1000);
      await new Promise<void>((res, rej) => sock.send(packet(s, now), port, '127.0.0.1', (e) => (e ? rej(e) : res())));
      if (s % 50 === 49) await new Promise((r) => setTimeout(r, 2)); // stay under the socket buffer
    }
    sock.close();
    const total = PACKETS * RECORDS_PER_PACKET;
    // Decoded and on the bus, then stop at once: most of it is still pending.
    const published = async () => {
      const text = await (await fetch(`http://${metrics}/metrics`)).text();
      return Number(/^flowhound_ingest_records_published_total(?:\{[^}]*\})? (\d+)/m.exec(text)?.[1] ?? 0);
    };
    expect(await eventually(published, (n) => n >= total, 30_000, 100)).toBe(total);
    const code = await fh.stop();
    expect(code).toBe(0);
    expect(fh.logs.join('\n')).not.toMatch(/still held data at shutdown/);

    const store = await Store.open({ url: '', dataDir: join(dir.path, 'data'), database: 'flowhound', username: '', password: '', log: silentLogger() });
    try {
      const [[flows, bytes]] = await store.rows<[number, number]>('SELECT count(), sum(bytes) FROM flowhound.flows');
      const [[conversations]] = await store.rows<[number]>('SELECT count() FROM flowhound.conversations');
      expect([Number(flows), Number(bytes), Number(conversations)]).toEqual([total, expectedBytes, total]);
    } finally {
      await store.close();
    }
  }, 120_000);
});
