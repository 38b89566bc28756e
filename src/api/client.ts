/**
 * A typed client for the manager's REST API. Every failure becomes a ToolkitError whose kind says
 * what the caller can do about it (exit codes follow from src/errors.ts). Kept to node:http(s) so
 * `cctrl -e ls` starts fast.
 */
import { readFileSync } from 'node:fs';
import http from 'node:http';
import type https from 'node:https';
import { ToolkitError, errorKindForHttpStatus, type ErrorKind } from '../errors.js';
import type {
  ControlRequest,
  DataSourceAction,
  DataSourceStatus,
  RouterStatus,
  ServiceStatus,
  FaultAction,
  ManagerEvent,
  PolicyMode,
  TaskStatus,
  TaskStep,
} from '../manager/model.js';
import {
  apiPaths,
  type BooleanPayload,
  type ClusterTopologyPayload,
  type CredentialsPayload,
  type Envelope,
  type ErrorPayload,
  type MembersPayload,
  type PingPayload,
  type PolicyPayload,
  type TaskListPayload,
  type TaskPayload,
} from './payloads.js';
import { SseParser } from './sse.js';
import { fromDatasourcePayload, fromServiceStatusPayload, fromStatusPayload } from './v2-shapes.js';
import type { ManagerInfo } from '../manager/api.js';
import type { RoutesPayload } from '../connector/routes.js';
import type { ConnectorReport } from '../manager/routing.js';

export interface ManagerClientOptions {
  /** `http://127.0.0.1:8090` or `https://...`; a trailing slash is fine. */
  url: string;
  user?: string;
  password?: string;
  /** Per request, until the whole response is read. Default 10 s. */
  timeoutMs?: number;
  /** PEM file of the CA (or the self-signed certificate) the manager's certificate must chain to. */
  caFile?: string;
  /** Accept any certificate (like `curl -k`). */
  insecure?: boolean;
  /** Largest answer (and event of the event stream) read; a larger one is a protocol error. Default 16 MiB. */
  maxAnswerBytes?: number;
  /** Called with the HTTP status each time the manager answers (FailoverClient follows who answers). */
  onAnswer?: (status: number) => void;
}

/**
 * One manager failed a call: no connection, no answer in time, or an error status. Says which
 * manager, why in a few words, and whether a connection was open, i.e. whether the request may have
 * reached it (a call that failed before connecting surely did not).
 */
export class ManagerCallError extends ToolkitError {
  constructor(
    kind: ErrorKind,
    message: string,
    hint: string | undefined,
    /** The manager's URL. */
    readonly manager: string,
    /** Why, in a few words: `connection refused`, `timed out after 10000 ms`, `HTTP 503: ...`. */
    readonly reason: string,
    /** A connection was open when it failed: the request may have reached the manager. */
    readonly connected: boolean,
    /** The HTTP status when the manager answered; null when it did not. */
    readonly status: number | null,
  ) {
    super(kind, message, hint);
  }
}

/** A control call's task id, chosen by the caller (a UUID): the task started gets it. */
export interface TaskIdOption {
  taskId?: string;
}

export interface WaitForTaskOptions {
  /** Called once per step, in order, as the manager records it. */
  onStep?: (step: TaskStep) => void;
  /** Give up (ToolkitError 'timeout') after this long. Default: wait forever. */
  timeoutMs?: number;
  /** Abort (ToolkitError 'interrupted'). */
  signal?: AbortSignal;
  /** Poll interval when the event stream is not available. Default 250 ms. */
  pollIntervalMs?: number;
}

export interface EventStreamOptions {
  signal?: AbortSignal;
  /**
   * Sent as `Last-Event-ID` (the id of the last event this subscriber holds): the manager then sends
   * only what is newer. Route events carry their epoch as id, so a connector reopening the stream
   * with the epoch it holds is not sent those routes again.
   */
  lastEventId?: string | number | null;
  /** Called for everything the stream carries (events and heartbeat comments): the manager is there. */
  onActivity?: () => void;
  /** A stream silent for this long is dead (the manager sends a comment every 15 s). Default 45 s. */
  idleMs?: number;
}

export interface EventSubscription {
  /** Settles when the stream ends: resolves on close()/abort, rejects when the connection drops. */
  done: Promise<void>;
  close(): void;
  /** The last event ID the stream gave (the SSE `id:` field), or the one it was opened with. */
  lastEventId(): string | null;
}

interface Transport {
  request: typeof http.request;
  agent: http.Agent;
  tls: https.RequestOptions;
}

interface RawResponse {
  status: number;
  body: string;
}

const DEFAULT_TIMEOUT_MS = 10_000;
export const DEFAULT_MAX_ANSWER_BYTES = 16 * 1024 * 1024;
/** The server sends a heartbeat every 15 s; silence for longer than this means the stream is dead. */
const EVENT_STREAM_IDLE_MS = 45_000;

export class ManagerClient {
  readonly baseUrl: URL;
  /** A path prefix when the manager sits behind a proxy; '' normally. */
  private readonly basePath: string;
  private readonly timeoutMs: number;
  private readonly authorization: string | undefined;
  /** node:https loads only for an https URL (it costs start-up time that plain http does not need). */
  private readonly transport: Promise<Transport>;

  constructor(private readonly options: ManagerClientOptions) {
    let base: URL;
    try {
      base = new URL(options.url);
    } catch {
      throw new ToolkitError('usage', `not a URL: ${options.url}`, 'give the manager as http://HOST:PORT or https://HOST:PORT');
    }
    if (base.protocol !== 'http:' && base.protocol !== 'https:') {
      throw new ToolkitError('usage', `unsupported scheme in ${options.url}`, 'use http:// or https://');
    }
    this.basePath = base.pathname.replace(/\/+$/, '');
    this.baseUrl = base;
    this.timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    if (options.user !== undefined) {
      const token = Buffer.from(`${options.user}:${options.password ?? ''}`).toString('base64');
      this.authorization = `Basic ${token}`;
    }
    if (base.protocol === 'https:') {
      let ca: Buffer | undefined;
      if (options.caFile !== undefined) {
        try {
          ca = readFileSync(options.caFile);
        } catch (e) {
          throw new ToolkitError('usage', `cannot read CA file ${options.caFile}: ${(e as Error).message}`);
        }
      }
      const tls = { ca, rejectUnauthorized: !options.insecure };
      this.transport = import('node:https').then(({ default: httpsModule }) => ({
        request: httpsModule.request as typeof http.request,
        agent: new httpsModule.Agent({ keepAlive: true, ...tls }),
        tls,
      }));
    } else {
      this.transport = Promise.resolve({ request: http.request, agent: new http.Agent({ keepAlive: true }), tls: {} });
    }
  }

  /** The manager's URL as the user gave it, for messages. */
  get url(): string {
    return `${this.baseUrl.origin}${this.basePath}`;
  }

  /** Release kept-alive connections (the process can exit without it; this just makes it prompt). */
  close(): void {
    void this.transport.then((t) => t.agent.destroy());
  }

  // ---- reads ----

  ping(): Promise<PingPayload> {
    return this.get('PingPayload', apiPaths.ping());
  }

  /** The manager's info (StatusPayload turned back into the model: `startTime` ISO-8601). */
  async status(): Promise<ManagerInfo> {
    return fromStatusPayload(await this.get('StatusPayload', apiPaths.managerStatus()));
  }

  topology(options: { includeRouters?: boolean } = {}): Promise<ClusterTopologyPayload> {
    const query = options.includeRouters === false ? '?includeRouters=no' : '';
    return this.get('ClusterTopologyPayload', apiPaths.topology() + query);
  }

  /** The service as the model has it (ServiceStatusPayload turned back: v2-shapes.ts); `routers` absent with includeRouters false. */
  async serviceStatus(service: string, options: { includeRouters?: boolean } = {}): Promise<Omit<ServiceStatus, 'routers'> & { routers?: RouterStatus[] }> {
    const query = options.includeRouters === false ? '?includeRouters=false' : '';
    return fromServiceStatusPayload(await this.get('ServiceStatusPayload', apiPaths.serviceStatus(service) + query));
  }

  async datasourceStatus(service: string, datasource: string): Promise<DataSourceStatus> {
    return fromDatasourcePayload(await this.get('DatasourceStatusPayload', apiPaths.datasourceStatus(service, datasource)));
  }

  /** `GET /api/v2/user/{name}`: the API user's credentials, the password obfuscated. */
  user(name: string): Promise<CredentialsPayload> {
    return this.get('CredentialsPayload', apiPaths.user(name));
  }

  pingDatasource(service: string, datasource: string): Promise<BooleanPayload> {
    return this.get('BooleanPayload', apiPaths.datasourcePing(service, datasource));
  }

  members(service: string): Promise<MembersPayload> {
    return this.get('MembersPayload', apiPaths.members(service));
  }

  policy(service: string): Promise<PolicyPayload> {
    return this.get('PolicyPayload', apiPaths.policy(service));
  }

  /** Newest first. */
  history(service: string, limit?: number): Promise<TaskListPayload> {
    return this.get('TaskListPayload', apiPaths.history(service, limit));
  }

  task(taskId: string): Promise<TaskPayload> {
    return this.get('TaskPayload', apiPaths.task(taskId));
  }

  /** Where a service's connectors send connections (not validated here: the connector's parseRoutes does). */
  routes(service: string): Promise<RoutesPayload> {
    return this.get('RoutesPayload', apiPaths.routes(service));
  }

  /** A connector's registration and heartbeat (`tungsten-connector` sends one every second). */
  reportConnector(service: string, report: ConnectorReport): Promise<BooleanPayload> {
    return this.call('POST', apiPaths.connectors(service), JSON.stringify(report), 'BooleanPayload');
  }

  // ---- control: each starts a task and returns it at once ----
  // `taskId` (a UUID the caller chose): the task gets that id, so a call left unanswered can
  // still name the task to look for (docs/api.md, Control).

  switch(service: string, options: { target?: string; dryRun?: boolean } & TaskIdOption = {}): Promise<TaskPayload> {
    return this.post(apiPaths.control(service, 'switch'), options);
  }

  failover(service: string, options: { target?: string } & TaskIdOption = {}): Promise<TaskPayload> {
    return this.post(apiPaths.control(service, 'failover'), options);
  }

  recover(service: string, options: TaskIdOption = {}): Promise<TaskPayload> {
    return this.post(apiPaths.control(service, 'recover'), options);
  }

  heartbeat(service: string, options: TaskIdOption = {}): Promise<TaskPayload> {
    return this.post(apiPaths.control(service, 'heartbeat'), options);
  }

  setPolicy(service: string, mode: PolicyMode, options: TaskIdOption = {}): Promise<TaskPayload> {
    return this.post(apiPaths.control(service, 'policy', mode.toLowerCase()), options);
  }

  datasource(service: string, datasource: string, action: DataSourceAction, options: TaskIdOption = {}): Promise<TaskPayload> {
    return this.post(apiPaths.control(service, 'datasource', datasource, action), options);
  }

  replicator(service: string, datasource: string, action: 'online' | 'offline', options: TaskIdOption = {}): Promise<TaskPayload> {
    return this.post(apiPaths.control(service, 'replicator', datasource, action), options);
  }

  fault(service: string, datasource: string, fault: FaultAction, options: TaskIdOption = {}): Promise<TaskPayload> {
    return this.post(apiPaths.control(service, 'datasource', datasource, 'fault', fault), options);
  }

  /** Any ControlRequest, routed to its endpoint. */
  control(service: string, request: ControlRequest, options: TaskIdOption = {}): Promise<TaskPayload> {
    const id = { taskId: options.taskId };
    switch (request.op) {
      case 'switch':
        return this.switch(service, { target: request.target, dryRun: request.dryRun, ...id });
      case 'failover':
        return this.failover(service, { target: request.target, ...id });
      case 'recover':
        return this.recover(service, id);
      case 'heartbeat':
        return this.heartbeat(service, id);
      case 'policy':
        return this.setPolicy(service, request.mode, id);
      case 'datasource':
        return this.datasource(service, request.host, request.action, id);
      case 'replicator':
        return this.replicator(service, request.host, request.action, id);
      case 'fault':
        return this.fault(service, request.host, request.fault, id);
    }
  }

  /**
   * Wait until a task is complete or failed, calling onStep for each step in order as it happens
   * (steps already recorded first). Streams from the event endpoint; polls when that is unavailable
   * or drops. Resolves with the final task, whatever its state.
   */
  async waitForTask(taskId: string, options: WaitForTaskOptions = {}): Promise<TaskStatus> {
    const { signal } = options;
    if (signal?.aborted) throw interrupted();
    const waitAbort = new AbortController();
    const cleanups: Array<() => void> = [() => waitAbort.abort()];
    const stopped = new Promise<never>((_, reject) => {
      if (options.timeoutMs !== undefined) {
        const timer = setTimeout(
          () =>
            reject(
              new ToolkitError(
                'timeout',
                `task ${taskId} did not finish within ${options.timeoutMs} ms; its outcome is unknown`,
                `ask the manager later: the task keeps running there (GET ${apiPaths.task(taskId)})`,
              ),
            ),
          options.timeoutMs,
        );
        cleanups.push(() => clearTimeout(timer));
      }
      if (signal) {
        const onAbort = () => reject(interrupted());
        signal.addEventListener('abort', onAbort, { once: true });
        cleanups.push(() => signal.removeEventListener('abort', onAbort));
      }
    });
    stopped.catch(() => undefined);
    try {
      return await Promise.race([this.followTask(taskId, options, waitAbort.signal), stopped]);
    } finally {
      for (const cleanup of cleanups) cleanup();
    }
  }

  private async followTask(taskId: string, options: WaitForTaskOptions, signal: AbortSignal): Promise<TaskStatus> {
    const delivered: TaskStep[] = [];
    const deliver = (step: TaskStep) => {
      delivered.push(step);
      options.onStep?.(step);
    };
    const deliverMissing = (task: TaskStatus) => {
      for (const step of task.steps.slice(delivered.length)) deliver(step);
    };

    const first = await this.task(taskId);
    if (first.state !== 'in_progress') {
      deliverMissing(first);
      return first;
    }
    const streamed = await this.followTaskEvents(first.service, taskId, signal, delivered, deliver, deliverMissing).catch(
      (e: unknown) => {
        if (signal.aborted) throw e;
        return null; // no stream: poll instead
      },
    );
    if (streamed) return streamed;

    const interval = options.pollIntervalMs ?? 250;
    for (;;) {
      if (signal.aborted) throw interrupted();
      const task = await this.task(taskId);
      deliverMissing(task);
      if (task.state !== 'in_progress') return task;
      await sleep(interval, signal);
    }
  }

  /**
   * The stream is opened before the task is read again, so no step falls between the two. The
   * stream carries a tail of the snapshot's steps (in order) and then new ones: a streamed step
   * that matches a snapshot step is a duplicate, the first that does not is new.
   */
  private followTaskEvents(
    service: string,
    taskId: string,
    signal: AbortSignal,
    delivered: TaskStep[],
    deliver: (step: TaskStep) => void,
    deliverMissing: (task: TaskStatus) => void,
  ): Promise<TaskStatus> {
    return new Promise<TaskStatus>((resolve, reject) => {
      let snapshotTaken = false;
      const early: ManagerEvent[] = [];
      /** Steps of the snapshot not yet matched by a streamed step. */
      let unmatched: TaskStep[] = [];
      let finished = false;
      const finish = (task: TaskStatus) => {
        if (finished) return;
        finished = true;
        deliverMissing(task);
        subscription?.close();
        resolve(task);
      };
      const handle = (event: ManagerEvent) => {
        if (finished) return;
        if (event.type === 'task-step' && event.taskId === taskId) {
          const i = unmatched.findIndex((s) => s.time === event.step.time && s.line === event.step.line);
          if (i >= 0) {
            unmatched = unmatched.slice(i + 1);
          } else {
            unmatched = [];
            deliver(event.step);
          }
        } else if (event.type === 'task-end' && event.task.taskId === taskId) {
          finish(event.task);
        }
      };
      let subscription: EventSubscription | undefined;
      this.events(
        service,
        (event) => {
          if (snapshotTaken) handle(event);
          else early.push(event);
        },
        { signal },
      ).then(
        async (sub) => {
          subscription = sub;
          sub.done.then(
            () => {
              if (!finished) reject(new Error('event stream ended'));
            },
            (e: unknown) => {
              if (!finished) reject(e);
            },
          );
          try {
            const snapshot = await this.task(taskId);
            for (const step of snapshot.steps.slice(delivered.length)) deliver(step);
            unmatched = snapshot.steps.slice();
            snapshotTaken = true;
            if (snapshot.state !== 'in_progress') return finish(snapshot);
            for (const event of early.splice(0)) handle(event);
          } catch (e) {
            sub.close();
            if (!finished) {
              finished = true;
              reject(e);
            }
          }
        },
        reject,
      );
    });
  }

  /**
   * Subscribe to a service's events. Resolves once the stream is open (so nothing that happens
   * after this resolves is missed); onEvent then runs for each event, with its SSE framing (the
   * `event:` name and the last `id:`, null when the stream has given none), until close() or abort.
   */
  async events(
    service: string,
    onEvent: (event: ManagerEvent, sse: { name: string; id: string | null }) => void,
    options: EventStreamOptions = {},
  ): Promise<EventSubscription> {
    const { signal } = options;
    const idleMs = options.idleMs ?? EVENT_STREAM_IDLE_MS;
    const opened = options.lastEventId === undefined || options.lastEventId === null ? null : String(options.lastEventId);
    const transport = await this.transport;
    return new Promise<EventSubscription>((resolve, reject) => {
      if (signal?.aborted) return reject(interrupted());
      const url = this.resolve(apiPaths.events(service));
      let settleDone: { resolve: () => void; reject: (e: unknown) => void } | undefined;
      const done = new Promise<void>((res, rej) => (settleDone = { resolve: res, reject: rej }));
      done.catch(() => undefined);
      let closedByUs = false;
      let idleTimer: NodeJS.Timeout | undefined;
      const req = transport.request(url, {
        method: 'GET',
        agent: false, // a stream holds its socket for good: keep it out of the pool
        headers: { ...this.headers(), accept: 'text/event-stream', ...(opened === null ? {} : { 'last-event-id': opened }) },
        ...transport.tls,
      });
      const connected = trackConnection(req, this.baseUrl.protocol === 'https:');
      const connectTimer = setTimeout(() => req.destroy(this.timeoutError('GET', url, connected())), this.timeoutMs);
      const close = () => {
        closedByUs = true;
        clearTimeout(idleTimer);
        req.destroy();
        settleDone?.resolve();
      };
      const onAbort = () => close();
      signal?.addEventListener('abort', onAbort, { once: true });
      req.on('error', (e) => {
        clearTimeout(connectTimer);
        clearTimeout(idleTimer);
        signal?.removeEventListener('abort', onAbort);
        if (closedByUs) return;
        const err = this.transportError(e, 'GET', url, connected());
        reject(err);
        settleDone?.reject(err);
      });
      req.on('response', (res) => {
        clearTimeout(connectTimer);
        this.options.onAnswer?.(res.statusCode ?? 0);
        if (res.statusCode !== 200) {
          readBody(res, this.maxAnswerBytes, () => req.destroy(this.tooLarge('GET', url))).then((body) => {
            const err = this.httpError({ status: res.statusCode ?? 0, body }, 'GET', url);
            reject(err);
            settleDone?.reject(err);
          }, reject);
          return;
        }
        const armIdle = () => {
          clearTimeout(idleTimer);
          idleTimer = setTimeout(
            () => req.destroy(this.callError('timeout', `event stream from ${this.url} went silent`, undefined, 'the event stream went silent', true, null)),
            idleMs,
          );
          idleTimer.unref();
        };
        armIdle();
        const parser = new SseParser((message) => {
          if (message.data === '') return;
          try {
            onEvent(JSON.parse(message.data) as ManagerEvent, { name: message.event, id: message.id });
          } catch {
            // a malformed event is skipped; the next state event corrects the picture
          }
        });
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          armIdle();
          options.onActivity?.();
          parser.push(chunk);
          if (parser.pendingChars > this.maxAnswerBytes) req.destroy(this.tooLarge('GET', url, 'an event of the event stream'));
        });
        res.on('end', () => {
          clearTimeout(idleTimer);
          signal?.removeEventListener('abort', onAbort);
          if (closedByUs) return;
          settleDone?.reject(
            this.callError('unreachable', `the manager at ${this.url} closed the event stream`, undefined, 'it closed the event stream', true, null),
          );
        });
        // A connection the manager's end closes mid-stream (the process killed: FIN, no reset) is
        // reported only here, as 'aborted', never on req.
        res.on('error', (e) => {
          clearTimeout(idleTimer);
          signal?.removeEventListener('abort', onAbort);
          if (closedByUs) return;
          settleDone?.reject(this.transportError(e, 'GET', url, true));
        });
        resolve({ done, close, lastEventId: () => parser.lastEventId ?? opened });
      });
      req.end();
    });
  }

  // ---- plumbing ----

  private async get<T>(payloadType: string, path: string): Promise<T> {
    return this.call<T>('GET', path, undefined, payloadType);
  }

  private async post<T = TaskPayload>(path: string, body?: object): Promise<T> {
    const hasBody = body !== undefined && Object.values(body).some((v) => v !== undefined);
    return this.call<T>('POST', path, hasBody ? JSON.stringify(body) : undefined, 'TaskPayload');
  }

  private async call<T>(method: string, path: string, body: string | undefined, payloadType: string): Promise<T> {
    const url = this.resolve(path);
    const response = await this.send(method, url, body);
    if (response.status >= 400) throw this.httpError(response, method, url);
    let parsed: Envelope<T>;
    try {
      parsed = JSON.parse(response.body) as Envelope<T>;
    } catch {
      throw new ToolkitError('refused', `${method} ${url.pathname}: the manager at ${this.url} did not answer with JSON`);
    }
    if (parsed?.payloadType !== payloadType || parsed.payload === undefined) {
      throw new ToolkitError(
        'refused',
        `${method} ${url.pathname}: expected ${payloadType}, got ${String(parsed?.payloadType)} from ${this.url}`,
      );
    }
    return parsed.payload;
  }

  private async send(method: string, url: URL, body: string | undefined): Promise<RawResponse> {
    const transport = await this.transport;
    return new Promise<RawResponse>((resolve, reject) => {
      const headers: Record<string, string> = { ...this.headers(), accept: 'application/json' };
      if (body !== undefined) {
        headers['content-type'] = 'application/json';
        headers['content-length'] = String(Buffer.byteLength(body));
      }
      // A control call takes a connection of its own: a kept-alive one may have been closed by the
      // manager already, and then a failure could not tell whether the call reached it; on a fresh
      // one, a failure before it opened proves the call never left (see FailoverClient).
      const agent = method === 'GET' ? transport.agent : false;
      const req = transport.request(url, { method, headers, agent, ...transport.tls });
      const connected = trackConnection(req, this.baseUrl.protocol === 'https:');
      const timer = setTimeout(() => req.destroy(this.timeoutError(method, url, connected())), this.timeoutMs);
      req.on('error', (e) => {
        clearTimeout(timer);
        reject(this.transportError(e, method, url, connected()));
      });
      req.on('response', (res) => {
        readBody(res, this.maxAnswerBytes, () => req.destroy(this.tooLarge(method, url))).then(
          (text) => {
            clearTimeout(timer);
            this.options.onAnswer?.(res.statusCode ?? 0);
            resolve({ status: res.statusCode ?? 0, body: text });
          },
          () => undefined, // reported through req 'error'
        );
      });
      req.end(body);
    });
  }

  private resolve(path: string): URL {
    const url = new URL(this.baseUrl.href);
    const [pathname, query] = path.split('?', 2);
    url.pathname = this.basePath + pathname;
    url.search = query ? `?${query}` : '';
    return url;
  }

  private headers(): Record<string, string> {
    return this.authorization ? { authorization: this.authorization } : {};
  }

  private callError(
    kind: ErrorKind,
    message: string,
    hint: string | undefined,
    reason: string,
    connected: boolean,
    status: number | null,
  ): ManagerCallError {
    return new ManagerCallError(kind, message, hint, this.url, reason, connected, status);
  }

  private get maxAnswerBytes(): number {
    return this.options.maxAnswerBytes ?? DEFAULT_MAX_ANSWER_BYTES;
  }

  /** A protocol error, like an answer that is not JSON: the manager (or what answers as it) is not well. */
  private tooLarge(method: string, url: URL, what = 'its answer'): ToolkitError {
    return this.callError(
      'refused',
      `${method} ${url.pathname}: the manager at ${this.url} sent more than ${this.maxAnswerBytes} bytes in ${what}; stopped reading`,
      'this is not a manager answer: check that --manager names a tungsten-manager',
      `answer larger than ${this.maxAnswerBytes} bytes`,
      true,
      null,
    );
  }

  private timeoutError(method: string, url: URL, connected: boolean): ToolkitError {
    return this.callError(
      'timeout',
      `${method} ${url.pathname}: the manager at ${this.url} did not answer within ${this.timeoutMs} ms`,
      // A read changes nothing: only a control call leaves an outcome to find out.
      method === 'GET' ? 'nothing was changed by this read; retry, or wait longer with --timeout' : 'the outcome is unknown; check the manager with `ls` or `history` before retrying',
      `timed out after ${this.timeoutMs} ms`,
      connected,
      null,
    );
  }

  private transportError(e: unknown, method: string, url: URL, connected: boolean): ToolkitError {
    if (e instanceof ToolkitError) return e;
    const code = (e as NodeJS.ErrnoException).code ?? '';
    const message = (e as Error).message;
    if (TLS_CODES.has(code) || /certificate|self[- ]signed/i.test(message)) {
      return this.callError(
        'unreachable',
        `cannot verify the manager's TLS certificate at ${this.url}: ${message}`,
        'pass the manager certificate with --cacert FILE, or --insecure to skip verification',
        `TLS certificate not accepted: ${message}`,
        connected,
        null,
      );
    }
    const why = CONNECT_FAILURES[code] ?? message;
    return this.callError(
      'unreachable',
      `the manager at ${this.url} is unreachable: ${why}`,
      'check that tungsten-manager is running and that --manager gives its URL',
      why,
      connected,
      null,
    );
  }

  private httpError(response: RawResponse, method: string, url: URL): ToolkitError {
    let payload: Partial<ErrorPayload> | undefined;
    try {
      const parsed = JSON.parse(response.body) as Envelope<ErrorPayload>;
      if (parsed?.payloadType === 'ErrorPayload') payload = parsed.payload;
    } catch {
      // not an envelope: describe it by its status
    }
    const kind: ErrorKind = response.status === 401 ? 'unauthorized' : payload?.kind ?? kindForStatus(response.status);
    const reason = `HTTP ${response.status}${payload?.message ? `: ${payload.message}` : ''}`;
    if (kind === 'unauthorized' && response.status === 429 && payload?.message) {
      return this.callError('unauthorized', `the manager at ${this.url}: ${payload.message}`, payload.hint ?? undefined, reason, true, response.status);
    }
    if (kind === 'unauthorized') {
      return this.callError(
        'unauthorized',
        this.options.user === undefined
          ? `the manager at ${this.url} requires credentials`
          : `the manager at ${this.url} refused the credentials of user '${this.options.user}'`,
        'give --user and --password (or TUNGSTEN_API_USER / TUNGSTEN_API_PASSWORD)',
        reason,
        true,
        response.status,
      );
    }
    const message = payload?.message ?? `${method} ${url.pathname}: HTTP ${response.status}`;
    return this.callError(kind, message, payload?.hint ?? undefined, reason, true, response.status);
  }
}

function kindForStatus(status: number): ErrorKind {
  if (status === 405 || status === 413 || status === 415) return 'usage';
  if (status === 503) return 'unreachable';
  if (status >= 500) return 'refused';
  return errorKindForHttpStatus(status);
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

const TLS_CODES = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/**
 * Whether the request's connection is open yet: a pooled socket is; a new one once TCP (and TLS,
 * for https) is through. Before that nothing of the request has left this process.
 */
function trackConnection(req: http.ClientRequest, secure: boolean): () => boolean {
  let connected = false;
  req.on('socket', (socket) => {
    if (req.reusedSocket || (!socket.connecting && !secure)) connected = true;
    else socket.once(secure ? 'secureConnect' : 'connect', () => (connected = true));
  });
  return () => connected;
}

function interrupted(): ToolkitError {
  return new ToolkitError('interrupted', 'interrupted');
}

/** The body, up to `limit` bytes; past that `tooLarge` runs (it ends the request) and nothing more is kept. */
function readBody(res: http.IncomingMessage, limit: number, tooLarge: () => void): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    res.on('data', (c: Buffer) => {
      if (size > limit) return;
      size += c.length;
      if (size > limit) {
        chunks.length = 0;
        reject(new Error('answer too large'));
        tooLarge();
        return;
      }
      chunks.push(c);
    });
    res.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    res.on('error', reject);
  });
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}
