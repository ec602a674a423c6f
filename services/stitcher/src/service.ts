import type { Meter } from '@opentelemetry/api';
import { BatchStage, partitionOf, subjects, type Bus } from '@flowhound/bus';
import type { Component, Logger } from '@flowhound/runtime';
import { ColumnarBatch, CONVERSATION_COLUMNS, FLOW_COLUMNS } from '@flowhound/schema';
import type { StitcherConfig } from './config.ts';

export interface StitcherDeps {
  readonly bus: Bus;
  readonly log: Logger;
  readonly meter: Meter;
}

/**
 * Walking-skeleton stitcher: every one-way record becomes a conversation of
 * its own. It is a real durable consumer on the bus; joining both
 * directions and de-duplicating observation points come with the stitcher
 * issue, behind this same surface.
 */
export class StitcherService implements Component {
  readonly name = 'stitcher';
  readonly stage: BatchStage;
  private readonly deps: StitcherDeps;

  constructor(config: Readonly<StitcherConfig>, deps: StitcherDeps) {
    this.deps = deps;
    this.stage = new BatchStage({
      name: this.name,
      bus: deps.bus,
      log: deps.log,
      input: { stream: 'flows', filter: subjects.flowsRawAll, durable: config.durable, columns: FLOW_COLUMNS },
      output: { subject: (s) => subjects.convStitched(partitionOf(s)) },
      maxInFlight: config.maxInFlight,
      transform: (b) => toConversations(b),
    });
  }

  async start(): Promise<void> {
    this.stage.counters.register(this.deps.meter, this.name);
    await this.stage.start();
  }

  async stop(): Promise<void> {
    await this.stage.stop();
  }
}

/**
 * Copies flow columns into a conversation batch (a column-wise copy). Only
 * the columns touched in `flows` (the ones its bus message carried) are
 * copied and marked: the rest are zero on both sides.
 */
export function toConversations(flows: ColumnarBatch): ColumnarBatch {
  const out = new ColumnarBatch(CONVERSATION_COLUMNS, Math.max(flows.rows, 1), { lazy: true });
  for (let i = 0; i < flows.columns.length; i++) {
    if (flows.touched[i] === 0) continue;
    const j = out.indexOf(flows.columns[i].name);
    out.touch(j);
    const src = flows.data[i];
    const dst = out.data[j];
    if (Array.isArray(src)) for (let r = 0; r < flows.rows; r++) (dst as string[])[r] = src[r];
    else (dst as Uint8Array).set(src.subarray(0, flows.columns[i].kind === 'ip' ? flows.rows * 16 : flows.rows) as Uint8Array);
  }
  out.rows = flows.rows;
  return out;
}
