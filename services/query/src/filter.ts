import { parseIp, type ColumnDef } from '@flowhound/schema';
import { FilterError } from './errors.ts';

// The flow filter language: comparisons on schema columns joined by
// and/or/not with parentheses, e.g.
//   src_addr = 10.1.0.0/16 and (dst_port = 443 or proto udp) and not host 192.0.2.7
// It compiles to a ClickHouse WHERE clause whose every value is a bound
// parameter: no user text is ever spliced into SQL.

type Tok = { kind: 'word' | 'op' | 'lp' | 'rp' | 'end'; text: string; pos: number };

const OPS = ['==', '!=', '<=', '>=', '=', '<', '>'];

function tokenize(src: string): Tok[] {
  const out: Tok[] = [];
  let i = 0;
  while (i < src.length) {
    const c = src[i];
    if (c === ' ' || c === '\t' || c === '\n') {
      i++;
      continue;
    }
    if (c === '(' || c === ')') {
      out.push({ kind: c === '(' ? 'lp' : 'rp', text: c, pos: i });
      i++;
      continue;
    }
    const op = OPS.find((o) => src.startsWith(o, i));
    if (op) {
      out.push({ kind: 'op', text: op, pos: i });
      i += op.length;
      continue;
    }
    const start = i;
    while (i < src.length && !/[\s()=!<>]/.test(src[i])) i++;
    if (i === start) throw new FilterError(`unexpected character '${c}'`, src, start);
    out.push({ kind: 'word', text: src.slice(start, i), pos: start });
  }
  out.push({ kind: 'end', text: '', pos: src.length });
  return out;
}

const PROTOCOLS: Record<string, number> = { icmp: 1, tcp: 6, udp: 17, gre: 47, esp: 50, icmp6: 58, ipv6_icmp: 58, sctp: 132 };

export interface CompiledFilter {
  readonly sql: string;
  readonly params: Record<string, unknown>;
}

class Parser {
  private readonly toks: Tok[];
  private readonly src: string;
  private readonly cols: Map<string, ColumnDef>;
  private i = 0;
  readonly params: Record<string, unknown> = {};
  private n = 0;

  constructor(src: string, columns: readonly ColumnDef[]) {
    this.src = src;
    this.toks = tokenize(src);
    this.cols = new Map(columns.map((c) => [c.name, c]));
  }

  private peek(): Tok {
    return this.toks[this.i];
  }

  private take(): Tok {
    return this.toks[this.i++];
  }

  private fail(msg: string, t: Tok = this.peek()): never {
    throw new FilterError(msg, this.src, t.pos);
  }

  private kw(t: Tok, w: string): boolean {
    return t.kind === 'word' && t.text.toLowerCase() === w;
  }

  private param(type: string, value: unknown): string {
    const name = `f${this.n++}`;
    this.params[name] = value;
    return `{${name}:${type}}`;
  }

  parse(): string {
    const e = this.or();
    if (this.peek().kind !== 'end') this.fail(`expected 'and', 'or' or end of filter, found '${this.peek().text}'`);
    return e;
  }

  private or(): string {
    const parts = [this.and()];
    while (this.kw(this.peek(), 'or')) {
      this.take();
      parts.push(this.and());
    }
    return parts.length === 1 ? parts[0] : `(${parts.join(' OR ')})`;
  }

  private and(): string {
    const parts = [this.not()];
    while (this.kw(this.peek(), 'and')) {
      this.take();
      parts.push(this.not());
    }
    return parts.length === 1 ? parts[0] : `(${parts.join(' AND ')})`;
  }

  private not(): string {
    if (this.kw(this.peek(), 'not')) {
      this.take();
      return `(NOT ${this.not()})`;
    }
    return this.primary();
  }

  private primary(): string {
    const t = this.peek();
    if (t.kind === 'lp') {
      this.take();
      const e = this.or();
      if (this.peek().kind !== 'rp') this.fail(`expected ')' to close the '(' at position ${t.pos + 1}`);
      this.take();
      return e;
    }
    if (t.kind !== 'word') this.fail(t.kind === 'end' ? 'filter ends where a condition was expected' : `expected a condition, found '${t.text}'`);
    const w = t.text.toLowerCase();
    // Shorthands an nfdump user types without thinking.
    if (w === 'host' || w === 'port' || w === 'proto') {
      this.take();
      const v = this.take();
      if (v.kind !== 'word') this.fail(`'${w}' needs a value`, v);
      if (w === 'host') return `(${this.cmp('src_addr', '=', v)} OR ${this.cmp('dst_addr', '=', v)})`;
      if (w === 'port') return `(${this.cmp('src_port', '=', v)} OR ${this.cmp('dst_port', '=', v)})`;
      return this.cmp('protocol', '=', v);
    }
    this.take();
    const op = this.take();
    if (op.kind !== 'op' && !this.kw(op, 'in')) this.fail(`expected a comparison (=, !=, <, <=, >, >=, in) after '${t.text}'`, op);
    const v = this.take();
    if (v.kind !== 'word') this.fail(`expected a value after '${op.text}'`, v);
    return this.cmp(t.text, op.text.toLowerCase(), v, t);
  }

  private cmp(field: string, op: string, v: Tok, fieldTok?: Tok): string {
    const col = this.cols.get(field);
    if (!col) this.fail(`unknown field '${field}'; fields are: ${[...this.cols.keys()].join(', ')}, and the shorthands host, port, proto`, fieldTok ?? v);
    const sqlOp = op === '==' ? '=' : op;
    const ident = `\`${col.name}\``;
    switch (col.kind) {
      case 'ip': {
        const slash = v.text.indexOf('/');
        if (slash >= 0 || op === 'in') {
          if (op !== '=' && op !== '==' && op !== '!=' && op !== 'in') this.fail(`a network can only be compared with =, != or in`, v);
          const [lo, hi] = cidrRange(v.text, () => this.fail(`'${v.text}' is not an address or network (CIDR)`, v));
          const e = `${ident} BETWEEN ${this.param('IPv6', lo)} AND ${this.param('IPv6', hi)}`;
          return op === '!=' ? `(NOT ${e})` : e;
        }
        if (op !== '=' && op !== '==' && op !== '!=') this.fail(`an address can only be compared with = or !=`, v);
        const b = new Uint8Array(16);
        if (!parseIp(v.text, b)) this.fail(`'${v.text}' is not an IP address`, v);
        return `${ident} ${sqlOp} ${this.param('IPv6', toV6Text(b))}`;
      }
      case 'time': {
        if (op === 'in') this.fail(`'in' takes a network; compare times with <, <=, >, >=`, v);
        const ms = /^\d+$/.test(v.text) ? Number(v.text) : Date.parse(v.text);
        if (!Number.isFinite(ms)) this.fail(`'${v.text}' is not a time (ISO 8601 or epoch milliseconds)`, v);
        return `${ident} ${sqlOp} fromUnixTimestamp64Milli(${this.param('Int64', ms)}, 'UTC')`;
      }
      case 'str':
        if (op === 'in') this.fail(`'in' takes a network`, v);
        return `${ident} ${sqlOp} ${this.param('String', v.text)}`;
      default: {
        if (op === 'in') this.fail(`'in' takes a network; '${field}' is a number`, v);
        let n = Number(v.text);
        if (col.name === 'protocol' && !/^\d+$/.test(v.text)) n = PROTOCOLS[v.text.toLowerCase()] ?? NaN;
        if (!Number.isInteger(n) || n < 0) this.fail(`'${v.text}' is not a whole number for ${field}`, v);
        const max = { u8: 0xff, u16: 0xffff, u32: 0xffffffff, u64: Number.MAX_SAFE_INTEGER }[col.kind as 'u8'];
        if (n > max) this.fail(`${n} is out of range for ${field} (at most ${max})`, v);
        return `${ident} ${sqlOp} ${this.param(col.kind === 'u64' ? 'UInt64' : 'UInt32', n)}`;
      }
    }
  }
}

function toV6Text(b: Uint8Array): string {
  const w: string[] = [];
  for (let i = 0; i < 16; i += 2) w.push(((b[i] << 8) | b[i + 1]).toString(16));
  return w.join(':');
}

/** First and last address of a CIDR (or a single address), as IPv6 text. */
export function cidrRange(text: string, bad: () => never): [string, string] {
  const [addr, lenText] = text.split('/');
  const b = new Uint8Array(16);
  if (!parseIp(addr, b)) bad();
  const isV4 = !addr.includes(':');
  let len = lenText === undefined ? (isV4 ? 32 : 128) : Number(lenText);
  if (!/^\d+$/.test(lenText ?? '0') || len > (isV4 ? 32 : 128)) bad();
  if (isV4) len += 96;
  const lo = new Uint8Array(b);
  const hi = new Uint8Array(b);
  for (let bit = len; bit < 128; bit++) {
    const byte = bit >> 3;
    const mask = 0x80 >> (bit & 7);
    lo[byte] &= ~mask;
    hi[byte] |= mask;
  }
  return [toV6Text(lo), toV6Text(hi)];
}

export function compileFilter(src: string, columns: readonly ColumnDef[]): CompiledFilter {
  if (src.trim() === '') return { sql: '1', params: {} };
  const p = new Parser(src, columns);
  const sql = p.parse();
  return { sql, params: p.params };
}

