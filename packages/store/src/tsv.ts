import { formatIp, type ColumnarBatch } from '@flowhound/schema';

function escapeTsv(s: string): string {
  return s.replace(/[\\\t\n]/g, (c) => (c === '\\' ? '\\\\' : c === '\t' ? '\\t' : '\\n'));
}

/**
 * Renders a batch as TabSeparated text in schema column order. Text is the
 * only insert format both chDB and the HTTP client accept (see
 * docs/perf.md); times go as unix seconds with milliseconds.
 */
export function batchToTsv(b: ColumnarBatch): string {
  const n = b.rows;
  const cols = b.columns;
  const lines = new Array<string>(n);
  const cells = new Array<string>(cols.length);
  for (let r = 0; r < n; r++) {
    for (let c = 0; c < cols.length; c++) {
      const d = b.data[c];
      switch (cols[c].kind) {
        case 'ip':
          cells[c] = formatIp(d as Uint8Array, r * 16);
          break;
        case 'time':
          cells[c] = ((d as Float64Array)[r] / 1000).toFixed(3);
          break;
        case 'str':
          cells[c] = escapeTsv((d as string[])[r]);
          break;
        default:
          cells[c] = String((d as Float64Array)[r]);
      }
    }
    lines[r] = cells.join('\t');
  }
  return n > 0 ? `${lines.join('\n')}\n` : '';
}
