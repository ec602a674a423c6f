import { afterEach, describe, expect, it } from 'vitest';
import type { IngestService } from './service.ts';
import { collect, fixturePayloads, ipfixPacket, ipfixSet, offlineRecords, splitTemplates, startIngest, udpSender, until } from './test-util.ts';

const v10 = fixturePayloads('softflowd-v10.pcap');

describe('ingest with several worker threads on one port', () => {
  const running: IngestService[] = [];
  afterEach(async () => {
    await Promise.all(running.splice(0).map((s) => s.stop()));
  });

  it('decodes data at one worker with a template that reached another, through the main thread', async () => {
    const { svc, bus } = await startIngest({ workers: 2 });
    running.push(svc);
    const got = await collect(bus);
    const parts = v10.map(splitTemplates);
    const templates = parts.flatMap((p) => (p.templates ? [p.templates] : []));
    const data = parts.flatMap((p) => (p.data ? [p.data] : []));
    const reps = 8;
    const want = offlineRecords([...templates, ...data]) * reps;
    // One exporter address, 16 source ports: SO_REUSEPORT hashes them over both workers.
    const senders = await Promise.all(Array.from({ length: 16 }, () => udpSender()));
    await senders[0].send(svc.boundPorts[0], templates);
    await until(() => svc.registry.kvWrites >= 3);
    for (let r = 0, i = 0; r < reps; r++) for (const d of data) await senders[1 + (i++ % 15)].send(svc.boundPorts[0], [d]);
    await until(() => got.rows >= want);
    await Promise.all(senders.map((s) => s.close()));
    expect(got.rows).toBe(want);
    // Batch ids name the worker.
    expect(new Set(got.ids.map((id) => id.replace(/^test@[0-9a-z]+\//, '').replace(/:\d+$/, '')))).toEqual(new Set(['0.0', '1.1']));
    await until(() => svc.pool!.workerStats().every((s) => (s?.decoder.records ?? 0) > 0), 3000);
    const perWorker = svc.pool!.workerStats().map((s) => s?.decoder.records ?? 0);
    expect(perWorker.every((n) => n > 0)).toBe(true);
    expect(perWorker.reduce((a, b) => a + b, 0)).toBe(want);
    expect(svc.decoderCounters().records).toBe(want);
  });

  it('sums the workers’ view of one exporter', async () => {
    const { svc } = await startIngest({ workers: 2 });
    running.push(svc);
    const senders = await Promise.all(Array.from({ length: 8 }, () => udpSender()));
    for (const s of senders) await s.send(svc.boundPorts[0], v10);
    await Promise.all(senders.map((s) => s.close()));
    await until(() => svc.receiverCounters().packets >= 8 * v10.length);
    await until(() => (svc.book.total('127.0.0.1')?.packets ?? 0) >= 8 * v10.length);
    const t = svc.book.total('127.0.0.1')!;
    expect(t.packets).toBe(8 * v10.length);
    expect(t.records).toBe(svc.decoderCounters().records);
  });

  it('hands a fact learnt from options data at one worker to the others (system init time for uptime-relative times)', async () => {
    const { svc } = await startIngest({ workers: 2 });
    running.push(svc);
    const first = await udpSender();
    await first.send(svc.boundPorts[0], v10.slice(0, 1));
    await until(() => svc.options.kvWrites >= 1 && svc.registry.kvWrites >= 5);
    await new Promise((r) => setTimeout(r, 50));
    // The kernel spreads senders over the workers by a hash of their
    // address and port: send from fresh sockets until every worker has
    // decoded data (usually two or three), so the fact must have crossed.
    const rest = offlineRecords(v10) - offlineRecords(v10.slice(0, 1));
    const everyWorker = () => svc.pool!.workerStats().every((s) => (s?.decoder.records ?? 0) > 0);
    let sent = 0;
    for (let i = 0; i < 40 && !everyWorker(); i++) {
      const s = await udpSender();
      await s.send(svc.boundPorts[0], v10.slice(1));
      await s.close();
      sent++;
      const want = offlineRecords(v10.slice(0, 1)) + sent * rest;
      await until(() => svc.decoderCounters().records >= want);
      // Worker statistics reach the main thread periodically: wait for them.
      await until(everyWorker, 1500);
    }
    await first.close();
    expect(everyWorker()).toBe(true);
    expect(svc.decoderCounters().records).toBe(offlineRecords(v10.slice(0, 1)) + sent * rest);
    expect(svc.decoderCounters().times_estimated).toBe(0);
  });

  it('restarts a worker that dies, keeps its counters, and decodes again on the same port', async () => {
    const { svc, bus } = await startIngest({ workers: 2 });
    running.push(svc);
    const got = await collect(bus);
    const want = offlineRecords(v10);
    const tx = await udpSender();
    await tx.send(svc.boundPorts[0], v10);
    await until(() => got.rows >= want && svc.decoderCounters().records >= want);
    const before = svc.receiverCounters().packets;
    await svc.pool!.threads()[0]!.terminate();
    await until(() => svc.counters.workerRestarts === 1 && svc.pool!.threads().every((w) => w !== undefined) && svc.pool!.workerStats().every((s) => s !== undefined), 5000);
    expect(svc.counters.workerRestarts).toBe(1);
    expect(svc.receiverCounters().packets).toBeGreaterThanOrEqual(before);
    // Templates the registry knows reach the new worker at its start.
    const senders = await Promise.all(Array.from({ length: 8 }, () => udpSender()));
    for (const s of senders) await s.send(svc.boundPorts[0], v10.slice(1));
    await Promise.all([tx, ...senders].map((s) => s.close()));
    const more = 8 * (offlineRecords(v10) - offlineRecords(v10.slice(0, 1)));
    await until(() => got.rows >= want + more);
    expect(got.rows).toBe(want + more);
  });

  it('counts the held data sets lost with a worker that dies (as of its last statistics), and those of every worker at a clean stop', async () => {
    const { svc } = await startIngest({ workers: 2 });
    const heldBy = (i: number) => svc.pool!.workerStats()[i]?.counters.held ?? 0;
    const everyWorker = () => heldBy(0) > 0 && heldBy(1) > 0;
    // Data for a template never defined, from fresh sockets until both workers hold some (the kernel hashes senders over them).
    let sent = 0;
    for (let i = 0; i < 40 && !everyWorker(); i++) {
      const s = await udpSender();
      await s.send(svc.boundPorts[0], [ipfixPacket(5, ipfixSet(300, [10, 0, 0, 1, 10, 0, 0, 2]))]);
      await s.close();
      sent++;
      await until(() => heldBy(0) + heldBy(1) === sent, 1500);
    }
    expect(everyWorker()).toBe(true);
    expect(heldBy(0) + heldBy(1)).toBe(sent);
    const lost = heldBy(0);
    await svc.pool!.threads()[0]!.terminate();
    await until(() => svc.counters.workerRestarts === 1 && svc.pool!.workerStats()[0] !== undefined, 5000);
    expect(svc.receiverCounters().heldDroppedAtShutdown).toBe(lost);
    await svc.stop();
    const c = svc.receiverCounters();
    expect(c.heldDroppedAtShutdown).toBe(sent);
    expect(c.held - c.heldReleased - c.heldDropped).toBe(0);
  });
});
