import { execFileSync } from 'node:child_process';
import dgram from 'node:dgram';
import { describe, expect, it } from 'vitest';
import { parseProcNetUdp, readSocketDrops } from './socket-drops.ts';

const SAMPLE = `   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops
  123: 0100007F:0807 00000000:0000 07 00000000:00000A00 00:00000000 00000000  1000        0 53200 2 0000000000000000 17
  124: 00000000:128B 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 53201 2 0000000000000000 0
`;

describe('kernel socket drops', () => {
  it('reads port, inode, queued bytes and drops from /proc/net/udp lines', () => {
    expect(parseProcNetUdp(SAMPLE)).toEqual([
      { port: 2055, inode: 53200, queued: 2560, drops: 17 },
      { port: 4747, inode: 53201, queued: 0, drops: 0 },
    ]);
  });

  it.runIf(process.platform === 'linux')('counts what the kernel dropped on a socket of this process while it was not reading', async () => {
    const sock = dgram.createSocket({ type: 'udp4', recvBufferSize: 4096 });
    await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
    const port = sock.address().port;
    try {
      // This thread is blocked while another process floods the socket.
      execFileSync(process.execPath, ['-e', `const s=require('dgram').createSocket('udp4');let n=0;const b=Buffer.alloc(1000);(function f(){for(let i=0;i<50;i++)s.send(b,${port},'127.0.0.1');if((n+=50)<2000)setImmediate(f);else s.close()})()`]);
      const socks = await readSocketDrops(new Set([port]));
      expect(socks).toHaveLength(1);
      expect(socks![0].drops).toBeGreaterThan(0);
    } finally {
      sock.close();
    }
  });
});
