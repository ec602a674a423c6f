import { hostname } from 'node:os';
import { KV_BUCKETS, kvLock, MemoryBus, NatsBus, type Bus } from '@flowhound/bus';
import { ComponentGroup, ConfigError, createLogger, createTelemetry, GrpcHost, splitHostPort, untilSignal, type Component, type Logger } from '@flowhound/runtime';
import { Store } from '@flowhound/store';
import { DetectorService } from '@flowhound/svc-detector';
import { EnrichmentService } from '@flowhound/svc-enrichment';
import { IngestService } from '@flowhound/svc-ingest';
import { QueryService } from '@flowhound/svc-query';
import { StitcherService } from '@flowhound/svc-stitcher';
import { TemplateRegistryService } from '@flowhound/svc-template-registry';
import { WriterService } from '@flowhound/svc-writer';
import type { ProcessConfig } from './config.ts';
import { ThreadPriority } from './priority.ts';

export const SERVICE_NAMES = ['writer', 'detector', 'enrichment', 'stitcher', 'template-registry', 'ingest', 'query'] as const;
export type ServiceName = (typeof SERVICE_NAMES)[number];

export const VERSION = '0.1.0';

export interface RunningProcess {
  readonly group: ComponentGroup;
  readonly components: Record<string, Component>;
  readonly bus: Bus;
  readonly store: Store | undefined;
  readonly grpc: GrpcHost;
  readonly log: Logger;
  stop(): Promise<void>;
}

/**
 * Builds and starts the named services in one process. Start order is
 * downstream first, so consumers exist before producers publish; stop
 * order is the reverse, so producers flush before consumers drain.
 */
export async function startServices(names: readonly string[], cfg: Readonly<ProcessConfig>, log?: Logger): Promise<RunningProcess> {
  const want = new Set(names);
  for (const n of want) if (!(SERVICE_NAMES as readonly string[]).includes(n)) throw new ConfigError(`unknown service '${n}'; services are: ${SERVICE_NAMES.join(', ')}`);
  if (!cfg.nats.url && want.size < SERVICE_NAMES.length) {
    throw new ConfigError('services in separate processes need a bus: set nats.url (or FLOWHOUND_NATS_URL); the in-memory bus only joins services inside one process');
  }
  const root = log ?? createLogger({ level: cfg.log.level, format: cfg.log.format });
  const m = cfg.metrics.listen ? splitHostPort(cfg.metrics.listen) : undefined;
  const tel = await createTelemetry({ serviceName: `flowhound-${[...want].join('+')}`, prometheus: m });
  const bus: Bus = cfg.nats.url
    ? await NatsBus.connect({ servers: cfg.nats.url.split(','), name: `flowhound ${[...want].join(',')}`, maxAgeMs: cfg.nats.maxAgeMs, maxBytes: cfg.nats.maxBytes, ackWaitMs: cfg.nats.ackWaitMs, log: root.child({ component: 'bus' }) })
    : new MemoryBus();
  const needsStore = want.has('writer') || want.has('query');
  const store = needsStore
    ? await Store.open({
        url: cfg.clickhouse.url,
        dataDir: cfg.dataDir,
        database: cfg.clickhouse.database,
        username: cfg.clickhouse.username,
        password: cfg.clickhouse.password,
        cluster: cfg.clickhouse.cluster,
        replicationPath: cfg.clickhouse.replicationPath,
        // Retention is the writer's setting, but whichever component
        // migrates (the query service alone, too) applies it.
        ttlDays: cfg.writer.ttlDays,
        // One component of the deployment migrates at a time: the lock is
        // a key in the bus's KV (NATS when distributed).
        migrationLock: kvLock(await bus.kv(KV_BUCKETS.locks), { owner: `${hostname()}:${process.pid}`, log: root.child({ component: 'store' }) }),
        log: root.child({ component: 'store' }),
      })
    : undefined;
  if (store && want.has('query') && !want.has('writer')) await store.migrate();
  const grpc = new GrpcHost(cfg.grpc.listen, root.child({ component: 'grpc' }));
  const meter = tel.meter;
  const child = (component: string) => root.child({ component });
  const components: Record<string, Component> = {};
  const list: Component[] = [];
  const add = (c: Component) => {
    components[c.name] = c;
    list.push(c);
  };
  for (const n of SERVICE_NAMES) {
    if (!want.has(n)) continue;
    switch (n) {
      case 'writer':
        add(new WriterService(cfg.writer, { bus, store: store!, log: child(n), meter }));
        break;
      case 'detector':
        add(new DetectorService(cfg.detector, { bus, log: child(n), meter }));
        break;
      case 'enrichment':
        add(new EnrichmentService(cfg.enrichment, { bus, log: child(n), meter }));
        break;
      case 'stitcher':
        add(new StitcherService(cfg.stitcher, { bus, log: child(n), meter }));
        break;
      case 'template-registry':
        add(new TemplateRegistryService(cfg['template-registry'], { bus, grpc, log: child(n), meter }));
        break;
      case 'ingest': {
        const ingest = new IngestService(cfg.ingest, { bus, log: child(n), meter });
        add(ingest);
        // After ingest in the list, so its worker threads exist when it
        // starts; only where other services share the process (it does
        // nothing when decoding runs on the main thread).
        if (want.has('writer') || want.size > 2) add(new ThreadPriority(() => ingest.decodingThreadIds(), cfg.storageNice, child('thread-priority')));
        break;
      }
      case 'query':
        add(
          new QueryService(cfg.query, {
            store: store!,
            grpc,
            log: child(n),
            meter,
            version: VERSION,
            components: () => list.map((c) => ({ name: c.name, state: 'running' })),
          }),
        );
        break;
    }
  }
  add(grpc);
  const group = new ComponentGroup(list, root, cfg.shutdownGraceMs);
  await group.start();
  root.info({ services: [...want], bus: bus.kind, store: store?.kind, grpc: cfg.grpc.listen, metrics: tel.metricsUrl ?? 'off' }, 'flowhound running');
  let stopped = false;
  return {
    group,
    components,
    bus,
    store,
    grpc,
    log: root,
    async stop() {
      if (stopped) return;
      stopped = true;
      await group.stop();
      if (bus instanceof MemoryBus) {
        // Consumers drain their queues when they stop; whatever is left
        // (a component that overran the grace period) dies with the process.
        const left = bus.backlog();
        if (left.messages > 0) root.warn({ messages: left.messages, bytes: left.bytes }, 'in-memory bus still held data at shutdown: it is lost (raise shutdownGraceMs, or use NATS to keep it)');
      }
      await bus.close();
      await store?.close();
      await tel.shutdown();
    },
  };
}

/** Runs until SIGINT/SIGTERM, then drains and exits. */
export async function runUntilSignal(names: readonly string[], cfg: Readonly<ProcessConfig>): Promise<void> {
  const p = await startServices(names, cfg);
  await untilSignal(p.group, p.log);
  await p.stop();
}
