/**
 * HandleBridge on its own (src/connector/handle-bridge.ts), on real loopback sockets: what it is
 * given to write first can be more than the kernel takes at once, so that several writes are
 * pending together; reading must wait for all of them, or a new read would overwrite the buffer
 * a pending write still points into.
 */
import { randomBytes } from 'node:crypto';
import net, { type AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { HandleBridge, handleBridgeUnavailable } from '../../src/connector/handle-bridge.js';
import { sleep } from './fake-manager.js';

const cleanups: Array<() => void> = [];
afterEach(() => {
  for (const c of cleanups.splice(0).reverse()) c();
});

async function listen(onConnection: (s: net.Socket) => void, options: net.ServerOpts = {}): Promise<number> {
  const server = net.createServer(options, onConnection);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  cleanups.push(() => server.close());
  return (server.address() as AddressInfo).port;
}

describe('HandleBridge', () => {
  it('writes what it is given first, even when several writes of it are pending at once, then what it reads, in order', async () => {
    const early = Array.from({ length: 16 }, () => randomBytes(512 * 1024));
    const rest = randomBytes(8 * 1024 * 1024);
    // The server reads nothing for a while, so that the early writes fill every buffer on the way.
    let received!: Promise<Buffer>;
    const serverPort = await listen((s) => {
      cleanups.push(() => s.destroy());
      const chunks: Buffer[] = [];
      s.pause();
      received = new Promise((resolve) => {
        s.on('data', (c: Buffer) => chunks.push(c));
        s.once('end', () => resolve(Buffer.concat(chunks)));
      });
      setTimeout(() => s.resume(), 500);
    });
    let closed = false;
    const proxyPort = await listen(
      (accepted) => {
        const backend = net.connect(serverPort, '127.0.0.1', () => {
          expect(handleBridgeUnavailable(accepted, backend)).toBeNull();
          new HandleBridge({ socket: accepted, early }, { socket: backend, early: [] }, () => (closed = true));
        });
      },
      { pauseOnConnect: true, allowHalfOpen: true },
    );
    const client = net.connect(proxyPort, '127.0.0.1');
    cleanups.push(() => client.destroy());
    await new Promise((r) => client.once('connect', r));
    await sleep(100);
    // More while those writes are pending: read only once they are all written.
    await new Promise<void>((r) => client.end(rest, () => r()));
    const got = await received;
    expect(got.length).toBe(16 * 512 * 1024 + rest.length);
    expect(got.equals(Buffer.concat([...early, rest]))).toBe(true);
    client.resume();
    await new Promise((r) => client.once('close', r));
    expect(closed).toBe(true);
  }, 30_000);
});
