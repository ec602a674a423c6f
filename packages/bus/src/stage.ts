import { context, trace, type Meter } from '@opentelemetry/api';
import type { Logger } from '@flowhound/runtime';
import type { ColumnarBatch, ColumnDef } from '@flowhound/schema';
import { decodeBatch, encodeBatch } from './batch-codec.ts';
import type { Bus, BusMessage, Subscription } from './bus.ts';
import { BatchFormatError } from './errors.ts';
import type { StreamKey } from './subjects.ts';
import { contextFromHeaders, traceHeaders } from './trace.ts';

export interface StageOptions {
  readonly name: string;
  readonly bus: Bus;
  readonly log: Logger;
  readonly input: { readonly stream: StreamKey; readonly filter: string; readonly durable: string; readonly columns: readonly ColumnDef[] };
  /** Where results go; omit for a sink stage. */
  readonly output?: { readonly subject: (inputSubject: string) => string };
  readonly maxInFlight: number;
  /**
   * Turns one input batch into one output batch (or null for none). Runs
   * once per batch: per-row work inside must stay flat.
   */
  readonly transform: (batch: ColumnarBatch) => ColumnarBatch | null;
}

export class StageCounters {
  batchesIn = 0;
  rowsIn = 0;
  batchesOut = 0;
  rowsOut = 0;
  badBatches = 0;

  register(meter: Meter, component: string): void {
    const a = { component };
    meter.createObservableCounter('flowhound_stage_batches_in_total', { description: 'batches taken from the bus' }).addCallback((r) => r.observe(this.batchesIn, a));
    meter.createObservableCounter('flowhound_stage_rows_in_total', { description: 'rows taken from the bus' }).addCallback((r) => r.observe(this.rowsIn, a));
    meter.createObservableCounter('flowhound_stage_batches_out_total', { description: 'batches published' }).addCallback((r) => r.observe(this.batchesOut, a));
    meter.createObservableCounter('flowhound_stage_rows_out_total', { description: 'rows published' }).addCallback((r) => r.observe(this.rowsOut, a));
    meter.createObservableCounter('flowhound_stage_bad_batches_total', { description: 'messages that were not valid batches (dropped)' }).addCallback((r) => r.observe(this.badBatches, a));
  }
}

/**
 * A bus consumer that decodes a batch, transforms it and publishes the
 * result, acknowledging the input only after the output is stored on the
 * bus. The output message id derives from the input batch id, so a
 * redelivered input publishes nothing twice.
 */
export class BatchStage {
  readonly counters = new StageCounters();
  private readonly o: StageOptions;
  private sub: Subscription | undefined;

  constructor(o: StageOptions) {
    this.o = o;
  }

  async start(): Promise<void> {
    const { input, bus, maxInFlight } = this.o;
    this.sub = await bus.consume({ stream: input.stream, durable: input.durable, filter: input.filter, maxInFlight, handler: (m) => this.handle(m) });
  }

  private async handle(m: BusMessage): Promise<void> {
    const c = this.counters;
    let decoded;
    try {
      decoded = decodeBatch(m.data, this.o.input.columns);
    } catch (err) {
      if (!(err instanceof BatchFormatError)) throw err;
      c.badBatches++;
      this.o.log.error({ err, subject: m.subject, seq: m.seq }, 'dropping a message that is not a valid batch');
      return;
    }
    c.batchesIn++;
    c.rowsIn += decoded.batch.rows;
    const tracer = trace.getTracer('flowhound');
    await context.with(contextFromHeaders(m.headers), () =>
      tracer.startActiveSpan(`${this.o.name}.batch`, async (span) => {
        try {
          const out = this.o.transform(decoded.batch);
          if (!out || !this.o.output || out.rows === 0) return;
          const id = `${decoded.batchId || `${m.subject}:${m.seq}`}/${this.o.name}`;
          await this.o.bus.publish(this.o.output.subject(m.subject), encodeBatch(out, id, this.o.name), { msgId: id, headers: traceHeaders() });
          c.batchesOut++;
          c.rowsOut += out.rows;
        } finally {
          span.end();
        }
      }),
    );
  }

  async stop(): Promise<void> {
    await this.sub?.stop();
    this.sub = undefined;
  }
}

/** The partition token at the end of a subject (fh.flows.raw.3 → 3). */
export function partitionOf(subject: string): number {
  const i = subject.lastIndexOf('.');
  const p = Number(subject.slice(i + 1));
  return Number.isInteger(p) ? p : 0;
}
