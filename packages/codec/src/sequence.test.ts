import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { BatchListSink, FlowDecoder } from './decoder.ts';
import { readCapture } from './pcap.ts';
import { SEQ_GAP, SEQ_IN_ORDER, SEQ_LATE, SEQ_RESET, SEQ_UNCHECKED, SeqTracker } from './sequence.ts';
import { MemoryTemplateStore } from './template.ts';
import { be, ipfixMessage, ipfixOptionsTemplate, ipfixTemplate, set, v5Packet, v9Packet, v9Template } from './test-util.ts';

const ADDR = new Uint8Array(16);
const RECEIVED = 1_800_000_000_000;

function setup() {
  const sink = new BatchListSink(4096);
  const decoder = new FlowDecoder({ templates: new MemoryTemplateStore(), sink });
  return { decoder, sink, stats: (e = 'x') => decoder.sequenceStats(e) };
}

/** One exact feed: a message [seq, seq + n) in the standard numbering. */
function feed(t: SeqTracker, seq: number, n: number): number {
  return t.feed(seq, seq, seq + n, seq + n, true, true, n, false, 100, 1_000_000);
}

describe('SeqTracker', () => {
  it('counts a gap as lost, and takes it back when the missing message arrives late', () => {
    const t = new SeqTracker();
    expect(feed(t, 0, 10)).toBe(SEQ_UNCHECKED);
    expect(feed(t, 10, 10)).toBe(SEQ_IN_ORDER);
    expect(feed(t, 30, 10)).toBe(SEQ_GAP);
    expect(t.lost).toBe(10);
    expect(feed(t, 20, 10)).toBe(SEQ_LATE);
    expect([t.lost, t.late]).toEqual([0, 10]);
    // The expectation did not move back: the next message in order is not a gap.
    expect(feed(t, 40, 10)).toBe(SEQ_IN_ORDER);
    expect(t.received).toBe(50);
  });

  it('follows the counter across its 32-bit wrap', () => {
    const t = new SeqTracker();
    feed(t, 4294967290, 6);
    expect(feed(t, 0, 5)).toBe(SEQ_IN_ORDER);
    expect(feed(t, 7, 5)).toBe(SEQ_GAP);
    expect(t.lost).toBe(2);
  });

  it('takes a big backward or forward jump for a restart, not a loss', () => {
    const t = new SeqTracker();
    feed(t, 500_000, 10);
    expect(feed(t, 0, 10)).toBe(SEQ_RESET);
    expect(feed(t, 10, 10)).toBe(SEQ_IN_ORDER);
    expect(feed(t, 10 + 2_000_000, 10)).toBe(SEQ_RESET);
    expect([t.lost, t.resets]).toEqual([0, 2]);
    expect(t.feed(0, 0, 5, 5, true, true, 5, true, 100, 1_000_000)).toBe(SEQ_RESET);
  });
});

describe('loss from sequence numbers', () => {
  it('counts NetFlow v5 flows lost between packets, per engine, and takes back a late packet', () => {
    const s = setup();
    s.decoder.decode(v5Packet(30, { seq: 0 }), 'x', ADDR, RECEIVED);
    s.decoder.decode(v5Packet(30, { seq: 30 }), 'x', ADDR, RECEIVED);
    s.decoder.decode(v5Packet(30, { seq: 90 }), 'x', ADDR, RECEIVED); // 60–89 missing
    s.decoder.decode(v5Packet(5, { seq: 0, engine: 0x0102 }), 'x', ADDR, RECEIVED); // another engine: its own counter
    expect(s.stats()).toEqual([
      { version: 5, domain: 0, unit: 'flows', received: 90, lost: 30, reordered: 0, resets: 0, numbering: 'standard' },
      { version: 5, domain: 0x0102, unit: 'flows', received: 5, lost: 0, reordered: 0, resets: 0, numbering: 'standard' },
    ]);
    expect(s.decoder.counters.records_lost).toBe(30);
    s.decoder.decode(v5Packet(30, { seq: 60 }), 'x', ADDR, RECEIVED);
    expect(s.stats()[0]).toMatchObject({ lost: 0, reordered: 30 });
    expect(s.decoder.counters).toMatchObject({ records_lost: 30, records_reordered: 30 });
  });

  it('takes a NetFlow v5 or v9 exporter whose uptime went back for a restart', () => {
    const s = setup();
    s.decoder.decode(v5Packet(10, { seq: 1000, uptime: 90_000_000 }), 'x', ADDR, RECEIVED);
    s.decoder.decode(v5Packet(10, { seq: 1005, uptime: 5_000 }), 'x', ADDR, RECEIVED); // rebooted: seq near the old one by chance
    expect(s.stats()[0]).toMatchObject({ lost: 0, resets: 1 });
    expect(s.decoder.counters.sequence_resets).toBe(1);
  });

  it('counts NetFlow v9 export packets, not records', () => {
    const s = setup();
    const tpl = v9Template(256, [
      [8, 4],
      [12, 4],
    ]);
    const rec = [...be.ip4('10.0.0.1'), ...be.ip4('10.0.0.2')];
    for (const seq of [7, 8, 11, 12]) s.decoder.decode(v9Packet([tpl, set(256, [...rec, ...rec, ...rec])], 4, { seq }), 'x', ADDR, RECEIVED);
    expect(s.stats()).toEqual([{ version: 9, domain: 0, unit: 'packets', received: 4, lost: 2, reordered: 0, resets: 0, numbering: 'standard' }]);
    expect(s.decoder.counters).toMatchObject({ v9_packets_lost: 2, records_lost: 0, records: 12 });
  });

  it('counts IPFIX data records, options records included or not, per observation domain', () => {
    const s = setup();
    const tpl = ipfixTemplate(256, [[8, 4]]);
    const opt = ipfixOptionsTemplate(257, 1, [
      [149, 4],
      [160, 8],
    ]);
    const data = (n: number) => set(256, Array.from({ length: n }, () => be.ip4('10.0.0.1')).flat());
    const options = set(257, [...be.u32(1), ...be.u64(1_799_000_000_000)]);
    // seq counts data records sent before the message (RFC 7011 §3.1); templates do not count.
    s.decoder.decode(ipfixMessage([tpl, opt, options, data(3)], { seq: 100, domain: 1 }), 'x', ADDR, RECEIVED);
    s.decoder.decode(ipfixMessage([data(5)], { seq: 104, domain: 1 }), 'x', ADDR, RECEIVED); // counted the options record
    s.decoder.decode(ipfixMessage([options, data(2)], { seq: 109, domain: 1 }), 'x', ADDR, RECEIVED);
    s.decoder.decode(ipfixMessage([data(2)], { seq: 111, domain: 1 }), 'x', ADDR, RECEIVED); // did not count it: still no loss
    s.decoder.decode(ipfixMessage([data(4)], { seq: 120, domain: 1 }), 'x', ADDR, RECEIVED); // 113–119 missing
    s.decoder.decode(ipfixMessage([tpl, data(1)], { seq: 0, domain: 2 }), 'x', ADDR, RECEIVED);
    expect(s.stats()).toEqual([
      { version: 10, domain: 1, unit: 'records', received: 18, lost: 7, reordered: 0, resets: 0, numbering: 'standard' },
      { version: 10, domain: 2, unit: 'records', received: 1, lost: 0, reordered: 0, resets: 0, numbering: 'standard' },
    ]);
    expect(s.decoder.counters.records_lost).toBe(7);
  });

  it('reports no loss after a message it could not count (a data set waiting for its template)', () => {
    const s = setup();
    const data = (n: number) => set(300, Array.from({ length: n }, () => be.ip4('10.0.0.1')).flat());
    s.decoder.decode(ipfixMessage([data(4)], { seq: 0 }), 'x', ADDR, RECEIVED); // template unknown: 4 records not counted
    s.decoder.decode(ipfixMessage([ipfixTemplate(300, [[8, 4]]), data(2)], { seq: 4 }), 'x', ADDR, RECEIVED);
    s.decoder.decode(ipfixMessage([data(2)], { seq: 6 }), 'x', ADDR, RECEIVED);
    expect(s.stats()[0]).toMatchObject({ lost: 0, resets: 0 });
  });

  it('recognises softflowd’s IPFIX numbering (one message ahead) on a real capture, and then counts a lost datagram', () => {
    const capture = new Uint8Array(readFileSync(fileURLToPath(new URL('../../../test/fixtures/softflowd-v10.pcap', import.meta.url))));
    const datagrams = [...readCapture(capture)].map((d) => d.payload);
    // softflowd 1.1.0: header sequence 22, 54, 86, … = flow records sent including this message's own.
    const all = setup();
    for (const d of datagrams) all.decoder.decode(d, 'sf', ADDR, RECEIVED);
    expect(all.stats('sf')).toEqual([{ version: 10, domain: 0, unit: 'records', received: 157, lost: 0, reordered: 0, resets: 0, numbering: 'ahead' }]);
    const dropped = setup();
    for (const [i, d] of datagrams.entries()) if (i !== 2) dropped.decoder.decode(d, 'sf', ADDR, RECEIVED);
    expect(dropped.stats('sf')[0]).toMatchObject({ lost: 32, numbering: 'ahead' });
    expect(dropped.decoder.counters.records_lost).toBe(32);
  });

  it('finds no loss in softflowd’s NetFlow v5 and v9 captures', () => {
    for (const [file, unit, received] of [
      ['softflowd-v5.pcap', 'flows', 148],
      ['softflowd-v9.pcap', 'packets', 6],
    ] as const) {
      const capture = new Uint8Array(readFileSync(fileURLToPath(new URL(`../../../test/fixtures/${file}`, import.meta.url))));
      const s = setup();
      for (const d of readCapture(capture)) s.decoder.decode(d.payload, 'sf', ADDR, RECEIVED);
      expect(s.stats('sf'), file).toEqual([expect.objectContaining({ unit, received, lost: 0, resets: 0 })]);
    }
  });

  it('keeps sequence state for a bounded number of observation domains per exporter', () => {
    const s = setup();
    for (let d = 0; d < 3000; d++) s.decoder.decode(ipfixMessage([], { domain: d, seq: d }), 'x', ADDR, RECEIVED);
    expect(s.stats()).toHaveLength(1024);
    expect(s.decoder.counters.internal_errors).toBe(0);
  });
});
