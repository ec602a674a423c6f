// Forensic questions at scale: flowhound (embedded chDB) against nfdump,
// same machine, same run.
//   node test/bench/query.ts [--rows 100000000] [--nf-flows 10000000] [--days 30]
//                            [--data DIR] [--keep] [--rate 500000] [--runs 3] [--skip-nfdump]
//
// 1. `--rows` synthetic conversations over `--days` days are generated inside
//    chDB with ClickHouse's own functions (INSERT … SELECT … FROM numbers(),
//    one INSERT per day) into the conversations table that Store.migrate()
//    creates. The rollups' views are detached meanwhile and the rollups are
//    then filled with the views' own SELECTs a day at a time; every table is
//    merged (OPTIMIZE FINAL); bytes on disk per conversation from system.parts.
// 2. The same generator makes `--nf-flows` conversations (same distributions,
//    same days, same hosts; each host's count scaled down) into a second
//    database made by the same migrations. Those rows are sent as IPFIX (RFC
//    5103 biflow records, flowStart/EndMilliseconds per record) to a fresh
//    nfcapd per day, in flow-end order, and the day's file is kept in
//    DIR/YYYY/MM/DD (the layout of nfcapd -S 1, one file a day instead of one
//    every 5 min). Every day's file is checked against what was sent (nfdump -I).
// 3. Three questions, each asked of flowhound (100M rows), of flowhound on
//    exactly the flows nfdump holds, and of nfdump:
//      Q1 top-20 talkers (addresses, bytes both directions) for one day
//      Q2 one host's peers over the 30 days (peer, bytes, flows, first/last seen)
//      Q3 one host's hourly traffic over the 30 days
//    and of the rollups that pickSource() chooses for them. Cold = first run
//    after the data files were evicted from the page cache (posix_fadvise
//    DONTNEED on our files only) and ClickHouse's caches were dropped; warm =
//    median of `--runs` runs after it, with their CPU seconds (which other
//    work on a shared machine does not inflate as it does wall time).
//    ClickHouse's query condition cache is off for every timed query (each
//    run pays for its filter). flowhound's and nfdump's answers on the same
//    flows are compared line by line; each rollup answer is compared with the
//    base table asked by time_received.
// Progress goes to stderr; results to stdout. With --data DIR the data is
// kept and reused by the next run with the same parameters and schema.
import { spawn, spawnSync } from 'node:child_process';
import dgram from 'node:dgram';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { silentLogger } from '@flowhound/runtime';
import { ROLLUP_VIEWS } from '@flowhound/schema';
import { pickSource, Store, type SourceRequest } from '@flowhound/store';
import { delay, freePort, runTool, startNfcapd } from '@flowhound/testkit';

const { values: args } = parseArgs({
  options: {
    rows: { type: 'string', default: '100000000' },
    'nf-flows': { type: 'string', default: '10000000' },
    days: { type: 'string', default: '30' },
    data: { type: 'string' },
    keep: { type: 'boolean', default: false },
    rate: { type: 'string', default: '500000' },
    runs: { type: 'string', default: '3' },
    'skip-nfdump': { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (args.help) {
  process.stdout.write(
    [
      'node test/bench/query.ts [options]',
      '  --rows 100000000      conversations generated for flowhound',
      '  --nf-flows 10000000   conversations generated, sent to nfcapd and asked of nfdump',
      '  --days 30             days the conversations span (ending at the start of today, UTC)',
      '  --data DIR            keep chDB and nfcapd data in DIR and reuse them when the parameters match',
      '  --keep                keep the data directory (default: removed at the end unless --data)',
      '  --rate 500000         IPFIX records/s sent to nfcapd (each day is re-sent slower if nfcapd lost any)',
      '  --runs 3              warm runs per question (the median is reported)',
      '  --skip-nfdump         flowhound only',
      '',
    ].join('\n'),
  );
  process.exit(0);
}
const ROWS = Number(args.rows);
const NF_FLOWS = Number(args['nf-flows']);
const DAYS = Number(args.days);
const RUNS = Math.max(1, Number(args.runs));
const RATE = Number(args.rate);
const log = (s: string) => process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${s}\n`);
const fmtN = (n: number) => Math.round(n).toLocaleString('en-US');
const DAY_MS = 86_400_000;
const HOUR_MS = 3_600_000;

// ───────────────────────── the synthetic traffic ─────────────────────────

/** Days end at the start of today (UTC); day 0 is DAYS days before. */
const DAY0 = Math.floor(Date.now() / DAY_MS) * DAY_MS - DAYS * DAY_MS;
/** Weekends carry 60 % of a weekday's conversations. */
const dayWeight = (d: number) => ([0, 6].includes(new Date(DAY0 + d * DAY_MS).getUTCDay()) ? 0.6 : 1);

/** Conversations of each day for a total of `total`: [offset, count][]. */
function daySplit(total: number): [number, number][] {
  const w = Array.from({ length: DAYS }, (_, d) => dayWeight(d));
  const sum = w.reduce((a, b) => a + b, 0);
  const out: [number, number][] = [];
  let off = 0;
  for (let d = 0; d < DAYS; d++) {
    const n = d === DAYS - 1 ? total - off : Math.round((total * w[d]) / sum);
    out.push([off, n]);
    off += n;
  }
  return out;
}

const INSIDE_HOSTS = 4000;
const OUTSIDE_PEERS = 2_000_000;
/** Address of inside host `i` (10.20.0.0/16, scattered), as SQL over a UInt32 expression and in JS. */
const insideSql = (i: string) => `toUInt32(169082880 + ((${i} * 40503 + 7) % 65536))`;
const insideJs = (i: number) => {
  const a = 169082880 + ((i * 40503 + 7) % 65536);
  return `${a >>> 24}.${(a >>> 16) & 255}.${(a >>> 8) & 255}.${a & 255}`;
};

/**
 * Server side of a conversation: [port, protocol, probability]. Port 0 with
 * TCP: another port (1024–65535); with ICMP: none.
 */
const SERVICES: [number, number, number][] = [
  [443, 6, 0.4],
  [80, 6, 0.1],
  [53, 17, 0.18],
  [123, 17, 0.02],
  [22, 6, 0.02],
  [25, 6, 0.01],
  [993, 6, 0.01],
  [445, 6, 0.03],
  [3389, 6, 0.01],
  [8080, 6, 0.02],
  [8443, 6, 0.02],
  [5223, 6, 0.01],
  [1194, 17, 0.01],
  [3478, 17, 0.02],
  [0, 6, 0.12],
  [0, 1, 0.02],
];

/** Columns the generator fills; every other column keeps its default. */
const GEN_COLUMNS = [
  'time_received', 'exporter_address', 'flow_version', 'observation_domain_id', 'template_id', 'flow_start', 'flow_end',
  'src_addr', 'dst_addr', 'src_port', 'dst_port', 'protocol', 'tcp_flags', 'bytes', 'packets', 'input_if', 'output_if',
  'ip_version', 'icmp_type_code', 'rev_bytes', 'rev_packets', 'rev_tcp_flags', 'bytes_scaled', 'packets_scaled', 'batch_id',
];

/**
 * INSERT … SELECT of the conversations numbered [offset, offset+count) whose
 * flows end on day `day`. Every value is a function of the row number (16
 * uniforms from 8 cityHash64 values), so a row is the same on every run.
 *  - time of day: 35 % uniform, 65 % normal around 14:00 UTC (σ 3 h), wrapped;
 *    duration: DNS/NTP < 0.1 s, ICMP < 5 s, others ≤ 300 s (the active timeout), most short;
 *    received 1–30 s after the flow ended
 *  - 78 % inside client → outside server, 12 % outside client → inside server, 10 % inside ↔ inside
 *  - inside hosts: 4,000 in 10.20.0.0/16, host i drawn as ⌊4000·u^2.5⌋ (host 0 is in 3.6 % of them);
 *    public servers: the 50 busiest; internal servers: the 300 busiest
 *  - outside peers: 2M, peer j drawn as ⌊2M·u^4⌋ (1 % of the peers are in 32 % of the conversations)
 *  - service ports from SERVICES; client ports 32768–60999
 *  - packets Pareto (α 1.2, ≤ 2M); 80 % downloads (server sends 1–2.5× the packets, 576–1500 B),
 *    20 % uploads; 7 % unanswered SYNs, 3 % refused (RST), 15 % still open (no FIN); 5 % of DNS unanswered
 *  - 4 exporters (192.0.2.1–4, skewed), 48 interfaces; batch ids as the writer stores them (one per 512 rows)
 */
function generateSql(fq: string, day: number, offset: number, count: number): string {
  const dayMs = DAY0 + day * DAY_MS;
  const cum: number[] = [];
  let c = 0;
  for (const [, , p] of SERVICES) cum.push((c += p));
  cum[cum.length - 1] = 1.01;
  const u = (k: number) => {
    const h = `h${(k >> 1) + 1}`;
    return `${k & 1 ? `bitShiftRight(${h}, 32)` : `bitAnd(${h}, 4294967295)`} / 4294967296. AS u${k + 1}`;
  };
  return `INSERT INTO ${fq} (${GEN_COLUMNS.join(', ')})
SELECT
  fromUnixTimestamp64Milli(end_ms + 1000 + toInt64(floor(u13 * 29000)), 'UTC'),
  CAST(toIPv4(3221225985 + toUInt32(floor(pow(u15, 1.5) * 4))) AS IPv6),
  10, 1, 256,
  fromUnixTimestamp64Milli(end_ms - dur_ms, 'UTC'),
  fromUnixTimestamp64Milli(end_ms, 'UTC'),
  CAST(toIPv4(src4) AS IPv6),
  CAST(toIPv4(dst4) AS IPv6),
  sport, dport, proto,
  multiIf(proto != 6, 0, tcp_state <= 2, 2, tcp_state = 3, 26, 27),
  bytes, pk,
  1 + toUInt32(floor(((u15 * 64) - floor(u15 * 64)) * 48)),
  1 + toUInt32(floor(((u15 * 4096) - floor(u15 * 4096)) * 48)),
  4,
  if(proto = 1, 2048, 0),
  rev_bytes, rev_pk,
  multiIf(proto != 6, 0, tcp_state = 1, 0, tcp_state = 2, 20, tcp_state = 3, 26, 27),
  bytes, pk,
  bitAnd(cityHash64(intDiv(n, 512)), 9007199254740991)
FROM (
  SELECT
    number AS n,
    ${Array.from({ length: 8 }, (_, i) => `cityHash64(n, ${i + 1}) AS h${i + 1}`).join(', ')},
    ${Array.from({ length: 16 }, (_, k) => u(k)).join(',\n    ')},
    -- time of day, end, duration
    if(u1 < 0.35, u2 * 86400, 50400 + 10800 * sqrt(-2 * ln(greatest(u2, 1e-12))) * cos(2 * pi() * u3)) AS sod0,
    sod0 - 86400 * floor(sod0 / 86400) AS sod,
    toInt64(${dayMs}) + toInt64(floor(sod * 1000)) AS end_ms,
    -- who talks to whom
    multiIf(u5 < 0.78, 0, u5 < 0.90, 1, 2) AS kind,
    toUInt32(floor(${INSIDE_HOSTS} * pow(u6, 2.5))) AS in_idx,
    toUInt32(floor(50 * pow(u6, 2))) AS srv_idx,
    toUInt32(floor(300 * pow(u7, 2))) AS int_idx0,
    if(int_idx0 = in_idx, (in_idx + 1) % ${INSIDE_HOSTS}, int_idx0) AS int_idx,
    toUInt32(floor(${OUTSIDE_PEERS} * pow(u7, 4))) AS peer_idx,
    toUInt32(16777216 + cityHash64(peer_idx, 77) % 3724541952) AS peer0,
    peer0 + if(bitShiftRight(peer0, 24) = 10, 16777216, 0) AS peer,
    if(kind = 1, peer, ${insideSql('in_idx')}) AS src4,
    multiIf(kind = 0, peer, kind = 1, ${insideSql('srv_idx')}, ${insideSql('int_idx')}) AS dst4,
    -- service
    arrayFirstIndex(x -> x > u8, [${cum.map((x) => x.toFixed(4)).join(', ')}]) AS si,
    [${SERVICES.map((s) => s[1]).join(', ')}][si] AS proto,
    toUInt16(multiIf(si = 15, 1024 + floor(u14 * 64000), si = 16, 0, [${SERVICES.map((s) => s[0]).join(', ')}][si])) AS dport,
    toUInt16(if(proto = 1, 0, 32768 + floor(((u14 * 1024) - floor(u14 * 1024)) * 28232))) AS sport,
    (proto = 17 AND dport IN (53, 123)) AS tiny,
    toInt64(multiIf(tiny, floor(u4 * 100), proto = 1, floor(u4 * 5000), floor(pow(u4, 3) * 300000))) AS dur_ms,
    -- volume
    multiIf(proto != 6, 0, u12 < 0.07, 1, u12 < 0.10, 2, u12 < 0.25, 3, 4) AS tcp_state,
    pow(greatest(u9, 1e-12), -1 / 1.2) AS pareto,
    u16 < 0.8 AS download,
    toUInt64(multiIf(tiny, 1 + (u9 < 0.1), proto = 1, least(floor(pareto), 20), tcp_state = 1, 1 + floor(u9 * 3), tcp_state = 2, 1, least(2 + floor(pareto), 2000000))) AS pk,
    toUInt64(multiIf(tiny, if(u12 < 0.05, 0, pk), proto = 1, if(u12 < 0.2, 0, pk), tcp_state = 1, 0, tcp_state = 2, 1,
      greatest(1, floor(pk * if(download, 1 + u10 * 1.5, 0.3 + u10 * 0.5))))) AS rev_pk,
    toUInt64(52 + floor(u11 * 100)) AS small_sz,
    toUInt64(576 + floor(u11 * 924)) AS big_sz,
    toUInt64(multiIf(tiny, pk * (60 + floor(u11 * 60)), proto = 1, pk * 84, proto = 6 AND tcp_state <= 2, pk * 60, pk * if(download, small_sz, big_sz))) AS bytes,
    toUInt64(multiIf(tiny, rev_pk * (90 + floor(u11 * 400)), proto = 1, rev_pk * 84, tcp_state = 2, rev_pk * 40, rev_pk * if(download, big_sz, small_sz))) AS rev_bytes
  FROM numbers(${offset}, ${count})
)`;
}

// ───────────────────────── helpers ─────────────────────────

const DIR = args.data ?? join(tmpdir(), `fh-bench-query-${process.pid}`);
const CH_DIR = join(DIR, 'chdb');
const NF_DIR = join(DIR, 'nfcapd');
const DB = 'bench';
const NF_DB = 'bench_nf';
const FQ = `\`${DB}\`.\`conversations\``;
const NF_FQ = `\`${NF_DB}\`.\`conversations\``;

/** Evicts every file under `dirs` from the page cache (fsync, then POSIX_FADV_DONTNEED): these files only, nobody else's. */
function evict(...dirs: string[]): void {
  const py = `import os,sys
for root in sys.argv[1:]:
  for d,_,fs in os.walk(root):
    for f in fs:
      try:
        fd=os.open(os.path.join(d,f),os.O_RDONLY)
        try:
          os.fsync(fd); os.posix_fadvise(fd,0,0,os.POSIX_FADV_DONTNEED)
        finally: os.close(fd)
      except OSError: pass`;
  const r = spawnSync('python3', ['-c', py, ...dirs], { stdio: 'inherit' });
  if (r.status !== 0) throw new Error('could not evict the data files from the page cache (python3 with os.posix_fadvise is needed)');
}

function duBytes(dir: string): number {
  let n = 0;
  for (const e of readdirSync(dir, { withFileTypes: true, recursive: true })) if (e.isFile()) n += statSync(join(e.parentPath, e.name)).size;
  return n;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

/** Busy and total jiffies (1/100 s) of the whole machine, all cores, from /proc/stat. */
function machineJiffies(): { busy: number; total: number } {
  const v = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1, 9).map(Number);
  const total = v.reduce((a, b) => a + b, 0);
  return { busy: total - v[3] - v[4], total };
}

/** Whole machine busy % over one second (other users of the machine skew every figure). */
function busy(): Promise<number> {
  const read = machineJiffies;
  const a = read();
  return delay(1000).then(() => {
    const b = read();
    return (100 * (b.busy - a.busy)) / Math.max(1, b.total - a.total);
  });
}

// ───────────────────────── flowhound ─────────────────────────

const t00 = performance.now();
const busyBefore = await busy();
if (busyBefore > 15) log(`warning: the machine is ${busyBefore.toFixed(0)} % busy before the benchmark (load ${loadavg().map((x) => x.toFixed(2)).join(' ')}); figures will be skewed`);
mkdirSync(DIR, { recursive: true });
// Rows span the last DAYS days; the 30-day default retention would drop the
// oldest day at the first merge (TTL counts from today): the benchmark keeps a year.
const TTL = { conversations: 365, flows: 365 };
const openStore = (database: string) => Store.open({ url: '', dataDir: CH_DIR, database, username: '', password: '', log: silentLogger(), ttlDays: TTL });
/** flowhound's database; nfdump's flows go to a second one, made by the same migrations (one chDB, two databases). */
const store = await openStore(DB);
const storeNf = await openStore(NF_DB);
await store.migrate();
await storeNf.migrate();
const tables = await store.rows<[string, string]>('SELECT name, engine FROM system.tables WHERE database = {db:String} ORDER BY name', { db: DB });
log(`tables in ${DB} after migrate: ${tables.map(([n, e]) => `${n} (${e})`).join(', ')}`);
/** Rollup tables kept by materialized views from conversations (filled while the conversations are generated). */
const rollups = tables.filter(([n, e]) => e !== 'MaterializedView' && /_1m$|_1h$|top_peers|rollup/i.test(n)).map(([n]) => n);

const count = async (fq: string) => Number((await store.rows<[number]>(`SELECT count() FROM ${fq}`))[0][0]);
const META = join(DIR, 'meta.json');
const meta = existsSync(META) ? (JSON.parse(readFileSync(META, 'utf8')) as Record<string, unknown>) : {};
const ddl = async (db: string) => (await store.rows<[string]>(`SHOW CREATE TABLE \`${db}\`.conversations`))[0][0];
const wantMeta = async (rows: number, db?: string) => ({ rows, days: DAYS, day0: DAY0, generator: generateSql('t', 0, 0, 1), ddl: db ? await ddl(db) : undefined, rollups: db ? rollups : undefined });

interface Fill {
  seconds: number;
  rollupSeconds: number;
  optimize: [table: string, seconds: number][];
}

/** Fills `db`.conversations (and through the views its rollups) with `total` conversations unless it already holds exactly those. */
async function fill(s: Store, key: string, total: number): Promise<Fill | undefined> {
  const db = s.database;
  const fq = `\`${db}\`.\`conversations\``;
  const want = JSON.stringify(await wantMeta(total, db));
  if (JSON.stringify(meta[key]) === want && (await count(fq)) === total) {
    log(`${fq}: ${fmtN(total)} conversations already generated; reused`);
    return undefined;
  }
  // Start from an empty database: conversations and rollups alike.
  await store.client.command({ query: `DROP DATABASE IF EXISTS \`${db}\`` });
  await s.migrate();
  // The views would aggregate each 1M-row insert block on one thread (~19k
  // rows/s here with all four): they are detached while the conversations
  // are generated, and the rollups are then filled with the views' own
  // SELECTs a day at a time (as the migration's backfill does, per day).
  // After OPTIMIZE FINAL the rollups hold what the views would have made.
  const views = ROLLUP_VIEWS.filter((v) => tables.some(([n]) => n === v.name));
  for (const v of views) await store.client.command({ query: `DETACH TABLE \`${db}\`.\`${v.name}\`` });
  log(`${fq}: generating ${fmtN(total)} conversations over ${DAYS} days…`);
  const t0 = performance.now();
  let done = 0;
  for (const [d, [off, n]] of daySplit(total).entries()) {
    await store.client.command({ query: `${generateSql(fq, d, off, n)}\nSETTINGS max_insert_threads = 2` });
    done += n;
    const sec = (performance.now() - t0) / 1000;
    log(`  day ${d + 1}/${DAYS} ${new Date(DAY0 + d * DAY_MS).toISOString().slice(0, 10)}: ${fmtN(done)} rows, ${fmtN(done / sec)} rows/s`);
  }
  const seconds = (performance.now() - t0) / 1000;
  const t2 = performance.now();
  for (const v of views) {
    const timeCol = v.from === 'conversations' ? 'time_received' : 'time';
    log(`  ${v.to} from ${v.from} (${v.name}'s SELECT), a day at a time…`);
    // Days by receipt: the last day's conversations are received until just after midnight.
    for (let d = 0; d <= DAYS; d++) {
      const from = `fromUnixTimestamp64Milli(${DAY0 + d * DAY_MS}, 'UTC')`;
      const to = `fromUnixTimestamp64Milli(${DAY0 + (d + 1) * DAY_MS}, 'UTC')`;
      const source = `(SELECT * FROM \`${db}\`.\`${v.from}\` WHERE ${timeCol} >= ${from} AND ${timeCol} < ${to})`;
      await store.client.command({ query: `INSERT INTO \`${db}\`.\`${v.to}\` SETTINGS insert_deduplicate = 0\n${v.select(source)}` });
    }
  }
  for (const v of views) await store.client.command({ query: `ATTACH TABLE \`${db}\`.\`${v.name}\`` });
  const rollupSeconds = (performance.now() - t2) / 1000;
  if (views.length) log(`  rollups filled in ${rollupSeconds.toFixed(0)} s`);
  // A month of live data is merged; one bulk load is not: merge it all.
  const optimize: [string, number][] = [];
  for (const t of ['conversations', ...rollups]) {
    log(`  OPTIMIZE TABLE ${db}.${t} FINAL…`);
    const t1 = performance.now();
    await store.client.command({ query: `OPTIMIZE TABLE \`${db}\`.\`${t}\` FINAL` });
    optimize.push([t, (performance.now() - t1) / 1000]);
    log(`    ${optimize[optimize.length - 1][1].toFixed(0)} s`);
  }
  meta[key] = JSON.parse(want);
  writeFileSync(META, JSON.stringify(meta));
  return { seconds, rollupSeconds, optimize };
}

const genMain = await fill(store, 'main', ROWS);

interface Disk {
  bytes: number;
  rows: number;
  parts: number;
  columns: [string, number, number][];
}
async function disk(db: string, table = 'conversations'): Promise<Disk> {
  const [[bytes, rows, parts]] = await store.rows<[number, number, number]>(
    'SELECT sum(bytes_on_disk), sum(rows), count() FROM system.parts WHERE database = {db:String} AND table = {t:String} AND active',
    { db, t: table },
  );
  const columns = await store.rows<[string, number, number]>(
    'SELECT name, data_compressed_bytes, data_uncompressed_bytes FROM system.columns WHERE database = {db:String} AND table = {t:String} ORDER BY data_compressed_bytes DESC',
    { db, t: table },
  );
  return { bytes: Number(bytes), rows: Number(rows), parts: Number(parts), columns: columns.map(([n, c, u]) => [n, Number(c), Number(u)]) };
}
const diskMain = await disk(DB);
const diskRollups = await Promise.all(rollups.map(async (t) => [t, await disk(DB, t)] as const));
log(`on disk: ${(diskMain.bytes / diskMain.rows).toFixed(1)} bytes a conversation (${diskMain.parts} parts); rollups ${diskRollups.map(([t, d]) => `${t} ${fmtN(d.rows)} rows ${(d.bytes / 2 ** 20).toFixed(0)} MiB`).join(', ')}`);

// Exactly the flows nfdump will hold, in a database made by the same
// migrations: flowhound and nfdump answer on equal data, and their answers
// are compared.
const genNf = await fill(storeNf, 'nf', NF_FLOWS);
const diskNf = await disk(NF_DB);

// ───────────────────────── nfcapd ─────────────────────────

/** IPFIX template 256: 70-byte records; reverse counters are RFC 5103 elements (PEN 29305). */
const IPFIX_FIELDS: [ie: number, len: number, pen?: number][] = [
  [8, 4], // sourceIPv4Address
  [12, 4], // destinationIPv4Address
  [7, 2], // sourceTransportPort
  [11, 2], // destinationTransportPort
  [4, 1], // protocolIdentifier
  [6, 1], // tcpControlBits
  [1, 8], // octetDeltaCount
  [2, 8], // packetDeltaCount
  [1, 8, 29305], // reverse octetDeltaCount
  [2, 8, 29305], // reverse packetDeltaCount
  [152, 8], // flowStartMilliseconds
  [153, 8], // flowEndMilliseconds
  [10, 4], // ingressInterface
  [14, 4], // egressInterface
];
const REC = IPFIX_FIELDS.reduce((s, f) => s + f[1], 0);
const PER_DATAGRAM = 20;
/** The same fields out of ClickHouse, little-endian RowBinary, in template order. */
const EXPORT_SQL = (d: number) => `SELECT toUInt32(CAST(src_addr AS IPv4)), toUInt32(CAST(dst_addr AS IPv4)), src_port, dst_port, protocol, toUInt8(tcp_flags),
  bytes, packets, rev_bytes, rev_packets, toUnixTimestamp64Milli(flow_start), toUnixTimestamp64Milli(flow_end), input_if, output_if
FROM ${NF_FQ} WHERE flow_end >= fromUnixTimestamp64Milli(${DAY0 + d * DAY_MS}, 'UTC') AND flow_end < fromUnixTimestamp64Milli(${DAY0 + (d + 1) * DAY_MS}, 'UTC')
ORDER BY flow_end FORMAT RowBinary`;

function ipfixHeader(len: number, seq: number): Buffer {
  const b = Buffer.allocUnsafe(16);
  b.writeUInt16BE(10, 0);
  b.writeUInt16BE(len, 2);
  b.writeUInt32BE(Math.floor(Date.now() / 1000), 4);
  b.writeUInt32BE(seq >>> 0, 8);
  b.writeUInt32BE(1, 12);
  return b;
}
function templateSet(): Buffer {
  const len = 4 + 4 + IPFIX_FIELDS.reduce((s, f) => s + (f[2] ? 8 : 4), 0);
  const b = Buffer.alloc(len);
  b.writeUInt16BE(2, 0);
  b.writeUInt16BE(len, 2);
  b.writeUInt16BE(256, 4);
  b.writeUInt16BE(IPFIX_FIELDS.length, 6);
  let o = 8;
  for (const [ie, l, pen] of IPFIX_FIELDS) {
    b.writeUInt16BE(pen ? 0x8000 | ie : ie, o);
    b.writeUInt16BE(l, o + 2);
    o += 4;
    if (pen) {
      b.writeUInt32BE(pen, o);
      o += 4;
    }
  }
  return b;
}
/** RowBinary (little-endian) rows → IPFIX records (big-endian): each field's bytes reversed. */
function toIpfix(rb: Buffer): Buffer {
  if (rb.length % REC !== 0) throw new Error(`export of ${rb.length} bytes is not a whole number of ${REC}-byte rows`);
  const out = Buffer.allocUnsafe(rb.length);
  const lens = IPFIX_FIELDS.map((f) => f[1]);
  for (let r = 0; r < rb.length; r += REC) {
    let o = r;
    for (const l of lens) {
      for (let i = 0; i < l; i++) out[o + i] = rb[o + l - 1 - i];
      o += l;
    }
  }
  return out;
}

/** Sends `records` (IPFIX records) at `rate` records/s, template first and every second. */
async function sendIpfix(port: number, records: Buffer, rate: number): Promise<void> {
  const sock = dgram.createSocket('udp4');
  sock.connect(port, '127.0.0.1');
  await new Promise((r) => sock.once('connect', r));
  try {
    sock.setSendBufferSize(4 * 1024 * 1024);
  } catch {
    // the default is fine on loopback
  }
  const tpl = templateSet();
  const n = records.length / REC;
  let seq = 0;
  const sendTemplate = () => sock.send([ipfixHeader(16 + tpl.length, seq), tpl]);
  sendTemplate();
  const t0 = performance.now();
  let lastTpl = t0;
  let sent = 0;
  while (sent < n) {
    const now = performance.now();
    if (now - lastTpl > 1000) {
      sendTemplate();
      lastTpl = now;
    }
    const owed = Math.min(n, Math.floor(((now - t0) * rate) / 1000)) - sent;
    for (let k = 0; k < owed; ) {
      const m = Math.min(PER_DATAGRAM, n - sent);
      const set = Buffer.allocUnsafe(4);
      set.writeUInt16BE(256, 0);
      set.writeUInt16BE(4 + m * REC, 2);
      sock.send([ipfixHeader(20 + m * REC, seq), set, records.subarray(sent * REC, (sent + m) * REC)]);
      sent += m;
      seq += m;
      k += m;
    }
    await delay(1);
  }
  while (sock.getSendQueueCount() > 0) await delay(1);
  sock.close();
}

const nfdumpEnv = { ...process.env, TZ: 'UTC' };
async function nfdumpFlows(path: string): Promise<number> {
  const { stdout } = await runTool('nfdump', ['-R', path, '-I'], { hint: 'apt-get install nfdump', timeoutMs: 600_000, env: nfdumpEnv });
  return Number(/^\s*Flows\s*:\s*(\d+)/m.exec(stdout)?.[1] ?? Number.NaN);
}
const dayDir = (d: number) => {
  const t = new Date(DAY0 + d * DAY_MS).toISOString();
  return join(NF_DIR, t.slice(0, 4), t.slice(5, 7), t.slice(8, 10));
};

/** Each day's flows to a fresh nfcapd; its file kept in NF_DIR/YYYY/MM/DD. */
async function fillNfcapd(): Promise<{ seconds: number; resent: number } | undefined> {
  const want = JSON.stringify(await wantMeta(NF_FLOWS));
  if (JSON.stringify(meta.nfcapd) === want && existsSync(NF_DIR) && (await nfdumpFlows(NF_DIR)) === NF_FLOWS) {
    log(`${NF_DIR}: ${fmtN(NF_FLOWS)} flows already stored by nfcapd; reused`);
    return undefined;
  }
  rmSync(NF_DIR, { recursive: true, force: true });
  log(`nfcapd: sending ${fmtN(NF_FLOWS)} flows as IPFIX, one nfcapd a day, ${fmtN(RATE)} records/s…`);
  const t0 = performance.now();
  let total = 0;
  let resent = 0;
  for (let d = 0; d < DAYS; d++) {
    const r = await store.client.exec({ query: EXPORT_SQL(d) });
    const chunks: Buffer[] = [];
    for await (const c of r.stream) chunks.push(c as Buffer);
    const records = toIpfix(Buffer.concat(chunks));
    const n = records.length / REC;
    for (let attempt = 0, rate = RATE; ; attempt++, rate /= 2) {
      const port = await freePort('udp');
      const nf = await startNfcapd({ port, args: ['-B', '16000000'] });
      try {
        await sendIpfix(port, records, rate);
        const stored = await nf.summary();
        if (stored.flows === n) {
          const dest = dayDir(d);
          mkdirSync(dest, { recursive: true });
          for (const f of readdirSync(nf.dir)) if (f.startsWith('nfcapd.')) renameSync(join(nf.dir, f), join(dest, f));
          break;
        }
        if (attempt === 3) throw new Error(`nfcapd stored ${stored.flows} of ${n} flows of day ${d} even at ${fmtN(rate)} records/s`);
        log(`  day ${d + 1}: nfcapd stored ${fmtN(stored.flows)} of ${fmtN(n)}; sending again at ${fmtN(rate / 2)}/s`);
        resent++;
      } finally {
        await nf.cleanup();
      }
    }
    total += n;
    log(`  day ${d + 1}/${DAYS}: ${fmtN(n)} flows stored (${fmtN(total)} in all)`);
  }
  const stored = await nfdumpFlows(NF_DIR);
  if (stored !== NF_FLOWS) throw new Error(`nfdump -I counts ${stored} flows in ${NF_DIR}, ${NF_FLOWS} were sent`);
  meta.nfcapd = JSON.parse(want);
  writeFileSync(META, JSON.stringify(meta));
  return { seconds: (performance.now() - t0) / 1000, resent };
}
const nfFill = args['skip-nfdump'] ? undefined : await fillNfcapd();
const nfBytes = args['skip-nfdump'] ? 0 : duBytes(NF_DIR);

// ───────────────────────── the questions ─────────────────────────

/** Q1's day: the middle weekday. Q2/Q3's host: inside host 20 (a busy workstation, ~0.3 % of all conversations). */
let qDay = Math.floor(DAYS / 2);
while (dayWeight(qDay) < 1) qDay++;
const D0 = DAY0 + qDay * DAY_MS;
const D1 = D0 + DAY_MS;
const HOST = insideJs(20);
const FROM = DAY0;
const TO = DAY0 + DAYS * DAY_MS;
const nfTime = (ms: number) => new Date(ms).toISOString().slice(0, 19).replace('-', '/').replace('-', '/').replace('T', '.');

const ip = (s: string) => s.replace(/^::ffff:/, '');
const sec = (s: string) => Math.floor(Date.parse(`${s.replace(' ', 'T')}Z`) / 1000);
/** nfdump's -t keeps flows that lie inside the window (first ≥ start, last ≤ end); the SQL asks the same. */
const WINDOW = `flow_start >= fromUnixTimestamp64Milli({d0:Int64}, 'UTC') AND flow_end <= fromUnixTimestamp64Milli({d1:Int64}, 'UTC')`;
/** The partition and sort key are time_received: a flow inside the window is received after its start and within the hour after its end. */
const RECEIVED = (from: string, to: string) => `time_received >= fromUnixTimestamp64Milli({${from}:Int64}, 'UTC') AND time_received < fromUnixTimestamp64Milli({${to}:Int64}, 'UTC') + INTERVAL 1 HOUR`;
const HOST_WHERE = '(src_addr = {host:IPv6} OR dst_addr = {host:IPv6})';

interface ChQuestion {
  sql: (fq: string) => string;
  params: Record<string, unknown>;
  /** The answer as comparable lines. */
  answer: (rows: unknown[][]) => string[];
}
const CH: Record<string, ChQuestion> = {
  q1: {
    sql: (fq) => `SELECT addr, sum(b) AS bytes, count() AS flows
FROM (SELECT arrayJoin([src_addr, dst_addr]) AS addr, bytes + rev_bytes AS b FROM ${fq} WHERE ${RECEIVED('d0', 'd1')} AND ${WINDOW})
GROUP BY addr ORDER BY bytes DESC LIMIT 20`,
    params: { d0: D0, d1: D1 },
    answer: (rows) => rows.map(([a, b, f]) => `${ip(a as string)} ${b} ${f}`),
  },
  q1nobound: {
    sql: (fq) => `SELECT addr, sum(b) AS bytes, count() AS flows
FROM (SELECT arrayJoin([src_addr, dst_addr]) AS addr, bytes + rev_bytes AS b FROM ${fq} WHERE ${WINDOW})
GROUP BY addr ORDER BY bytes DESC LIMIT 20`,
    params: { d0: D0, d1: D1 },
    answer: (rows) => rows.map(([a, b, f]) => `${ip(a as string)} ${b} ${f}`),
  },
  q2: {
    sql: (fq) => `SELECT if(src_addr = {host:IPv6}, dst_addr, src_addr) AS peer, sum(bytes + rev_bytes) AS bytes, count() AS flows,
  min(flow_start) AS first_seen, max(flow_end) AS last_seen
FROM ${fq} WHERE ${HOST_WHERE} AND ${RECEIVED('from', 'to')}
GROUP BY peer ORDER BY bytes DESC LIMIT 100`,
    params: { host: `::ffff:${HOST}`, from: FROM, to: TO },
    answer: (rows) => rows.map(([p, b, f, s, e]) => `${ip(p as string)} ${b} ${f} ${sec(s as string)} ${sec(e as string)}`),
  },
  q3: {
    sql: (fq) => `SELECT toStartOfHour(flow_start) AS hour, sum(bytes + rev_bytes) AS bytes, sum(packets + rev_packets) AS packets, count() AS flows
FROM ${fq} WHERE ${HOST_WHERE} AND ${RECEIVED('from', 'to')}
GROUP BY hour ORDER BY hour`,
    params: { host: `::ffff:${HOST}`, from: FROM, to: TO },
    answer: (rows) => rows.map(([h, b, p, f]) => `${sec(h as string)} ${b} ${p} ${f}`),
  },
};

/**
 * The same questions from the rollups, through the table pickSource
 * (packages/store) chooses for them. Rollups bucket by the hour a
 * conversation was received, so their answers are checked against the base
 * table asked by time_received (`check`), not against nfdump's (flow times).
 */
interface RollupQ extends ChQuestion {
  source: SourceRequest;
  check: ChQuestion;
}
const ms2s = (p: string) => `toDateTime(intDiv({${p}:Int64}, 1000), 'UTC')`;
const TO_H = TO + HOUR_MS;
const ROLLUP: Record<string, RollupQ> = {
  r1: {
    source: { question: 'host-traffic', fromMs: D0, toMs: D1, grainSeconds: 86_400, ttlDays: TTL },
    sql: (t) => `SELECT host, sum(bytes_sent + bytes_received) AS bytes, sum(flows_as_src + flows_as_dst) AS flows
FROM ${t} WHERE time >= ${ms2s('d0')} AND time < ${ms2s('d1')}
GROUP BY host ORDER BY bytes DESC, host LIMIT 20`,
    params: { d0: D0, d1: D1 },
    answer: (rows) => rows.map(([a, b, f]) => `${ip(a as string)} ${b} ${f}`),
    check: {
      sql: (fq) => `SELECT addr, sum(b) AS bytes, count() AS flows
FROM (SELECT arrayJoin([src_addr, dst_addr]) AS addr, bytes + rev_bytes AS b FROM ${fq}
  WHERE time_received >= fromUnixTimestamp64Milli({d0:Int64}, 'UTC') AND time_received < fromUnixTimestamp64Milli({d1:Int64}, 'UTC'))
GROUP BY addr ORDER BY bytes DESC, addr LIMIT 20`,
      params: { d0: D0, d1: D1 },
      answer: (rows) => rows.map(([a, b, f]) => `${ip(a as string)} ${b} ${f}`),
    },
  },
  r2: {
    source: { question: 'host-peers', fromMs: FROM, toMs: TO_H, grainSeconds: (TO_H - FROM) / 1000, ttlDays: TTL },
    sql: (t) => `SELECT peer, sum(bytes_sent + bytes_received) AS bytes, sum(flows) AS flows, min(time) AS first_hour, max(time) AS last_hour
FROM ${t} WHERE host = {host:IPv6} AND time >= ${ms2s('from')} AND time < ${ms2s('to')}
GROUP BY peer ORDER BY bytes DESC, peer LIMIT 100`,
    params: { host: `::ffff:${HOST}`, from: FROM, to: TO_H },
    answer: (rows) => rows.map(([p, b, f, s, e]) => `${ip(p as string)} ${b} ${f} ${sec(s as string)} ${sec(e as string)}`),
    check: {
      sql: (fq) => `SELECT if(src_addr = {host:IPv6}, dst_addr, src_addr) AS peer, sum(bytes + rev_bytes) AS bytes, count() AS flows,
  toStartOfHour(min(time_received)), toStartOfHour(max(time_received))
FROM ${fq} WHERE ${HOST_WHERE} AND time_received >= fromUnixTimestamp64Milli({from:Int64}, 'UTC') AND time_received < fromUnixTimestamp64Milli({to:Int64}, 'UTC')
GROUP BY peer ORDER BY bytes DESC, peer LIMIT 100`,
      params: { host: `::ffff:${HOST}`, from: FROM, to: TO_H },
      answer: (rows) => rows.map(([p, b, f, s, e]) => `${ip(p as string)} ${b} ${f} ${sec(s as string)} ${sec(e as string)}`),
    },
  },
  r3: {
    source: { question: 'host-traffic', fromMs: FROM, toMs: TO_H, grainSeconds: 3600, ttlDays: TTL },
    sql: (t) => `SELECT time AS hour, sum(bytes_sent + bytes_received) AS bytes, sum(packets_sent + packets_received) AS packets, sum(flows_as_src + flows_as_dst) AS flows
FROM ${t} WHERE host = {host:IPv6} AND time >= ${ms2s('from')} AND time < ${ms2s('to')}
GROUP BY hour ORDER BY hour`,
    params: { host: `::ffff:${HOST}`, from: FROM, to: TO_H },
    answer: (rows) => rows.map(([h, b, p, f]) => `${sec(h as string)} ${b} ${p} ${f}`),
    check: {
      sql: (fq) => `SELECT toStartOfHour(time_received) AS hour, sum(bytes + rev_bytes) AS bytes, sum(packets + rev_packets) AS packets, count() AS flows
FROM ${fq} WHERE ${HOST_WHERE} AND time_received >= fromUnixTimestamp64Milli({from:Int64}, 'UTC') AND time_received < fromUnixTimestamp64Milli({to:Int64}, 'UTC')
GROUP BY hour ORDER BY hour`,
      params: { host: `::ffff:${HOST}`, from: FROM, to: TO_H },
      answer: (rows) => rows.map(([h, b, p, f]) => `${sec(h as string)} ${b} ${p} ${f}`),
    },
  },
};

const SETTINGS = 'SETTINGS use_query_condition_cache = 0';

interface Run {
  ms: number;
  /** Rows (flowhound) or flows (nfdump) read. */
  read: number;
  answer: string[];
  /** CPU seconds spent on the answer: this process (chDB's threads included) and, for nfdump, the nfdump process. */
  cpu: number;
}

const ownCpu = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};
/** CPU seconds of this process's children that have exited and been reaped (/proc/self/stat cutime + cstime). */
const childCpu = () => {
  const f = readFileSync('/proc/self/stat', 'utf8').split(') ')[1].split(' ');
  return (Number(f[13]) + Number(f[14])) / 100;
};

async function chRun(q: ChQuestion, fq: string): Promise<Run> {
  const t0 = performance.now();
  const c0 = ownCpu();
  const r = await store.client.exec({ query: `${q.sql(fq)}\n${SETTINGS}\nFORMAT JSONCompactEachRow`, query_params: q.params });
  let text = '';
  for await (const c of r.stream) text += (c as Buffer).toString();
  const rows = text.split('\n').filter(Boolean).map((l) => JSON.parse(l) as unknown[]);
  const answer = q.answer(rows);
  const ms = performance.now() - t0;
  return { ms, read: Number.NaN, answer, cpu: ownCpu() - c0 };
}

/** Rows the query reads after partition and primary-key pruning (EXPLAIN ESTIMATE; chDB's summary counts result rows). */
async function chRead(q: ChQuestion, fq: string): Promise<number> {
  const rows = await store.rows<[string, string, number, number, number]>(`EXPLAIN ESTIMATE ${q.sql(fq)}`, q.params);
  return rows.reduce((s, r) => s + Number(r[3]), 0);
}

/** flowhound and nfdump on the same flows: the same answer, line by line. */
function agree(a: Run, b: Run): string {
  if (a.answer.length !== b.answer.length) return `no: ${a.answer.length} lines against ${b.answer.length}`;
  const diff = a.answer.findIndex((l, i) => l !== b.answer[i]);
  return diff < 0 ? `yes (${a.answer.length} lines)` : `no: line ${diff + 1}: "${a.answer[diff]}" against "${b.answer[diff]}"`;
}

async function chCold(): Promise<void> {
  for (const c of ['MARK', 'UNCOMPRESSED', 'PRIMARY INDEX', 'QUERY CONDITION', 'PAGE', 'MMAP']) await store.client.command({ query: `SYSTEM DROP ${c} CACHE` });
  evict(CH_DIR);
}

/** nfdump's statistics as CSV (-o csv with -s): ts,te,td,pr,val,fl,flP,pkt,pktP,byt,… */
function nfStat(lines: string[], drop?: string): string[][] {
  const head = lines.findIndex((l) => l.startsWith('ts,'));
  const cols = lines[head].split(',');
  const at = (n: string) => cols.indexOf(n);
  return lines
    .slice(head + 1)
    .filter((l) => /^\d/.test(l))
    .map((l) => l.split(','))
    .filter((c) => c[at('val')] !== drop)
    .map((c) => [c[at('val')], c[at('byt')], c[at('fl')], c[at('ts')], c[at('te')]]);
}

interface NfQuestion {
  args: (dir: string) => string[];
  /** Parses nfdump's output line by line (timed with nfdump). */
  answer: (lines: AsyncIterable<string>) => Promise<string[]>;
}
const collect = async (lines: AsyncIterable<string>) => {
  const all: string[] = [];
  for await (const l of lines) all.push(l);
  return all;
};
const NF: Record<string, NfQuestion> = {
  q1: {
    args: (dir) => ['-R', dir, '-t', `${nfTime(D0)}-${nfTime(D1)}`, '-s', 'ip/bytes', '-n', '20', '-N', '-q', '-o', 'csv'],
    answer: async (lines) => nfStat(await collect(lines)).map(([a, b, f]) => `${a} ${b} ${f}`),
  },
  q2: {
    // -s ip counts the host itself too (every flow): one more line, dropped.
    args: (dir) => ['-R', dir, '-s', 'ip/bytes', '-n', '101', '-N', '-q', '-o', 'csv', `host ${HOST}`],
    answer: async (lines) =>
      nfStat(await collect(lines), HOST)
        .slice(0, 100)
        .map(([a, b, f, s, e]) => `${a} ${b} ${f} ${sec(s)} ${sec(e)}`),
  },
  q3: {
    // nfdump has no time bins: every flow of the host, summed by hour here.
    args: (dir) => ['-R', dir, '-N', '-q', '-o', 'fmt:%tsr %ibyt %obyt %ipkt %opkt', `host ${HOST}`],
    answer: async (lines) => {
      const hours = new Map<number, [number, number, number]>();
      for await (const l of lines) {
        const c = l.trim().split(/\s+/);
        if (c.length < 5) continue;
        const h = Math.floor(Number(c[0]) / 3600) * 3600;
        const v = hours.get(h) ?? [0, 0, 0];
        v[0] += Number(c[1]) + Number(c[2]);
        v[1] += Number(c[3]) + Number(c[4]);
        v[2]++;
        hours.set(h, v);
      }
      return [...hours].sort((a, b) => a[0] - b[0]).map(([h, [b, p, f]]) => `${h} ${b} ${p} ${f}`);
    },
  },
};

async function nfRun(q: NfQuestion, dir: string, read: number): Promise<Run> {
  const t0 = performance.now();
  const c0 = ownCpu();
  const k0 = childCpu();
  const child = spawn('nfdump', q.args(dir), { env: nfdumpEnv, stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  child.stderr.on('data', (c: Buffer) => (err += c.toString()));
  const exit = new Promise<number | null>((r) => child.once('close', r));
  const answer = await q.answer(createInterface({ input: child.stdout, crlfDelay: Infinity }));
  const code = await exit;
  const ms = performance.now() - t0;
  if (code !== 0) throw new Error(`nfdump ${q.args(dir).join(' ')} failed (${code}): ${err}`);
  return { ms, read, answer, cpu: childCpu() - k0 + ownCpu() - c0 };
}

interface Timing {
  cold: Run;
  warm: Run[];
  median: number;
  /** Median CPU seconds of the warm runs: what the answer costs, whatever else the machine runs. */
  cpu: number;
  /** CPU % the rest of the machine used during the warm runs (200 = both cores). */
  others: number;
}
async function timed(what: string, cold: () => Promise<void> | void, run: () => Promise<Run>): Promise<Timing> {
  await cold();
  const c = await run();
  const warm: Run[] = [];
  // This process's CPU (chDB's threads included) and the machine's, over the warm runs:
  // a flowhound query that gets both cores shows ~200 %; others' load shows as machine − this process.
  const cpu0 = process.cpuUsage();
  const m0 = machineJiffies();
  const t0 = performance.now();
  for (let i = 0; i < RUNS; i++) warm.push(await run());
  const wall = (performance.now() - t0) / 1000;
  const cpu1 = process.cpuUsage(cpu0);
  const m1 = machineJiffies();
  const own = (100 * (cpu1.user + cpu1.system)) / 1e6 / wall;
  const machine = (100 * (m1.busy - m0.busy)) / 100 / wall;
  const median0 = median(warm.map((r) => r.ms));
  const cpu = median(warm.map((r) => r.cpu));
  const others = Math.max(0, machine - (100 * warm.reduce((a, r) => a + r.cpu, 0)) / wall);
  log(
    `  ${what}: cold ${c.ms.toFixed(0)} ms, warm ${warm.map((r) => r.ms.toFixed(0)).join(' / ')} ms (median ${median0.toFixed(0)}, CPU ${cpu.toFixed(2)} s), read ${fmtN(c.read)}, ${c.answer.length} answer lines; ` +
      `while warm: this process ${own.toFixed(0)} % CPU, machine ${machine.toFixed(0)} %, others ${others.toFixed(0)} %`,
  );
  return { cold: c, warm, median: median0, cpu, others };
}


const fhRows = await count(FQ);
const nfRows = await count(NF_FQ);
const hostRows = async (fq: string) => Number((await store.rows<[number]>(`SELECT count() FROM ${fq} WHERE ${HOST_WHERE}`, { host: `::ffff:${HOST}` }))[0][0]);
const dayRows = async (fq: string) => Number((await store.rows<[number]>(`SELECT count() FROM ${fq} WHERE ${WINDOW}`, { d0: D0, d1: D1 }))[0][0]);
const facts = { host: HOST, day: new Date(D0).toISOString().slice(0, 10), fhHost: await hostRows(FQ), nfHost: await hostRows(NF_FQ), fhDay: await dayRows(FQ), nfDay: await dayRows(NF_FQ) };
const nfDayFlows = args['skip-nfdump'] ? 0 : await nfdumpFlows(dayDir(qDay));
log(`questions: Q1 day ${facts.day} (${fmtN(facts.fhDay)} / ${fmtN(facts.nfDay)} conversations inside it), Q2/Q3 host ${HOST} (in ${fmtN(facts.fhHost)} / ${fmtN(facts.nfHost)} conversations)`);

const results: Record<string, { fh?: Timing; fhNf?: Timing; nf?: Timing }> = {};
for (const key of ['q1', 'q1nobound', 'q2', 'q3']) {
  log(`${key}:`);
  const r: (typeof results)[string] = {};
  const readFh = await chRead(CH[key], FQ);
  const readNf = await chRead(CH[key], NF_FQ);
  r.fh = await timed(`flowhound ${fmtN(fhRows)} rows`, chCold, async () => ({ ...(await chRun(CH[key], FQ)), read: readFh }));
  r.fhNf = await timed(`flowhound ${fmtN(nfRows)} rows (nfdump's flows)`, chCold, async () => ({ ...(await chRun(CH[key], NF_FQ)), read: readNf }));
  results[key] = r;
  if (args['skip-nfdump'] || key === 'q1nobound') continue;
  r.nf = await timed(`nfdump ${fmtN(NF_FLOWS)} flows`, () => evict(NF_DIR), () => nfRun(NF[key], NF_DIR, NF_FLOWS));
  if (key === 'q1') {
    results.q1day = { fh: r.fh, fhNf: r.fhNf, nf: await timed(`nfdump, the day's files only (${fmtN(nfDayFlows)} flows)`, () => evict(NF_DIR), () => nfRun(NF.q1, dayDir(qDay), nfDayFlows)) };
  }
}

/** Rollup-backed answers, when pickSource chooses a rollup for the question. */
const rollupInfo: Record<string, { table: string; check: string }> = {};
for (const [key, q] of Object.entries(ROLLUP)) {
  const choice = pickSource(q.source);
  if (choice.bucketSeconds === 0 || !rollups.includes(choice.table)) {
    log(`${key}: pickSource chose ${choice.table}; no rollup answer`);
    continue;
  }
  log(`${key} (${choice.table}):`);
  const t = (db: string) => `\`${db}\`.\`${choice.table}\``;
  const readFh = await chRead(q, t(DB));
  const readNf = await chRead(q, t(NF_DB));
  const fh = await timed(`flowhound rollup, ${fmtN(fhRows)} conversations`, chCold, async () => ({ ...(await chRun(q, t(DB))), read: readFh }));
  const fhNf = await timed(`flowhound rollup, ${fmtN(nfRows)} conversations (nfdump's flows)`, chCold, async () => ({ ...(await chRun(q, t(NF_DB))), read: readNf }));
  // The rollup's answer against the base table's, asked by time_received (not timed).
  const base = await chRun(q.check, FQ);
  rollupInfo[key] = { table: choice.table, check: agree(fh.cold, base) };
  results[key] = { fh, fhNf, nf: { r1: results.q1day, r2: results.q2, r3: results.q3 }[key]?.nf };
}

// ───────────────────────── report ─────────────────────────

const s = (ms: number) => (ms / 1000).toFixed(ms < 10_000 ? 3 : 1);
const x = (n: number) => (n >= 10 ? n.toFixed(0) : n.toFixed(1));
const version = await runTool('git', ['-C', join(import.meta.dirname, '../..'), 'describe', '--always', '--dirty'], { hint: 'git', timeoutMs: 5_000 })
  .then((r) => r.stdout.trim())
  .catch(() => process.env.FLOWHOUND_VERSION ?? 'not a git checkout');
const gen = (g: Fill | undefined, rows: number) =>
  g ? `generated in ${g.seconds.toFixed(0)} s = ${fmtN(rows / g.seconds)} rows/s, rollups filled in ${g.rollupSeconds.toFixed(0)} s; OPTIMIZE FINAL ${g.optimize.map(([t, sec]) => `${t} ${sec.toFixed(0)} s`).join(', ')}` : 'reused from an earlier run';
const out: string[] = [];
out.push(`\nforensic queries: flowhound (chDB ${(await store.rows<[string]>('SELECT version()'))[0][0]}) against nfdump ${args['skip-nfdump'] ? '(not run)' : (await runTool('nfdump', ['-V'], { hint: 'nfdump', timeoutMs: 5_000 })).stdout.trim().replace(/^nfdump: /, '')}`);
out.push(`${cpus().length} × ${cpus()[0]?.model.trim()}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}, flowhound ${version}; machine ${busyBefore.toFixed(0)} % busy before the run`);
out.push(`flowhound: ${fmtN(fhRows)} conversations, ${DAYS} days from ${new Date(DAY0).toISOString().slice(0, 10)} (${gen(genMain, fhRows)})`);
out.push(`nfdump: ${fmtN(NF_FLOWS)} conversations from the same generator, sent to nfcapd as IPFIX biflows, one nfcapd a day (${nfFill ? `${nfFill.seconds.toFixed(0)} s, ${nfFill.resent} days re-sent` : 'reused from an earlier run'}); flowhound holds the same ${fmtN(nfRows)} in a second database (${gen(genNf, nfRows)})`);
out.push(`Q1 day ${facts.day}: ${fmtN(facts.fhDay)} conversations in flowhound's table, ${fmtN(facts.nfDay)} in nfdump's; Q2/Q3 host ${HOST}: in ${fmtN(facts.fhHost)} / ${fmtN(facts.nfHost)}`);
out.push(`rollup tables in ${DB}: ${rollups.length ? rollups.join(', ') : 'none (only the base table is measured)'}`);
out.push('');
const allTimings = Object.values(results).flatMap((r) => [r.fh, r.fhNf, r.nf]).filter((t): t is Timing => t !== undefined);
out.push(
  `Seconds; cold = first run after our data files left the page cache and ClickHouse dropped its caches; warm = median of ${RUNS} runs after it, with the median CPU seconds of those runs in brackets ` +
    `(flowhound: this process, chDB included; nfdump: nfdump + the benchmark's parsing). Rows read: EXPLAIN ESTIMATE (after partition, key and skip-index pruning). ` +
    `Other work on the machine during the warm runs: median ${median(allTimings.map((t) => t.others)).toFixed(0)} %, at most ${Math.max(...allTimings.map((t) => t.others)).toFixed(0)} % of the 200 %.`,
);
const short = (n: number) => (n >= 1e6 ? `${+(n / 1e6).toFixed(1)}M` : `${+(n / 1e3).toFixed(1)}k`);
out.push(`| question | flowhound ${short(fhRows)}: rows read | cold | warm | flowhound on nfdump's ${short(nfRows)}: rows read | cold | warm | nfdump: flows read | cold | warm | same answer |`);
out.push('|---|---|---|---|---|---|---|---|---|---|---|');
const label: Record<string, string> = {
  q1: 'Q1 top-20 talkers, one day',
  q1day: "Q1, nfdump reading only the day's files",
  q1nobound: "Q1 without the time_received bound (the query service's window today)",
  q2: "Q2 one host's peers, 30 days (top 100)",
  q3: "Q3 one host's hourly traffic, 30 days",
  r1: 'Q1 from rollup',
  r2: 'Q2 from rollup',
  r3: 'Q3 from rollup',
};
const lbl = (key: string) => (rollupInfo[key] ? `${label[key]} ${rollupInfo[key].table} (hours of receipt)` : label[key]);
const w = (t: Timing) => `${s(t.median)} (${t.cpu.toFixed(2)})`;
const KEYS = ['q1', 'q1day', 'q1nobound', 'q2', 'q3', 'r1', 'r2', 'r3'];
for (const key of KEYS) {
  const r = results[key];
  if (!r) continue;
  const fh = key === 'q1day' ? undefined : r.fh;
  const fhNf = key === 'q1day' ? undefined : r.fhNf;
  const nf = key.startsWith('r') ? undefined : r.nf;
  const same = rollupInfo[key] ? `rollup = base table by time_received: ${rollupInfo[key].check}` : nf && r.fhNf ? agree(r.fhNf.cold, nf.cold) : '';
  out.push(
    `| ${lbl(key)} | ${fh ? fmtN(fh.cold.read) : ''} | ${fh ? s(fh.cold.ms) : ''} | ${fh ? w(fh) : ''} | ${fhNf ? fmtN(fhNf.cold.read) : ''} | ${fhNf ? s(fhNf.cold.ms) : ''} | ${fhNf ? w(fhNf) : ''} | ` +
      `${nf ? fmtN(nf.cold.read) : ''} | ${nf ? s(nf.cold.ms) : ''} | ${nf ? w(nf) : ''} | ${same} |`,
  );
}
if (!args['skip-nfdump']) {
  out.push('');
  out.push(`On equal data (warm medians): seconds per 10M stored conversations (flowhound: ${fmtN(fhRows)}; nfdump: ${fmtN(NF_FLOWS)} flows), and the same ${fmtN(NF_FLOWS)} flows asked of both. Goal: ≥ 10× faster than nfdump. Rollup rows are set against nfdump's best command for the question (Q1: the day's files).`);
  out.push(`| question | flowhound s / 10M | nfdump s / 10M | nfdump ÷ flowhound, per 10M | nfdump ÷ flowhound, same ${short(NF_FLOWS)} flows | same flows, CPU seconds | ≥ 10× | flowhound ${short(fhRows)} < 1 s |`);
  out.push('|---|---|---|---|---|---|---|---|');
  for (const key of ['q1', 'q1day', 'q2', 'q3', 'r1', 'r2', 'r3']) {
    const r = results[key];
    if (!r?.nf || !r.fh || !r.fhNf) continue;
    const fhPer = (r.fh.median * 1e7) / fhRows;
    const nfPer = (r.nf.median * 1e7) / NF_FLOWS;
    const per = nfPer / fhPer;
    const same = r.nf.median / r.fhNf.median;
    const sameCpu = r.nf.cpu / r.fhNf.cpu;
    out.push(`| ${lbl(key)} | ${s(fhPer)} | ${s(nfPer)} | ${x(per)}× | ${x(same)}× | ${x(sameCpu)}× | ${per >= 10 && same >= 10 ? 'met' : 'not met'} | ${r.fh.median < 1000 ? 'yes' : 'no'} (${s(r.fh.median)}) |`);
  }
}
out.push('');
const perRow = (d: Disk) => (d.bytes / d.rows).toFixed(1);
const rollupBytes = diskRollups.reduce((a, [, d]) => a + d.bytes, 0);
out.push(
  `bytes on disk per stored conversation (system.parts bytes_on_disk / rows after OPTIMIZE FINAL): ${perRow(diskMain)} B ` +
    `(${fmtN(diskMain.rows)} rows, ${(diskMain.bytes / 2 ** 30).toFixed(2)} GiB, ${diskMain.parts} parts: ${((diskMain.bytes / diskMain.rows) * 1e9 / 2 ** 30).toFixed(0)} GiB per billion); ` +
    `the ${fmtN(diskNf.rows)}-row copy: ${perRow(diskNf)} B`,
);
if (diskRollups.length)
  out.push(
    `  rollups: ${(rollupBytes / diskMain.rows).toFixed(1)} B more per conversation (${diskRollups.map(([t, d]) => `${t} ${fmtN(d.rows)} rows, ${(d.bytes / 2 ** 20).toFixed(0)} MiB`).join('; ')}); ` +
      `they keep 13 months, conversations 30 days by default`,
  );
const top = diskMain.columns.filter(([, c]) => c > 0).slice(0, 10);
if (top.length) out.push(`  largest columns, bytes a row compressed (uncompressed): ${top.map(([n, c, u]) => `${n} ${(c / diskMain.rows).toFixed(1)} (${(u / diskMain.rows).toFixed(0)})`).join(', ')}`);
if (!args['skip-nfdump']) out.push(`nfcapd (default: uncompressed files): ${(nfBytes / NF_FLOWS).toFixed(1)} B a flow (${(nfBytes / 2 ** 20).toFixed(0)} MiB for ${fmtN(NF_FLOWS)} flows)`);
out.push('');
out.push('flowhound SQL (parameters bound; every timed query ends in SETTINGS use_query_condition_cache = 0):');
for (const key of ['q1', 'q2', 'q3']) out.push(`  ${key}: ${CH[key].sql(FQ).replace(/\n\s*/g, ' ')}`);
for (const key of ['r1', 'r2', 'r3']) if (rollupInfo[key]) out.push(`  ${key}: ${ROLLUP[key].sql(`\`${DB}\`.\`${rollupInfo[key].table}\``).replace(/\n\s*/g, ' ')}`);
out.push('nfdump (TZ=UTC):');
for (const key of ['q1', 'q2', 'q3']) out.push(`  ${key}: nfdump ${NF[key].args(NF_DIR).map((a) => (/[\s%]/.test(a) ? `'${a}'` : a)).join(' ')}${key === 'q3' ? '  | sum by hour in the benchmark (timed with it)' : ''}`);
out.push(`  q1, the day's files: nfdump ${NF.q1.args(dayDir(qDay)).join(' ')}`);
console.log(out.join('\n'));

await storeNf.close();
await store.close();
if (!args.keep && !args.data) rmSync(DIR, { recursive: true, force: true });
log(`done in ${((performance.now() - t00) / 1000).toFixed(0)} s${args.keep || args.data ? `; data kept in ${DIR}` : ''}`);
