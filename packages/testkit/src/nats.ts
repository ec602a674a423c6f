// A NATS server with JetStream for integration tests: a container when a
// container runtime answers, otherwise the local nats-server binary.
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { ToolFailedError, ToolTimeoutError } from './errors.ts';
import { freePort, waitForTcp } from './ports.ts';
import { spawnTool } from './process.ts';
import { tempDir } from './temp.ts';

export interface StartNatsOptions {
  /** JetStream on (default) or off. */
  jetstream?: boolean;
  /** Also serve the HTTP monitoring endpoint (`-m`); its URL is then in `monitorUrl`. */
  monitor?: boolean;
  /**
   * Where the server runs. `auto` (default, or FLOWHOUND_TESTKIT_RUNTIME) uses a
   * container when testcontainers finds a runtime, else the local binary.
   */
  runtime?: 'auto' | 'container' | 'local';
  /** Container image; the default matches Debian's nats-server 2.9 so both paths behave alike. */
  image?: string;
  /** Extra command-line arguments for the server. */
  args?: string[];
  /** How long to wait for the server to accept connections (default 15 s; containers get 120 s). */
  startTimeoutMs?: number;
}

export interface NatsServer {
  /** `nats://127.0.0.1:PORT` (or the container's mapped host and port); no credentials needed. */
  readonly url: string;
  readonly host: string;
  readonly port: number;
  /** `http://host:port` of the monitoring endpoint, when `monitor` was asked for. */
  readonly monitorUrl: string | undefined;
  readonly kind: 'container' | 'local';
  /** JetStream's storage directory on this machine (local servers with JetStream only). */
  readonly storeDir: string | undefined;
  /** The server's log so far (local servers only). */
  output(): string;
  /** Stops the server (SIGTERM, wait for the exit) and removes its storage. Safe to call twice. */
  stop(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

const NATS_HINT = 'install it with `apt-get install nats-server` (Debian/Ubuntu), or run a Docker-compatible engine so testcontainers can start the nats image';
const DEFAULT_IMAGE = 'nats:2.9-alpine';

let runtimeProbe: Promise<boolean> | undefined;

/**
 * Places where testcontainers finds a container runtime. Checking them first
 * keeps the fallback free: importing testcontainers alone takes ~0.8 s here.
 * FLOWHOUND_TESTKIT_RUNTIME=container skips this guess and always asks.
 */
function runtimeMayExist(): boolean {
  const env = process.env;
  if (env.DOCKER_HOST || env.TESTCONTAINERS_HOST_OVERRIDE || env.TESTCONTAINERS_DOCKER_SOCKET_OVERRIDE) return true;
  const home = homedir();
  const uid = process.getuid?.() ?? -1;
  const candidates = [
    '/var/run/docker.sock',
    join(home, '.testcontainers.properties'),
    join(home, '.docker', 'run', 'docker.sock'),
    join(home, '.docker', 'desktop', 'docker.sock'),
    `/run/user/${uid}/docker.sock`,
    `/run/user/${uid}/podman/podman.sock`,
  ];
  if (env.XDG_RUNTIME_DIR) candidates.push(join(env.XDG_RUNTIME_DIR, 'docker.sock'));
  return candidates.some((p) => existsSync(p));
}

/** Asks testcontainers once per process whether a container runtime answers. */
export function containerRuntimeAvailable(): Promise<boolean> {
  runtimeProbe ??= (async () => {
    if (process.env.FLOWHOUND_TESTKIT_RUNTIME !== 'container' && !runtimeMayExist()) return false;
    try {
      const { getContainerRuntimeClient } = await import('testcontainers');
      await getContainerRuntimeClient();
      return true;
    } catch {
      return false;
    }
  })();
  return runtimeProbe;
}

export async function startNats(opts: StartNatsOptions = {}): Promise<NatsServer> {
  const runtime = opts.runtime ?? (process.env.FLOWHOUND_TESTKIT_RUNTIME as StartNatsOptions['runtime']) ?? 'auto';
  if (runtime === 'container' || (runtime === 'auto' && (await containerRuntimeAvailable()))) return startContainer(opts);
  return startLocal(opts);
}

async function startContainer(opts: StartNatsOptions): Promise<NatsServer> {
  // GenericContainer rather than @testcontainers/nats: NatsContainer always
  // adds `--user test --pass test`, and nats.js v3 takes no credentials from
  // the URL, so callers that connect with `servers: url` would fail only when
  // Docker is present. Same flags as the local server instead.
  const { GenericContainer, Wait } = await import('testcontainers');
  const args = ['-a', '0.0.0.0', '-p', '4222'];
  if (opts.jetstream ?? true) args.push('-js', '-sd', '/data');
  if (opts.monitor) args.push('-m', '8222');
  args.push(...(opts.args ?? []));
  const container = await new GenericContainer(opts.image ?? DEFAULT_IMAGE)
    .withCommand(args)
    .withExposedPorts(...(opts.monitor ? [4222, 8222] : [4222]))
    .withWaitStrategy(Wait.forLogMessage(/Server is ready/))
    .withStartupTimeout(opts.startTimeoutMs ?? 120_000)
    .start();
  const host = container.getHost();
  const port = container.getMappedPort(4222);
  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> => (stopped ??= container.stop().then(() => undefined));
  return {
    url: `nats://${host}:${port}`,
    host,
    port,
    monitorUrl: opts.monitor ? `http://${host}:${container.getMappedPort(8222)}` : undefined,
    kind: 'container',
    storeDir: undefined,
    output: () => '',
    stop,
    [Symbol.asyncDispose]: stop,
  };
}

async function startLocal(opts: StartNatsOptions, attempt = 1): Promise<NatsServer> {
  const dir = await tempDir('flowhound-nats');
  const host = '127.0.0.1';
  const port = await freePort('tcp');
  const monitorPort = opts.monitor ? await freePort('tcp') : 0;
  const args = ['-a', host, '-p', String(port)];
  if (opts.jetstream ?? true) args.push('-js', '-sd', dir.path);
  if (opts.monitor) args.push('-m', String(monitorPort));
  args.push(...(opts.args ?? []));
  const proc = spawnTool('nats-server', args, { hint: NATS_HINT });
  const timeoutMs = opts.startTimeoutMs ?? 15_000;
  try {
    // A missing binary rejects `exit` at once; race it against readiness.
    const ready = await Promise.race([waitForTcp(host, port, timeoutMs, () => proc.exited()), proc.exit.then(() => false)]);
    if (!ready) {
      if (proc.exited()) {
        const { code, signal } = await proc.exit;
        // Someone took the port between freePort() and the bind: try another.
        if (attempt < 3 && /address already in use/i.test(proc.output())) {
          await dir.cleanup();
          return startLocal(opts, attempt + 1);
        }
        throw new ToolFailedError('nats-server', args, code, signal, proc.output());
      }
      throw new ToolTimeoutError('nats-server', `did not accept connections on ${host}:${port}`, timeoutMs, proc.output());
    }
  } catch (err) {
    await proc.stop('SIGKILL').catch(() => {});
    await dir.cleanup();
    throw err;
  }
  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> =>
    (stopped ??= (async () => {
      await proc.stop('SIGTERM', 10_000).catch(() => {});
      await dir.cleanup();
    })());
  return {
    url: `nats://${host}:${port}`,
    host,
    port,
    monitorUrl: opts.monitor ? `http://${host}:${monitorPort}` : undefined,
    kind: 'local',
    storeDir: (opts.jetstream ?? true) ? dir.path : undefined,
    output: () => proc.output(),
    stop,
    [Symbol.asyncDispose]: stop,
  };
}
