/**
 * The bytes a bridged connection forwards, through the whole connector on real sockets, by each
 * way it forwards (between libuv handles, src/connector/handle-bridge.ts; through net.Socket,
 * src/connector/inflow.ts): megabytes of random bytes both ways at once, readers that stall and
 * read slowly at both ends, every byte compared, both half-closes, and nothing left open after;
 * and backpressure: a reader that stops makes the sender stop, instead of the connector reading
 * everything into memory.
 */
import { randomBytes } from 'node:crypto';
import net, { type AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { Connector } from '../../src/connector/connector.js';
import { handleBridgeUnavailable } from '../../src/connector/handle-bridge.js';
import { Inflow, acceptedSocketsReadInPlace } from '../../src/connector/inflow.js';
import { FakeManager, connectorOptions, sleep, until } from './fake-manager.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** Writes `data` in pieces of random sizes, waiting for 'drain'; `flushed` counts the bytes the kernel took. */
function send(socket: net.Socket, data: Buffer): { flushed: () => number; done: Promise<void> } {
  let flushed = 0;
  const done = (async () => {
    let at = 0;
    while (at < data.length) {
      const size = 1 + Math.floor(Math.random() * 200_000);
      const piece = data.subarray(at, Math.min(data.length, at + size));
      at += piece.length;
      const ok = socket.write(piece, (e) => {
        if (!e) flushed += piece.length;
      });
      if (!ok) await new Promise((r) => socket.once('drain', r));
    }
    socket.end();
  })();
  return { flushed: () => flushed, done };
}

/** Reads until the end, stalling `stallMs` first (or until `release` resolves), then now and then for a few ms. */
function receive(socket: net.Socket, opts: { release?: Promise<void> } = {}): Promise<Buffer> {
  const chunks: Buffer[] = [];
  socket.pause();
  return new Promise<Buffer>((resolve, reject) => {
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      if (Math.random() < 0.05) {
        socket.pause();
        setTimeout(() => socket.resume(), 1 + Math.floor(Math.random() * 5));
      }
    });
    socket.once('end', () => resolve(Buffer.concat(chunks)));
    socket.once('error', reject);
    void (opts.release ?? Promise.resolve()).then(() => socket.resume());
  });
}

type Forwarding = 'handles' | 'streams';

/** The connector in front of `master`; `bridged()`: connections bridged so far; `active()`: open now. */
async function startConnector(
  master: { host: string; port: number },
  forwarding: Forwarding = 'handles',
  hold: { reason: string; since: string } | null = null,
): Promise<{ port: number; bridged: () => number; active: () => number; waiting: () => number; manager: FakeManager }> {
  const m = await new FakeManager().start();
  cleanups.push(() => m.stop());
  m.set({ master: { name: 'db1', ...master }, slaves: [], hold });
  const said: string[] = [];
  const connector = new Connector(connectorOptions([m.url], { forwarding, log: { info: (l) => void said.push(l), warn: (l) => void said.push(l) } }));
  // By handles means by handles: no quiet fallback to net.Socket.
  cleanups.push(() => void expect(said.filter((l) => l.includes('forwarding through net.Socket'))).toEqual([]));
  const report = await connector.start();
  cleanups.push(() => connector.stop(0, { farewell: false }));
  await until(() => connector.status().state === 'ONLINE', 'the connector ONLINE');
  return {
    port: Number(report.listen.split(':').at(-1)),
    bridged: () => connector.status().stats.created,
    active: () => connector.status().stats.active,
    waiting: () => connector.status().stats.waiting,
    manager: m,
  };
}

/**
 * A client of the connector, sending once it is bridged (as a MySQL client does, after the
 * server's greeting: what a client sends before is bounded).
 */
async function bridgedClient(connector: { port: number; bridged: () => number }): Promise<net.Socket> {
  const client = net.connect(connector.port, '127.0.0.1');
  client.on('error', () => undefined);
  cleanups.push(() => void client.destroy());
  await until(() => connector.bridged() === 1, 'the client bridged');
  return client;
}

/** A server that runs `onConnection` for each connection. */
async function server(onConnection: (s: net.Socket) => void): Promise<{ host: string; port: number }> {
  const sockets = new Set<net.Socket>();
  const s = net.createServer({ allowHalfOpen: true }, (socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
    onConnection(socket);
  });
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  cleanups.push(() => {
    for (const socket of sockets) socket.destroy();
    return new Promise<void>((r) => s.close(() => r()));
  });
  return { host: '127.0.0.1', port: (s.address() as AddressInfo).port };
}

/**
 * A backend that reads what it is sent (after a stall of 300 ms) while it sends `down`;
 * `exchanged()`: what it received, once it has received everything and sent `down`.
 */
async function exchangingBackend(down: Buffer): Promise<{ backend: { host: string; port: number }; exchanged: () => Promise<Buffer> }> {
  let atServer: Promise<Buffer> | null = null;
  let serverSent: Promise<void> | null = null;
  const backend = await server((s) => {
    atServer = receive(s, { release: sleep(300) });
    serverSent = send(s, down).done;
  });
  return { backend, exchanged: async () => (await Promise.all([atServer!, serverSent]))[0] };
}

describe('connector: forwarding', () => {
  it('this Node lets accepted sockets read into their own buffer (the fast path the tests below go through)', async () => {
    const seen = new Promise<boolean>((resolve) => {
      const s = net.createServer({ pauseOnConnect: true }, (socket) => {
        resolve(acceptedSocketsReadInPlace(socket));
        socket.destroy();
        s.close();
      });
      s.listen(0, '127.0.0.1', () => net.connect((s.address() as AddressInfo).port, '127.0.0.1').on('error', () => undefined));
    });
    expect(await seen).toBe(true);
  });

  it('this Node lets the connector forward between two connected sockets\' handles (the default way)', async () => {
    const peer = await server(() => undefined);
    const socket = net.connect(peer.port, peer.host);
    cleanups.push(() => void socket.destroy());
    await new Promise((r) => socket.once('connect', r));
    expect(handleBridgeUnavailable(socket, socket)).toBeNull();
  });

  it.each<Forwarding>(['handles', 'streams'])('megabytes of random bytes both ways at once, through readers that stall and read slowly, arrive byte for byte (forwarding by %s), and both sides close after', async (forwarding) => {
    const up = randomBytes(12 * 1024 * 1024);
    const down = randomBytes(12 * 1024 * 1024);
    const { backend, exchanged } = await exchangingBackend(down);
    const connector = await startConnector(backend, forwarding);
    const client = await bridgedClient(connector);
    const atClient = receive(client, { release: sleep(500) });
    const clientSent = send(client, up);
    await clientSent.done;
    const [received, receivedBack] = await Promise.all([exchanged(), atClient]);
    expect(received.length).toBe(up.length);
    expect(received.equals(up)).toBe(true);
    expect(receivedBack.length).toBe(down.length);
    expect(receivedBack.equals(down)).toBe(true);
    // Each side ended its writing after its last byte (a half-close each way), so the bridge closes.
    await until(() => connector.active() === 0, 'the bridge closed');
  }, 60_000);

  it("the same bytes through 'data' events (the path for a Node that hides an accepted socket's handle), byte for byte", async () => {
    const up = randomBytes(8 * 1024 * 1024);
    const down = randomBytes(8 * 1024 * 1024);
    const { backend, exchanged } = await exchangingBackend(down);
    // A bare proxy: the client side read through 'data' events, the backend in place.
    let bridged = 0;
    const proxy = await server((accepted) => {
      const clientInflow = new Inflow();
      clientInflow.readFrom(accepted, false);
      const backendInflow = new Inflow();
      const toBackend = net.connect({ ...backend, allowHalfOpen: true, onread: backendInflow.onread });
      toBackend.on('error', () => accepted.destroy());
      backendInflow.readFrom(toBackend, true);
      toBackend.once('connect', () => {
        clientInflow.forwardTo(toBackend);
        backendInflow.forwardTo(accepted);
        bridged++;
      });
    });
    const client = await bridgedClient({ port: proxy.port, bridged: () => bridged });
    const atClient = receive(client, { release: sleep(500) });
    await send(client, up).done;
    const [received, receivedBack] = await Promise.all([exchanged(), atClient]);
    expect(received.equals(up)).toBe(true);
    expect(receivedBack.equals(down)).toBe(true);
  }, 60_000);

  it.each<Forwarding>(['handles', 'streams'])('what a client sent while it waited (a hold) is written first, in order, then the rest, byte for byte (forwarding by %s)', async (forwarding) => {
    const early = randomBytes(60 * 1024);
    const rest = randomBytes(8 * 1024 * 1024);
    let atServer: Promise<Buffer> | null = null;
    const backend = await server((s) => {
      atServer = receive(s, { release: sleep(300) });
    });
    const connector = await startConnector(backend, forwarding, { reason: 'switch to db1', since: new Date().toISOString() });
    const client = net.connect(connector.port, '127.0.0.1');
    client.on('error', () => undefined);
    cleanups.push(() => void client.destroy());
    await until(() => connector.waiting() === 1, 'the client waiting');
    // In pieces, each read on its own, so that several chunks are held.
    for (let at = 0; at < early.length; at += 10 * 1024) {
      client.write(early.subarray(at, at + 10 * 1024));
      await sleep(20);
    }
    connector.manager.set({ hold: null });
    await until(() => connector.bridged() === 1, 'the client bridged');
    await send(client, rest).done;
    await until(() => atServer !== null, 'the server connected');
    const received = await atServer!;
    expect(received.length).toBe(early.length + rest.length);
    expect(received.equals(Buffer.concat([early, rest]))).toBe(true);
  }, 60_000);

  it.each<Forwarding>(['handles', 'streams'])('a side that resets its connection mid-stream closes the other side at once (forwarding by %s)', async (forwarding) => {
    // The backend resets the first connection while it is sending; the client resets the second.
    const backendSockets: net.Socket[] = [];
    const backend = await server((s) => {
      backendSockets.push(s);
      s.resume();
      void send(s, randomBytes(4 * 1024 * 1024)).done.catch(() => undefined);
    });
    const connector = await startConnector(backend, forwarding);
    const closed = (s: net.Socket) => new Promise<void>((r) => (s.destroyed ? r() : s.once('close', () => r())));

    const first = await bridgedClient(connector);
    first.resume();
    await until(() => backendSockets.length === 1 && first.bytesRead > 0, 'bytes reaching the first client');
    backendSockets[0]!.resetAndDestroy();
    await closed(first);
    await until(() => connector.active() === 0, 'the first bridge closed');

    const second = net.connect(connector.port, '127.0.0.1');
    second.on('error', () => undefined);
    cleanups.push(() => void second.destroy());
    await until(() => connector.active() === 1 && backendSockets.length === 2, 'the second client bridged');
    second.resetAndDestroy();
    await closed(backendSockets[1]!);
    await until(() => connector.active() === 0, 'the second bridge closed');
  }, 30_000);

  it.each<Forwarding>(['handles', 'streams'])('a reader that stops makes the sender stop: the connector reads no further than what it can write (forwarding by %s)', async (forwarding) => {
    const up = randomBytes(64 * 1024 * 1024);
    let release!: () => void;
    const released = new Promise<void>((r) => (release = r));
    let atServer: Promise<Buffer> | null = null;
    const backend = await server((s) => {
      atServer = receive(s, { release: released });
    });
    const client = await bridgedClient(await startConnector(backend, forwarding));
    client.resume();
    const sending = send(client, up);
    // The sender makes progress until every buffer on the way is full, then none for a while.
    let last = -1;
    let still = 0;
    const deadline = Date.now() + 20_000;
    while (still < 5 && Date.now() < deadline) {
      await sleep(100);
      const now = sending.flushed();
      still = now === last ? still + 1 : 0;
      last = now;
    }
    const stuckAt = sending.flushed();
    // What the kernel buffers hold on the way (a few MB each on loopback), not the 64 MB sent.
    expect(stuckAt, `the sender stopped after ${(stuckAt / 1024 / 1024).toFixed(1)} MB`).toBeLessThan(up.length / 2);
    release();
    await sending.done;
    const received = await atServer!;
    expect(received.equals(up)).toBe(true);
  }, 60_000);
});
