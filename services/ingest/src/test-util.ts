// Helpers for ingest's tests (not exported from the package).
import dgram from 'node:dgram';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { metrics } from '@opentelemetry/api';
import { decodeBatch, MemoryBus, subjects, type Bus, type Subscription } from '@flowhound/bus';
import { BatchListSink, FlowDecoder, MemoryTemplateStore, readCapture } from '@flowhound/codec';
import { silentLogger, type Logger } from '@flowhound/runtime';
import { FLOW_COLUMNS, parseIp } from '@flowhound/schema';
import { ingestConfigSchema, type IngestConfig } from './config.ts';
import { IngestService } from './service.ts';

export const FIXTURES = fileURLToPath(new URL('../../../test/fixtures/', import.meta.url));

/** Export payloads of a capture in test/fixtures, in order. */
export function fixturePayloads(name: string): Uint8Array[] {
  return [...readCapture(new Uint8Array(readFileSync(`${FIXTURES}${name}`)))].map((d) => d.payload);
}

/** Records a lone decoder gets from these payloads, all from one exporter. */
export function offlineRecords(payloads: readonly Uint8Array[]): number {
  const sink = new BatchListSink();
  const dec = new FlowDecoder({ templates: new MemoryTemplateStore(), sink });
  const ex = new Uint8Array(16);
  parseIp('127.0.0.1', ex);
  for (const p of payloads) dec.decode(p, '127.0.0.1', ex, Date.now());
  return sink.rows;
}

export function ingestConfig(over: Partial<IngestConfig> = {}): IngestConfig {
  return Object.freeze(
    ingestConfigSchema.parse({
      listen: ['127.0.0.1:0'],
      listenTcp: ['127.0.0.1:0'],
      flushIntervalMs: 50,
      statsIntervalMs: 200,
      replicaId: 'test',
      ...over,
    }),
  );
}

export interface Collector {
  rows: number;
  batches: number;
  ids: string[];
  stop(): Promise<void>;
}

/** Consumes fh.flows.raw and counts the rows that reach the bus. */
export async function collect(bus: Bus, durable = 'test'): Promise<Collector> {
  const c = { rows: 0, batches: 0, ids: [] as string[] } as Collector;
  const sub: Subscription = await bus.consume({
    stream: 'flows',
    durable,
    filter: subjects.flowsRawAll,
    handler: async (m) => {
      // A copy: decodeBatch's Buffer.slice() of string-column offsets is a view, not a copy,
      // when NATS hands out a Buffer inside a larger one (reported; packages/bus is not ingest's).
      const d = decodeBatch(new Uint8Array(m.data), FLOW_COLUMNS);
      c.rows += d.batch.rows;
      c.batches++;
      c.ids.push(d.batchId);
    },
  });
  c.stop = () => sub.stop();
  return c;
}

export async function startIngest(over: Partial<IngestConfig> = {}, bus: Bus = new MemoryBus(), log: Logger = silentLogger()): Promise<{ svc: IngestService; bus: Bus }> {
  const svc = new IngestService(ingestConfig(over), { bus, log, meter: metrics.getMeter('test') });
  await svc.start();
  return { svc, bus };
}

/** A logger that keeps every line (parsed), for tests that check what is logged. */
export function captureLogger(): { log: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const at =
    (level: string) =>
    (a: unknown, b?: string): void =>
      void lines.push(typeof a === 'string' ? { level, msg: a } : { ...(a as Record<string, unknown>), level, msg: b ?? '' });
  const log = { trace: at('trace'), debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error'), fatal: at('fatal') } as Record<string, unknown>;
  log.child = () => log;
  return { log: log as unknown as Logger, lines };
}

/** A UDP socket on 127.0.0.1 that sends payloads, paced a little so loopback never drops. */
export async function udpSender(): Promise<{ port: number; send(port: number, payloads: readonly Uint8Array[]): Promise<void>; close(): Promise<void> }> {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
  return {
    port: s.address().port,
    async send(port, payloads) {
      let n = 0;
      for (const p of payloads) {
        await new Promise<void>((r, j) => s.send(p, port, '127.0.0.1', (err) => (err ? j(err) : r())));
        if (++n % 50 === 0) await new Promise((r) => setTimeout(r, 1));
      }
    },
    close: () => new Promise((r) => s.close(() => r())),
  };
}

/** Polls until `ok()` or the time is up. */
export async function until(ok: () => boolean, timeoutMs = 10_000): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  while (!ok()) {
    if (Date.now() > end) return false;
    await new Promise((r) => setTimeout(r, 20));
  }
  return true;
}

/**
 * Splits an IPFIX or NetFlow v9 message into one with its template and
 * options-template sets and one with its data sets (either may be null).
 */
export function splitTemplates(p: Uint8Array): { templates: Uint8Array | null; data: Uint8Array | null } {
  const version = (p[0] << 8) | p[1];
  const hl = version === 10 ? 16 : 20;
  const tpl: Uint8Array[] = [];
  const data: Uint8Array[] = [];
  for (let o = hl; o + 4 <= p.length; ) {
    const id = (p[o] << 8) | p[o + 1];
    const len = (p[o + 2] << 8) | p[o + 3];
    if (len < 4) break;
    (id < 256 ? tpl : data).push(p.subarray(o, o + len));
    o += len;
  }
  const build = (sets: Uint8Array[]) => {
    if (sets.length === 0) return null;
    const b = Buffer.concat([p.subarray(0, hl), ...sets]);
    if (version === 10) b.writeUInt16BE(b.length, 2);
    else b.writeUInt16BE(sets.length, 2);
    return new Uint8Array(b);
  };
  return { templates: build(tpl), data: build(data) };
}

// Hand-built IPFIX messages for template tests.
const be16 = (v: number) => [(v >> 8) & 255, v & 255];
const be32 = (v: number) => [(v >>> 24) & 255, (v >>> 16) & 255, (v >>> 8) & 255, v & 255];

/** An IPFIX set: id, length, body. */
export function ipfixSet(id: number, body: number[]): number[] {
  return [...be16(id), ...be16(body.length + 4), ...body];
}

/** An IPFIX message of observation domain `domain` carrying `sets`. */
export function ipfixPacket(domain: number, ...sets: number[][]): Uint8Array {
  const body = sets.flat();
  return Uint8Array.from([...be16(10), ...be16(16 + body.length), ...be32(1_800_000_000), ...be32(0), ...be32(domain), ...body]);
}

/** A template record (IPFIX, IANA elements): id, field count, then [element, length] pairs; `scope` > 0 for an Options Template Set. */
export function templateRecord(templateId: number, fields: readonly (readonly [number, number])[], scope = 0): number[] {
  return [...be16(templateId), ...be16(fields.length), ...(scope > 0 ? be16(scope) : []), ...fields.flatMap(([id, len]) => [...be16(id), ...be16(len)])];
}

/** A template withdrawal record (field count 0); the set id as template id withdraws all of the set's kind. */
export function withdrawalRecord(templateId: number): number[] {
  return [...be16(templateId), ...be16(0)];
}
