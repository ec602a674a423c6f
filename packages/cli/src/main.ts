#!/usr/bin/env node
// The flowhound command. The process entry point: parses flags, then hands
// over to the composition root (standalone/run) or to a gRPC client.
import { Command, InvalidArgumentError, Option } from 'commander';
import type * as grpc from '@grpc/grpc-js';
import { ConfigError } from '@flowhound/runtime';
import { explain, queryClient, registryClient, search } from './client.ts';
import { OUTPUT_FORMATS, parseTime, RowWriter, type OutputFormat } from './format.ts';
import { decodeFiles } from './decode.ts';

const DEFAULT_SERVER = '127.0.0.1:50051';
const TABLE_COLUMNS = ['flow_start', 'exporter_address', 'protocol', 'src_addr', 'src_port', 'dst_addr', 'dst_port', 'tcp_flags', 'packets', 'bytes'];

function intArg(name: string, min: number, max: number) {
  return (v: string) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min || n > max) throw new InvalidArgumentError(`${name} must be a whole number from ${min} to ${max}`);
    return n;
  };
}

function timeArg(v: string): number {
  try {
    return parseTime(v);
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message);
  }
}

function fail(msg: string, code = 1): never {
  process.stderr.write(`flowhound: ${msg}\n`);
  process.exit(code);
}

const program = new Command();
program
  .name('flowhound')
  .description('Threat detection and forensics from NetFlow v5/v9 and IPFIX')
  .version('0.1.0', '-V, --version')
  .showHelpAfterError();

const formatOption = () => new Option('--format <format>', 'output format').choices(OUTPUT_FORMATS as string[]).default('table');
const serverOption = () => new Option('--server <host:port>', 'query service address').default(process.env.FLOWHOUND_SERVER ?? DEFAULT_SERVER);

async function startProcess(services: string[], opts: { config?: string; data?: string }): Promise<void> {
  const { loadProcessConfig, runUntilSignal } = await import('@flowhound/svc-standalone');
  let cfg;
  try {
    cfg = loadProcessConfig({ file: opts.config, overrides: opts.data ? { dataDir: opts.data } : undefined });
  } catch (err) {
    if (err instanceof ConfigError) fail(err.message, 2);
    throw err;
  }
  try {
    await runUntilSignal(services, cfg);
  } catch (err) {
    fail((err as Error).message);
  }
  process.exit(0);
}

program
  .command('standalone')
  .description('run every component in one process: collect on UDP 2055 and 4739, store in embedded ClickHouse, serve gRPC on 127.0.0.1:50051')
  .option('--config <file>', 'YAML config file (see docs/configuration.md)')
  .option('--data <dir>', 'data folder for embedded ClickHouse (default ./data)')
  .action(async (opts: { config?: string; data?: string }) => {
    const { SERVICE_NAMES } = await import('@flowhound/svc-standalone');
    await startProcess([...SERVICE_NAMES], opts);
  });

program
  .command('run')
  .description('run some services in this process, on a NATS bus (distributed layout)')
  .argument('<services...>', 'ingest, template-registry, stitcher, enrichment, detector, writer, query')
  .option('--config <file>', 'YAML config file')
  .option('--data <dir>', 'data folder for embedded ClickHouse')
  .action(async (services: string[], opts: { config?: string; data?: string }) => {
    await startProcess(services.flatMap((s) => s.split(',')).filter(Boolean), opts);
  });

interface SearchOpts {
  filter?: string;
  since?: number;
  until?: number;
  limit: number;
  format: OutputFormat;
  server: string;
  columns?: string;
}

async function runSearch(kind: 'flows' | 'conversations', o: SearchOpts): Promise<void> {
  const client = queryClient(o.server);
  const w = new RowWriter(o.format);
  const columns = o.columns ? o.columns.split(',').map((s) => s.trim()) : o.format === 'table' ? TABLE_COLUMNS : [];
  let first = true;
  try {
    await search(client, kind, { filter: o.filter ?? '', sinceMs: BigInt(o.since ?? 0), untilMs: BigInt(o.until ?? 0), limit: o.limit, columns }, (chunk) => {
      if (first) {
        w.header(chunk.columns);
        first = false;
      }
      w.write(chunk.rows.map((r) => r.values));
    });
    w.end();
  } catch (err) {
    fail(explain(err as grpc.ServiceError, o.server));
  } finally {
    client.close();
  }
}

for (const kind of ['flows', 'conversations'] as const) {
  program
    .command(kind)
    .description(kind === 'flows' ? 'search flow records as the exporters sent them (one row per record, never merged)' : 'search stored conversations')
    .option('--filter <expr>', "filter, e.g. 'host 10.1.0.5 and dst_port = 443' (docs/query-language.md)")
    .option('--since <time>', 'flows active at or after: ISO 8601, epoch ms, or an age like 2h', timeArg)
    .option('--until <time>', 'flows that started before', timeArg)
    .option('--limit <n>', 'most rows to return', intArg('--limit', 1, 100_000_000), 100)
    .option('--columns <list>', 'comma-separated columns (default: all; a readable subset for table)')
    .addOption(formatOption())
    .addOption(serverOption())
    .action((o: SearchOpts) => runSearch(kind, o));
}

program
  .command('decode')
  .description('decode export packets offline from pcap/pcapng captures or raw .dat payload files, one record per line')
  .argument('<files...>', 'pcap, pcapng or .dat files; templates are kept across files in order')
  .addOption(new Option('--format <format>', 'output format').choices(['ndjson', 'json']).default('ndjson'))
  .option('--exporter <ip>', 'exporter address to assume for .dat files', '0.0.0.0')
  .action(async (files: string[], o: { format: 'ndjson' | 'json'; exporter: string }) => {
    try {
      const stats = await decodeFiles(files, { format: o.format, exporter: o.exporter, out: process.stdout });
      process.stderr.write(`decoded ${stats.records} records from ${stats.packets} packets in ${files.length} file(s)${stats.errors ? `; ${stats.errors} packets could not be decoded` : ''}\n`);
    } catch (err) {
      fail((err as Error).message);
    }
  });

program
  .command('templates')
  .description('list the NetFlow v9/IPFIX templates the registry holds')
  .option('--exporter <ip>', 'only this exporter')
  .addOption(formatOption())
  .addOption(serverOption())
  .action(async (o: { exporter?: string; format: OutputFormat; server: string }) => {
    const client = registryClient(o.server);
    try {
      const res = await new Promise<import('@flowhound/proto').ListTemplatesResponse>((resolve, reject) =>
        client.listTemplates({ exporter: o.exporter ?? '' }, (err, r) => (err ? reject(err) : resolve(r))),
      );
      const w = new RowWriter(o.format);
      w.header(['exporter', 'version', 'observation_domain_id', 'template_id', 'kind', 'fields', 'received_at', 'received_by'], ['version', 'observation_domain_id', 'template_id']);
      w.write(
        res.templates.map((t) => [
          t.exporter,
          String(t.version),
          String(t.observationDomainId),
          String(t.templateId),
          t.scopeFieldCount > 0 ? 'options' : 'data',
          t.fields.map((f) => (f.enterprise ? `${f.enterprise}.${f.id}` : String(f.id)) + (f.length === 65535 ? '/var' : `/${f.length}`)).join(' '),
          new Date(Number(t.receivedAtMs)).toISOString(),
          t.receivedBy,
        ]),
      );
      w.end();
    } catch (err) {
      fail(explain(err as grpc.ServiceError, o.server));
    } finally {
      client.close();
    }
  });

const EXPORTER_COLUMNS = ['exporter', 'replicas', 'versions', 'transports', 'observation_domains', 'sampling_rates', 'packets', 'bytes', 'records', 'decode_errors', 'template_misses', 'sets_expired', 'records_lost', 'packets_denied', 'first_seen', 'last_seen'];
/** More columns for csv and json; the table keeps to what fits a terminal. */
const EXPORTER_EXTRA = ['v9_packets_lost', 'packets_clock_skewed', 'records_end_after_export', 'unknown_elements', 'updated_at'];
const EXPORTER_NUMERIC = ['packets', 'bytes', 'records', 'decode_errors', 'template_misses', 'sets_expired', 'records_lost', 'packets_denied', 'v9_packets_lost', 'packets_clock_skewed', 'records_end_after_export', 'unknown_elements'];
const REPLICA_COLUMNS = ['replica', 'workers', 'socket_drops', 'packets_denied', 'records_dropped', 'tcp_connections', 'updated'];

/** Times: ISO 8601 for machines, an age for people. */
function when(ms: bigint, table: boolean, now = Date.now()): string {
  if (ms === 0n) return '';
  if (!table) return new Date(Number(ms)).toISOString();
  const s = Math.max(0, Math.round((now - Number(ms)) / 1000));
  return s < 120 ? `${s}s ago` : s < 7200 ? `${Math.round(s / 60)}m ago` : s < 172800 ? `${Math.round(s / 3600)}h ago` : `${Math.round(s / 86400)}d ago`;
}

program
  .command('exporters')
  .description('list the exporters ingest heard from, what they sent and what became of it (summed over ingest replicas)')
  .option('--exporter <ip>', 'only this exporter')
  .option('--per-replica', 'one row per exporter and ingest replica instead of their sum')
  .option('--replicas', 'list the ingest replicas instead (kernel socket drops, denied packets, bus drops)')
  .addOption(formatOption())
  .addOption(new Option('--server <host:port>', 'template registry address').default(process.env.FLOWHOUND_SERVER ?? DEFAULT_SERVER))
  .action(async (o: { exporter?: string; perReplica?: boolean; replicas?: boolean; format: OutputFormat; server: string }) => {
    const client = registryClient(o.server);
    try {
      const res = await new Promise<import('@flowhound/proto').ListExportersResponse>((resolve, reject) =>
        client.listExporters({ exporter: o.exporter ?? '', perReplica: o.perReplica ?? false }, (err, r) => (err ? reject(err) : resolve(r))),
      );
      const table = o.format === 'table';
      const w = new RowWriter(o.format);
      if (o.replicas) {
        w.header(REPLICA_COLUMNS, ['workers', 'socket_drops', 'packets_denied', 'records_dropped', 'tcp_connections']);
        w.write(res.replicas.map((r) => [r.replica, String(r.workers), String(r.socketDrops), String(r.packetsDenied), String(r.recordsDropped), String(r.tcpConnections), when(r.updatedAtMs, table)]));
        w.end();
        return;
      }
      w.header(table ? EXPORTER_COLUMNS : [...EXPORTER_COLUMNS, ...EXPORTER_EXTRA], EXPORTER_NUMERIC);
      const list = (xs: readonly (number | string)[]) => xs.join(table ? ',' : ' ');
      const extra = (e: import('@flowhound/proto').ExporterStats) =>
        table ? [] : [String(e.v9PacketsLost), String(e.packetsClockSkewed), String(e.recordsEndAfterExport), String(e.unknownElements), when(e.updatedAtMs, false)];
      w.write(
        res.exporters.map((e) => [
          e.exporter,
          list(e.replicas),
          list(e.versions.map((v) => (v === 10 ? (table ? 'ipfix' : '10') : String(v)))),
          list(e.transports),
          list(e.observationDomains),
          list(e.samplingRates.map((r) => (table ? `1:${r}` : String(r)))),
          String(e.packets),
          String(e.bytes),
          String(e.records),
          String(e.decodeErrors),
          String(e.templateMisses),
          String(e.setsExpired),
          String(e.recordsLost),
          String(e.packetsDenied),
          when(e.firstSeenMs, table),
          when(e.lastSeenMs, table),
          ...extra(e),
        ]),
      );
      w.end();
      // Replica-wide losses no exporter row can carry.
      const drops = res.replicas.reduce((n, r) => n + r.socketDrops, 0n);
      const busDrops = res.replicas.reduce((n, r) => n + r.recordsDropped, 0n);
      if (table && (drops > 0n || busDrops > 0n)) {
        process.stderr.write(`note: ${drops} datagrams dropped by the kernel (receive buffers full) and ${busDrops} records dropped waiting for the bus, across ${res.replicas.length} ingest replica(s); see 'flowhound exporters --replicas' and docs/ingest.md\n`);
      }
    } catch (err) {
      fail(explain(err as grpc.ServiceError, o.server));
    } finally {
      client.close();
    }
  });

program
  .command('status')
  .description('show what the query service holds')
  .addOption(serverOption())
  .action(async (o: { server: string }) => {
    const client = queryClient(o.server);
    try {
      const r = await new Promise<import('@flowhound/proto').StatusResponse>((resolve, reject) => client.status({}, (err, x) => (err ? reject(err) : resolve(x))));
      process.stdout.write(`flowhound ${r.version} at ${o.server}\n  flows stored:         ${r.flowsStored}\n  conversations stored: ${r.conversationsStored}\n  components:           ${r.components.map((c) => c.name).join(', ')}\n`);
    } catch (err) {
      fail(explain(err as grpc.ServiceError, o.server));
    } finally {
      client.close();
    }
  });

await program.parseAsync(process.argv);
