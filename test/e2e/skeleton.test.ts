// Walking skeleton, end to end: the fixture pcap replayed by the real
// softflowd (NetFlow v9 and IPFIX) into flowhound — standalone, then the
// distributed layout with every service in its own process on a real
// nats-server — and the stored flows asked back through the CLI. The
// oracle is nfcapd, fed the very same export packets.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, runSoftflowd, startNats, startNfcapd } from '@flowhound/testkit';
import { cli, eventually, ROOT, startFlowhound, storedTotals, splitTemplates, udpRelay, type FlowhoundProcess, type Totals } from './harness.ts';

const PCAP = join(ROOT, 'test/fixtures/skeleton.pcap');

/** Replays the pcap through softflowd into a relay that forwards to `ports`. */
async function replay(version: 9 | 10, route: (pkt: Buffer) => [number, Buffer][]): Promise<number> {
  const relay = await udpRelay(route);
  try {
    await runSoftflowd({ pcap: PCAP, host: '127.0.0.1', port: relay.port, version });
    // softflowd has exited; give the last datagrams time to cross loopback.
    await new Promise((r) => setTimeout(r, 300));
    return relay.packets;
  } finally {
    await relay.close();
  }
}

async function oracle(version: 9 | 10, send: (nfcapdPort: number) => Promise<void>): Promise<Totals> {
  const port = await freePort('udp');
  const nfcapd = await startNfcapd({ port });
  await send(port);
  await nfcapd.stop();
  return nfcapd.summary();
}

describe('walking skeleton: softflowd → flowhound → CLI equals softflowd → nfcapd', () => {
  const procs: FlowhoundProcess[] = [];
  const dirs: string[] = [];
  const tmp = (p: string) => {
    const d = mkdtempSync(join(tmpdir(), p));
    dirs.push(d);
    return d;
  };

  afterAll(async () => {
    await Promise.all(procs.map((p) => p.stop()));
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  describe('standalone', () => {
    let server = '';
    let v9Port = 0;
    let ipfixPort = 0;

    beforeAll(async () => {
      v9Port = await freePort('udp');
      ipfixPort = await freePort('udp');
      const grpcPort = await freePort('tcp');
      server = `127.0.0.1:${grpcPort}`;
      procs.push(
        await startFlowhound('standalone', ['standalone', '--data', tmp('fh-standalone-')], {
          FLOWHOUND_INGEST_LISTEN: `127.0.0.1:${v9Port},127.0.0.1:${ipfixPort}`,
          FLOWHOUND_INGEST_LISTEN_TCP: '',
          FLOWHOUND_GRPC_LISTEN: server,
        }),
      );
    });

    for (const version of [9, 10] as const) {
      it(`stores what nfcapd stores from softflowd -v ${version}`, async () => {
        // Both collectors get every packet of one softflowd run.
        const want = await oracle(version, async (nfcapdPort) => {
          const port = version === 9 ? v9Port : ipfixPort;
          const sent = await replay(version, (pkt) => [
            [port, pkt],
            [nfcapdPort, pkt],
          ]);
          expect(sent).toBeGreaterThan(0);
        });
        expect(want.flows).toBeGreaterThan(100);
        const got = await eventually(
          () => storedTotals(server, `flow_version = ${version}`),
          (t) => t.flows >= want.flows,
        );
        expect(got).toEqual(want);
      });
    }

    it('answers a filter and refuses a bad one with its position', async () => {
      const dns = await storedTotals(server, 'flow_version = 9 and proto udp and port 53');
      expect(dns.flows).toBeGreaterThan(0);
      await expect(cli(['flows', '--server', server, '--filter', 'dst_port = 53 and colour = red'])).rejects.toThrow(/position 19: unknown field 'colour'/);
    });

    it('passes every record through stitcher and enrichment into conversations', async () => {
      const flows = await storedTotals(server, '');
      const out = await eventually(
        () => cli(['conversations', '--server', server, '--limit', '1000000', '--format', 'csv', '--columns', 'bytes']),
        (o) => o.trim().split('\n').length - 1 >= flows.flows,
      );
      const rows = out.trim().split('\n').slice(1).map(Number);
      expect(rows.length).toBe(flows.flows);
      expect(rows.reduce((a, b) => a + b, 0)).toBe(flows.bytes);
    });
  });

  describe('distributed: every service its own process on nats-server, two ingest replicas', () => {
    let nats: Awaited<ReturnType<typeof startNats>>;
    let server = '';
    let registry = '';
    let metricsB = '';
    const ingestPorts: number[] = [];

    beforeAll(async () => {
      nats = await startNats();
      const env = { FLOWHOUND_NATS_URL: nats.url };
      server = `127.0.0.1:${await freePort('tcp')}`;
      registry = `127.0.0.1:${await freePort('tcp')}`;
      // chDB allows one process per data folder: writer and query share one.
      procs.push(await startFlowhound('writer+query', ['run', 'writer,query', '--data', tmp('fh-dist-')], { ...env, FLOWHOUND_GRPC_LISTEN: server }));
      procs.push(await startFlowhound('template-registry', ['run', 'template-registry'], { ...env, FLOWHOUND_GRPC_LISTEN: registry }));
      for (const s of ['detector', 'enrichment', 'stitcher']) procs.push(await startFlowhound(s, ['run', s], env));
      metricsB = `127.0.0.1:${await freePort('tcp')}`;
      for (const replica of ['a', 'b']) {
        const port = await freePort('udp');
        ingestPorts.push(port);
        procs.push(
          await startFlowhound(`ingest-${replica}`, ['run', 'ingest'], {
            ...env,
            FLOWHOUND_INGEST_LISTEN: `127.0.0.1:${port}`,
            FLOWHOUND_INGEST_LISTEN_TCP: '',
            FLOWHOUND_INGEST_REPLICA_ID: `ingest-${replica}`,
            FLOWHOUND_METRICS_LISTEN: replica === 'b' ? metricsB : '',
          }),
        );
      }
    }, 120_000);

    afterAll(async () => {
      await Promise.all(procs.splice(0).map((p) => p.stop()));
      await nats?.stop();
    });

    for (const version of [9, 10] as const) {
      it(`decodes every record of softflowd -v ${version} when templates reach one replica and data the other`, async () => {
        const [a, b] = ingestPorts;
        const want = await oracle(version, async (nfcapdPort) => {
          await replay(version, (pkt) => {
            const { templates, data } = splitTemplates(pkt);
            const out: [number, Buffer][] = [[nfcapdPort, pkt]];
            if (templates) out.push([a, templates]);
            if (data) out.push([b, data]);
            return out;
          });
        });
        expect(want.flows).toBeGreaterThan(100);
        const got = await eventually(
          () => storedTotals(server, `flow_version = ${version}`),
          (t) => t.flows >= want.flows,
          45_000,
        );
        expect(got).toEqual(want);
      });
    }

    it('lists the templates in the registry, received by replica a', async () => {
      const out = await cli(['templates', '--server', registry, '--format', 'ndjson']);
      const rows = out.trim().split('\n').map((l) => JSON.parse(l) as { version: number; received_by: string });
      expect(rows.some((r) => r.version === 9)).toBe(true);
      expect(rows.some((r) => r.version === 10)).toBe(true);
      expect(rows.every((r) => r.received_by === 'ingest-a')).toBe(true);
    });

    it('replica b held data sets until the templates came through the registry (its Prometheus counters say so)', async () => {
      const text = await (await fetch(`http://${metricsB}/metrics`)).text();
      const value = (name: string) => Number(new RegExp(`^${name}\\{[^}]*\\} (\\d+)`, 'm').exec(text)?.[1] ?? NaN);
      expect(value('flowhound_ingest_sets_held_total')).toBeGreaterThan(0);
      expect(value('flowhound_ingest_sets_released_total')).toBe(value('flowhound_ingest_sets_held_total'));
      expect(value('flowhound_ingest_sets_expired_total')).toBe(0);
      // b received no template itself, so it wrote none to the registry.
      expect(text).toMatch(/flowhound_ingest_templates_total\{component="ingest",kind="kv_writes"[^}]*\} 0$/m);
      expect(text).toMatch(/flowhound_ingest_templates_total\{component="ingest",kind="remote"[^}]*\} [1-9]/);
    });
  });
});
