import { writeSync } from 'node:fs';
import { Writable } from 'node:stream';
import { pino, type Logger } from 'pino';
import pretty from 'pino-pretty';

export type { Logger };

export interface LoggerOptions {
  readonly level?: string;
  /** json: one JSON object a line; pretty: for people; auto: pretty on a terminal. */
  readonly format?: 'json' | 'pretty' | 'auto';
  /** File descriptor to write JSON lines to; stderr keeps stdout for data. */
  readonly fd?: number;
}

/** The one root logger of a process; components take `child({ component })`. */
export function createLogger(opts: LoggerOptions = {}): Logger {
  const fd = opts.fd ?? 2;
  const format = opts.format ?? 'auto';
  const level = opts.level ?? process.env.FLOWHOUND_LOG_LEVEL ?? 'info';
  const out = new FdStream(fd);
  if (format === 'pretty' || (format === 'auto' && fd === 2 && process.stderr.isTTY)) {
    const sink = new Writable({
      write(chunk: Buffer, _enc, cb) {
        out.write(chunk.toString());
        cb();
      },
    });
    return pino({ level, base: undefined }, pretty({ destination: sink, colorize: format === 'pretty' ? process.stderr.isTTY : true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname', singleLine: true }));
  }
  return pino({ level, base: { pid: process.pid } }, out);
}

/**
 * Writes log lines straight to a file descriptor. pino's own destination
 * (sonic-boom) retries a failed write forever when it flushes at exit, so
 * a closed pipe on stderr (`flowhound … | head`, then Ctrl-C) hung the
 * process instead of letting it stop. Log volume is rate-limited, so
 * synchronous writes cost nothing that matters; once the reader is gone,
 * lines are dropped.
 */
class FdStream {
  private readonly fd: number;
  private broken = false;

  constructor(fd: number) {
    this.fd = fd;
  }

  write(line: string): boolean {
    if (this.broken) return true;
    try {
      writeSync(this.fd, line);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EAGAIN') return true; // a full non-blocking pipe: drop the line, never spin
      this.broken = true;
    }
    return true;
  }
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
