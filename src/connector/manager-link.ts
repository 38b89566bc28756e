/**
 * The connector's side of its contract with the managers, through the shared API client
 * (src/api/client.ts, one ManagerClient per member) behind FailoverClient: every call goes to the
 * member that answered last, and to the next one when it stops answering (no connection, no answer
 * in time, 502/503); a 401 is an answer, not a reason to move on.
 *
 * - `GET  /api/v2/manager/service/:svc/routes` → RoutesPayload (see routes.ts).
 * - `GET  /api/v2/manager/events?service=:svc` (server-sent events): `event: routes` carrying the
 *   RoutesPayload, with `id: <epoch>`; other events are ignored. Reopened with
 *   `Last-Event-ID: <epoch held>`: the manager then sends routes only with a higher epoch.
 * - `POST /api/v2/manager/service/:svc/connectors` every second and at once after each change:
 *   ConnectorHeartbeat (registration and heartbeat).
 */
import { FailoverClient } from '../api/failover.js';
import type { ConnectorReport } from '../manager/routing.js';

/** What the connector tells the managers, every second (the manager's schema: src/manager/routing.ts). */
export type ConnectorHeartbeat = ConnectorReport;

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
  /** An `event: routes` (not yet validated: parseRoutes does). */
  onRoutes(value: unknown, from: string): void;
  /** Anything arrived (an event, a heartbeat comment): the member is alive. */
  onActivity(from: string): void;
}

export class ManagerLink {
  readonly failover: FailoverClient;

  /** Throws ToolkitError 'usage' for a malformed URL, one given twice, or an unreadable CA file. */
  constructor(private readonly options: ManagerLinkOptions) {
    this.failover = new FailoverClient(options.urls, {
      user: options.user,
      password: options.password,
      caFile: options.caFile,
      insecure: options.insecure,
      timeoutMs: options.timeoutMs,
    });
  }

  get urls(): string[] {
    return this.failover.urls;
  }

  /** The routes as one member has them (not validated: parseRoutes does), and which member. */
  routes(): Promise<{ value: unknown; from: string }> {
    return this.failover.read(async (client) => ({ value: await client.routes(this.options.service), from: client.url }));
  }

  /** Registration and heartbeat; resolves with the member that took it. */
  heartbeat(body: ConnectorHeartbeat): Promise<{ from: string }> {
    return this.failover.read(async (client) => {
      await client.reportConnector(this.options.service, body);
      return { from: client.url };
    });
  }

  /** Opens the event stream on the first member that takes it, resuming after `lastEventId`; resolves once it is open. */
  stream(lastEventId: number | null, handlers: StreamHandlers): Promise<RoutesStream> {
    return this.failover.read(async (client) => {
      const from = client.url;
      const subscription = await client.events(
        this.options.service,
        // The managers send `{type: 'routes', service, routes}`; a bare RoutesPayload under `event: routes` is taken too.
        (event, sse) => {
          if (event.type === 'routes' || sse.name === 'routes') handlers.onRoutes(event, from);
        },
        { lastEventId, idleMs: this.options.streamIdleMs, onActivity: () => handlers.onActivity(from) },
      );
      return { url: from, done: subscription.done, close: () => subscription.close() };
    });
  }

  close(): void {
    this.failover.close();
  }
}
