/**
 * The route table: where the connector sends connections, as the managers last said, under the
 * epoch rule. Pure (no sockets, no clock): the router asks it what to do and acts.
 *
 * The managers' RoutesPayload (`GET /api/v2/manager/service/:svc/routes`, and the data of each
 * `event: routes` on the event stream):
 *
 *   { service, epoch, master: {name, host, port} | null,
 *     slaves: [{name, host, port, latencySeconds: number | null, healthy}],
 *     hold: {reason, since} | null,
 *     endImmediately?: boolean }
 *
 * - `epoch` strictly increases with every change. A payload whose epoch is lower than or equal to
 *   the one held is never applied: it may come from a stale member of a manager group, or be a
 *   replay after a reconnect.
 * - `hold` set: the connector opens no backend connection (new clients wait); existing ones go on.
 * - Connections open to a server the new routes no longer give them (a write connection whose
 *   server is not the master, a read connection whose server is neither master nor slave):
 *   - end at once when the change is a failover: `endImmediately: true` (optional, our addition),
 *     or the server is absent from the new routes altogether (neither master nor slave: the
 *     managers dropped it, as they do a FAILED server);
 *   - otherwise (a switch: the old master is now a slave) they end after the switch grace.
 *   A connection that a later epoch makes valid again (a switch reverted within the grace) is kept.
 */
import { z } from 'zod';
import { ToolkitError } from '../errors.js';

export interface Backend {
  name: string;
  host: string;
  port: number;
}

export interface SlaveRoute extends Backend {
  latencySeconds: number | null;
  healthy: boolean;
}

export interface RouteHold {
  reason: string;
  /** ISO-8601. */
  since: string;
}

export interface RoutesPayload {
  service: string;
  epoch: number;
  master: Backend | null;
  slaves: SlaveRoute[];
  hold: RouteHold | null;
  /** The change is a failover: connections it takes away from a server end at once, not after the grace. */
  endImmediately?: boolean;
}

export const ROUTES_PAYLOAD_TYPE = 'RoutesPayload';

const backendSchema = z.object({
  name: z.string().min(1),
  host: z.string().min(1),
  port: z.number().int().min(1).max(65535),
});

const routesSchema = z.object({
  service: z.string().min(1),
  epoch: z.number().int().min(0),
  master: backendSchema.nullable(),
  slaves: z.array(
    backendSchema.extend({
      latencySeconds: z.number().min(0).nullable(),
      healthy: z.boolean(),
    }),
  ),
  hold: z.object({ reason: z.string(), since: z.string() }).nullable(),
  endImmediately: z.boolean().optional(),
});

/**
 * A RoutesPayload out of what a manager sent: the payload itself, its APIv2 envelope, or an event
 * object carrying it (`{type: 'routes', ...payload}` or `{type: 'routes', routes: payload}`).
 * Throws ToolkitError 'refused' naming the first bad field.
 */
export function parseRoutes(value: unknown): RoutesPayload {
  let candidate: unknown = value;
  if (isObject(candidate) && candidate['payloadType'] !== undefined) {
    if (candidate['payloadType'] !== ROUTES_PAYLOAD_TYPE) {
      throw new ToolkitError('refused', `expected ${ROUTES_PAYLOAD_TYPE}, got ${String(candidate['payloadType'])}`);
    }
    candidate = candidate['payload'];
  } else if (isObject(candidate) && isObject(candidate['routes'])) {
    candidate = candidate['routes'];
  }
  const parsed = routesSchema.safeParse(candidate);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue && issue.path.length > 0 ? issue.path.join('.') : 'payload';
    throw new ToolkitError('refused', `malformed routes from the manager: ${where}: ${issue?.message ?? 'invalid'}`);
  }
  const p = parsed.data;
  const routes: RoutesPayload = {
    service: p.service,
    epoch: p.epoch,
    master: p.master && { name: p.master.name, host: p.master.host, port: p.master.port },
    slaves: p.slaves.map((s) => ({ name: s.name, host: s.host, port: s.port, latencySeconds: s.latencySeconds, healthy: s.healthy })),
    hold: p.hold && { reason: p.hold.reason, since: p.hold.since },
  };
  if (p.endImmediately !== undefined) routes.endImmediately = p.endImmediately;
  return routes;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** One server as the router tracks it: its name and address (a server that moves is another server). */
export function backendKey(b: Backend): string {
  return `${b.name}@${b.host}:${b.port}`;
}

export function sameBackend(a: Backend | null | undefined, b: Backend | null | undefined): boolean {
  return !!a && !!b && a.name === b.name && a.host === b.host && a.port === b.port;
}

export function describeBackend(b: Backend): string {
  return `${b.name} (${b.host.includes(':') ? `[${b.host}]` : b.host}:${b.port})`;
}

export type PortKind = 'write' | 'read';

/** What becomes of an open connection under the routes now held. */
export type Verdict = 'keep' | 'end-after-grace' | 'end-now';

export type ApplyOutcome =
  | {
      applied: false;
      /** `stale`: epoch lower than or equal to the one held; `other-service`: routes of another service. */
      reason: 'stale' | 'other-service';
      epoch: number;
      held: number | null;
    }
  | {
      applied: true;
      previous: RoutesPayload | null;
      current: RoutesPayload;
      masterChanged: boolean;
      holdStarted: boolean;
      holdEnded: boolean;
    };

export class RouteTable {
  private routes: RoutesPayload | null = null;

  constructor(readonly service: string) {}

  get current(): RoutesPayload | null {
    return this.routes;
  }

  /** The epoch applied; null before any. */
  get epoch(): number | null {
    return this.routes?.epoch ?? null;
  }

  get hold(): RouteHold | null {
    return this.routes?.hold ?? null;
  }

  get master(): Backend | null {
    return this.routes?.master ?? null;
  }

  apply(next: RoutesPayload): ApplyOutcome {
    if (next.service !== this.service) return { applied: false, reason: 'other-service', epoch: next.epoch, held: this.epoch };
    const previous = this.routes;
    if (previous !== null && next.epoch <= previous.epoch) return { applied: false, reason: 'stale', epoch: next.epoch, held: previous.epoch };
    this.routes = next;
    return {
      applied: true,
      previous,
      current: next,
      masterChanged: previous !== null && !sameBackend(previous.master, next.master) && !(previous.master === null && next.master === null),
      holdStarted: next.hold !== null && (previous === null || previous.hold === null),
      holdEnded: next.hold === null && previous !== null && previous.hold !== null,
    };
  }

  /** Whether `server` appears in the routes at all, as master or slave. */
  listed(server: Backend): boolean {
    const r = this.routes;
    if (!r) return false;
    return sameBackend(r.master, server) || r.slaves.some((s) => sameBackend(s, server));
  }

  /**
   * What to do with a connection open on `port` to `server`, under the routes held: keep it while
   * the routes still give that server to that port; end it at once after a failover or when the
   * server is gone from the routes; otherwise (a switch) after the grace.
   */
  verdict(port: PortKind, server: Backend): Verdict {
    const r = this.routes;
    if (!r) return 'keep';
    const valid = port === 'write' ? sameBackend(r.master, server) : this.listed(server);
    if (valid) return 'keep';
    if (r.endImmediately === true || !this.listed(server)) return 'end-now';
    return 'end-after-grace';
  }

  /**
   * The server a new connection on `port` goes to, or null when there is none to go to (no
   * routes, no master). Reads: the healthy slave with the fewest connections (`load`), the first
   * listed on a tie; the master when no slave is healthy. Says nothing of holds: the router checks.
   */
  target(port: PortKind, load: (server: Backend) => number): Backend | null {
    const r = this.routes;
    if (!r) return null;
    if (port === 'write') return r.master;
    let best: SlaveRoute | null = null;
    let bestLoad = Infinity;
    for (const s of r.slaves) {
      if (!s.healthy) continue;
      const l = load(s);
      if (l < bestLoad) {
        best = s;
        bestLoad = l;
      }
    }
    return best ?? r.master;
  }
}
