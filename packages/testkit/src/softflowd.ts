// softflowd as a real exporter: replays a pcap file and exports NetFlow v5,
// v9 or IPFIX to a collector, then exits.
import { access } from 'node:fs/promises';
import { basename, dirname, resolve } from 'node:path';
import { TestkitError } from './errors.ts';
import { runTool } from './process.ts';

export interface RunSoftflowdOptions {
  /** The capture to replay (classic pcap or pcapng that libpcap reads). */
  pcap: string;
  /** Collector address (IPv4, IPv6 or name). */
  host: string;
  port: number;
  version: 5 | 9 | 10;
  /** Export transport (`-P`); default udp. tcp needs a collector that listens on TCP. */
  transport?: 'udp' | 'tcp';
  /** RFC 5103 biflows (`-b`, IPFIX only): one record per conversation with reverse counters. */
  bidirectional?: boolean;
  /**
   * `-a` (default true): softflowd takes its clock from the pcap, so uptime
   * and export times are those of the capture. Without it the exporter "boots"
   * now, and v9/IPFIX flow times of an older capture are negative uptimes that
   * wrap modulo 2^32 ms (nfdump then dates them 49.7 days late).
   */
  adjustTime?: boolean;
  /** `-6`: track IPv6 even for v5 (v5 still cannot export them). v9 and IPFIX track IPv6 anyway. */
  trackIpv6?: boolean;
  /** Appended to the command line; never `-c` (see runSoftflowd). */
  extraArgs?: string[];
  /** Default 60 s. */
  timeoutMs?: number;
}

export interface SoftflowdResult {
  /** The arguments softflowd ran with (in the capture's directory). */
  readonly args: readonly string[];
  /** Packets softflowd read from the capture. */
  readonly packets: number;
  /** Flows expired and exported (softflowd's own, two-directional, flows). */
  readonly flows: number;
  /** Flow records exported: one per direction that saw traffic (one per flow with -b). */
  readonly records: number;
  /** Export datagrams (or TCP messages) sent. */
  readonly exportPackets: number;
  /** Export sends that failed (e.g. nothing listening on a TCP collector). */
  readonly failures: number;
  /** softflowd's whole output, including its statistics. */
  readonly output: string;
}

const HINT = 'install it with `apt-get install softflowd` (Debian/Ubuntu)';

function stat(output: string, re: RegExp): number {
  const m = re.exec(output);
  return m ? Number(m[1]) : Number.NaN;
}

/**
 * Runs `softflowd -r PCAP -n HOST:PORT -v N -d [-a]` and resolves once it has
 * read the whole capture, exported every flow and exited. With `-r` softflowd
 * flushes all flows at end of file (expiry reason "flushed"), so no `-t
 * maxlife=` is needed; it runs in the foreground and opens neither a pid file
 * nor a control socket. Never add `-c`: softflowd 1.1.0 then re-enables its
 * control socket and, reading a file, blocks in accept() before the first
 * packet and never exits.
 */
export async function runSoftflowd(opts: RunSoftflowdOptions): Promise<SoftflowdResult> {
  if (![5, 9, 10].includes(opts.version)) throw new TestkitError(`softflowd: version must be 5, 9 or 10, not ${opts.version}`);
  if (opts.bidirectional && opts.version !== 10) throw new TestkitError('softflowd: bidirectional (-b) works only with version 10 (IPFIX)');
  if (opts.extraArgs?.some((a) => a === '-c' || a.startsWith('-c'))) {
    throw new TestkitError('softflowd: do not pass -c with -r; softflowd 1.1.0 then waits on its control socket forever');
  }
  try {
    await access(opts.pcap);
  } catch (err) {
    throw new TestkitError(`softflowd: cannot read the capture ${opts.pcap}`, { cause: err });
  }
  const target = opts.host.includes(':') && !opts.host.startsWith('[') ? `[${opts.host}]:${opts.port}` : `${opts.host}:${opts.port}`;
  // softflowd exports the capture path, cut to 16 bytes, as the interface name
  // (IE 82) in its options record: run it beside the file so that name is
  // the file's own, whatever the checkout's location.
  const pcap = resolve(opts.pcap);
  const args = ['-r', basename(pcap), '-n', target, '-v', String(opts.version), '-d'];
  if (opts.adjustTime ?? true) args.push('-a');
  if (opts.transport && opts.transport !== 'udp') args.push('-P', opts.transport);
  if (opts.bidirectional) args.push('-b');
  if (opts.trackIpv6) args.push('-6');
  args.push(...(opts.extraArgs ?? []));
  const { output } = await runTool('softflowd', args, { hint: HINT, cwd: dirname(pcap), timeoutMs: opts.timeoutMs ?? 60_000 });
  return {
    args,
    packets: stat(output, /Packets processed:\s*(\d+)/),
    flows: stat(output, /Flows exported:\s*(\d+)/),
    records: stat(output, /Flows exported:\s*\d+\s*\((\d+) records\)/),
    exportPackets: stat(output, /Flows exported:.*in (\d+) packets/),
    failures: stat(output, /Flows exported:.*\((\d+) failures\)/),
    output,
  };
}
