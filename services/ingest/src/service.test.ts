import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { decodeBatch, MemoryBus, subjects } from '@flowhound/bus';
import { BatchListSink, FlowDecoder, MemoryTemplateStore } from '@flowhound/codec';
import { FLOW_COLUMNS, formatIp, parseIp, type ColumnarBatch } from '@flowhound/schema';
import { captureLogger, collect, fixturePayloads, ipfixPacket, ipfixSet, offlineRecords, startIngest, udpSender, until } from './test-util.ts';
import type { IngestService } from './service.ts';

const v10 = fixturePayloads('softflowd-v10.pcap');
const v9 = fixturePayloads('softflowd-v9.pcap');
const v5 = fixturePayloads('softflowd-v5.pcap');

describe('ingest on one thread', () => {
  const running: IngestService[] = [];
  afterEach(async () => {
    await Promise.all(running.splice(0).map((s) => s.stop()));
  });

  it('publishes every record of softflowd v5, v9 and IPFIX sent over UDP', async () => {
    const { svc, bus } = await startIngest();
    running.push(svc);
    const got = await collect(bus);
    const want = offlineRecords(v5) + offlineRecords(v9) + offlineRecords(v10);
    const tx = await udpSender();
    for (const p of [v5, v9, v10]) await tx.send(svc.boundPorts[0], p);
    await until(() => got.rows >= want);
    await tx.close();
    expect(got.rows).toBe(want);
    expect(got.ids[0]).toMatch(/^test@[0-9a-z]+:\d+$/);
    await svc.collect();
    const [e] = [...svc.book.totals()];
    expect(e.exporter).toBe('127.0.0.1');
    expect(e.packets).toBe(v5.length + v9.length + v10.length);
    expect(e.records).toBe(want);
    expect(e.versions).toEqual([5, 9, 10]);
    expect(e.transports).toEqual(['udp']);
  });

  it('frames IPFIX over TCP whatever the chunking, and decodes what UDP would', async () => {
    const { svc, bus } = await startIngest();
    running.push(svc);
    const got = await collect(bus);
    const want = offlineRecords(v10);
    const stream = Buffer.concat(v10);
    const s = net.connect(svc.tcpPorts[0], '127.0.0.1');
    await new Promise((r) => s.once('connect', r));
    // Odd chunk sizes split headers and messages everywhere.
    for (let p = 0, k = 1; p < stream.length; k = (k * 7 + 3) % 997) {
      const n = Math.min(k + 1, stream.length - p);
      s.write(stream.subarray(p, p + n));
      p += n;
      if (k % 5 === 0) await new Promise((r) => setTimeout(r, 1));
    }
    await until(() => got.rows >= want);
    expect(got.rows).toBe(want);
    expect(svc.receiverCounters().tcpMessages).toBe(v10.length);
    s.destroy();
    await until(() => svc.receiverCounters().tcpOpen === 0);
    await svc.collect();
    expect([...svc.book.totals()][0].transports).toEqual(['tcp']);
  });

  it('publishes every cell an offline decoder gets, with batches that fill in the middle of a data set', async () => {
    // Rows as text, time_received left out (the receive time differs), sorted: publishing may reorder batches.
    const rowsOf = (batches: readonly ColumnarBatch[]) => {
      const out: string[] = [];
      for (const b of batches) {
        for (let r = 0; r < b.rows; r++) {
          const row: unknown[] = [];
          for (let c = 1; c < FLOW_COLUMNS.length; c++) {
            const k = FLOW_COLUMNS[c].kind;
            const d = b.read(FLOW_COLUMNS[c].name);
            row.push(k === 'ip' ? formatIp(d as Uint8Array, r * 16) : (d as ArrayLike<unknown>)[r]);
          }
          out.push(JSON.stringify(row));
        }
      }
      return out.sort();
    };
    const sink = new BatchListSink();
    const dec = new FlowDecoder({ templates: new MemoryTemplateStore(), sink });
    const ex = new Uint8Array(16);
    parseIp('127.0.0.1', ex);
    for (const p of [...v9, ...v10]) dec.decode(p, '127.0.0.1', ex, Date.now());
    const want = rowsOf(sink.batches());
    expect(want.length).toBeGreaterThan(50);

    // 7 rows a batch: softflowd sends up to 6 records a set, so batches fill (and the receiver resets its one batch) inside sets.
    const { svc, bus } = await startIngest({ batchRows: 7 });
    running.push(svc);
    const got: ColumnarBatch[] = [];
    const sub = await bus.consume({ stream: 'flows', durable: 'cells', filter: subjects.flowsRawAll, handler: async (m) => void got.push(decodeBatch(new Uint8Array(m.data), FLOW_COLUMNS).batch) });
    const tx = await udpSender();
    await tx.send(svc.boundPorts[0], [...v9, ...v10]);
    await until(() => got.reduce((n, b) => n + b.rows, 0) >= want.length);
    await tx.close();
    await sub.stop();
    expect(got.some((b) => b.rows === 7)).toBe(true);
    expect(rowsOf(got)).toEqual(want);
  });

  it('refuses NetFlow v9 over TCP: the connection is closed and counted', async () => {
    const { svc } = await startIngest();
    running.push(svc);
    const s = net.connect(svc.tcpPorts[0], '127.0.0.1');
    await new Promise((r) => s.once('connect', r));
    s.write(Buffer.from(v9[0]));
    await new Promise((r) => s.once('close', r));
    expect(svc.receiverCounters().tcpBadVersion).toBe(1);
    expect(svc.receiverCounters().tcpOpen).toBe(0);
  });

  it('drops packets from exporters outside the allowlist before decoding, and counts them per exporter', async () => {
    const { svc, bus } = await startIngest({ allow: ['192.0.2.0/24', '2001:db8::/32'] });
    running.push(svc);
    const got = await collect(bus);
    const tx = await udpSender();
    await tx.send(svc.boundPorts[0], v10);
    await until(() => svc.receiverCounters().denied >= v10.length);
    await tx.close();
    expect(svc.receiverCounters().denied).toBe(v10.length);
    expect(svc.receiverCounters().packets).toBe(0);
    expect(svc.decoderCounters().packets).toBe(0);
    expect(got.rows).toBe(0);
    await svc.collect();
    const [e] = [...svc.book.totals()];
    expect(e).toMatchObject({ exporter: '127.0.0.1', packetsDenied: v10.length, packets: 0 });
    // A denied TCP exporter is closed at once.
    const s = net.connect(svc.tcpPorts[0], '127.0.0.1');
    await new Promise((r) => s.once('close', r));
    expect(svc.receiverCounters().tcpDenied).toBe(1);
  });

  it('refuses to start when a TCP listen address is taken, naming the setting, and leaves no socket behind', async () => {
    const blocker = net.createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', () => r()));
    const port = (blocker.address() as net.AddressInfo).port;
    try {
      await expect(startIngest({ listenTcp: [`127.0.0.1:${port}`] })).rejects.toThrow(/cannot listen on tcp 127\.0\.0\.1:\d+ \(ingest\.listenTcp\)/);
    } finally {
      blocker.close();
    }
  });

  it('lists the sampling interval of NetFlow v5 headers among the rates an exporter announced', async () => {
    const { svc } = await startIngest();
    running.push(svc);
    const sampled = v5.map((p) => {
      const b = Buffer.from(p);
      b.writeUInt16BE(0x4000 | 100, 22); // mode 1 (deterministic), one in 100
      return new Uint8Array(b);
    });
    const tx = await udpSender();
    await tx.send(svc.boundPorts[0], sampled);
    await until(() => svc.receiverCounters().packets >= v5.length);
    await tx.close();
    await svc.collect();
    expect([...svc.book.totals()][0]).toMatchObject({ versions: [5], samplingRates: [100] });
  });

  it('publishes after a restart under the same replica id: batch ids never repeat, so the bus drops nothing as a duplicate', async () => {
    const bus = new MemoryBus();
    const got = await collect(bus);
    const want = offlineRecords(v10);
    for (let run = 1; run <= 2; run++) {
      const { svc } = await startIngest({ replicaId: 'same' }, bus);
      const tx = await udpSender();
      await tx.send(svc.boundPorts[0], v10);
      await until(() => svc.counters.rowsPublished >= want);
      await tx.close();
      await svc.stop();
      await new Promise((r) => setTimeout(r, 5));
    }
    await until(() => got.rows >= 2 * want);
    expect(got.rows).toBe(2 * want);
    expect(new Set(got.ids).size).toBe(got.ids.length);
  });

  it('counts the data sets still waiting for their template at shutdown as dropped, per exporter too, and logs how many', async () => {
    const { log, lines } = captureLogger();
    const { svc } = await startIngest({}, new MemoryBus(), log);
    const tx = await udpSender();
    // Data for templates this exporter never defined: held.
    await tx.send(svc.boundPorts[0], [ipfixPacket(3, ipfixSet(300, [10, 0, 0, 1, 10, 0, 0, 2])), ipfixPacket(3, ipfixSet(301, [10, 0, 0, 1, 10, 0, 0, 2]))]);
    await tx.close();
    expect(await until(() => svc.receiverCounters().held === 2)).toBe(true);
    await svc.stop();
    const c = svc.receiverCounters();
    expect(c.heldDroppedAtShutdown).toBe(2);
    expect(c.heldDropped).toBe(2);
    expect(c.held - c.heldReleased - c.heldDropped).toBe(0);
    expect(svc.book.total('127.0.0.1')?.setsExpired).toBe(2);
    expect(lines.filter((l) => l.sets === 2 && /held data sets .*dropped at shutdown/.test(String(l.msg)))).toHaveLength(1);
  });
});
