// Real exporters: softflowd replays the skeleton capture into ingest over
// IPFIX/TCP (RFC 7011 §10) and UDP, on one thread and on two workers.
import { afterEach, describe, expect, it } from 'vitest';
import { runSoftflowd, SKELETON_PCAP } from '@flowhound/testkit';
import type { IngestService } from './service.ts';
import { collect, startIngest, until } from './test-util.ts';

describe('softflowd into ingest', () => {
  const running: IngestService[] = [];
  afterEach(async () => {
    await Promise.all(running.splice(0).map((s) => s.stop()));
  });

  for (const workers of [1, 2]) {
    it(`delivers all 156 records of softflowd -v 10 -P tcp (${workers} worker${workers > 1 ? 's' : ''})`, async () => {
      const { svc, bus } = await startIngest({ workers });
      running.push(svc);
      const got = await collect(bus);
      const sent = await runSoftflowd({ pcap: SKELETON_PCAP, host: '127.0.0.1', port: svc.tcpPorts[0], version: 10, transport: 'tcp' });
      expect(sent.failures).toBe(0);
      expect(sent.records).toBe(156);
      await until(() => got.rows >= sent.records);
      expect(got.rows).toBe(156);
      // Worker counters reach the main thread a moment later.
      await until(() => svc.receiverCounters().tcpAccepted === 1 && svc.receiverCounters().tcpOpen === 0 && svc.decoderCounters().records === 156, 3000);
      expect(svc.receiverCounters()).toMatchObject({ tcpAccepted: 1, tcpBadVersion: 0, tcpBadLength: 0, tcpTruncated: 0 });
      expect(svc.decoderCounters()).toMatchObject({ bad_packets: 0, bad_sets: 0, records: 156 });
    });
  }

  it('delivers all 156 records of softflowd -v 10 over UDP to two workers', async () => {
    const { svc, bus } = await startIngest({ workers: 2 });
    running.push(svc);
    const got = await collect(bus);
    const sent = await runSoftflowd({ pcap: SKELETON_PCAP, host: '127.0.0.1', port: svc.boundPorts[0], version: 10 });
    await until(() => got.rows >= sent.records);
    expect(got.rows).toBe(156);
  });
});
