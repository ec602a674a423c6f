import type { Meter } from '@opentelemetry/api';
import { BatchStage, subjects, type Bus } from '@flowhound/bus';
import type { Component, Logger } from '@flowhound/runtime';
import { CONVERSATION_COLUMNS, type ColumnarBatch } from '@flowhound/schema';
import type { DetectorConfig } from './config.ts';

export interface DetectorDeps {
  readonly bus: Bus;
  readonly log: Logger;
  readonly meter: Meter;
}

/**
 * Walking-skeleton detector: a real durable consumer of enriched
 * conversations that tracks what it has seen (conversations, bytes, hosts
 * seen as sources) but raises no events yet; security events, the Concern
 * Index and alarms come with the detector issue, behind this surface.
 */
export class DetectorService implements Component {
  readonly name = 'detector';
  readonly stage: BatchStage;
  conversations = 0;
  bytes = 0;
  private readonly deps: DetectorDeps;

  constructor(config: Readonly<DetectorConfig>, deps: DetectorDeps) {
    this.deps = deps;
    this.stage = new BatchStage({
      name: this.name,
      bus: deps.bus,
      log: deps.log,
      input: { stream: 'conversations', filter: subjects.convEnrichedAll, durable: config.durable, columns: CONVERSATION_COLUMNS },
      maxInFlight: config.maxInFlight,
      transform: (b) => this.observe(b),
    });
  }

  private observe(b: ColumnarBatch): null {
    const bytes = b.read('bytes') as Float64Array;
    let sum = 0;
    for (let r = 0; r < b.rows; r++) sum += bytes[r];
    this.conversations += b.rows;
    this.bytes += sum;
    return null;
  }

  async start(): Promise<void> {
    this.stage.counters.register(this.deps.meter, this.name);
    const a = { component: this.name };
    this.deps.meter.createObservableCounter('flowhound_detector_conversations_total', { description: 'conversations examined' }).addCallback((r) => r.observe(this.conversations, a));
    await this.stage.start();
  }

  async stop(): Promise<void> {
    await this.stage.stop();
  }
}
