/**
 * The manager's REST API over node:http(s): Basic auth, the APIv2 envelope on every response,
 * errors as ErrorPayload, control calls as tasks, and the server-sent event stream.
 *
 * What it can be made to hold is bounded (see limits.ts): at most `maxConnections` sockets at once
 * (event streams included), never more than half the descriptor limit, so that a flood of clients
 * cannot starve the monitor of descriptors. A connection that sends no request, or nothing after a
 * response, is closed after `idleTimeoutMs`; at the cap, a new connection takes the place of the
 * one idle the longest (a connection with a request in progress or an event stream is never
 * closed for another, and one that carried an authenticated request goes only after every
 * anonymous one), so a flood of idle sockets cannot lock the operators out.
 */
import { randomUUID } from 'node:crypto';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import https from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { ToolkitError, isToolkitError } from '../../errors.js';
import type { Manager } from '../api.js';
import { envelope, type ErrorPayload } from '../../api/payloads.js';
import { formatSse } from '../../api/sse.js';
import { LoginThrottle, type LoginThrottleOptions } from './login-throttle.js';
import { DEFAULT_STREAM_BUFFER_LIMIT_BYTES, EventHub, type SnapshotEvent } from './events.js';
import { basicAuthenticator, type ApiCredentials, type BasicAuthenticator } from './auth.js';
import { CONNECTORS_PATTERN, matchPath, taskIdOf, type RouteResult } from './routes.js';
import { forward, VIA_HEADER } from './forward.js';
import { APIV1_PREFIX, apiV1Error, apiV1Read, isLoopbackAddress } from './apiv1.js';
import {
  DEFAULT_HEADERS_TIMEOUT_MS,
  DEFAULT_IDLE_TIMEOUT_MS,
  DEFAULT_MAX_CONNECTIONS,
  DEFAULT_REQUEST_TIMEOUT_MS,
  effectiveConnectionCap,
} from './limits.js';

export const DEFAULT_API_HOST = '127.0.0.1';
export const DEFAULT_API_PORT = 8090;

export interface ManagerServerOptions {
  manager: Manager;
  credentials: ApiCredentials;
  /**
   * Answer the APIv1 reads (apiv1.ts) without credentials to clients on loopback, for legacy
   * monitoring whose Ruby sends none (manager.api.v1.allowUnauthenticatedLoopbackReads). Default false.
   */
  v1UnauthenticatedLoopbackReads?: boolean;
  /** Default 127.0.0.1. */
  host?: string;
  /** Default 8090; 0 picks a free port. */
  port?: number;
  /** PEM certificate and key: serve HTTPS. */
  tls?: { cert: string | Buffer; key: string | Buffer };
  /** Largest request body accepted. Default 64 KiB. */
  bodyLimitBytes?: number;
  /** Comment line on idle event streams, so proxies and clients see the stream is alive. Default 15 s. */
  heartbeatMs?: number;
  /** One line per request (never credentials). */
  log?: (line: string) => void;
  /** Sockets open at once, event streams included. Default 256; never more than half of `ulimit -n`. */
  maxConnections?: number;
  /** A connection idle this long (no request yet, or none since the last response) is closed. Default 5 s. */
  idleTimeoutMs?: number;
  /** Most time a client may take to send a request's headers. Default 10 s. */
  headersTimeoutMs?: number;
  /** Most time a client may take to send a whole request. Default 30 s. */
  requestTimeoutMs?: number;
  /** Operational warnings: the cap lowered, connections shed at the cap (at most one a minute), event streams dropped. */
  warn?: (line: string) => void;
  /** Throttling of failed logins per client address (defaults in login-throttle.ts). */
  loginThrottle?: Partial<LoginThrottleOptions>;
  /** An event stream whose client leaves more than this unread is dropped. Default 1 MiB. */
  streamBufferLimitBytes?: number;
}

export interface ConnectionStats {
  /** Sockets open now. */
  open: number;
  /** The cap in force. */
  limit: number;
  /** Connections closed to make room for a new one, or refused, since start. */
  shed: number;
  /** Connections closed for being idle, since start. */
  idleClosed: number;
  /** Event streams open now. */
  streams: number;
  /** Event streams dropped since start because their client did not read. */
  streamsDropped: number;
}

export interface ManagerServer {
  /** `http://127.0.0.1:8090` */
  url: string;
  port: number;
  connections(): ConnectionStats;
  /** Stop listening and end open connections and event streams. */
  close(): Promise<void>;
}

const DEFAULT_BODY_LIMIT = 64 * 1024;
const DEFAULT_HEARTBEAT_MS = 15_000;
const SHED_WARNING_INTERVAL_MS = 60_000;

/**
 * The kernel's queue of connections not yet accepted, kept well below the cap: all of it is
 * accepted in one go, and a new connection gives way only once the cap's worth of newer ones came
 * in before its request could be read. With a short queue, a client that sends its request at once
 * (every real one does) always gets it read before it is the longest idle; under a flood it may
 * wait for the kernel to take its connection, but it is not shed.
 */
function listenBacklog(cap: number): number {
  return Math.max(8, Math.min(511, Math.floor(cap / 4)));
}

/** One open connection: how many of its requests are in progress, and since when it is idle. */
interface Connection {
  socket: Socket;
  busy: number;
  idleSince: number;
  /** It carried an authenticated request: shed only when no other idle connection is left. */
  trusted: boolean;
}

/**
 * The open connections in the order they became idle (the longest idle first), with the cap, the
 * idle sweep and the shedding of the longest idle at the cap.
 */
class ConnectionGuard {
  private readonly open = new Map<Socket, Connection>();
  private readonly sweeper: NodeJS.Timeout;
  private shed = 0;
  private idleClosed = 0;
  private lastShedWarning = -Infinity;

  constructor(
    readonly limit: number,
    private readonly idleTimeoutMs: number,
    private readonly warn: ((line: string) => void) | undefined,
  ) {
    this.sweeper = setInterval(() => this.sweep(), Math.max(100, Math.min(1000, Math.floor(idleTimeoutMs / 2))));
    this.sweeper.unref();
  }

  /** A new socket: admitted, if need be in place of the longest idle one; else closed at once. */
  admit(socket: Socket): void {
    if (this.open.size >= this.limit) {
      const victim = this.longestIdle();
      this.shed++;
      this.warnShedding();
      if (!victim) {
        socket.destroy();
        return;
      }
      this.drop(victim);
    }
    this.open.set(socket, { socket, busy: 0, idleSince: Date.now(), trusted: false });
    socket.once('close', () => this.open.delete(socket));
  }

  /** A request started on `socket` (for TLS, the TLS socket over the admitted one); returns its end. */
  begin(socket: Socket): () => void {
    const raw = this.rawOf(socket);
    const c = this.open.get(raw);
    if (!c) return () => undefined;
    c.busy++;
    let ended = false;
    return () => {
      if (ended) return;
      ended = true;
      c.busy--;
      if (c.busy === 0 && this.open.has(raw)) {
        // To the end of the line: idle order is the order of becoming idle.
        this.open.delete(raw);
        c.idleSince = Date.now();
        this.open.set(raw, c);
      }
    };
  }

  /** An authenticated request came on `socket`: an operator's kept-alive connection outlasts a flood of anonymous ones. */
  trust(socket: Socket): void {
    const c = this.open.get(this.rawOf(socket));
    if (c) c.trusted = true;
  }

  stats(): Omit<ConnectionStats, 'streams' | 'streamsDropped'> {
    return { open: this.open.size, limit: this.limit, shed: this.shed, idleClosed: this.idleClosed };
  }

  sockets(): Socket[] {
    return [...this.open.keys()];
  }

  stop(): void {
    clearInterval(this.sweeper);
  }

  private rawOf(socket: Socket): Socket {
    return this.open.has(socket) ? socket : ((socket as Socket & { _parent?: Socket })._parent ?? socket);
  }

  private longestIdle(): Connection | undefined {
    let trusted: Connection | undefined;
    for (const c of this.open.values()) {
      if (c.busy > 0) continue;
      if (!c.trusted) return c;
      trusted ??= c;
    }
    return trusted;
  }

  private drop(c: Connection): void {
    this.open.delete(c.socket);
    c.socket.destroy();
  }

  private sweep(): void {
    const before = Date.now() - this.idleTimeoutMs;
    for (const c of [...this.open.values()]) {
      if (c.busy === 0 && c.idleSince <= before) {
        this.idleClosed++;
        this.drop(c);
      }
    }
  }

  private warnShedding(): void {
    const now = Date.now();
    if (!this.warn || now - this.lastShedWarning < SHED_WARNING_INTERVAL_MS) return;
    this.lastShedWarning = now;
    this.warn(`REST API at its connection cap (${this.limit}): closing the longest idle connections to admit new ones (manager.api.maxConnections)`);
  }
}

/** What every request of one server shares. */
interface ServerContext {
  options: ManagerServerOptions;
  authenticate: BasicAuthenticator;
  /** Open event streams and how to detach each from the hub. */
  streams: Map<ServerResponse, () => void>;
  hub: EventHub;
  throttle: LoginThrottle;
  /** Marks the connection of an authenticated request (see ConnectionGuard.trust). */
  trust: (req: IncomingMessage) => void;
  /**
   * Response bodies by the manager's view they were made from (see RouteResult.cacheKey): a view
   * the manager replaces is a new key, and the bytes made from the old one go with it.
   */
  bodies: WeakMap<object, Map<string, Buffer>>;
}

export async function startManagerServer(options: ManagerServerOptions): Promise<ManagerServer> {
  const host = options.host ?? DEFAULT_API_HOST;
  const idleTimeoutMs = options.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS;
  const headersTimeout = options.headersTimeoutMs ?? DEFAULT_HEADERS_TIMEOUT_MS;
  const requestTimeout = Math.max(headersTimeout, options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS);
  const { cap, lowered } = effectiveConnectionCap(options.maxConnections ?? DEFAULT_MAX_CONNECTIONS);
  if (lowered) options.warn?.(lowered);
  const guard = new ConnectionGuard(cap, idleTimeoutMs, options.warn);
  const hub = new EventHub(options.manager, options.streamBufferLimitBytes ?? DEFAULT_STREAM_BUFFER_LIMIT_BYTES, options.warn);
  const heartbeat = setInterval(() => hub.comment(`heartbeat ${new Date().toISOString()}`), options.heartbeatMs ?? DEFAULT_HEARTBEAT_MS);
  heartbeat.unref();
  const context: ServerContext = {
    options,
    authenticate: basicAuthenticator(options.credentials),
    streams: new Map(),
    hub,
    throttle: new LoginThrottle(options.loginThrottle),
    bodies: new WeakMap(),
    trust: (req) => guard.trust(req.socket),
  };
  const { streams } = context;
  const log = options.log;
  const handler = (req: IncomingMessage, res: ServerResponse) => {
    const end = guard.begin(req.socket);
    res.once('close', end);
    if (log) {
      const started = Date.now();
      res.on('finish', () => log(`${req.method} ${pathOf(req)} ${res.statusCode} ${Date.now() - started}ms`));
    }
    void serve(req, res, context);
  };
  const serverOptions: http.ServerOptions = {
    headersTimeout,
    requestTimeout,
    keepAliveTimeout: idleTimeoutMs,
    // How often headersTimeout and requestTimeout are checked (Node's default is every 30 s).
    connectionsCheckingInterval: Math.min(1000, headersTimeout),
  };
  let server: http.Server | https.Server;
  try {
    server = options.tls
      ? https.createServer({ ...serverOptions, cert: options.tls.cert, key: options.tls.key }, handler)
      : http.createServer(serverOptions, handler);
  } catch (e) {
    guard.stop();
    hub.close();
    clearInterval(heartbeat);
    throw new ToolkitError('usage', `cannot use the TLS certificate and key: ${(e as Error).message}`, 'give a PEM certificate and its matching private key');
  }
  server.on('connection', (s: Socket) => guard.admit(s));

  await new Promise<void>((resolve, reject) => {
    const onError = (e: NodeJS.ErrnoException) => {
      server.off('listening', onListening);
      if (e.code === 'EADDRINUSE') {
        reject(
          new ToolkitError('refused', `port ${options.port ?? DEFAULT_API_PORT} on ${host} is already in use`, 'pick another with --port N'),
        );
      } else if (e.code === 'EADDRNOTAVAIL' || e.code === 'ENOTFOUND') {
        reject(new ToolkitError('usage', `cannot listen on ${host}: no such local address`, 'give --bind an address of this machine'));
      } else if (e.code === 'EACCES') {
        reject(new ToolkitError('refused', `not allowed to listen on ${host}:${options.port}`, 'use a port above 1023 or run as root'));
      } else {
        reject(new ToolkitError('refused', `cannot listen on ${host}:${options.port}: ${e.message}`));
      }
    };
    const onListening = () => {
      server.off('error', onError);
      resolve();
    };
    server.once('error', onError);
    server.once('listening', onListening);
    server.listen(options.port ?? DEFAULT_API_PORT, host, listenBacklog(cap));
  }).catch((e: unknown) => {
    guard.stop();
    hub.close();
    clearInterval(heartbeat);
    throw e;
  });

  const port = (server.address() as AddressInfo).port;
  const scheme = options.tls ? 'https' : 'http';
  const urlHost = host.includes(':') ? `[${host}]` : host;
  let closing: Promise<void> | undefined;
  return {
    url: `${scheme}://${urlHost}:${port}`,
    port,
    connections: () => ({ ...guard.stats(), streams: hub.open, streamsDropped: hub.droppedCount }),
    close() {
      closing ??= new Promise<void>((resolve) => {
        hub.close();
        clearInterval(heartbeat);
        for (const [res, detach] of streams) {
          detach();
          res.end();
        }
        server.close(() => {
          guard.stop();
          resolve();
        });
        server.closeIdleConnections();
        // Requests still in flight get a moment to finish; then their sockets go too.
        const timer = setTimeout(() => {
          for (const s of guard.sockets()) s.destroy();
        }, 1000);
        timer.unref();
      });
      return closing;
    },
  };
}

async function serve(req: IncomingMessage, res: ServerResponse, context: ServerContext): Promise<void> {
  const { options } = context;
  let legacy = false;
  try {
    const url = requestTarget(req.url ?? '/');
    legacy = url.pathname.startsWith(APIV1_PREFIX);
    const matches = legacy ? [] : matchPath(url.pathname);
    const isPing = matches.some((m) => m.route.open) || (legacy && openLegacyRead(req, options));
    let user = '';
    if (!isPing) {
      const address = req.socket.remoteAddress ?? 'unknown';
      const lockedMs = req.headers.authorization ? context.throttle.lockedFor(address) : 0;
      if (lockedMs > 0) {
        req.resume();
        const count = context.throttle.refused(address);
        if (count > 0) auditLogin(context, address, 'throttled', 'too many failed logins', count);
        const seconds = Math.ceil(lockedMs / 1000);
        res.setHeader('retry-after', String(seconds));
        throw new Throttled(
          'unauthorized',
          `too many failed logins from ${address}: refused for ${seconds} s more`,
          'check the user name and password, then try again after the pause',
        );
      }
      const authenticated = context.authenticate(req.headers.authorization);
      if (authenticated === null) {
        req.resume();
        if (req.headers.authorization) {
          context.throttle.failure(address);
          auditLogin(context, address, 'unauthorized', 'wrong user name or password', 1, presentedUser(req.headers.authorization, options.credentials.user));
        }
        res.setHeader('www-authenticate', 'Basic realm="tungsten-manager", charset="UTF-8"');
        throw new ToolkitError(
          'unauthorized',
          req.headers.authorization ? 'wrong user name or password' : 'credentials required',
          'send HTTP Basic credentials of the manager API user',
        );
      }
      user = authenticated;
      context.throttle.success(address);
      context.trust(req);
    }
    if (legacy) return serveApiV1(req, res, options, url.pathname);
    if (matches.length === 0) {
      req.resume();
      throw new ToolkitError('not_found', `no such path: ${url.pathname}`, 'see docs/api.md for the paths');
    }
    const match = matches.find((m) => m.route.method === req.method);
    if (!match) {
      req.resume();
      const allowed = [...new Set(matches.map((m) => m.route.method))].join(', ');
      res.setHeader('allow', allowed);
      return sendError(res, 405, new ToolkitError('usage', `${req.method} is not allowed on ${url.pathname}`, `use ${allowed}`));
    }
    if (match.route.stream) {
      req.resume();
      return openEventStream(req, res, context, url.searchParams);
    }
    const body = req.method === 'POST' ? await readJsonBody(req, options.bodyLimitBytes ?? DEFAULT_BODY_LIMIT) : {};
    const via = typeof req.headers[VIA_HEADER] === 'string' ? req.headers[VIA_HEADER].slice(0, 100) : null;
    const passOn = (method: 'GET' | 'POST') => passToCoordinator(req, res, options, method, method === 'POST' ? body : null);
    if (match.route.pattern.startsWith(CONTROL_PREFIX) && options.manager.coordinatorApi?.()) {
      // The task's id is chosen here when the caller gave none: the coordinator gives the task that
      // id, and a call it leaves unanswered still names the task to look for.
      const taskId = taskIdOf(body) ?? randomUUID();
      return await passToCoordinator(req, res, options, 'POST', { ...body, taskId }, undefined, taskId);
    }
    // A connector reports to whichever member it reaches: this one lists it, and the coordinator, which holds and resumes connectors, hears of it too.
    // The report is this member's either way (it lists the connector and shares it with the group):
    // a coordinator that is gone, or does not answer, is no reason to refuse it.
    if (match.route.pattern === CONNECTORS_PATTERN && options.manager.coordinatorApi?.()) {
      const taken = match.route.handle!({ manager: options.manager, params: match.params, query: url.searchParams, body, user, via }) as RouteResult;
      try {
        return await passToCoordinator(req, res, options, 'POST', body, CONNECTOR_REPORT_FORWARD_MS);
      } catch (e) {
        if (!isToolkitError(e) || (e.kind !== 'unreachable' && e.kind !== 'timeout')) throw e;
        return sendJson(res, 200, envelope(taken.payloadType, taken.payload as never));
      }
    }
    let result: RouteResult;
    try {
      const handled = match.route.handle!({ manager: options.manager, params: match.params, query: url.searchParams, body, user, via });
      // Most handlers answer at once; only those that return a promise (a datasource ping) are awaited.
      result = handled instanceof Promise ? await handled : handled;
    } catch (e) {
      // A task the coordinator has just started may not have reached this member's copy of the state yet.
      if (isToolkitError(e) && e.kind === 'not_found' && match.route.pattern === TASK_PATTERN && options.manager.coordinatorApi?.()) return await passOn('GET');
      throw e;
    }
    if (result.payloadType === 'TaskPayload' && result.status === 201) {
      res.setHeader('location', `/api/v2/manager/task/${encodeURIComponent(result.payload.taskId)}`);
    }
    const status = result.status ?? 200;
    if (result.cacheKey) {
      sendBody(res, status, cachedBody(context.bodies, result));
    } else {
      sendJson(res, status, envelope(result.payloadType, result.payload as never));
    }
  } catch (e) {
    if (legacy && isToolkitError(e)) {
      const status = e instanceof Throttled ? 429 : e.httpStatus;
      sendJson(res, status, apiV1Error(status, e.hint ? `${e.message}; ${e.hint}` : e.message));
    } else if (isToolkitError(e)) {
      sendError(res, e instanceof BodyTooLarge ? 413 : e instanceof Throttled ? 429 : e.httpStatus, e);
    } else {
      options.log?.(`internal error on ${req.method} ${pathOf(req)}: ${(e as Error)?.stack ?? String(e)}`);
      sendError(res, 500, new ToolkitError('refused', 'internal error in the manager', 'see the manager log'));
    }
  }
}

/** An APIv1 read (apiv1.ts): its own answer shape, no envelope; APIv1's changes are not served. */
function serveApiV1(req: IncomingMessage, res: ServerResponse, options: ManagerServerOptions, pathname: string): void {
  req.resume();
  if (req.method !== 'GET') {
    res.setHeader('allow', 'GET');
    return sendJson(res, 405, apiV1Error(405, `APIv1 is served read-only: ${req.method} is not allowed on ${pathname}; make changes with the APIv2 control calls (docs/api.md) or cctrl`));
  }
  const answer = apiV1Read(options.manager, pathname);
  if (!answer) throw new ToolkitError('not_found', `no such APIv1 path: ${pathname}`, 'APIv1 reads: /manager/status/SERVICE/, /manager/policy/SERVICE/, /manager/service/members, /manager/service/router/status');
  sendJson(res, 200, answer);
}

/** An APIv1 read answered without credentials: only when the property allows it, and only to loopback. */
function openLegacyRead(req: IncomingMessage, options: ManagerServerOptions): boolean {
  return options.v1UnauthenticatedLoopbackReads === true && req.method === 'GET' && isLoopbackAddress(req.socket.remoteAddress);
}

const CONTROL_PREFIX = '/api/v2/manager/control/';
const TASK_PATTERN = '/api/v2/manager/task/:taskId';

/**
 * A connector's report passed on to the coordinator waits at most this long: the connector times
 * its heartbeat out after 2 s, and a frozen coordinator must not make it think no member answers.
 */
const CONNECTOR_REPORT_FORWARD_MS = 1000;

async function passToCoordinator(
  req: IncomingMessage,
  res: ServerResponse,
  options: ManagerServerOptions,
  method: 'GET' | 'POST',
  body: Record<string, unknown> | null,
  timeoutMs = options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS,
  taskId: string | null = null,
): Promise<void> {
  const coordinator = options.manager.coordinatorApi!()!;
  const answer = await forward({
    coordinator,
    via: options.manager.memberName?.() ?? options.manager.info().hostName,
    method,
    target: req.url ?? '/',
    authorization: req.headers.authorization,
    body,
    timeoutMs,
    taskId,
  });
  if (answer.location) res.setHeader('location', answer.location);
  res.writeHead(answer.status, { 'content-type': answer.contentType, 'content-length': answer.body.length });
  res.end(answer.body);
}

function openEventStream(req: IncomingMessage, res: ServerResponse, context: ServerContext, query: URLSearchParams): void {
  const { manager } = context.options;
  const service = query.get('service');
  if (service !== null && !manager.serviceNames().includes(service)) {
    throw new ToolkitError('not_found', `no service '${service}'`, `known services: ${manager.serviceNames().join(', ')}`);
  }
  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache',
    connection: 'keep-alive',
    'x-accel-buffering': 'no',
  });
  res.write(': connected\n\n');
  // The snapshot is read and the stream attached in one turn of the event loop: no change falls in
  // between. Each service's state comes last, with the id of the newest event: a client that saw
  // only the snapshot resumes from there.
  const snapshot: SnapshotEvent[] = [];
  for (const name of service === null ? manager.serviceNames() : [service]) {
    if (manager.routes) {
      const routes = manager.routes(name);
      snapshot.push({ service: name, epoch: routes.epoch, text: formatSse('routes', { type: 'routes', service: name, routes }, routes.epoch) });
    }
    snapshot.push({ service: name, epoch: null, text: formatSse('state', { type: 'state', service: name, status: manager.serviceStatus(name) }, context.hub.lastId()) });
  }
  const lastEventId = req.headers['last-event-id'];
  const peer = `${req.socket.remoteAddress ?? '?'}:${req.socket.remotePort ?? '?'}`;
  const detach = context.hub.attach(res, service, typeof lastEventId === 'string' ? lastEventId : undefined, snapshot, peer);
  const cleanup = () => {
    detach();
    context.streams.delete(res);
  };
  context.streams.set(res, cleanup);
  // Not req 'close': a request emits that as soon as its (empty) body is read.
  res.on('close', cleanup);
}

class BodyTooLarge extends ToolkitError {}
class Throttled extends ToolkitError {}

/** One refused login in the audit log (never the password; a user name only when it is the API user's). */
function auditLogin(context: ServerContext, client: string, outcome: 'unauthorized' | 'throttled', error: string, count: number, user = ''): void {
  context.options.manager.recordAudit?.({
    time: new Date().toISOString(),
    user,
    service: '',
    operation: 'login',
    request: null,
    outcome,
    error,
    taskId: null,
    durationMs: 0,
    client,
    ...(count > 1 ? { count } : {}),
  });
}

/**
 * The user name of a refused Basic login when it is the API user's; otherwise '(other)': a name
 * that is not the user's may well be a password typed in the wrong field.
 */
function presentedUser(authorization: string, apiUser: string): string {
  const m = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(authorization);
  if (!m) return '(malformed)';
  const decoded = Buffer.from(m[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return colon >= 0 && decoded.slice(0, colon) === apiUser ? apiUser : '(other)';
}

function readJsonBody(req: IncomingMessage, limit: number): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length'] ?? 0);
    const tooLarge = () =>
      new BodyTooLarge('usage', `request body larger than ${limit} bytes`, 'control calls take a small JSON object');
    if (declared > limit) {
      req.resume();
      return reject(tooLarge());
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let failed = false;
    req.on('data', (chunk: Buffer) => {
      if (failed) return;
      size += chunk.length;
      if (size > limit) {
        failed = true;
        reject(tooLarge());
        return;
      }
      chunks.push(chunk);
    });
    req.on('error', (e) => reject(e));
    req.on('end', () => {
      if (failed) return;
      const text = Buffer.concat(chunks).toString('utf8').trim();
      if (text === '') return resolve({});
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch (e) {
        return reject(new ToolkitError('usage', `malformed JSON body: ${(e as Error).message}`, 'send a JSON object, e.g. {"target":"db3"}'));
      }
      if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
        return reject(new ToolkitError('usage', 'the JSON body must be an object', 'send a JSON object, e.g. {"target":"db3"}'));
      }
      resolve(parsed as Record<string, unknown>);
    });
  });
}

function sendError(res: ServerResponse, status: number, error: ToolkitError): void {
  const payload: ErrorPayload = { status, kind: error.kind, message: error.message, hint: error.hint ?? null };
  if (status === 413) res.setHeader('connection', 'close');
  sendJson(res, status, envelope('ErrorPayload', payload));
}

/** The serialized envelope of a result whose payload depends on its cacheKey only, made once per key. */
function cachedBody(bodies: ServerContext['bodies'], result: RouteResult): Buffer {
  const { source, variant } = result.cacheKey!;
  let variants = bodies.get(source);
  if (!variants) {
    variants = new Map();
    bodies.set(source, variants);
  }
  let body = variants.get(variant);
  if (!body) {
    body = Buffer.from(JSON.stringify(envelope(result.payloadType, result.payload as never)), 'utf8');
    variants.set(variant, body);
  }
  return body;
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  sendBody(res, status, Buffer.from(JSON.stringify(body), 'utf8'));
}

function sendBody(res: ServerResponse, status: number, body: Buffer): void {
  if (res.headersSent) {
    res.end();
    return;
  }
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': body.length,
    'cache-control': 'no-store',
  });
  res.end(body);
}

/**
 * A path made of these characters, not starting with `//` (parsed as a host), is its own pathname:
 * no need to parse.
 */
const PLAIN_PATH = /^\/(?!\/)[A-Za-z0-9\-_~!$&'()*+,;=:@%/.]*$/;
/** `%2f` and `%5c` (a slash or backslash inside a segment) and a literal backslash (a slash to the URL parser). */
const HIDDEN_SLASH = /%2f|%5c|\\/i;

/**
 * Pathname and query of a request target, as `new URL(target, base)` has them, except that a
 * target the URL parser would resolve into another path is refused: a dot segment (`.`, `..`,
 * also encoded as `%2e`) or a slash hidden in a segment (`%2F`, `%5C`, `\`). Resolving them would
 * turn `datasource/../recover` into a service-wide `recover`.
 */
export function requestTarget(target: string): { pathname: string; searchParams: URLSearchParams } {
  const q = target.indexOf('?');
  const path = q < 0 ? target : target.slice(0, q);
  if (HIDDEN_SLASH.test(path) || path.split('/').some(isDotSegment)) {
    throw new ToolkitError('usage', 'the request path has a dot segment or an encoded slash', 'name every segment as it is: no ".", "..", %2F or %5C');
  }
  if (PLAIN_PATH.test(path) && !target.includes('#')) {
    return { pathname: path, searchParams: new URLSearchParams(q < 0 ? '' : target.slice(q + 1)) };
  }
  return new URL(target, 'http://manager');
}

function isDotSegment(raw: string): boolean {
  if (!raw.includes('.') && !/%2e/i.test(raw)) return false;
  const decoded = raw.replace(/%2e/gi, '.');
  return decoded === '.' || decoded === '..';
}

function pathOf(req: IncomingMessage): string {
  return (req.url ?? '/').split('?')[0]!;
}
