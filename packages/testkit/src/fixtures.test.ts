import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { fixturePath, SKELETON_PCAP, skeletonTruth } from './fixtures.ts';

describe('test/fixtures', () => {
  it('skeleton.pcap and its truth are exactly what gen-pcap.ts writes', () => {
    // Throws (exit 1) when a regeneration was forgotten or the generator is not deterministic.
    execFileSync(process.execPath, [fixturePath('gen-pcap.ts'), '--check'], { stdio: 'pipe' });
  });

  it('the truth agrees with the capture it describes', () => {
    const pcap = readFileSync(SKELETON_PCAP);
    const truth = skeletonTruth();
    expect(pcap.readUInt32LE(0)).toBe(0xa1b2c3d4);
    expect(pcap.readUInt32LE(20)).toBe(1); // Ethernet
    let packets = 0;
    let ipBytes = 0;
    for (let off = 24; off < pcap.length; ) {
      const len = pcap.readUInt32LE(off + 8);
      packets++;
      ipBytes += len - 14;
      off += 16 + len;
    }
    expect(packets).toBe(truth.packets);
    expect(ipBytes).toBe(truth.flows.all.bytes);
    expect(truth.flowList.reduce((n, f) => n + f.packets, 0)).toBe(truth.packets);
    expect(pcap.length).toBeLessThan(500 * 1024);
  });
});
