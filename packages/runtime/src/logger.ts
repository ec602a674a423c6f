import { pino, type Logger } from 'pino';

export type { Logger };

export interface LoggerOptions {
  readonly level?: string;
  /** File descriptor to write JSON lines to; stderr keeps stdout for data. */
  readonly fd?: number;
}

/** The one root logger of a process; components take `child({ component })`. */
export function createLogger(opts: LoggerOptions = {}): Logger {
  return pino(
    { level: opts.level ?? process.env.FLOWHOUND_LOG_LEVEL ?? 'info', base: { pid: process.pid } },
    pino.destination({ fd: opts.fd ?? 2, sync: false }),
  );
}

/** A logger that drops everything, for tests and tools that print data. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}

/**
 * Logs at most `perInterval` messages per key per interval and counts the
 * rest, so an error in a hot path can never flood the log.
 */
export class RateLimitedLog {
  private readonly log: Logger;
  private readonly intervalMs: number;
  private readonly perInterval: number;
  private readonly seen = new Map<string, { start: number; count: number; suppressed: number }>();

  constructor(log: Logger, intervalMs = 10_000, perInterval = 5) {
    this.log = log;
    this.intervalMs = intervalMs;
    this.perInterval = perInterval;
  }

  warn(key: string, obj: Record<string, unknown>, msg: string): void {
    const now = Date.now();
    let s = this.seen.get(key);
    if (!s || now - s.start >= this.intervalMs) {
      if (s && s.suppressed > 0) this.log.warn({ key, suppressed: s.suppressed }, 'similar messages suppressed');
      s = { start: now, count: 0, suppressed: 0 };
      this.seen.set(key, s);
    }
    if (s.count < this.perInterval) {
      s.count++;
      this.log.warn(obj, msg);
    } else {
      s.suppressed++;
    }
  }
}
