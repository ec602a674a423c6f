// Two ingest replicas on a real nats-server: templates cross replicas (and
// worker threads) through the registry's KV bucket, and each replica
// writes what it saw from each exporter to fh_exporters.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KV_BUCKETS, NatsBus, type Bus } from '@flowhound/bus';
import { ExporterStats, IngestReplicaStats } from '@flowhound/proto';
import { silentLogger } from '@flowhound/runtime';
import { startNats, type NatsServer } from '@flowhound/testkit';
import { exporterStatsKvKey } from './exporters.ts';
import type { IngestService } from './service.ts';
import { collect, fixturePayloads, ipfixPacket, ipfixSet, offlineRecords, splitTemplates, startIngest, templateRecord, udpSender, until, withdrawalRecord } from './test-util.ts';

const v10 = fixturePayloads('softflowd-v10.pcap');

describe('ingest replicas on NATS', () => {
  let nats: NatsServer;
  const buses: Bus[] = [];
  const running: IngestService[] = [];
  const open = async () => {
    const b = await NatsBus.connect({ servers: nats.url, name: 'test', maxAgeMs: 3_600_000, maxBytes: 64 << 20, ackWaitMs: 5000, log: silentLogger() });
    buses.push(b);
    return b;
  };

  beforeAll(async () => {
    nats = await startNats();
  });
  afterAll(async () => {
    await Promise.all(running.splice(0).map((s) => s.stop()));
    await Promise.all(buses.splice(0).map((b) => b.close()));
    await nats?.stop();
  });

  it('decodes at replica b (two workers) data whose templates reached replica a, and both write their view of the exporter', async () => {
    const a = (await startIngest({ replicaId: 'ingest-a' }, await open())).svc;
    const b = (await startIngest({ replicaId: 'ingest-b', workers: 2 }, await open())).svc;
    running.push(a, b);
    const got = await collect(buses[0], 'replicas-test');
    const parts = v10.map(splitTemplates);
    const templates = parts.flatMap((p) => (p.templates ? [p.templates] : []));
    const data = parts.flatMap((p) => (p.data ? [p.data] : []));
    const want = offlineRecords([...templates, ...data]);
    const tx = await udpSender();
    await tx.send(a.boundPorts[0], templates);
    await tx.send(b.boundPorts[0], data);
    await until(() => got.rows >= want, 20_000);
    expect(got.rows).toBe(want);
    expect(b.registry.remoteTemplates).toBeGreaterThanOrEqual(templates.length);
    await tx.close();

    // Each replica's record of the one exporter, in the KV bucket the registry sums.
    await Promise.all([a.collect(), b.collect()]);
    await new Promise((r) => setTimeout(r, 1200)); // worker statistics reach b's main thread
    await Promise.all([a.writeStats(), b.writeStats()]);
    const kv = await buses[0].kv(KV_BUCKETS.exporters);
    const read = async (replica: string) => ExporterStats.decode((await kv.get(exporterStatsKvKey('127.0.0.1', replica)))!);
    const [sa, sb] = [await read('ingest-a'), await read('ingest-b')];
    expect(sa).toMatchObject({ exporter: '127.0.0.1', replicas: ['ingest-a'], packets: BigInt(templates.length), records: 0n });
    expect(sb).toMatchObject({ exporter: '127.0.0.1', replicas: ['ingest-b'], packets: BigInt(data.length), records: BigInt(want) });
    expect(sb.templateMisses).toBeGreaterThanOrEqual(0n);
    const rkv = await buses[0].kv(KV_BUCKETS.ingestReplicas);
    const rb = IngestReplicaStats.decode((await rkv.get('ingest-b'))!);
    expect(rb).toMatchObject({ replica: 'ingest-b', workers: 2, socketDrops: 0n });
  });

  it('decodes uptime-relative times at replica b with the system init time replica a learnt from options data', async () => {
    const a = (await startIngest({ replicaId: 'opt-a' }, await open())).svc;
    const b = (await startIngest({ replicaId: 'opt-b', workers: 2 }, await open())).svc;
    running.push(a, b);
    const tx = await udpSender();
    // The first message carries the templates, the options data (systemInitTimeMilliseconds) and data.
    await tx.send(a.boundPorts[0], v10.slice(0, 1));
    await until(() => b.options.remoteFacts >= 1 && b.registry.remoteTemplates >= 5, 10_000);
    await new Promise((r) => setTimeout(r, 100)); // the main thread hands them to the workers
    await tx.send(b.boundPorts[0], v10.slice(1));
    await tx.close();
    const want = offlineRecords(v10) - offlineRecords(v10.slice(0, 1));
    await until(() => b.decoderCounters().records >= want, 10_000);
    expect(b.decoderCounters().records).toBe(want);
    expect(b.decoderCounters().times_estimated).toBe(0);
  });

  it('stops decoding at replica b (two workers) a template withdrawn at replica a, and a replica started later does not read it back', async () => {
    const a = (await startIngest({ replicaId: 'wd-a' }, await open())).svc;
    const b = (await startIngest({ replicaId: 'wd-b', workers: 2 }, await open())).svc;
    running.push(a, b);
    const domain = 77;
    const tx = await udpSender();
    // Data templates 300 and 301, options template 400 (scope observationDomainId, samplingInterval).
    await tx.send(a.boundPorts[0], [
      ipfixPacket(domain, ipfixSet(2, [...templateRecord(300, [[8, 4], [12, 4]]), ...templateRecord(301, [[8, 4], [12, 4], [1, 8]])]), ipfixSet(3, templateRecord(400, [[149, 4], [34, 4]], 1))),
    ]);
    await until(() => b.registry.remoteTemplates >= 3, 10_000);
    await new Promise((r) => setTimeout(r, 100)); // the main thread hands them to the workers
    const data = ipfixPacket(domain, ipfixSet(300, [10, 0, 0, 1, 10, 0, 0, 2]));
    await tx.send(b.boundPorts[0], [data]);
    expect(await until(() => b.decoderCounters().records === 1, 5000)).toBe(true);

    // Withdraw-all in a Template Set at a: the data templates leave the registry and b's workers.
    await tx.send(a.boundPorts[0], [ipfixPacket(domain, ipfixSet(2, withdrawalRecord(2)))]);
    expect(await until(() => b.registry.remoteWithdrawals === 2, 10_000)).toBe(true);
    await new Promise((r) => setTimeout(r, 100));
    const misses = b.decoderCounters().template_misses ?? 0;
    await tx.send(b.boundPorts[0], [data]);
    expect(await until(() => (b.decoderCounters().template_misses ?? 0) === misses + 1, 5000)).toBe(true);
    expect(b.decoderCounters().records).toBe(1);
    await tx.close();

    const c = (await startIngest({ replicaId: 'wd-c' }, await open())).svc;
    running.push(c);
    const known = [...c.registry.known()].filter((t) => t.def.domain === domain).map((t) => t.def.templateId);
    expect(known).toEqual([400]);
  });
});
