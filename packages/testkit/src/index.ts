// @flowhound/testkit: real servers and real exporters for integration and
// end-to-end tests. Nothing here is imported by product code.
export { TestkitError, ToolFailedError, ToolNotFoundError, ToolTimeoutError } from './errors.ts';
export { delay, freePort, udpSocketsOnPort, waitForTcp } from './ports.ts';
export type { UdpSocketState } from './ports.ts';
export { tempDir } from './temp.ts';
export type { TempDir } from './temp.ts';
export { runTool, spawnTool } from './process.ts';
export type { Exit, RunResult, SpawnOptions, ToolProcess } from './process.ts';
export { containerRuntimeAvailable, startNats } from './nats.ts';
export type { NatsServer, StartNatsOptions } from './nats.ts';
export { runSoftflowd } from './softflowd.ts';
export type { RunSoftflowdOptions, SoftflowdResult } from './softflowd.ts';
export { parseJsonFlows, parseStatInfo, startNfcapd } from './nfcapd.ts';
export type { Nfcapd, NfdumpFlow, NfdumpTotals, StartNfcapdOptions } from './nfcapd.ts';
export { FIXTURES_DIR, fixturePath, REPO_ROOT, SKELETON_PCAP, skeletonTruth } from './fixtures.ts';
export type { SkeletonTruth, Totals, TruthFlow, TruthSession } from './fixtures.ts';
