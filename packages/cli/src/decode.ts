import { readFile } from 'node:fs/promises';
import { captureFormat, CaptureStats, decodeToRecords, GenericState, MemoryTemplateStore, readCapture, readDatFile } from '@flowhound/codec';

export interface DecodeOptions {
  readonly format: 'ndjson' | 'json';
  /** Exporter address assumed for raw .dat payloads, which carry none. */
  readonly exporter: string;
  readonly out: NodeJS.WritableStream;
}

export interface DecodeStats {
  packets: number;
  records: number;
  errors: number;
  /** UDP datagrams that are not NetFlow/IPFIX (other traffic in the capture). */
  skipped: number;
}

/**
 * Decodes files in order with one template store, so templates from an
 * earlier file (or packet) decode the data of later ones, as a collector
 * would. Problems are reported on stderr and decoding goes on.
 */
export async function decodeFiles(files: string[], o: DecodeOptions): Promise<DecodeStats> {
  const templates = new MemoryTemplateStore();
  const state = new GenericState();
  const stats: DecodeStats = { packets: 0, records: 0, errors: 0, skipped: 0 };
  let first = true;
  if (o.format === 'json') o.out.write('[');
  for (const file of files) {
    let bytes: Uint8Array;
    try {
      bytes = await readFile(file);
    } catch (err) {
      throw new Error(`cannot read ${file}: ${(err as Error).message}`, { cause: err });
    }
    const capture = new CaptureStats();
    const datagrams = captureFormat(bytes) === 'raw' ? [readDatFile(bytes, { srcAddr: o.exporter })] : readCapture(bytes, capture);
    for (const d of datagrams) {
      const p = d.payload;
      const version = p.length >= 2 ? (p[0] << 8) | p[1] : 0;
      if (version !== 5 && version !== 9 && version !== 10) {
        stats.skipped++;
        continue;
      }
      stats.packets++;
      const r = decodeToRecords(
        p,
        d.srcAddr,
        templates,
        (rec) => {
          stats.records++;
          const line = JSON.stringify(rec);
          if (o.format === 'ndjson') o.out.write(`${line}\n`);
          else {
            o.out.write(`${first ? '' : ','}\n${line}`);
            first = false;
          }
        },
        { state },
      );
      for (const e of r.errors) process.stderr.write(`${file}: packet ${stats.packets}: ${e.message}\n`);
      if (r.errors.length > 0) stats.errors++;
      if (r.missingTemplates > 0) process.stderr.write(`${file}: packet ${stats.packets}: ${r.missingTemplates} data set(s) skipped, template not (yet) received from ${d.srcAddr}\n`);
    }
    if (capture.truncated > 0) process.stderr.write(`${file}: ${capture.truncated} frames cut short by the capture\n`);
  }
  if (o.format === 'json') o.out.write(first ? ']\n' : '\n]\n');
  return stats;
}
