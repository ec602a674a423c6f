// The real exporter and the reference collector: softflowd replays the
// fixture capture into nfcapd, and nfdump must see exactly the ground truth
// that gen-pcap.ts wrote next to the capture.
import { createSocket } from 'node:dgram';
import { describe, expect, it } from 'vitest';
import { TestkitError, ToolFailedError } from './errors.ts';
import { SKELETON_PCAP, skeletonTruth } from './fixtures.ts';
import { startNfcapd } from './nfcapd.ts';
import { freePort } from './ports.ts';
import { runSoftflowd } from './softflowd.ts';

const truth = skeletonTruth();

async function replayIntoNfcapd(version: 5 | 9 | 10, extra: { bidirectional?: boolean } = {}) {
  const port = await freePort('udp');
  const nfcapd = await startNfcapd({ port });
  try {
    const run = await runSoftflowd({ pcap: SKELETON_PCAP, host: '127.0.0.1', port, version, ...extra });
    const summary = await nfcapd.summary();
    const flows = await nfcapd.flows();
    return { run, summary, flows };
  } finally {
    await nfcapd.cleanup();
  }
}

describe('softflowd → nfcapd replay of skeleton.pcap', () => {
  it('NetFlow v9 stores every unidirectional flow, IPv6 included', async () => {
    const { run, summary, flows } = await replayIntoNfcapd(9);
    expect(run.packets).toBe(truth.packets);
    expect(run.records).toBe(truth.flows.all.flows);
    expect(run.failures).toBe(0);
    expect(summary).toEqual({ flows: truth.flows.all.flows, packets: truth.flows.all.packets, bytes: truth.flows.all.bytes });
    // Record by record: the same 5-tuples with the same counters.
    const key = (f: { proto: number; src: string; sport: number; dst: string; dport: number }) => `${f.proto} ${f.src}:${f.sport} > ${f.dst}:${f.dport}`;
    const got = new Map(flows.map((f) => [key(f), f]));
    for (const t of truth.flowList) {
      const f = got.get(key(t));
      expect(f, key(t)).toBeDefined();
      expect([f!.packets, f!.bytes], key(t)).toEqual([t.packets, t.bytes]);
    }
  });

  it('NetFlow v9 flow times are the capture times (softflowd -a), to within the 1 s of the export header', async () => {
    const { flows } = await replayIntoNfcapd(9);
    const lo = Date.parse(truth.first) - 1000;
    const hi = Date.parse(truth.last) + 1000;
    for (const f of flows) {
      expect(f.first).toBeGreaterThanOrEqual(lo);
      expect(f.last).toBeLessThanOrEqual(hi);
      expect(f.first).toBeLessThanOrEqual(f.last);
    }
  });

  it('IPFIX stores every unidirectional flow, IPv6 included', async () => {
    const { run, summary } = await replayIntoNfcapd(10);
    expect(run.records).toBe(truth.flows.all.flows);
    expect(summary).toEqual({ flows: truth.flows.all.flows, packets: truth.flows.all.packets, bytes: truth.flows.all.bytes });
  });

  it('IPFIX biflows (-b) carry both directions in one record per conversation', async () => {
    const { summary, flows } = await replayIntoNfcapd(10, { bidirectional: true });
    const conversations = new Set(truth.flowList.map((f) => [f.proto, [`${f.src}|${f.sport}`, `${f.dst}|${f.dport}`].sort().join(' ')].join(' ')));
    expect(summary.flows).toBe(conversations.size);
    expect(summary.packets).toBe(truth.flows.all.packets);
    expect(summary.bytes).toBe(truth.flows.all.bytes);
    expect(flows.reduce((n, f) => n + f.outPackets, 0)).toBeGreaterThan(0);
  });

  it('NetFlow v5 stores the IPv4 flows only: it has no IPv6 fields', async () => {
    const { run, summary } = await replayIntoNfcapd(5);
    // Without -6 softflowd's capture filter skips IPv6 packets altogether.
    expect(run.packets).toBe(truth.flows.ipv4.packets);
    expect(summary).toEqual({ flows: truth.flows.ipv4.flows, packets: truth.flows.ipv4.packets, bytes: truth.flows.ipv4.bytes });
  });
});

describe('runSoftflowd and startNfcapd report problems clearly', () => {
  it('rejects a capture that does not exist', async () => {
    await expect(runSoftflowd({ pcap: '/nonexistent.pcap', host: '127.0.0.1', port: 9, version: 9 })).rejects.toThrow(TestkitError);
  });

  it('rejects -b with anything but IPFIX, and -c in any case', async () => {
    await expect(runSoftflowd({ pcap: SKELETON_PCAP, host: '127.0.0.1', port: 9, version: 9, bidirectional: true })).rejects.toThrow(/only with version 10/);
    await expect(runSoftflowd({ pcap: SKELETON_PCAP, host: '127.0.0.1', port: 9, version: 9, extraArgs: ['-c', '/tmp/x.ctl'] })).rejects.toThrow(/control socket/);
  });

  it('rejects with softflowd output when softflowd fails', async () => {
    const err = await runSoftflowd({ pcap: SKELETON_PCAP, host: '127.0.0.1', port: 9, version: 9, extraArgs: ['-t', 'bogus=1'] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ToolFailedError);
    expect((err as Error).message).toMatch(/Invalid -t name/);
  });

  it('an nfcapd that received nothing sums to zero', async () => {
    const nfcapd = await startNfcapd({ port: await freePort('udp') });
    try {
      expect(await nfcapd.summary()).toEqual({ flows: 0, bytes: 0, packets: 0 });
    } finally {
      await nfcapd.cleanup();
    }
  });

  it('rejects when the port is taken, with nfcapd output', async () => {
    const sock = createSocket('udp4');
    const port = await freePort('udp');
    await new Promise<void>((resolve) => sock.bind(port, '127.0.0.1', resolve));
    try {
      await expect(startNfcapd({ port })).rejects.toThrow(ToolFailedError);
    } finally {
      sock.close();
    }
  });
});
