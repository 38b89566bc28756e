import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ManagerClient } from '../../src/api/index.js';
import { ToolkitError } from '../../src/errors.js';
import { startManagerServer, type ManagerServer } from '../../src/manager/server/index.js';
import { makeSelfSignedCert } from '../helpers/tls.js';
import { FakeManager } from '../manager/server/fake-manager.js';
import { closedPort, startFront } from './member-front.js';

const auth = { user: 'tungsten', password: 'pw-123' };

let manager: FakeManager;
let server: ManagerServer;
let client: ManagerClient;
const cleanups: Array<() => unknown> = [];

beforeEach(async () => {
  manager = new FakeManager(30);
  server = await startManagerServer({ manager, credentials: auth, port: 0 });
  client = new ManagerClient({ url: server.url, ...auth, timeoutMs: 2000 });
});

afterEach(async () => {
  client.close();
  for (const c of cleanups.splice(0)) await c();
  await server.close();
});

async function failure(p: Promise<unknown>): Promise<ToolkitError> {
  const e = await p.then(
    () => {
      throw new Error('expected a failure');
    },
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(ToolkitError);
  return e as ToolkitError;
}

describe('reads', () => {
  it('returns the payloads, unwrapped from the envelope', async () => {
    expect(await client.ping()).toMatchObject({ message: 'Ping test', pid: 4242 });
    expect(await client.status()).toMatchObject({ dataServiceName: 'alpha', policyMode: 'AUTOMATIC' });
    expect((await client.topology()).services[0]!.datasources.map((d) => d.name)).toEqual(['db1', 'db2', 'db3']);
    expect((await client.topology({ includeRouters: false })).routers).toBeUndefined();
    expect((await client.serviceStatus('alpha')).routers).toHaveLength(3);
    expect((await client.serviceStatus('alpha', { includeRouters: false })).routers).toBeUndefined();
    expect(await client.datasourceStatus('alpha', 'db2')).toMatchObject({ name: 'db2', role: 'slave' });
    expect(await client.pingDatasource('alpha', 'db3')).toMatchObject({ value: true });
    expect((await client.members('alpha')).members).toHaveLength(3);
    expect(await client.policy('alpha')).toEqual({ service: 'alpha', policy: 'AUTOMATIC' });
    expect(await client.history('alpha', 3)).toEqual({ service: 'alpha', tasks: [] });
  });

  it('routes every ControlRequest to its endpoint', async () => {
    await client.control('alpha', { op: 'policy', mode: 'MANUAL' });
    await client.control('alpha', { op: 'datasource', host: 'db3', action: 'shun' });
    expect(await client.policy('alpha')).toEqual({ service: 'alpha', policy: 'MANUAL' });
    expect(manager.controlCalls.map((c) => c.request)).toEqual([
      { op: 'policy', mode: 'MANUAL' },
      { op: 'datasource', host: 'db3', action: 'shun' },
    ]);
    expect((await client.history('alpha')).tasks.map((t) => t.operation)).toEqual(['datasource db3 shun', 'set policy manual']);
  });
});

describe('errors', () => {
  it('maps a refused connection to unreachable, naming the URL', async () => {
    const url = `http://127.0.0.1:${await closedPort()}`;
    const e = await failure(new ManagerClient({ url, ...auth }).status());
    expect(e.kind).toBe('unreachable');
    expect(e.exitCode).toBe(3);
    expect(e.message).toBe(`the manager at ${url} is unreachable: connection refused`);
    expect(e.hint).toMatch(/tungsten-manager is running/);
  });

  it('maps an unknown host name to unreachable', async () => {
    const e = await failure(new ManagerClient({ url: 'http://no-such-host.invalid:8090', ...auth }).ping());
    expect(e.kind).toBe('unreachable');
    expect(e.message).toMatch(/^the manager at http:\/\/no-such-host.invalid:8090 is unreachable: /);
  });

  it('maps 401 to unauthorized, naming the user and never the password', async () => {
    const e = await failure(new ManagerClient({ url: server.url, user: 'tungsten', password: 'bad-guess' }).status());
    expect(e.kind).toBe('unauthorized');
    expect(e.exitCode).toBe(3);
    expect(e.message).toBe(`the manager at ${server.url} refused the credentials of user 'tungsten'`);
    expect(`${e.message} ${e.hint}`).not.toContain('bad-guess');
    const anonymous = await failure(new ManagerClient({ url: server.url }).status());
    expect(anonymous.message).toBe(`the manager at ${server.url} requires credentials`);
  });

  it('maps 404, 400 and 409 to not_found, usage and conflict with the server message and hint', async () => {
    const missing = await failure(client.serviceStatus('omega'));
    expect(missing).toMatchObject({ kind: 'not_found', message: "no service 'omega'", hint: 'known services: alpha' });
    const bad = await failure(client.datasource('alpha', 'db2', 'explode' as never));
    expect(bad).toMatchObject({ kind: 'usage', message: "unknown datasource action 'explode'" });
    expect(bad.exitCode).toBe(2);
    const conflict = await failure(client.datasource('alpha', 'db2', 'welcome'));
    expect(conflict).toMatchObject({ kind: 'conflict', message: 'datasource db2 is not shunned' });
  });

  it('times out on a server that accepts and never answers', async () => {
    const hung = http.createServer(() => undefined);
    await new Promise<void>((r) => hung.listen(0, '127.0.0.1', r));
    cleanups.push(() => {
      hung.closeAllConnections();
      return new Promise((r) => hung.close(r));
    });
    const url = `http://127.0.0.1:${(hung.address() as AddressInfo).port}`;
    const started = Date.now();
    const e = await failure(new ManagerClient({ url, ...auth, timeoutMs: 300 }).status());
    expect(Date.now() - started).toBeLessThan(2000);
    expect(e.kind).toBe('timeout');
    expect(e.exitCode).toBe(4);
    expect(e.message).toBe(`GET /api/v2/manager/status: the manager at ${url} did not answer within 300 ms`);
  });

  it('refuses a malformed URL as a usage error', () => {
    expect(() => new ManagerClient({ url: 'localhost:8090' })).toThrow(/unsupported scheme|not a URL/);
    expect(() => new ManagerClient({ url: 'not a url' })).toThrow(ToolkitError);
  });
});

describe('waitForTask', () => {
  it('streams each step once, in order, as it happens, and returns the finished task', async () => {
    const paced = new FakeManager(200);
    const pacedServer = await startManagerServer({ manager: paced, credentials: auth, port: 0 });
    cleanups.push(() => pacedServer.close());
    const pacedClient = new ManagerClient({ url: pacedServer.url, ...auth });
    cleanups.push(() => pacedClient.close());
    const task = await pacedClient.switch('alpha', { target: 'db3' });
    expect(task.state).toBe('in_progress');
    const seen: Array<{ line: string; at: number }> = [];
    const final = await pacedClient.waitForTask(task.taskId, { onStep: (s) => seen.push({ line: s.line, at: Date.now() }) });
    expect(final).toMatchObject({ taskId: task.taskId, state: 'complete', taskResult: { newPrimary: 'db3' } });
    expect(seen.map((s) => s.line)).toEqual(['SELECTED SLAVE: db3@alpha', 'PURGE REMAINING ACTIVE SESSIONS', 'SWITCH TO db3 COMPLETE']);
    // Streamed, not delivered all at once at the end: the steps are 200 ms apart.
    expect(seen[2]!.at - seen[0]!.at).toBeGreaterThanOrEqual(250);
  });

  it('delivers steps recorded before the wait started, then the rest', async () => {
    const task = await client.switch('alpha');
    await new Promise((r) => setTimeout(r, 75)); // one or two steps are already recorded
    const lines: string[] = [];
    await client.waitForTask(task.taskId, { onStep: (s) => lines.push(s.line) });
    expect(lines).toEqual(['SELECTED SLAVE: db2@alpha', 'PURGE REMAINING ACTIVE SESSIONS', 'SWITCH TO db2 COMPLETE']);
  });

  it('returns a finished task at once with all its steps', async () => {
    const task = await client.switch('alpha');
    await client.waitForTask(task.taskId);
    const lines: string[] = [];
    const again = await client.waitForTask(task.taskId, { onStep: (s) => lines.push(s.line) });
    expect(again.state).toBe('complete');
    expect(lines).toHaveLength(3);
  });

  it('falls back to polling when the event stream is not there', async () => {
    // A proxy in front of the server that has no event stream.
    const proxy = await startFront(server.url, (req, res) => {
      if (!req.url?.startsWith('/api/v2/manager/events')) return false;
      res.writeHead(404, { 'content-type': 'application/json' }).end('{}');
      return true;
    });
    cleanups.push(() => proxy.close());
    const viaProxy = new ManagerClient({ url: proxy.url, ...auth });
    cleanups.push(() => viaProxy.close());
    const task = await viaProxy.switch('alpha', { target: 'db2' });
    const lines: string[] = [];
    const final = await viaProxy.waitForTask(task.taskId, { onStep: (s) => lines.push(s.line), pollIntervalMs: 10 });
    expect(final.state).toBe('complete');
    expect(lines).toEqual(['SELECTED SLAVE: db2@alpha', 'PURGE REMAINING ACTIVE SESSIONS', 'SWITCH TO db2 COMPLETE']);
  });

  it('a manager that dies mid-task (its stream ended mid-response, then nothing listening) is unreachable at once, not a timeout', async () => {
    const slow = new FakeManager(2000);
    const slowServer = await startManagerServer({ manager: slow, credentials: auth, port: 0 });
    cleanups.push(() => slowServer.close());
    // A front that dies like a killed process: the kernel ends the event stream's connection with a
    // FIN in the middle of its chunked response, and nothing listens on the port any more.
    let endStream: (() => void) | undefined;
    const front = await startFront(slowServer.url, (req, res) => {
      if (!req.url?.startsWith('/api/v2/manager/events')) return false;
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(': open\n\n');
      endStream = () => res.socket?.end();
      return true;
    });
    const frontClient = new ManagerClient({ url: front.url, ...auth });
    cleanups.push(() => frontClient.close());
    const task = await frontClient.switch('alpha');
    const started = Date.now();
    const waiting = frontClient.waitForTask(task.taskId, { timeoutMs: 8000, pollIntervalMs: 50 });
    await vi_waitUntil(() => endStream !== undefined);
    front.server.close();
    front.server.closeIdleConnections();
    endStream!();
    const e = await failure(waiting);
    expect(e.kind).toBe('unreachable');
    expect(Date.now() - started).toBeLessThan(4000);
  });

  it('gives up with timeout, saying the outcome is unknown', async () => {
    const slow = new FakeManager(2000);
    const slowServer = await startManagerServer({ manager: slow, credentials: auth, port: 0 });
    cleanups.push(() => slowServer.close());
    const slowClient = new ManagerClient({ url: slowServer.url, ...auth });
    cleanups.push(() => slowClient.close());
    const task = await slowClient.switch('alpha');
    const e = await failure(slowClient.waitForTask(task.taskId, { timeoutMs: 150 }));
    expect(e.kind).toBe('timeout');
    expect(e.message).toBe(`task ${task.taskId} did not finish within 150 ms; its outcome is unknown`);
  });

  it('stops with interrupted when the signal aborts, and drops its stream', async () => {
    const slow = new FakeManager(2000);
    const slowServer = await startManagerServer({ manager: slow, credentials: auth, port: 0 });
    cleanups.push(() => slowServer.close());
    const slowClient = new ManagerClient({ url: slowServer.url, ...auth });
    cleanups.push(() => slowClient.close());
    const task = await slowClient.switch('alpha');
    const abort = new AbortController();
    const waiting = slowClient.waitForTask(task.taskId, { signal: abort.signal });
    await vi_waitUntil(() => slowServer.connections().streams === 1);
    abort.abort();
    const e = await failure(waiting);
    expect(e.kind).toBe('interrupted');
    await vi_waitUntil(() => slowServer.connections().streams === 0);
  });
});

describe('events', () => {
  it('delivers events until closed', async () => {
    const seen: string[] = [];
    const sub = await client.events('alpha', (e) => seen.push(e.type));
    const task = await client.switch('alpha');
    await client.waitForTask(task.taskId);
    await vi_waitUntil(() => seen.filter((t) => t === 'state').length >= 2);
    expect(seen).toEqual(['state', 'task-step', 'task-step', 'task-step', 'task-end', 'state']);
    sub.close();
    await sub.done;
  });

  it('rejects for an unknown service with not_found', async () => {
    const e = await failure(client.events('omega', () => undefined));
    expect(e.kind).toBe('not_found');
  });
});

describe('TLS', () => {
  it('talks HTTPS with the CA file, refuses an unknown certificate with a hint, and allows --insecure', async () => {
    const tls = makeSelfSignedCert();
    const secure = await startManagerServer({ manager, credentials: auth, port: 0, tls: { cert: tls.cert, key: tls.key } });
    cleanups.push(() => secure.close());
    expect(secure.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);

    const trusted = new ManagerClient({ url: secure.url, ...auth, caFile: tls.certFile });
    cleanups.push(() => trusted.close());
    expect(await trusted.status()).toMatchObject({ dataServiceName: 'alpha' });
    const task = await trusted.switch('alpha');
    const lines: string[] = [];
    await trusted.waitForTask(task.taskId, { onStep: (s) => lines.push(s.line) });
    expect(lines).toHaveLength(3);

    const untrusting = new ManagerClient({ url: secure.url, ...auth });
    cleanups.push(() => untrusting.close());
    const e = await failure(untrusting.status());
    expect(e.kind).toBe('unreachable');
    expect(e.message).toMatch(/^cannot verify the manager's TLS certificate at https:/);
    expect(e.hint).toMatch(/--cacert FILE, or --insecure/);

    const insecure = new ManagerClient({ url: secure.url, ...auth, insecure: true });
    cleanups.push(() => insecure.close());
    expect(await insecure.ping()).toMatchObject({ message: 'Ping test' });

    const plain = await failure(new ManagerClient({ url: secure.url.replace('https', 'http'), ...auth, timeoutMs: 1000 }).status());
    expect(['unreachable', 'refused', 'timeout']).toContain(plain.kind);
  });
});

async function vi_waitUntil(condition: () => boolean, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

