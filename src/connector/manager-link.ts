/**
 * The connector's side of its contract with the managers, over HTTP(S) with Basic auth, to any
 * member of a manager group (FailoverClient chooses: the member that answered last, the next one
 * when it stops answering; a 401 is an answer, not a reason to move on):
 *
 * - `GET  /api/v2/manager/service/:svc/routes` → `{payloadType: 'RoutesPayload', payloadVersion: '1', payload}`
 *   (RoutesPayload: see routes.ts).
 * - `GET  /api/v2/manager/events?service=:svc` (server-sent events): `event: routes` with the
 *   RoutesPayload as data and `id: <epoch>`; other events are ignored. Reopened with
 *   `Last-Event-ID: <epoch held>` (the epoch is the id, so the connector takes it from the payload).
 * - `POST /api/v2/manager/service/:svc/connectors` every second and at once after each change:
 *   ConnectorHeartbeat (registration and heartbeat); any 2xx answer, whose body is ignored.
 *
 * The calls are written here (FailoverClient's ManagerClient has no method for these paths); they
 * fail with ManagerCallError as its own calls do, so FailoverClient moves on exactly as for them.
 * The event stream is framed by src/api/sse.ts's parser.
 */
import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { ToolkitError, type ErrorKind } from '../errors.js';
import { FailoverClient } from '../api/failover.js';
import { ManagerCallError, type ManagerClient } from '../api/client.js';
import { API_PREFIX, type Envelope, type ErrorPayload } from '../api/payloads.js';
import { SseParser } from '../api/sse.js';
import type { ConnectorState } from './router.js';

/** What the connector tells the managers, every second. */
export interface ConnectorHeartbeat {
  name: string;
  host: string;
  pid: number;
  state: ConnectorState;
  /** Client connections bridged since start. */
  created: number;
  /** Bridged connections open now. */
  active: number;
  /** `HOST:PORT` of the write port. */
  listen: string;
  readListen: string | null;
  /** The routes epoch applied; null until one is. */
  epoch: number | null;
  /** The routes hold and the connector opens no backend connection. */
  holding: boolean;
  /** Addition: clients waiting for a server now (during a hold, ON-HOLD, no master). */
  waiting: number;
}

export interface ManagerLinkOptions {
  urls: readonly string[];
  service: string;
  user?: string;
  password?: string;
  caFile?: string;
  insecure?: boolean;
  /** Per call, until the whole answer is read; for the stream, until it opens. */
  timeoutMs: number;
  /** A stream silent for this long is dead (the managers send a comment every 15 s). */
  streamIdleMs: number;
}

export interface RoutesStream {
  /** The member the stream comes from. */
  url: string;
  /** Resolves on close(); rejects (with the reason) when the stream ends or drops. */
  done: Promise<void>;
  close(): void;
}

export interface StreamHandlers {
  /** The data of an `event: routes`, parsed as JSON (not yet validated). */
  onRoutes(value: unknown, from: string): void;
  /** Anything arrived (an event, a heartbeat comment): the member is alive. */
  onActivity(from: string): void;
}

const MAX_BODY_BYTES = 1024 * 1024;

export const connectorPaths = {
  routes: (svc: string) => `${API_PREFIX}/manager/service/${encodeURIComponent(svc)}/routes`,
  connectors: (svc: string) => `${API_PREFIX}/manager/service/${encodeURIComponent(svc)}/connectors`,
  events: (svc: string) => `${API_PREFIX}/manager/events?service=${encodeURIComponent(svc)}`,
};

export class ManagerLink {
  readonly failover: FailoverClient;
  private readonly authorization: string | undefined;
  private readonly ca: Buffer | undefined;

  /** Throws ToolkitError 'usage' for a malformed URL, one given twice, or an unreadable CA file. */
  constructor(private readonly options: ManagerLinkOptions) {
    this.failover = new FailoverClient(options.urls, {
      user: options.user,
      password: options.password,
      caFile: options.caFile,
      insecure: options.insecure,
      timeoutMs: options.timeoutMs,
    });
    if (options.user !== undefined) {
      this.authorization = `Basic ${Buffer.from(`${options.user}:${options.password ?? ''}`).toString('base64')}`;
    }
    if (options.caFile !== undefined) this.ca = readFileSync(options.caFile); // FailoverClient read it already
  }

  get urls(): string[] {
    return this.failover.urls;
  }

  /** The routes as one member has them (not validated: parseRoutes does), and which member. */
  routes(): Promise<{ value: unknown; from: string }> {
    return this.failover.read(async (client) => {
      const answer = await this.call(client, 'GET', connectorPaths.routes(this.options.service));
      let parsed: unknown;
      try {
        parsed = JSON.parse(answer.body);
      } catch {
        throw new ToolkitError('refused', `GET routes: the manager at ${client.url} did not answer with JSON`);
      }
      return { value: parsed, from: client.url };
    });
  }

  /** Registration and heartbeat; resolves with the member that took it. */
  heartbeat(body: ConnectorHeartbeat): Promise<{ from: string }> {
    return this.failover.read(async (client) => {
      await this.call(client, 'POST', connectorPaths.connectors(this.options.service), JSON.stringify(body));
      return { from: client.url };
    });
  }

  /** Opens the event stream on the first member that takes it; resolves once it is open. */
  stream(lastEventId: number | null, handlers: StreamHandlers): Promise<RoutesStream> {
    return this.failover.read((client) => this.openStream(client, lastEventId, handlers));
  }

  close(): void {
    this.failover.close();
  }

  // ---- plumbing ----

  private transport(client: ManagerClient): { request: typeof http.request; tls: https.RequestOptions } {
    if (client.baseUrl.protocol === 'https:') {
      return { request: https.request as typeof http.request, tls: { ca: this.ca, rejectUnauthorized: !this.options.insecure } };
    }
    return { request: http.request, tls: {} };
  }

  private url(client: ManagerClient, path: string): URL {
    return new URL(client.url + path);
  }

  private headers(extra: Record<string, string>): Record<string, string> {
    return this.authorization ? { authorization: this.authorization, ...extra } : extra;
  }

  private call(client: ManagerClient, method: 'GET' | 'POST', path: string, body?: string): Promise<{ status: number; body: string }> {
    const { request, tls } = this.transport(client);
    const url = this.url(client, path);
    return new Promise((resolve, reject) => {
      const headers = this.headers({ accept: 'application/json' });
      if (body !== undefined) {
        headers['content-type'] = 'application/json';
        headers['content-length'] = String(Buffer.byteLength(body));
      }
      // A connection per call: a kept-alive one the manager closed meanwhile would read as a failure.
      const req = request(url, { method, headers, agent: false, ...tls });
      const connected = trackConnection(req, url.protocol === 'https:');
      const timer = setTimeout(
        () => req.destroy(callError(client, 'timeout', `${method} ${url.pathname}: no answer within ${this.options.timeoutMs} ms`, `timed out after ${this.options.timeoutMs} ms`, connected(), null)),
        this.options.timeoutMs,
      );
      req.on('error', (e) => {
        clearTimeout(timer);
        reject(transportError(client, e, method, url, connected()));
      });
      req.on('response', (res) => {
        readBody(res).then(
          (text) => {
            clearTimeout(timer);
            const status = res.statusCode ?? 0;
            if (status >= 200 && status < 300) resolve({ status, body: text });
            else reject(httpError(client, status, text, method, url, this.options.user));
          },
          (e: unknown) => {
            clearTimeout(timer);
            req.destroy();
            reject(transportError(client, e, method, url, true));
          },
        );
      });
      req.end(body);
    });
  }

  private openStream(client: ManagerClient, lastEventId: number | null, handlers: StreamHandlers): Promise<RoutesStream> {
    const { request, tls } = this.transport(client);
    const url = this.url(client, connectorPaths.events(this.options.service));
    const from = client.url;
    return new Promise<RoutesStream>((resolve, reject) => {
      const headers = this.headers({ accept: 'text/event-stream', 'cache-control': 'no-cache' });
      if (lastEventId !== null) headers['last-event-id'] = String(lastEventId);
      const req = request(url, { method: 'GET', headers, agent: false, ...tls });
      const connected = trackConnection(req, url.protocol === 'https:');
      let opened = false;
      let closedByUs = false;
      let idleTimer: NodeJS.Timeout | undefined;
      let settle: { resolve: () => void; reject: (e: unknown) => void } | undefined;
      const done = new Promise<void>((res, rej) => (settle = { resolve: res, reject: rej }));
      done.catch(() => undefined);
      const fail = (e: unknown) => {
        clearTimeout(idleTimer);
        if (closedByUs) return;
        if (opened) settle?.reject(e);
        else reject(e);
      };
      const connectTimer = setTimeout(
        () => req.destroy(callError(client, 'timeout', `the event stream of ${from} did not open within ${this.options.timeoutMs} ms`, `timed out after ${this.options.timeoutMs} ms`, connected(), null)),
        this.options.timeoutMs,
      );
      req.on('error', (e) => {
        clearTimeout(connectTimer);
        fail(transportError(client, e, 'GET', url, connected()));
      });
      req.on('response', (res) => {
        clearTimeout(connectTimer);
        const status = res.statusCode ?? 0;
        if (status !== 200) {
          readBody(res).then(
            (text) => fail(httpError(client, status, text, 'GET', url, this.options.user)),
            (e: unknown) => fail(transportError(client, e, 'GET', url, true)),
          );
          return;
        }
        opened = true;
        const armIdle = () => {
          clearTimeout(idleTimer);
          idleTimer = setTimeout(() => req.destroy(callError(client, 'timeout', `the event stream of ${from} went silent`, 'the event stream went silent', true, null)), this.options.streamIdleMs);
          idleTimer.unref();
        };
        armIdle();
        const parser = new SseParser((message) => {
          if (message.event !== 'routes' || message.data === '') return;
          let value: unknown;
          try {
            value = JSON.parse(message.data);
          } catch {
            return; // a malformed event is skipped; the next one, or the next snapshot, corrects it
          }
          handlers.onRoutes(value, from);
        });
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          armIdle();
          handlers.onActivity(from);
          parser.push(chunk);
        });
        res.on('end', () => fail(callError(client, 'unreachable', `the manager at ${from} closed the event stream`, 'it closed the event stream', true, null)));
        res.on('error', (e) => fail(transportError(client, e, 'GET', url, true)));
        resolve({
          url: from,
          done,
          close: () => {
            closedByUs = true;
            clearTimeout(idleTimer);
            req.destroy();
            settle?.resolve();
          },
        });
      });
      req.end();
    });
  }
}

function callError(client: ManagerClient, kind: ErrorKind, message: string, reason: string, connected: boolean, status: number | null): ManagerCallError {
  return new ManagerCallError(kind, message, undefined, client.url, reason, connected, status);
}

const CONNECT_FAILURES: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ENOTFOUND: 'no such host',
  EAI_AGAIN: 'host name lookup failed',
  EHOSTUNREACH: 'no route to host',
  ENETUNREACH: 'network unreachable',
  ECONNRESET: 'connection reset',
  EPIPE: 'connection closed',
};

function transportError(client: ManagerClient, e: unknown, method: string, url: URL, connected: boolean): ToolkitError {
  if (e instanceof ToolkitError) return e;
  const code = (e as NodeJS.ErrnoException).code ?? '';
  const message = (e as Error).message;
  if (/certificate|self[- ]signed|CERT_/i.test(`${code} ${message}`)) {
    return new ManagerCallError(
      'unreachable',
      `cannot verify the manager's TLS certificate at ${client.url}: ${message}`,
      'pass the manager certificate with --cacert FILE, or --insecure to skip verification',
      client.url,
      `TLS certificate not accepted: ${message}`,
      connected,
      null,
    );
  }
  const why = CONNECT_FAILURES[code] ?? message;
  return new ManagerCallError('unreachable', `${method} ${url.pathname}: the manager at ${client.url} is unreachable: ${why}`, undefined, client.url, why, connected, null);
}

function httpError(client: ManagerClient, status: number, body: string, method: string, url: URL, user: string | undefined): ToolkitError {
  let payload: Partial<ErrorPayload> | undefined;
  try {
    const parsed = JSON.parse(body) as Envelope<ErrorPayload>;
    if (parsed?.payloadType === 'ErrorPayload') payload = parsed.payload;
  } catch {
    // not an envelope: described by its status
  }
  const reason = `HTTP ${status}${payload?.message ? `: ${payload.message}` : ''}`;
  if (status === 401) {
    return new ManagerCallError(
      'unauthorized',
      user === undefined ? `the manager at ${client.url} requires credentials` : `the manager at ${client.url} refused the credentials of user '${user}'`,
      'give --user and --password (or TUNGSTEN_API_USER / TUNGSTEN_API_PASSWORD, or a credentials file)',
      client.url,
      reason,
      true,
      status,
    );
  }
  const kind: ErrorKind = status === 502 || status === 503 ? 'unreachable' : status === 404 ? 'not_found' : status === 400 ? 'usage' : 'refused';
  return new ManagerCallError(kind, `${method} ${url.pathname}: the manager at ${client.url} answered ${reason}`, payload?.hint ?? undefined, client.url, reason, true, status);
}

function trackConnection(req: http.ClientRequest, secure: boolean): () => boolean {
  let connected = false;
  req.on('socket', (socket) => {
    if (!socket.connecting && !secure) connected = true;
    else socket.once(secure ? 'secureConnect' : 'connect', () => (connected = true));
  });
  return () => connected;
}

function readBody(res: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    res.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY_BYTES) {
        res.destroy(new Error(`answer larger than ${MAX_BODY_BYTES} bytes`));
        return;
      }
      chunks.push(c);
    });
    res.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    res.on('error', reject);
    res.on('aborted', () => reject(new Error('the answer was cut off')));
  });
}
