// Paths to the shared fixtures in test/fixtures and the ground truth of the
// generated capture (see test/fixtures/README.md).
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (this file is packages/testkit/src/fixtures.ts). */
export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
export const FIXTURES_DIR = join(REPO_ROOT, 'test', 'fixtures');

/** Absolute path of a file in test/fixtures, e.g. `fixturePath('skeleton.pcap')`. */
export function fixturePath(name: string): string {
  return join(FIXTURES_DIR, name);
}

export interface Totals {
  flows: number;
  packets: number;
  bytes: number;
}

/** One unidirectional flow of the capture, keyed as softflowd keys it. */
export interface TruthFlow {
  family: 4 | 6;
  proto: number;
  src: string;
  dst: string;
  sport: number;
  /** For ICMP: type * 256 + code, as softflowd and Cisco export it. */
  dport: number;
  packets: number;
  /** IP bytes: IPv4 total length, IPv6 40 + payload length. */
  bytes: number;
  /** ISO time of this direction's first and last packet. */
  first: string;
  last: string;
}

export interface TruthSession {
  kind: 'tcp' | 'dns' | 'ntp' | 'icmp-echo';
  family: 4 | 6;
  client: string;
  server: string;
  sport: number;
  dport: number;
  ending?: 'fin' | 'client-rst' | 'refused';
}

export interface SkeletonTruth {
  first: string;
  last: string;
  pcapBytes: number;
  packets: number;
  frameBytes: number;
  sessions: { tcp4: number; tcp6: number; tcpRefused: number; tcpClientRst: number; dnsPairs: number; ntpExchanges: number; icmpEchoPairs: number; pingRuns: number };
  flows: { all: Totals; ipv4: Totals; ipv6: Totals; tcp4: Totals; tcp6: Totals; udp: Totals; icmp: Totals };
  sessionList: TruthSession[];
  flowList: TruthFlow[];
}

export const SKELETON_PCAP = fixturePath('skeleton.pcap');

/** test/fixtures/skeleton.truth.json, written by gen-pcap.ts together with skeleton.pcap. */
export function skeletonTruth(): SkeletonTruth {
  return JSON.parse(readFileSync(fixturePath('skeleton.truth.json'), 'utf8')) as SkeletonTruth;
}
