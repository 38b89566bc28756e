/**
 * The connectors as the manager knows them: each `tungsten-connector` reports itself every second
 * (`POST /api/v2/manager/service/SVC/connectors`); one silent for CONNECTOR_SILENCE_MS is gone.
 * What a connector sends is checked against a schema: it is a peer, not trusted.
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
});

export type ConnectorReport = z.infer<typeof reportSchema>;

export interface KnownConnector extends ConnectorReport {
  /** Clock time of its last report. */
  seenAt: number;
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

  report(r: ConnectorReport, now: number): void {
    this.known.set(r.name, { ...r, seenAt: now });
    for (const l of this.listeners) l();
  }

  /** The connectors heard from lately, by name. */
  list(now: number): KnownConnector[] {
    for (const [name, c] of this.known) if (now - c.seenAt > CONNECTOR_SILENCE_MS) this.known.delete(name);
    return [...this.known.values()].sort((a, b) => a.name.localeCompare(b.name));
  }

  /** Called after every report (a hold waits on them). */
  onReport(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}
