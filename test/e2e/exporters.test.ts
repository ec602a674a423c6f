// Real exporters end to end: softflowd 1.1.0 (NetFlow v5, v9, IPFIX, IPFIX
// biflows, IPFIX over TCP) and nfdump's nfreplay (v5 and v9) replaying the
// skeleton capture into one `flowhound standalone`, started the way a user
// starts it, and what it stores asked back through the CLI. The oracle is
// nfcapd 1.7.1 fed the very same datagrams through a tee. Each run sends
// from its own loopback address (127.0.0.N), so the runs stay apart in the
// store by exporter_address.
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { delay, freePort, runSoftflowd, runTool, startNfcapd, type Nfcapd, type NfdumpFlow, type NfdumpTotals, type RunSoftflowdOptions } from '@flowhound/testkit';
import { cli, eventually, ROOT, startFlowhound, storedSums, storedTotals, udpRelayFrom, type FlowhoundProcess, type Totals } from './harness.ts';

const PCAP = join(ROOT, 'test/fixtures/skeleton.pcap');

/** test/fixtures/README.md: what nfcapd stores from softflowd's replay of skeleton.pcap. */
const ALL: Totals = { flows: 156, packets: 1637, bytes: 432_425 };
const IPV4: Totals = { flows: 148, packets: 1519, bytes: 375_060 };

describe('real exporters → flowhound standalone stores what nfcapd stores from the same packets', () => {
  const dirs: string[] = [];
  const tmp = (p: string) => {
    const d = mkdtempSync(join(tmpdir(), p));
    dirs.push(d);
    return d;
  };
  let fh: FlowhoundProcess | undefined;
  let server = '';
  let udpPort = 0;
  let tcpPort = 0;
  const started = Date.now();

  beforeAll(async () => {
    udpPort = await freePort('udp');
    tcpPort = await freePort('tcp');
    server = `127.0.0.1:${await freePort('tcp')}`;
    const dir = tmp('fh-exporters-');
    // IPFIX over TCP listens on a port of its own (the default, 0.0.0.0:4739, may be taken).
    const config = join(dir, 'flowhound.yaml');
    writeFileSync(config, JSON.stringify({ ingest: { listenTcp: [`127.0.0.1:${tcpPort}`] } }));
    fh = await startFlowhound('standalone', ['standalone', '--config', config, '--data', join(dir, 'data')], {
      FLOWHOUND_INGEST_LISTEN: `127.0.0.1:${udpPort}`,
      FLOWHOUND_GRPC_LISTEN: server,
    });
  });

  afterAll(async () => {
    await fh?.stop();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
    console.log(`exporters.test.ts: ${(Date.now() - started) / 1000} s`);
  });

  /**
   * Tees what `send` sends to the relay into flowhound and a fresh nfcapd,
   * from `source`; returns nfcapd (stopped, files kept until cleanup).
   */
  async function tee(source: string, send: (relayPort: number) => Promise<void>): Promise<Nfcapd> {
    const nfcapd = await startNfcapd({ port: await freePort('udp') });
    const relay = await udpRelayFrom(source, (pkt) => [
      [udpPort, pkt],
      [nfcapd.port, pkt],
    ]);
    try {
      await send(relay.port);
      // The exporter has exited; give the last datagrams time to cross loopback.
      await delay(300);
      expect(relay.packets).toBeGreaterThan(0);
    } finally {
      await relay.close();
    }
    await nfcapd.stop();
    return nfcapd;
  }

  const softflowd = (opts: Partial<RunSoftflowdOptions> & Pick<RunSoftflowdOptions, 'version'>) => async (port: number) => {
    const r = await runSoftflowd({ pcap: PCAP, host: '127.0.0.1', port, ...opts });
    expect(r.failures).toBe(0);
  };

  /**
   * Every record as "src dst proto sport dport → bytes/packets[/rev_bytes/rev_packets]", sorted:
   * flowhound's from the CLI, nfcapd's from nfdump. ICMP carries type·code in the destination port.
   */
  const COLS = ['src_addr', 'dst_addr', 'protocol', 'src_port', 'dst_port', 'icmp_type_code', 'bytes', 'packets', 'rev_bytes', 'rev_packets'];
  async function storedRecords(filter: string, withReverse: boolean): Promise<string[]> {
    const out = await cli(['flows', '--server', server, '--filter', filter, '--limit', '1000000', '--format', 'ndjson', '--columns', COLS.join(',')]);
    return out
      .split('\n')
      .filter(Boolean)
      .map((l) => {
        const r = JSON.parse(l) as Record<string, string | number>;
        const icmp = r.protocol === 1 || r.protocol === 58;
        const dport = icmp ? Number(r.icmp_type_code) || Number(r.dst_port) : r.dst_port;
        const rev = withReverse ? `/${r.rev_bytes}/${r.rev_packets}` : '';
        return `${r.src_addr} ${r.dst_addr} ${r.protocol} ${icmp ? 0 : r.src_port} ${dport} → ${r.bytes}/${r.packets}${rev}`;
      })
      .sort();
  }
  const nfdumpRecords = (flows: NfdumpFlow[], withReverse: boolean) =>
    flows.map((f) => `${f.src} ${f.dst} ${f.proto} ${f.sport} ${f.dport} → ${f.bytes}/${f.packets}${withReverse ? `/${f.outBytes}/${f.outPackets}` : ''}`).sort();

  /** What flowhound stored from `source`, once it has at least `want.flows` rows. */
  const stored = (filter: string, want: { flows: number }) => eventually(() => storedTotals(server, filter), (t) => t.flows >= want.flows, 45_000);

  /** One softflowd run over UDP: flowhound's totals equal nfcapd's, and nfcapd's equal the fixture's. */
  const udpCase = (name: string, source: string, opts: Partial<RunSoftflowdOptions> & Pick<RunSoftflowdOptions, 'version'>, truth: Totals) =>
    it(`stores what nfcapd stores from ${name}: ${truth.flows} flows, ${truth.packets} packets, ${truth.bytes} bytes`, async () => {
      const nfcapd = await tee(source, softflowd(opts));
      const want = await nfcapd.summary();
      const flows = await nfcapd.flows();
      await nfcapd.cleanup();
      expect(want).toEqual(truth);
      const filter = `exporter_address = ${source}`;
      const got = await stored(filter, want);
      expect(got).toEqual(want);
      // Record by record, too: the same flow keys with the same counters.
      expect(await storedRecords(filter, false)).toEqual(nfdumpRecords(flows, false));
    });

  udpCase('softflowd -v 5 (IPv4 only)', '127.0.0.5', { version: 5 }, IPV4);
  udpCase('softflowd -v 9', '127.0.0.9', { version: 9 }, ALL);
  udpCase('softflowd -v 10', '127.0.0.10', { version: 10 }, ALL);

  it('stores softflowd -v 10 -b biflows as nfcapd does: 81 records, forward and reverse counters each equal', async () => {
    const nfcapd = await tee('127.0.0.11', softflowd({ version: 10, bidirectional: true }));
    const want = await nfcapd.summary();
    const flows = await nfcapd.flows();
    await nfcapd.cleanup();
    // nfdump's totals count both directions of a biflow.
    expect(want).toEqual({ flows: 81, packets: ALL.packets, bytes: ALL.bytes });
    const fwd = { bytes: 0, packets: 0, rev_bytes: 0, rev_packets: 0 };
    for (const f of flows) {
      fwd.bytes += f.bytes;
      fwd.packets += f.packets;
      fwd.rev_bytes += f.outBytes;
      fwd.rev_packets += f.outPackets;
    }
    const filter = 'exporter_address = 127.0.0.11';
    await stored(filter, want);
    // rev_bytes / rev_packets: the RFC 5103 reverse counters (PEN 29305) in the same record.
    const got = await storedSums(server, filter, ['bytes', 'packets', 'rev_bytes', 'rev_packets'] as const);
    expect(got).toEqual({ flows: 81, ...fwd });
    expect(got.bytes + got.rev_bytes).toBe(want.bytes);
    expect(got.packets + got.rev_packets).toBe(want.packets);
    expect(await storedRecords(filter, true)).toEqual(nfdumpRecords(flows, true));
  });

  it('stores softflowd -v 10 -P tcp (IPFIX over TCP, which nfcapd does not take) as nfcapd stores softflowd -v 10 over UDP', async () => {
    // The oracle: the same replay over UDP into nfcapd alone.
    const nfcapd = await startNfcapd({ port: await freePort('udp') });
    await softflowd({ version: 10 })(nfcapd.port);
    await delay(300);
    const want = await nfcapd.summary();
    const flows = await nfcapd.flows();
    await nfcapd.cleanup();
    expect(want).toEqual(ALL);
    // softflowd connects to flowhound itself; its source is 127.0.0.1, used by no other run.
    const r = await runSoftflowd({ pcap: PCAP, host: '127.0.0.1', port: tcpPort, version: 10, transport: 'tcp' });
    expect(r.failures, r.output).toBe(0);
    expect(r.records).toBe(ALL.flows);
    const filter = 'exporter_address = 127.0.0.1 and flow_version = 10';
    const got = await stored(filter, want);
    expect(got).toEqual(want);
    expect(await storedRecords(filter, false)).toEqual(nfdumpRecords(flows, false));
  });

  describe("nfdump's nfreplay, from flows nfcapd captured off softflowd -v 9", () => {
    let capture: Nfcapd | undefined;
    let file = '';

    beforeAll(async () => {
      capture = await startNfcapd({ port: await freePort('udp') });
      await softflowd({ version: 9 })(capture.port);
      await delay(300);
      expect(await capture.summary()).toEqual(ALL);
      const files = readdirSync(capture.dir).filter((f) => f.startsWith('nfcapd.'));
      expect(files).toHaveLength(1);
      file = join(capture.dir, files[0]);
    });

    afterAll(async () => {
      await capture?.cleanup();
    });

    for (const [version, source, truth] of [
      [9, '127.0.0.12', ALL],
      [5, '127.0.0.13', IPV4],
    ] as const) {
      it(`stores what nfcapd stores from nfreplay -v ${version}: ${truth.flows} flows`, async () => {
        const nfcapd = await tee(source, async (port) => {
          await runTool('nfreplay', ['-r', file, '-H', '127.0.0.1', '-p', String(port), '-v', String(version)], {
            hint: 'install it with `apt-get install nfdump` (Debian/Ubuntu)',
            timeoutMs: 30_000,
          });
        });
        const want: NfdumpTotals = await nfcapd.summary();
        const flows = await nfcapd.flows();
        await nfcapd.cleanup();
        // v5 cannot carry the 8 IPv6 flows; nfreplay leaves them out.
        expect(want).toEqual(truth);
        const filter = `exporter_address = ${source} and flow_version = ${version}`;
        const got = await stored(filter, want);
        expect(got).toEqual(want);
        expect(await storedRecords(filter, false)).toEqual(nfdumpRecords(flows, false));
      });
    }
  });
});
