// Child processes for tests: spawn a tool, keep the tail of its output for
// error messages, stop it politely, and never leave one behind when the test
// process exits.
import { type ChildProcess, spawn } from 'node:child_process';
import { ToolFailedError, ToolNotFoundError, ToolTimeoutError } from './errors.ts';

const OUTPUT_LIMIT = 64 * 1024;

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface ToolProcess {
  readonly tool: string;
  readonly args: readonly string[];
  readonly child: ChildProcess;
  /** stdout and stderr interleaved, at most the last 64 KiB. */
  output(): string;
  /** stdout alone: all of it with `fullStdout`, else the last 64 KiB. */
  stdout(): string;
  /** True once the process has exited (or failed to start). */
  exited(): boolean;
  /** Settles when the process exits; rejects with ToolNotFoundError if it never started. */
  readonly exit: Promise<Exit>;
  /** Sends `signal` (SIGTERM), waits up to `graceMs` for the exit, then SIGKILL. */
  stop(signal?: NodeJS.Signals, graceMs?: number): Promise<Exit>;
}

const live = new Set<ChildProcess>();
let exitHookInstalled = false;
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // Synchronous last resort: a test that crashed or forgot stop() must not
  // leave nats-server or nfcapd running after vitest's worker exits.
  process.once('exit', () => {
    for (const child of live) child.kill('SIGKILL');
  });
}

export interface SpawnOptions {
  /** How to install the tool, for the error when it is missing. */
  hint: string;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Keep all of stdout (for tools whose output is parsed), not just its tail. */
  fullStdout?: boolean;
}

export function spawnTool(tool: string, args: readonly string[], opts: SpawnOptions): ToolProcess {
  installExitHook();
  const child = spawn(tool, args, { cwd: opts.cwd, env: opts.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
  live.add(child);
  let all = '';
  let out = '';
  const append = (s: string, isStdout: boolean): void => {
    all += s;
    if (all.length > OUTPUT_LIMIT) all = all.slice(-OUTPUT_LIMIT);
    if (isStdout) {
      out += s;
      if (!opts.fullStdout && out.length > OUTPUT_LIMIT) out = out.slice(-OUTPUT_LIMIT);
    }
  };
  child.stdout?.setEncoding('utf8').on('data', (s: string) => append(s, true));
  child.stderr?.setEncoding('utf8').on('data', (s: string) => append(s, false));
  let done = false;
  const exit = new Promise<Exit>((resolve, reject) => {
    child.once('error', (err: NodeJS.ErrnoException) => {
      done = true;
      live.delete(child);
      if (err.code === 'ENOENT') reject(new ToolNotFoundError(tool, opts.hint, { cause: err }));
      else reject(new ToolFailedError(tool, args, null, null, all, { cause: err }));
    });
    // 'close' rather than 'exit': by then stdout and stderr are fully read.
    child.once('close', (code, signal) => {
      done = true;
      live.delete(child);
      resolve({ code, signal });
    });
  });
  // Callers that only care through stop()/exit still must not see an unhandled rejection.
  exit.catch(() => {});
  const stop = async (signal: NodeJS.Signals = 'SIGTERM', graceMs = 10_000): Promise<Exit> => {
    if (!done) {
      child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      try {
        return await exit;
      } finally {
        clearTimeout(timer);
      }
    }
    return exit;
  };
  return {
    tool,
    args,
    child,
    output: () => all,
    stdout: () => out,
    exited: () => done,
    exit,
    stop,
  };
}

export interface RunResult {
  /** All of stdout. */
  stdout: string;
  /** stdout and stderr interleaved, the last 64 KiB. */
  output: string;
}

/**
 * Runs a tool to completion and returns all of its stdout; rejects with its
 * output on a non-zero exit, a signal, or a timeout.
 */
export async function runTool(tool: string, args: readonly string[], opts: Omit<SpawnOptions, 'fullStdout'> & { timeoutMs: number }): Promise<RunResult> {
  const p = spawnTool(tool, args, { ...opts, fullStdout: true });
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    p.child.kill('SIGKILL');
  }, opts.timeoutMs);
  try {
    const { code, signal } = await p.exit;
    if (timedOut) throw new ToolTimeoutError(tool, `did not finish (${tool} ${args.join(' ')})`, opts.timeoutMs, p.output());
    if (code !== 0) throw new ToolFailedError(tool, args, code, signal, p.output());
    return { stdout: p.stdout(), output: p.output() };
  } finally {
    clearTimeout(timer);
  }
}
