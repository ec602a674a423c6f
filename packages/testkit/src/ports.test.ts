import { createSocket } from 'node:dgram';
import { existsSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ToolFailedError, ToolNotFoundError, ToolTimeoutError } from './errors.ts';
import { freePort, udpSocketsOnPort, waitForTcp } from './ports.ts';
import { runTool } from './process.ts';
import { tempDir } from './temp.ts';

describe('freePort', () => {
  it('returns a tcp port that can be listened on at once', async () => {
    const port = await freePort('tcp');
    expect(port).toBeGreaterThan(0);
    const server = createServer();
    await new Promise<void>((resolve, reject) => server.once('error', reject).listen(port, '127.0.0.1', resolve));
    expect(await waitForTcp('127.0.0.1', port, 1000)).toBe(true);
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it('returns a udp port that can be bound at once and shows up in /proc/net/udp', async () => {
    const port = await freePort('udp');
    const sock = createSocket('udp4');
    await new Promise<void>((resolve, reject) => sock.once('error', reject).bind(port, '127.0.0.1', resolve));
    const socks = await udpSocketsOnPort(port);
    if (socks !== null) expect(socks).toHaveLength(1);
    await new Promise<void>((resolve) => sock.close(() => resolve()));
  });

  it('waitForTcp gives up on a port nobody listens on', async () => {
    const port = await freePort('tcp');
    expect(await waitForTcp('127.0.0.1', port, 150)).toBe(false);
  });
});

describe('tempDir', () => {
  it('creates a directory that cleanup removes with its contents', async () => {
    const dir = await tempDir('testkit-unit');
    expect(dir.path).toMatch(/testkit-unit-/);
    writeFileSync(join(dir.path, 'x'), 'y');
    await dir.cleanup();
    expect(existsSync(dir.path)).toBe(false);
    await dir.cleanup(); // twice is fine
  });

  it('is removed at the end of an `await using` block', async () => {
    let path = '';
    {
      await using dir = await tempDir('testkit-using');
      path = dir.path;
      expect(existsSync(path)).toBe(true);
    }
    expect(existsSync(path)).toBe(false);
  });
});

describe('runTool', () => {
  it('returns stdout of a successful run', async () => {
    const { stdout } = await runTool('sh', ['-c', 'echo hello; echo err >&2'], { hint: '', timeoutMs: 5000 });
    expect(stdout).toBe('hello\n');
  });

  it('rejects with the output on a non-zero exit', async () => {
    const err = await runTool('sh', ['-c', 'echo broken >&2; exit 3'], { hint: '', timeoutMs: 5000 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ToolFailedError);
    expect((err as ToolFailedError).exitCode).toBe(3);
    expect((err as Error).message).toContain('broken');
  });

  it('rejects on a timeout and kills the process', async () => {
    const err = await runTool('sleep', ['5'], { hint: '', timeoutMs: 100 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ToolTimeoutError);
  });

  it('names the missing binary and how to install it', async () => {
    const err = await runTool('flowhound-no-such-tool', [], { hint: 'install it with `apt-get install x`', timeoutMs: 5000 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ToolNotFoundError);
    expect((err as Error).message).toMatch(/flowhound-no-such-tool was not found.*apt-get install x/);
  });
});
