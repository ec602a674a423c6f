// Templates across replicas on one bus (the in-memory one here; NATS in
// replicas.int.test.ts): withdrawals reach the other replicas and the
// registry, a redefinition replaces, a registry expiry withdraws nothing.
import { afterEach, describe, expect, it } from 'vitest';
import { KV_BUCKETS, MemoryBus, templateKvKey } from '@flowhound/bus';
import type { IngestService } from './service.ts';
import { captureLogger, collect, ipfixPacket, ipfixSet as set, startIngest, templateRecord, udpSender, until, withdrawalRecord } from './test-util.ts';

const EXPORTER = '127.0.0.1';
const DOMAIN = 7;

const ipfix = (...sets: number[][]) => ipfixPacket(DOMAIN, ...sets);
/** Data templates: sourceIPv4Address, destinationIPv4Address (and octetDeltaCount for 301). */
const DATA_300 = templateRecord(300, [[8, 4], [12, 4]]);
const DATA_301 = templateRecord(301, [[8, 4], [12, 4], [1, 8]]);
/** Options template 400: scope observationDomainId, then samplingInterval. */
const OPTIONS_400 = templateRecord(400, [[149, 4], [34, 4]], 1);
const withdraw = (setId: number, templateId: number) => ipfix(set(setId, withdrawalRecord(templateId)));

/** Template ids of the exporter's domain a replica's decoder knows. */
function idsAt(svc: IngestService): number[] {
  const store = svc.receiver!.templates;
  return [300, 301, 400].filter((id) => store.get(EXPORTER, 10, DOMAIN, id) !== undefined);
}

describe('templates across replicas', () => {
  const running: IngestService[] = [];
  afterEach(async () => {
    await Promise.all(running.splice(0).map((s) => s.stop()));
  });

  it('withdraws a template, and all data templates of a domain, at every replica and in the registry; a redefinition comes back everywhere', async () => {
    const bus = new MemoryBus();
    const a = (await startIngest({ replicaId: 'a' }, bus)).svc;
    const b = (await startIngest({ replicaId: 'b' }, bus)).svc;
    running.push(a, b);
    const kv = await bus.kv(KV_BUCKETS.templates);
    const keys = async () => (await kv.keys()).sort();
    const key = (id: number) => templateKvKey(EXPORTER, 10, DOMAIN, id);
    const tx = await udpSender();
    await tx.send(a.boundPorts[0], [ipfix(set(2, [...DATA_300, ...DATA_301]), set(3, OPTIONS_400))]);
    expect(await until(() => idsAt(b).length === 3)).toBe(true);
    expect(await keys()).toEqual([key(300), key(301), key(400)]);

    // One template.
    await tx.send(a.boundPorts[0], [withdraw(2, 300)]);
    expect(await until(() => idsAt(a).length === 2)).toBe(true);
    expect(await until(() => idsAt(b).length === 2)).toBe(true);
    expect(idsAt(b)).toEqual([301, 400]);
    expect(await keys()).toEqual([key(301), key(400)]);
    expect(b.registry.remoteWithdrawals).toBe(1);

    // Withdraw-all in a Template Set: the data templates go, the options template stays.
    await tx.send(a.boundPorts[0], [withdraw(2, 2)]);
    expect(await until(() => idsAt(b).length === 1)).toBe(true);
    expect(idsAt(a)).toEqual([400]);
    expect(idsAt(b)).toEqual([400]);
    expect(await keys()).toEqual([key(400)]);

    // A replica that starts now reads back only what was not withdrawn.
    const c = (await startIngest({ replicaId: 'c' }, bus)).svc;
    running.push(c);
    expect(idsAt(c)).toEqual([400]);
    expect([...c.registry.known()].map((t) => t.def.templateId)).toEqual([400]);

    // A withdrawn id defined again is a new template everywhere.
    await tx.send(a.boundPorts[0], [ipfix(set(2, DATA_300))]);
    expect(await until(() => idsAt(b).length === 2 && idsAt(c).length === 2)).toBe(true);
    expect(idsAt(c)).toEqual([300, 400]);
    expect(await keys()).toEqual([key(300), key(400)]);

    // Withdraw-all in an Options Template Set, received by another replica.
    await tx.send(b.boundPorts[0], [withdraw(3, 3)]);
    expect(await until(() => idsAt(a).length === 1 && idsAt(c).length === 1)).toBe(true);
    expect([idsAt(a), idsAt(b), idsAt(c)]).toEqual([[300], [300], [300]]);
    expect(await keys()).toEqual([key(300)]);
    await tx.close();
  });

  it('keeps a template the registry expired (purged) in the replicas’ memory: expiry is not a withdrawal', async () => {
    const bus = new MemoryBus();
    const a = (await startIngest({ replicaId: 'a' }, bus)).svc;
    const b = (await startIngest({ replicaId: 'b' }, bus)).svc;
    running.push(a, b);
    const tx = await udpSender();
    await tx.send(a.boundPorts[0], [ipfix(set(2, DATA_300))]);
    await tx.close();
    expect(await until(() => idsAt(b).length === 1)).toBe(true);
    const kv = await bus.kv(KV_BUCKETS.templates);
    await kv.purge(templateKvKey(EXPORTER, 10, DOMAIN, 300));
    await new Promise((r) => setTimeout(r, 20));
    expect(idsAt(a)).toEqual([300]);
    expect(idsAt(b)).toEqual([300]);
    expect(b.registry.remoteWithdrawals).toBe(0);
  });

  it('refuses templates beyond ingest.maxTemplatesPerExporter (all domains together): counted, logged, kept out of the registry, their data dropped at once; the others keep decoding', async () => {
    const { log, lines } = captureLogger();
    const bus = new MemoryBus();
    const { svc } = await startIngest({ maxTemplatesPerExporter: 2 }, bus, log);
    running.push(svc);
    const got = await collect(bus);
    const tx = await udpSender();
    await tx.send(svc.boundPorts[0], [ipfix(set(2, [...DATA_300, ...DATA_301])), ipfixPacket(8, set(2, DATA_300))]);
    expect(await until(() => svc.receiverCounters().templatesRefused === 1)).toBe(true);
    const kv = await bus.kv(KV_BUCKETS.templates);
    expect((await kv.keys()).sort()).toEqual([templateKvKey(EXPORTER, 10, DOMAIN, 300), templateKvKey(EXPORTER, 10, DOMAIN, 301)]);
    expect(lines.some((l) => l.level === 'warn' && l.templateId === 300 && l.domain === 8 && /ingest\.maxTemplatesPerExporter/.test(String(l.msg)))).toBe(true);

    const record = [10, 0, 0, 1, 10, 0, 0, 2];
    await tx.send(svc.boundPorts[0], [ipfix(set(300, record)), ipfixPacket(8, set(300, record))]);
    expect(await until(() => got.rows === 1 && svc.receiverCounters().heldDropped === 1)).toBe(true);
    expect(svc.receiverCounters().held).toBe(0);

    // A withdrawal makes room.
    await tx.send(svc.boundPorts[0], [withdraw(2, 301), ipfixPacket(8, set(2, DATA_300))]);
    expect(await until(() => svc.receiver!.templates.get(EXPORTER, 10, 8, 300) !== undefined)).toBe(true);
    expect(svc.receiverCounters().templatesRefused).toBe(1);
    await tx.close();
    await got.stop();
  });
});
