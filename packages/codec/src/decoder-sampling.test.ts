import { describe, expect, it } from 'vitest';
import { parseIp } from '@flowhound/schema';
import { BatchListSink, FlowDecoder, type FlowDecoderOptions, type SamplingConfig } from './decoder.ts';
import { MemoryTemplateStore } from './template.ts';
import { be, fixture, ipfixMessage, ipfixOptionsTemplate, ipfixTemplate, rowsOf, set, v5Packet, v9OptionsTemplate, v9Packet, v9Template, vector } from './test-util.ts';

const ADDR = new Uint8Array(16);
parseIp('192.0.2.1', ADDR);
const RECEIVED = 1_800_000_000_000;

function setup(opts: Partial<FlowDecoderOptions> = {}) {
  const sink = new BatchListSink(4096);
  const events: string[] = [];
  const decoder = new FlowDecoder({ templates: new MemoryTemplateStore(), sink, onOptionsData: (_e, d, k, key, v) => events.push(`${d} ${k} ${key}=${v}`), ...opts });
  const decode = (...ps: Uint8Array[]) => {
    for (const p of ps) decoder.decode(p, 'x', ADDR, RECEIVED);
  };
  return { decoder, decode, events, rows: () => rowsOf(sink.batches()) };
}

const SRC = be.ip4('10.0.0.1');

describe('sampling rate', () => {
  it('takes the NetFlow v5 header’s interval and scales bytes and packets with it', () => {
    const s = setup();
    s.decode(vector('netflow5_test_juniper_mx80'));
    // Header: sampling interval 1000 (tshark cflow.samplerate).
    const r = s.rows()[0];
    expect(r).toMatchObject({ bytes: 1500, packets: 1, sampling_interval: 1000, sampling_known: 1, bytes_scaled: 1_500_000, packets_scaled: 1000 });
    expect(s.decoder.counters.records_sampling_unknown).toBe(0);
  });

  it('keeps and flags a flow without a known rate: scaled counts stay as received', () => {
    const s = setup();
    s.decode(vector('netflow5_test_microtik'));
    for (const r of s.rows()) expect(r).toMatchObject({ sampling_interval: 0, sampling_known: 0, bytes_scaled: r.bytes, packets_scaled: r.packets });
    expect(s.decoder.counters.records_sampling_unknown).toBe(30);
  });

  it('gives a NetFlow v9 record the rate of the sampler its samplerId names (Cisco sampler options)', () => {
    const s = setup();
    // Options template as Cisco IOS-XR sends it (ASR 9000 vector template 257): scope System; samplerId, samplerRandomInterval, samplerMode.
    const opt = v9OptionsTemplate(257, [[1, 4]], [
      [48, 2],
      [50, 4],
      [49, 1],
    ]);
    const sampler = (id: number, n: number) => [...be.u32(0), ...be.u16(id), ...be.u32(n), 2];
    const tpl = v9Template(260, [
      [8, 4],
      [1, 4],
      [2, 4],
      [48, 1],
    ]);
    const rec = (samplerId: number) => [...SRC, ...be.u32(100), ...be.u32(2), samplerId];
    s.decode(v9Packet([opt, set(257, [...sampler(1, 100), ...sampler(2, 1000), 0, 0]), tpl, set(260, [...rec(1), ...rec(2), ...rec(3)])], 5));
    expect(s.rows().map((r) => [r.sampling_interval, r.sampling_known, r.bytes_scaled, r.packets_scaled])).toEqual([
      [100, 1, 10_000, 200],
      [1000, 1, 100_000, 2000],
      [0, 0, 100, 2], // sampler 3 never announced
    ]);
    expect(s.events).toEqual(['0 sampling_rate 1=100', '0 sampling_rate 2=1000']);
    expect(s.decoder.samplingInterval('x', 0, 2)).toBe(1000);
  });

  it('gives an IPFIX record the rate of its selectorId (PSAMP options: interval and space)', () => {
    const s = setup();
    const opt = ipfixOptionsTemplate(300, 1, [
      [302, 8],
      [304, 2],
      [305, 4],
      [306, 4],
    ]);
    const tpl = ipfixTemplate(301, [
      [8, 4],
      [1, 8],
      [302, 8],
    ]);
    s.decode(ipfixMessage([opt, set(300, [...be.u64(7), ...be.u16(1), ...be.u32(1), ...be.u32(63)]), tpl, set(301, [...SRC, ...be.u64(40), ...be.u64(7)])]));
    expect(s.rows()[0]).toMatchObject({ sampling_interval: 64, bytes_scaled: 2560, sampling_known: 1 });
  });

  it('prefers the rate a data record carries, interval or interval and space', () => {
    const s = setup();
    const tpl = ipfixTemplate(301, [
      [8, 4],
      [1, 8],
      [34, 4],
    ]);
    const psamp = ipfixTemplate(302, [
      [8, 4],
      [1, 8],
      [305, 4],
      [306, 4],
    ]);
    // Domain-wide options rate 10 must not override what a record says.
    s.decoder.setSamplingInterval('x', 0, 10);
    s.decode(ipfixMessage([tpl, psamp, set(301, [...SRC, ...be.u64(1), ...be.u32(512)]), set(302, [...SRC, ...be.u64(1), ...be.u32(2), ...be.u32(6)])]));
    expect(s.rows().map((r) => r.sampling_interval)).toEqual([512, 4]);
  });

  it('uses the domain-wide rate from options data (Juniper samplingInterval 1000, softflowd interval and space)', () => {
    const j = setup();
    j.decode(vector('ipfix_test_juniper_mx240_junos151r6s3_opttpl512'), vector('ipfix_test_juniper_mx240_junos151r6s3_data512'));
    // tshark: sampling_interval 1000.
    expect(j.decoder.samplingInterval('x', 524288)).toBe(1000);
    expect(j.events).toContain('524288 sampling_rate -1=1000');
    const sf = setup();
    sf.decode(fixture('softflowd-ipfix-sampled.dat'));
    for (const r of sf.rows()) expect(r).toMatchObject({ sampling_interval: 10, sampling_known: 1, bytes_scaled: (r.bytes as number) * 10 });
  });

  it('uses the only sampler an exporter announced for records that name none', () => {
    const s = setup();
    const opt = v9OptionsTemplate(257, [[1, 4]], [
      [48, 1],
      [50, 4],
    ]);
    const tpl = v9Template(260, [
      [8, 4],
      [1, 4],
    ]);
    s.decode(v9Packet([opt, set(257, [...be.u32(0), 4, ...be.u32(256)]), tpl, set(260, [...SRC, ...be.u32(3)])], 3));
    expect(s.rows()[0]).toMatchObject({ sampling_interval: 256, bytes_scaled: 768 });
  });

  it('applies a configured override before anything the exporter says, and a default only when it says nothing', () => {
    const asked: string[] = [];
    const config = new Map<string, SamplingConfig>([
      ['x', { override: 50, default: 0 }],
      ['y', { override: 0, default: 20 }],
    ]);
    const sink = new BatchListSink(4096);
    const decoder = new FlowDecoder({
      templates: new MemoryTemplateStore(),
      sink,
      sampling: (addr, exporter) => {
        expect(addr).toEqual(ADDR);
        asked.push(exporter);
        return config.get(exporter);
      },
    });
    for (let i = 0; i < 3; i++) {
      decoder.decode(v5Packet(2, { sampling: 1000, seq: i * 2 }), 'x', ADDR, RECEIVED);
      decoder.decode(v5Packet(2, { sampling: 1000, seq: i * 2 }), 'y', ADDR, RECEIVED);
      decoder.decode(v5Packet(2, { sampling: 0, seq: 100 + i * 2 }), 'y', ADDR, RECEIVED);
      decoder.decode(v5Packet(2, { sampling: 0, seq: i * 2 }), 'z', ADDR, RECEIVED);
    }
    // Asked once per exporter, not per packet or record.
    expect(asked).toEqual(['x', 'y', 'z']);
    const rows = rowsOf(sink.batches());
    expect(rows.slice(0, 8).map((r) => [r.sampling_interval, r.sampling_known])).toEqual([
      [50, 1],
      [50, 1], // x: override beats the header's 1000
      [1000, 1],
      [1000, 1], // y: the header's rate
      [20, 1],
      [20, 1], // y: the default where the header says nothing
      [0, 0],
      [0, 0], // z: nothing configured, nothing sent
    ]);
    config.set('x', { override: 0, default: 0 });
    decoder.resetSamplingConfig('x');
    decoder.decode(v5Packet(1, { sampling: 1000, seq: 6 }), 'x', ADDR, RECEIVED);
    expect(asked).toEqual(['x', 'y', 'z', 'x']);
    expect(rowsOf(sink.batches()).at(-1)).toMatchObject({ sampling_interval: 1000 });
  });
});
