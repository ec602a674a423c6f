// startNats against the real nats-server (or a container where Docker runs).
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ToolNotFoundError } from './errors.ts';
import { type NatsServer, startNats } from './nats.ts';
import { waitForTcp } from './ports.ts';

/** Connects with plain TCP and returns the server's INFO line, parsed. */
function readInfo(host: string, port: number): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const s = connect({ host, port });
    let buf = '';
    s.setEncoding('utf8');
    s.on('data', (chunk: string) => {
      buf += chunk;
      const end = buf.indexOf('\r\n');
      if (end < 0) return;
      s.destroy();
      const line = buf.slice(0, end);
      if (!line.startsWith('INFO ')) reject(new Error(`expected INFO, got ${line}`));
      else resolve(JSON.parse(line.slice(5)) as Record<string, unknown>);
    });
    s.once('error', reject);
    setTimeout(() => reject(new Error('no INFO within 5 s')), 5000).unref();
  });
}

describe('startNats', () => {
  const started: NatsServer[] = [];
  afterAll(async () => {
    for (const s of started) await s.stop();
  });

  it('starts a server with JetStream that greets a TCP client with INFO', async () => {
    const nats = await startNats();
    started.push(nats);
    expect(nats.url).toBe(`nats://${nats.host}:${nats.port}`);
    const info = await readInfo(nats.host, nats.port);
    expect(info.jetstream).toBe(true);
    if (nats.kind === 'local') {
      expect(info.port).toBe(nats.port);
      expect(info.host).toBe('127.0.0.1');
    }
  });

  it('serves monitoring only when asked, and JetStream can be turned off', async () => {
    const nats = await startNats({ monitor: true, jetstream: false });
    started.push(nats);
    const info = await readInfo(nats.host, nats.port);
    expect(info.jetstream).toBeUndefined();
    expect(nats.monitorUrl).toMatch(/^http:\/\//);
    const res = await fetch(`${nats.monitorUrl}/varz`);
    expect(((await res.json()) as { server_id: string }).server_id).toBe(info.server_id);
  });

  it('stop() ends the server and removes its storage', async () => {
    const nats = await startNats({ runtime: 'local' });
    const storeDir = nats.storeDir;
    expect(storeDir && existsSync(storeDir)).toBe(true);
    await nats.stop();
    await nats.stop(); // twice is fine
    expect(await waitForTcp(nats.host, nats.port, 200)).toBe(false);
    expect(existsSync(storeDir!)).toBe(false);
  });

  it('says how to install nats-server when the binary is missing', async () => {
    const empty = mkdtempSync(join(tmpdir(), 'no-bin-'));
    const saved = process.env.PATH;
    process.env.PATH = empty;
    try {
      const err = await startNats({ runtime: 'local' }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ToolNotFoundError);
      expect((err as Error).message).toMatch(/nats-server was not found.*apt-get install nats-server/);
    } finally {
      process.env.PATH = saved;
      rmSync(empty, { recursive: true, force: true });
    }
  });
});
