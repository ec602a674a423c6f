import { afterEach, describe, expect, it } from 'vitest';
import { decodeBatch, subjects, type Bus } from '@flowhound/bus';
import { FLOW_COLUMNS, formatIp } from '@flowhound/schema';
import { fixturePayloads, startIngest, udpSender, until } from './test-util.ts';
import type { IngestService } from './service.ts';

// softflowd -v 9 announces sampling 1 (unsampled) in options data; v5 from
// softflowd carries no sampling interval in its header.
const v9 = fixturePayloads('softflowd-v9.pcap');
const v5 = fixturePayloads('softflowd-v5.pcap');

interface Row {
  exporter: string;
  version: number;
  sampling: number;
  known: number;
  bytes: number;
  scaled: number;
}

/** Every row the ingest service publishes, with its sampling columns. */
async function published(bus: Bus): Promise<Row[]> {
  const rows: Row[] = [];
  await bus.consume({
    stream: 'flows',
    durable: 't',
    filter: subjects.flowsRawAll,
    handler: async (m) => {
      const b = decodeBatch(new Uint8Array(m.data), FLOW_COLUMNS).batch;
      for (let r = 0; r < b.rows; r++) {
        rows.push({
          exporter: formatIp(b.column('exporter_address') as Uint8Array, r * 16),
          version: (b.column('flow_version') as Uint8Array)[r],
          sampling: (b.column('sampling_interval') as Uint32Array)[r],
          known: (b.column('sampling_known') as Uint8Array)[r],
          bytes: (b.column('bytes') as Float64Array)[r],
          scaled: (b.column('bytes_scaled') as Float64Array)[r],
        });
      }
    },
  });
  return rows;
}

describe('sampling from configuration', () => {
  const running: IngestService[] = [];
  afterEach(async () => {
    await Promise.all(running.splice(0).map((s) => s.stop()));
  });

  it('an override replaces what the exporter says, a default fills in where it says nothing, first matching rule wins', async () => {
    const { svc, bus } = await startIngest({
      sampling: [
        { exporters: ['127.0.0.1/32'], default: 0, override: 0 }, // listed first, but sets nothing: the decoder falls through to what the exporter sent
        { exporters: ['10.0.0.0/8'], default: 0, override: 1000 },
      ],
    });
    running.push(svc);
    const rows = await published(bus);
    const tx = await udpSender();
    await tx.send(svc.boundPorts[0], v5);
    await until(() => rows.length >= 148);
    await tx.close();
    // v5 from softflowd says nothing: the rate stays unknown and is flagged.
    expect(rows.length).toBe(148);
    expect(rows.every((r) => r.version === 5 && r.known === 0 && r.scaled === r.bytes)).toBe(true);
    await svc.stop();
    running.pop();

    const second = await startIngest({ sampling: [{ exporters: ['127.0.0.0/8'], default: 100, override: 0 }] });
    running.push(second.svc);
    const rows2 = await published(second.bus);
    const tx2 = await udpSender();
    await tx2.send(second.svc.boundPorts[0], v5);
    await until(() => rows2.length >= 148);
    await tx2.close();
    // The default fills the silence: 1 in 100, scaled counters 100×.
    expect(rows2.length).toBe(148);
    expect(rows2.every((r) => r.sampling === 100 && r.known === 1 && r.scaled === r.bytes * 100)).toBe(true);

    const third = await startIngest({ sampling: [{ exporters: [], default: 0, override: 10 }] });
    running.push(third.svc);
    const rows3 = await published(third.bus);
    const tx3 = await udpSender();
    await tx3.send(third.svc.boundPorts[0], v9);
    await until(() => rows3.length >= 156);
    await tx3.close();
    // softflowd v9 announces 1 in 1; the override says 1 in 10 and wins.
    expect(rows3.length).toBe(156);
    expect(rows3.every((r) => r.sampling === 10 && r.known === 1 && r.scaled === r.bytes * 10)).toBe(true);
  });
});
