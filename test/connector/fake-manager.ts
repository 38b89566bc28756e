/**
 * A small manager for the connector's tests, on a real HTTP socket: the connector's side of the
 * contract only (routes, the event stream with `id: <epoch>`, heartbeats), Basic auth as every
 * manager call. Routes are set by the test; each set bumps the epoch and is pushed to every open
 * stream. It can be stopped and started again on the same port (a manager that dies and comes back),
 * or made to answer 401 or 503.
 */
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import type { ConnectorOptions } from '../../src/connector/connector.js';

export interface FakeBackend {
  name: string;
  host: string;
  port: number;
}

export interface FakeRoutes {
  service: string;
  epoch: number;
  master: FakeBackend | null;
  slaves: Array<FakeBackend & { latencySeconds: number | null; healthy: boolean }>;
  hold: { reason: string; since: string } | null;
  endImmediately?: boolean;
}

export interface FakeManagerOptions {
  service?: string;
  user?: string;
  password?: string;
  port?: number;
  /** How routes events are framed: the payload (default), or `{type:'routes', ...payload}`. */
  eventShape?: 'payload' | 'typed';
  /** What a heartbeat is answered with (200); default what the manager answers, a BooleanPayload. */
  heartbeatAnswer?: unknown;
}

export class FakeManager {
  readonly service: string;
  readonly user: string;
  readonly password: string;
  routes: FakeRoutes;
  readonly heartbeats: Array<Record<string, any>> = [];
  readonly lastEventIds: Array<string | null> = [];
  routesRequests = 0;
  /** Answer every call with this status instead (401, 503). */
  failWith: number | null = null;
  private server: http.Server | null = null;
  private readonly sockets = new Set<net.Socket>();
  private readonly streams = new Set<http.ServerResponse>();
  private portNumber: number;

  constructor(private readonly options: FakeManagerOptions = {}) {
    this.service = options.service ?? 'alpha';
    this.user = options.user ?? 'tungsten';
    this.password = options.password ?? 'secret';
    this.portNumber = options.port ?? 0;
    this.routes = { service: this.service, epoch: 1, master: null, slaves: [], hold: null };
  }

  get port(): number {
    return this.portNumber;
  }

  get url(): string {
    return `http://127.0.0.1:${this.portNumber}`;
  }

  async start(): Promise<this> {
    const server = http.createServer((req, res) => this.handle(req, res));
    server.on('connection', (s) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.portNumber, '127.0.0.1', () => resolve());
    });
    this.portNumber = (server.address() as AddressInfo).port;
    this.server = server;
    return this;
  }

  /** Dies: the port closes and every connection (streams included) is cut. */
  async stop(): Promise<void> {
    const server = this.server;
    this.server = null;
    if (!server) return;
    for (const s of this.sockets) s.destroy();
    this.streams.clear();
    await new Promise<void>((r) => server.close(() => r()));
  }

  /** New routes: the epoch goes up by one (or to `epoch`), and every open stream hears it unless `silent`. */
  set(next: Partial<Omit<FakeRoutes, 'service'>>, opts: { silent?: boolean } = {}): FakeRoutes {
    this.routes = { ...this.routes, ...next, epoch: next.epoch ?? this.routes.epoch + 1 };
    if (next.endImmediately === undefined) delete this.routes.endImmediately;
    if (!opts.silent) this.push(this.routes);
    return this.routes;
  }

  /** Push any routes (an old epoch, say) to the open streams without changing what GET answers. */
  push(routes: FakeRoutes): void {
    const data = this.options.eventShape === 'typed' ? { type: 'routes', ...routes } : routes;
    for (const res of this.streams) res.write(`event: routes\nid: ${routes.epoch}\ndata: ${JSON.stringify(data)}\n\n`);
  }

  get openStreams(): number {
    return this.streams.size;
  }

  lastHeartbeat(): Record<string, any> | undefined {
    return this.heartbeats.at(-1);
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const send = (status: number, body: unknown) => {
      const text = JSON.stringify(body);
      res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
      res.end(text);
    };
    if (this.failWith !== null) {
      return send(this.failWith, { payloadType: 'ErrorPayload', payloadVersion: '1', payload: { status: this.failWith, kind: 'unreachable', message: 'made to fail', hint: null } });
    }
    const expected = `Basic ${Buffer.from(`${this.user}:${this.password}`).toString('base64')}`;
    if (req.headers.authorization !== expected) {
      return send(401, { payloadType: 'ErrorPayload', payloadVersion: '1', payload: { status: 401, kind: 'unauthorized', message: 'authentication required', hint: null } });
    }
    const url = new URL(req.url ?? '/', 'http://x');
    const svc = encodeURIComponent(this.service);
    if (req.method === 'GET' && url.pathname === `/api/v2/manager/service/${svc}/routes`) {
      this.routesRequests++;
      return send(200, { payloadType: 'RoutesPayload', payloadVersion: '1', payload: this.routes });
    }
    if (req.method === 'POST' && url.pathname === `/api/v2/manager/service/${svc}/connectors`) {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        this.heartbeats.push(JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, any>);
        send(200, this.options.heartbeatAnswer ?? { payloadType: 'BooleanPayload', payloadVersion: '1', payload: { value: true } });
      });
      return;
    }
    if (req.method === 'GET' && url.pathname === '/api/v2/manager/events' && url.searchParams.get('service') === this.service) {
      const lastId = req.headers['last-event-id'];
      this.lastEventIds.push(typeof lastId === 'string' ? lastId : null);
      res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache' });
      res.write(': connected\n\n');
      // Other event types are on the same stream; the connector ignores them.
      res.write(`event: state\ndata: ${JSON.stringify({ type: 'state', service: this.service, status: {} })}\n\n`);
      this.streams.add(res);
      res.on('close', () => this.streams.delete(res));
      return;
    }
    send(404, { payloadType: 'ErrorPayload', payloadVersion: '1', payload: { status: 404, kind: 'not_found', message: `no route ${url.pathname}`, hint: null } });
  }
}

/**
 * A TCP server standing in for a database server: like MySQL it speaks first (`hello from NAME\n`),
 * then echoes what it gets. Counts connections open on it.
 */
export class EchoServer {
  private server: net.Server | null = null;
  readonly sockets = new Set<net.Socket>();
  accepted = 0;
  port = 0;

  constructor(readonly name: string) {}

  async start(port = 0): Promise<this> {
    const server = net.createServer({ allowHalfOpen: true }, (s) => {
      this.accepted++;
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
      s.on('error', () => undefined);
      s.write(`hello from ${this.name}\n`);
      s.pipe(s);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve());
    });
    this.port = (server.address() as AddressInfo).port;
    this.server = server;
    return this;
  }

  get backend(): FakeBackend {
    return { name: this.name, host: '127.0.0.1', port: this.port };
  }

  slave(healthy = true, latencySeconds: number | null = 0): FakeBackend & { latencySeconds: number | null; healthy: boolean } {
    return { ...this.backend, latencySeconds, healthy };
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = null;
    for (const s of this.sockets) s.destroy();
    if (server) await new Promise<void>((r) => server.close(() => r()));
  }
}

/** A client of the connector: connects, collects what it receives, says when it was closed. */
export class TestClient {
  readonly socket: net.Socket;
  received = Buffer.alloc(0);
  closed = false;
  readonly closedPromise: Promise<void>;

  constructor(port: number, host = '127.0.0.1') {
    this.socket = net.connect({ port, host });
    this.socket.on('data', (c: Buffer) => (this.received = Buffer.concat([this.received, c])));
    this.socket.on('error', () => undefined);
    this.closedPromise = new Promise((r) => this.socket.on('close', () => {
      this.closed = true;
      r();
    }));
  }

  get text(): string {
    return this.received.toString('latin1');
  }

  /** Resolves once the text received matches (or rejects after timeoutMs). */
  async waitFor(pattern: RegExp | string, timeoutMs = 3000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    const matches = () => (typeof pattern === 'string' ? this.text.includes(pattern) : pattern.test(this.text));
    while (!matches()) {
      if (Date.now() > deadline) throw new Error(`client did not receive ${String(pattern)} within ${timeoutMs} ms; got ${JSON.stringify(this.text)}${this.closed ? ' (closed)' : ''}`);
      await sleep(5);
    }
    return this.text;
  }

  /** The MySQL ERR packet it received, decoded. */
  errPacket(): { sequenceId: number; code: number; sqlState: string; message: string } | null {
    const b = this.received;
    if (b.length < 13 || b[4] !== 0xff) return null;
    const length = b.readUIntLE(0, 3);
    return { sequenceId: b[3]!, code: b.readUInt16LE(5), sqlState: b.subarray(8, 13).toString('latin1'), message: b.subarray(13, 4 + length).toString('utf8') };
  }

  async waitClosed(timeoutMs = 3000): Promise<void> {
    await Promise.race([this.closedPromise, sleep(timeoutMs).then(() => Promise.reject(new Error(`client not closed within ${timeoutMs} ms; got ${JSON.stringify(this.text)}`)))]);
  }

  end(): void {
    this.socket.destroy();
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Polls until `check` is true (or throws after timeoutMs with `what`). */
export async function until(check: () => boolean, what: string, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`not within ${timeoutMs} ms: ${what}`);
    await sleep(5);
  }
}

/** A connector's options for these tests: loopback, short timers, quiet; `over` changes any of them. */
export function connectorOptions(managers: string[], over: Partial<ConnectorOptions> = {}): ConnectorOptions {
  return {
    managers,
    service: 'alpha',
    user: 'tungsten',
    password: 'secret',
    name: 'connector@test',
    host: 'test',
    pid: 4242,
    listen: { host: '127.0.0.1', port: 0 },
    readListen: null,
    offlineAfterMs: 30_000,
    holdTimeoutMs: 3_000,
    switchGraceMs: 300,
    heartbeatMs: 100,
    contactTimeoutMs: 600,
    requestTimeoutMs: 500,
    log: { info: () => undefined, warn: () => undefined },
    ...over,
  };
}
