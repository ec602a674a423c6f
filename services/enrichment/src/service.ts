import type { Meter } from '@opentelemetry/api';
import { BatchStage, partitionOf, subjects, type Bus } from '@flowhound/bus';
import type { Component, Logger } from '@flowhound/runtime';
import { CONVERSATION_COLUMNS, type ColumnarBatch } from '@flowhound/schema';
import type { EnrichmentConfig } from './config.ts';

export interface EnrichmentDeps {
  readonly bus: Bus;
  readonly log: Logger;
  readonly meter: Meter;
}

/**
 * Walking-skeleton enrichment: stamps the enrichment data version on each
 * conversation (version 0: no host groups, GeoIP or feeds loaded yet) and
 * passes the batch on. Host groups, GeoIP, feeds and identity come with the
 * enrichment issue, behind this same surface.
 */
export class EnrichmentService implements Component {
  readonly name = 'enrichment';
  readonly stage: BatchStage;
  private readonly deps: EnrichmentDeps;
  private readonly version = 0;

  constructor(config: Readonly<EnrichmentConfig>, deps: EnrichmentDeps) {
    this.deps = deps;
    this.stage = new BatchStage({
      name: this.name,
      bus: deps.bus,
      log: deps.log,
      input: { stream: 'conversations', filter: subjects.convStitchedAll, durable: config.durable, columns: CONVERSATION_COLUMNS },
      output: { subject: (s) => subjects.convEnriched(partitionOf(s)) },
      maxInFlight: config.maxInFlight,
      transform: (b) => this.enrich(b),
    });
  }

  private enrich(b: ColumnarBatch): ColumnarBatch {
    (b.column('enrichment_version') as Uint32Array).fill(this.version, 0, b.rows);
    return b;
  }

  async start(): Promise<void> {
    this.stage.counters.register(this.deps.meter, this.name);
    await this.stage.start();
  }

  async stop(): Promise<void> {
    await this.stage.stop();
  }
}
