import type { Logger } from './logger.ts';
import { ComponentError } from './errors.ts';

/**
 * The shape every service shares: an inert constructor (config, deps),
 * start() that brings it up, stop() that drains the bus and flushes batches
 * within the grace period.
 */
export interface Component {
  readonly name: string;
  start(): Promise<void>;
  stop(): Promise<void>;
}

/** Starts components in order and stops them in reverse. */
export class ComponentGroup {
  private readonly components: Component[];
  private readonly log: Logger;
  private readonly started: Component[] = [];
  private readonly graceMs: number;

  constructor(components: Component[], log: Logger, graceMs = 15_000) {
    this.components = components;
    this.log = log;
    this.graceMs = graceMs;
  }

  get names(): string[] {
    return this.components.map((c) => c.name);
  }

  async start(): Promise<void> {
    for (const c of this.components) {
      const t0 = Date.now();
      try {
        await c.start();
      } catch (err) {
        await this.stop();
        throw new ComponentError(c.name, `failed to start: ${(err as Error).message}`, { cause: err });
      }
      this.started.push(c);
      this.log.info({ component: c.name, ms: Date.now() - t0 }, 'component started');
    }
  }

  async stop(): Promise<void> {
    while (this.started.length > 0) {
      const c = this.started.pop()!;
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<'timeout'>((r) => {
        timer = setTimeout(() => r('timeout'), this.graceMs);
      });
      try {
        const r = await Promise.race([c.stop().then(() => 'ok' as const), timeout]);
        if (r === 'timeout') this.log.warn({ component: c.name, graceMs: this.graceMs }, 'component did not stop within the grace period');
        else this.log.info({ component: c.name }, 'component stopped');
      } catch (err) {
        this.log.error({ component: c.name, err }, 'component failed to stop cleanly');
      } finally {
        clearTimeout(timer);
      }
    }
  }
}

/** Stops the group on SIGINT/SIGTERM, then resolves. */
export function untilSignal(group: ComponentGroup, log: Logger): Promise<void> {
  return new Promise((resolve) => {
    let stopping = false;
    const onSignal = (sig: string) => {
      if (stopping) {
        log.warn({ signal: sig }, 'second signal: exiting without draining');
        process.exit(130);
      }
      stopping = true;
      log.info({ signal: sig }, 'stopping: draining and flushing');
      void group.stop().then(resolve);
    };
    process.once('SIGINT', () => onSignal('SIGINT'));
    process.once('SIGTERM', () => onSignal('SIGTERM'));
  });
}
