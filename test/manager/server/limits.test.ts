/**
 * What the REST API can be made to hold (issue 9, "Evidence, not noise"): a connection cap within
 * half the descriptor limit, idle connections closed, and at the cap the longest idle connection
 * gives way to a new one, so a flood of idle sockets cannot lock the operators out.
 */
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { startManagerServer, type ManagerServer } from '../../../src/manager/server/index.js';
import { effectiveConnectionCap, openFilesLimit } from '../../../src/manager/server/limits.js';
import { rawRequest } from '../../helpers/http.js';
import { makeSelfSignedCert } from '../../helpers/tls.js';
import { FakeManager } from './fake-manager.js';

const auth = { user: 'tungsten', password: 's3cret-pw' };

let server: ManagerServer | undefined;
const sockets: net.Socket[] = [];
afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  await server?.close();
  server = undefined;
});

async function start(opts: { maxConnections?: number; idleTimeoutMs?: number } = {}): Promise<ManagerServer> {
  server = await startManagerServer({
    manager: new FakeManager(20),
    credentials: auth,
    port: 0,
    heartbeatMs: 50,
    maxConnections: opts.maxConnections,
    idleTimeoutMs: opts.idleTimeoutMs,
  });
  return server;
}

/** A client that connects and sends nothing; resolves once connected. `closed` tells when the server closed it. */
async function idleClient(port: number): Promise<{ socket: net.Socket; closed: Promise<number> }> {
  const socket = net.connect({ host: '127.0.0.1', port });
  sockets.push(socket);
  const openedAt = Date.now();
  const closed = new Promise<number>((r) => socket.once('close', () => r(Date.now() - openedAt)));
  socket.on('error', () => undefined);
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', () => resolve());
    socket.once('error', reject);
  });
  return { socket, closed };
}

async function waitUntil(condition: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('the connection cap', () => {
  it('is the configured one, lowered to half of the open files limit', () => {
    expect(effectiveConnectionCap(256, 20000)).toEqual({ cap: 256, lowered: null });
    expect(effectiveConnectionCap(256, null)).toEqual({ cap: 256, lowered: null });
    const lowered = effectiveConnectionCap(256, 300);
    expect(lowered.cap).toBe(150);
    expect(lowered.lowered).toMatch(/lowered from 256 to 150: the open files limit \(ulimit -n\) is 300/);
    expect(effectiveConnectionCap(4096, 1024).cap).toBe(512);
  });

  it('reads the soft open files limit of this process', () => {
    const limit = openFilesLimit();
    expect(limit === null || limit > 0).toBe(true);
  });

  it('at the cap, the longest idle connection gives way to a new one, and authenticated requests still get through', async () => {
    const s = await start({ maxConnections: 8, idleTimeoutMs: 60_000 });
    const idle = [];
    for (let i = 0; i < 40; i++) idle.push(await idleClient(s.port));
    await waitUntil(() => s.connections().open <= 8 && s.connections().shed >= 32);
    // The first ones went, the newest 8 are held.
    const closedFirst = await Promise.race([idle[0]!.closed.then(() => true), new Promise((r) => setTimeout(() => r(false), 1000))]);
    expect(closedFirst).toBe(true);
    for (let i = 0; i < 5; i++) {
      const reply = await rawRequest(`${s.url}/api/v2/manager/status`, auth);
      expect(reply.status).toBe(200);
    }
    expect(s.connections()).toMatchObject({ limit: 8 });
    expect(s.connections().open).toBeLessThanOrEqual(8);
  });

  it('an operator\'s kept-alive connection outlasts a flood of anonymous idle ones', async () => {
    const s = await start({ maxConnections: 8, idleTimeoutMs: 60_000 });
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const get = () =>
      new Promise<{ status: number; port: number }>((resolve, reject) => {
        const req = http.get(`${s.url}/api/v2/manager/status`, { auth: `${auth.user}:${auth.password}`, agent }, (res) => {
          res.resume();
          res.on('end', () => resolve({ status: res.statusCode!, port: req.socket!.localPort! }));
        });
        req.on('error', reject);
      });
    const first = await get();
    expect(first.status).toBe(200);
    for (let i = 0; i < 40; i++) await idleClient(s.port);
    await waitUntil(() => s.connections().shed >= 33);
    // Same socket (same local port): it was not the one shed, though it was idle the longest.
    const second = await get();
    expect(second).toEqual({ status: 200, port: first.port });
    agent.destroy();
  });

  it('never sheds a connection with a request in progress or an event stream; refuses new ones when all are busy', async () => {
    const s = await start({ maxConnections: 3, idleTimeoutMs: 60_000 });
    const streams: http.ClientRequest[] = [];
    const opened: Array<Promise<http.IncomingMessage>> = [];
    for (let i = 0; i < 3; i++) {
      const req = http.get(`${s.url}/api/v2/manager/events`, { auth: `${auth.user}:${auth.password}`, agent: false });
      req.on('error', () => undefined);
      streams.push(req);
      opened.push(new Promise((r) => req.once('response', r)));
    }
    const responses = await Promise.all(opened);
    expect(responses.map((r) => r.statusCode)).toEqual([200, 200, 200]);
    let streamsClosed = 0;
    for (const r of responses) r.once('close', () => streamsClosed++);
    // A fourth connection finds every slot busy: it is closed at once.
    const extra = await idleClient(s.port);
    await extra.closed;
    expect(streamsClosed).toBe(0);
    expect(s.connections()).toMatchObject({ open: 3, limit: 3 });
    for (const req of streams) req.destroy();
  });
});

describe('idle connections', () => {
  it('a connection that sends nothing is closed after the idle timeout', async () => {
    const s = await start({ idleTimeoutMs: 300 });
    const client = await idleClient(s.port);
    const after = await client.closed;
    expect(after).toBeGreaterThanOrEqual(250);
    expect(after).toBeLessThan(2000);
    expect(s.connections().idleClosed).toBe(1);
  });

  it('a connection that sent half its headers is closed too', async () => {
    const s = await start({ idleTimeoutMs: 300 });
    const client = await idleClient(s.port);
    client.socket.write('GET /api/v2/manager/status HTTP/1.1\r\nHost: x\r\n');
    const after = await client.closed;
    expect(after).toBeLessThan(2000);
  });

  it('an event stream is not an idle connection: it stays open past the idle timeout', async () => {
    const s = await start({ idleTimeoutMs: 200 });
    const req = http.get(`${s.url}/api/v2/manager/events`, { auth: `${auth.user}:${auth.password}`, agent: false });
    req.on('error', () => undefined);
    const res = await new Promise<http.IncomingMessage>((r) => req.once('response', r));
    let closed = false;
    res.once('close', () => (closed = true));
    await new Promise((r) => setTimeout(r, 700));
    expect(closed).toBe(false);
    req.destroy();
  });

  it('applies to HTTPS as to HTTP: an idle TCP connection is closed, an event stream over TLS is kept', async () => {
    const cert = makeSelfSignedCert();
    server = await startManagerServer({ manager: new FakeManager(20), credentials: auth, port: 0, heartbeatMs: 50, idleTimeoutMs: 300, tls: cert });
    const s = server;
    const client = await idleClient(s.port);
    expect(await client.closed).toBeLessThan(2000);
    const req = https.get(`${s.url}/api/v2/manager/events`, { auth: `${auth.user}:${auth.password}`, agent: false, ca: cert.cert });
    req.on('error', () => undefined);
    const res = await new Promise<http.IncomingMessage>((r) => req.once('response', r));
    expect(res.statusCode).toBe(200);
    let closed = false;
    res.once('close', () => (closed = true));
    await new Promise((r) => setTimeout(r, 900));
    expect(closed).toBe(false);
    req.destroy();
  });
});
