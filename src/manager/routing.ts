/**
 * The connectors as the manager knows them: each `tungsten-connector` reports itself every second
 * (`POST /api/v2/manager/service/SVC/connectors`) to one member of the group; one silent for
 * CONNECTOR_SILENCE_MS is gone. What a connector sends is checked against a schema: it is a peer,
 * not trusted.
 *
 * In a manager group, a member lists three kinds of report, merged by connector name:
 * - those it took from the connector itself;
 * - those a follower passed on to it (the coordinator: it holds and resumes every connector, so it
 *   hears each report as it comes);
 * - those the other members share through the coordination store (etcd: under the sharing
 *   member's lease, so they go with it). A member shares a report at once when something `ls`
 *   shows other than the counts changed, and otherwise every SHARE_REFRESH_MS (so that the store
 *   takes a write every few seconds per connector, not every second).
 */
import { z } from 'zod';
import { ToolkitError } from '../errors.js';
import type { DriverCallOptions, RouterObservation } from './drivers/driver.js';

/**
 * Connectors the manager lists and tells itself, besides those that report to it: the demo's
 * simulated ones (SimulatedDriver implements this too). Routing is not a database driver's job.
 */
export interface ConnectorFleet {
  routers(opts: DriverCallOptions): Promise<RouterObservation[]>;
  /** Tell every connector which datasource is the master now and which are readable. */
  notifyRouters(masterName: string | null, readable: string[], opts: DriverCallOptions): Promise<void>;
}

export function isConnectorFleet(x: unknown): x is ConnectorFleet {
  const f = x as Partial<ConnectorFleet> | null;
  return typeof f?.routers === 'function' && typeof f.notifyRouters === 'function';
}

export const CONNECTOR_SILENCE_MS = 5_000;

const reportSchema = z.object({
  name: z.string().min(1).max(200),
  host: z.string().min(1).max(255),
  pid: z.number().int().min(0),
  state: z.enum(['ONLINE', 'ON-HOLD', 'OFFLINE']),
  created: z.number().int().min(0),
  active: z.number().int().min(0),
  listen: z.string().max(300),
  readListen: z.string().max(300).nullable(),
  epoch: z.number().int().min(0).nullable(),
  holding: z.boolean(),
  waiting: z.number().int().min(0).optional(),
  /** The manager it follows (the member its event stream comes from), as it names it. */
  manager: z.string().max(300).nullable().optional(),
});

export type ConnectorReport = z.infer<typeof reportSchema>;

export interface KnownConnector extends ConnectorReport {
  /** Clock time of its last report. */
  seenAt: number;
  /** The member its last report reached (this one, or the follower that passed it on). */
  reportedTo: string;
}

/** A report as a member shares it with the group. */
const sharedSchema = reportSchema.extend({
  seenAt: z.number().int().min(0),
  reportedTo: z.string().min(1).max(200),
});

/** How often a member shares the reports of a connector whose counts alone changed. */
export const SHARE_REFRESH_MS = 3_000;
/**
 * A shared report older than this is not listed, whatever the store holds: the member that shared
 * it withdraws it once the connector is silent, and etcd drops it with that member's lease; this is
 * the backstop (a member that stopped sampling), generous for clocks of other hosts.
 */
export const SHARED_CONNECTOR_STALE_MS = 30_000;

/** A shared report out of the coordination store (another member wrote it: checked like a report); null when malformed. */
export function parseSharedConnector(value: unknown): KnownConnector | null {
  const parsed = sharedSchema.safeParse(value);
  return parsed.success ? parsed.data : null;
}

/** What `ls` shows of a connector besides its counts: a change in these is shared at once. */
function shownFields(c: ConnectorReport): string {
  return JSON.stringify([c.host, c.pid, c.state, c.listen, c.readListen, c.epoch, c.holding, c.manager ?? null]);
}

/** A connector's report out of a request body; ToolkitError 'usage' naming the bad field. */
export function parseConnectorReport(body: unknown): ConnectorReport {
  const parsed = reportSchema.safeParse(body);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new ToolkitError('usage', `bad connector report: '${issue.path.join('.') || 'body'}': ${issue.message}`);
  }
  return parsed.data;
}

export class ConnectorRegistry {
  private readonly known = new Map<string, KnownConnector>();
  private readonly listeners = new Set<() => void>();
  /** Connectors this member shared with the group: when, and what `ls` showed then. */
  private readonly sharedByMe = new Map<string, { at: number; shown: string }>();

  /**
   * Records a report; says whether this member should share it with the group now: a report taken
   * from the connector itself (not passed on by another member) that changes what `ls` shows, or
   * the first in SHARE_REFRESH_MS.
   */
  report(r: ConnectorReport, now: number, reportedTo: string, direct = true): { share: boolean } {
    this.known.set(r.name, { ...r, seenAt: now, reportedTo });
    for (const l of this.listeners) l();
    if (!direct) return { share: false };
    const last = this.sharedByMe.get(r.name);
    const shown = shownFields(r);
    if (last && last.shown === shown && now - last.at < SHARE_REFRESH_MS) return { share: false };
    this.sharedByMe.set(r.name, { at: now, shown });
    return { share: true };
  }

  /** The connectors heard from lately, by name. */
  list(now: number): KnownConnector[] {
    this.prune(now);
    return [...this.known.values()].sort((a, b) => a.name.localeCompare(b.name));
  }

  /** Forgets connectors silent too long; returns those of them this member had shared (to withdraw). */
  prune(now: number): string[] {
    const gone: string[] = [];
    for (const [name, c] of this.known) {
      if (now - c.seenAt <= CONNECTOR_SILENCE_MS) continue;
      this.known.delete(name);
      if (this.sharedByMe.delete(name)) gone.push(name);
    }
    return gone;
  }

  /**
   * Every connector this member knows of: the reports it took (or was passed) and those the other
   * members share, the newest report of each connector.
   */
  merged(now: number, shared: readonly KnownConnector[]): KnownConnector[] {
    const byName = new Map(this.list(now).map((c) => [c.name, c]));
    for (const c of shared) {
      const mine = byName.get(c.name);
      if (!mine || c.seenAt > mine.seenAt) byName.set(c.name, c);
    }
    return [...byName.values()].sort((a, b) => a.name.localeCompare(b.name));
  }

  /** Called after every report (a hold waits on them). */
  onReport(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}
