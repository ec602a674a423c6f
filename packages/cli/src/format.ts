import { CONVERSATION_COLUMNS, FLOW_COLUMNS, type ColumnDef } from '@flowhound/schema';

export type OutputFormat = 'table' | 'csv' | 'json' | 'ndjson';
export const OUTPUT_FORMATS: readonly OutputFormat[] = ['table', 'csv', 'json', 'ndjson'];

const KNOWN = new Map<string, ColumnDef>([...FLOW_COLUMNS, ...CONVERSATION_COLUMNS].map((c) => [c.name, c]));

/** JSON value of a cell: numbers for numeric columns, text otherwise. */
function jsonValue(col: string, v: string, extraNumeric: ReadonlySet<string>): string | number {
  const def = KNOWN.get(col);
  const numeric = def ? def.kind !== 'ip' && def.kind !== 'time' && def.kind !== 'str' : extraNumeric.has(col);
  if (!numeric) return v;
  const n = Number(v);
  return Number.isSafeInteger(n) ? n : v;
}

const PROTO_NAMES: Record<string, string> = { '1': 'ICMP', '2': 'IGMP', '6': 'TCP', '17': 'UDP', '41': 'IPv6', '47': 'GRE', '50': 'ESP', '51': 'AH', '58': 'ICMP6', '89': 'OSPF', '132': 'SCTP' };

/** TCP flags as nfdump prints them: C E U A P R S F, a dot where unset. */
function tcpFlags(v: string): string {
  const n = Number(v);
  const letters = 'CEUAPRSF';
  let s = '';
  for (let i = 0; i < 8; i++) s += n & (0x80 >> i) ? letters[i] : '.';
  return s;
}

/** What the table shows people; csv and json keep the stored values. */
function display(col: string, v: string): string {
  if (col === 'protocol') return PROTO_NAMES[v] ?? v;
  if (col === 'tcp_flags') return tcpFlags(v);
  return v;
}

function csvCell(v: string): string {
  return /[",\n\r]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v;
}

/**
 * Writes rows as they stream in. Table output is aligned per chunk, which
 * keeps memory flat on large results.
 */
export class RowWriter {
  private readonly format: OutputFormat;
  private readonly out: NodeJS.WritableStream;
  private columns: string[] = [];
  private numeric: ReadonlySet<string> = new Set();
  private count = 0;

  constructor(format: OutputFormat, out: NodeJS.WritableStream = process.stdout) {
    this.format = format;
    this.out = out;
  }

  get rows(): number {
    return this.count;
  }

  /** `numeric` names columns outside the flow schema that JSON shows as numbers. */
  header(columns: string[], numeric: readonly string[] = []): void {
    this.columns = columns;
    this.numeric = new Set(numeric);
    if (this.format === 'csv') this.out.write(`${columns.map(csvCell).join(',')}\n`);
    if (this.format === 'json') this.out.write('[');
  }

  write(rows: string[][]): void {
    const cols = this.columns;
    let s = '';
    switch (this.format) {
      case 'csv':
        for (const r of rows) s += `${r.map(csvCell).join(',')}\n`;
        break;
      case 'ndjson':
      case 'json':
        for (const r of rows) {
          const o: Record<string, string | number> = {};
          for (let i = 0; i < cols.length; i++) o[cols[i]] = jsonValue(cols[i], r[i], this.numeric);
          s += this.format === 'json' ? `${this.count++ > 0 ? ',' : ''}\n${JSON.stringify(o)}` : `${JSON.stringify(o)}\n`;
        }
        if (this.format === 'json') this.count -= rows.length;
        break;
      case 'table': {
        rows = rows.map((r) => r.map((v, i) => display(cols[i], v)));
        const w = cols.map((c) => c.length);
        for (const r of rows) for (let i = 0; i < r.length; i++) w[i] = Math.max(w[i], r[i].length);
        const line = (r: string[]) => r.map((v, i) => v.padEnd(w[i])).join('  ').trimEnd();
        if (this.count === 0) s += `${line(cols)}\n`;
        for (const r of rows) s += `${line(r)}\n`;
        break;
      }
    }
    this.count += rows.length;
    this.out.write(s);
  }

  end(): void {
    if (this.format === 'json') this.out.write(this.count > 0 ? '\n]\n' : ']\n');
    if (this.format === 'table' && this.count === 0) this.out.write('(no rows)\n');
  }
}

/** Parses --since/--until: ISO 8601, epoch ms, or an age like 15m, 2h, 7d. */
export function parseTime(text: string, now = Date.now()): number {
  const rel = /^(\d+)(s|m|h|d|w)$/.exec(text);
  if (rel) return now - Number(rel[1]) * { s: 1e3, m: 6e4, h: 36e5, d: 864e5, w: 6048e5 }[rel[2] as 's'];
  if (/^\d{10,}$/.test(text)) return Number(text);
  const t = Date.parse(text);
  if (!Number.isFinite(t)) throw new Error(`'${text}' is not a time: use ISO 8601 (2026-11-02T09:00:00Z), epoch milliseconds, or an age such as 15m, 2h, 7d`);
  return t;
}
