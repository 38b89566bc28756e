/**
 * The API's paths mapped onto the Manager: parse and check the request, call the manager, wrap the
 * result in its payload. Everything about HTTP itself (auth, envelope, errors) is in server.ts.
 */
import { ToolkitError } from '../../errors.js';
import type { Manager } from '../api.js';
import {
  DATASOURCE_ACTIONS,
  FAULT_ACTIONS,
  POLICY_MODES,
  type ControlRequest,
  type DataSourceAction,
  type FaultAction,
  type PolicyMode,
} from '../model.js';
import type { PayloadType, PayloadTypes } from '../../api/payloads.js';
import { parseConnectorReport } from '../routing.js';
import { javaDate, toDatasourcePayload, toServiceStatusPayload, toStatusPayload } from '../../api/v2-shapes.js';

export interface RouteContext {
  manager: Manager;
  params: Readonly<Record<string, string>>;
  query: URLSearchParams;
  /** Parsed JSON body of a POST (an object; `{}` when there was none). */
  body: Record<string, unknown>;
  /** The authenticated user, recorded as the task's requestedBy. */
  user: string;
  /** The member of the group that took the call and passed it on (its x-tungsten-via header), if any. */
  via: string | null;
}

export type RouteResult = {
  [K in PayloadType]: {
    payloadType: K;
    payload: PayloadTypes[K];
    status?: number;
    /**
     * The payload is a function of `source` (a view the manager hands out unchanged until its
     * state changes) and `variant` alone, so the server may send the bytes it made for the same
     * pair before.
     */
    cacheKey?: { source: object; variant: string };
  };
}[PayloadType];

export interface Route {
  method: 'GET' | 'POST';
  /** `/api/v2/manager/task/:taskId` */
  pattern: string;
  /** Open without credentials. */
  open?: boolean;
  /** Served by the event stream instead of a handler. */
  stream?: boolean;
  handle?: (ctx: RouteContext) => RouteResult | Promise<RouteResult>;
}

const DEFAULT_HISTORY_LIMIT = 20;
export const CONNECTORS_PATTERN = '/api/v2/manager/service/:svc/connectors';
const MAX_HISTORY_LIMIT = 1000;

export const routes: Route[] = [
  {
    method: 'GET',
    pattern: '/api/v2/ping',
    open: true,
    handle: ({ manager }) => {
      const info = manager.info();
      const now = new Date();
      return {
        payloadType: 'PingPayload',
        payload: {
          message: 'Ping test',
          date: javaDate(now),
          hostName: info.hostName,
          pid: info.managerPID,
          jvmUptime: Date.parse(now.toISOString()) - Date.parse(info.startTime),
          dateIso: now.toISOString(),
          uptimeSeconds: info.uptimeSeconds,
        },
      };
    },
  },
  {
    method: 'GET',
    pattern: '/api/v2/user/:name',
    handle: ({ params, user }) => {
      // The manager has one API user, the one this call authenticated as.
      if (params.name !== user) throw new ToolkitError('not_found', `no API user '${params.name}'`, 'this manager has one API user, given at start (--api-user)');
      return { payloadType: 'CredentialsPayload', payload: { user, pass: '**obfuscated**', access: 'full' } };
    },
  },
  {
    method: 'POST',
    pattern: '/api/v2/createAdminUser',
    handle: ({ query }) => {
      if (query.get('i-am-sure') !== 'true') throw new ToolkitError('usage', 'createAdminUser needs ?i-am-sure=true');
      // APIv2 creates the admin user on a manager that has none; this manager always has one.
      throw new ToolkitError('conflict', 'an admin user already exists: the API user this manager was started with', 'change it by restarting the manager with --api-user/--api-password (or TUNGSTEN_API_USER/TUNGSTEN_API_PASSWORD)');
    },
  },
  {
    method: 'GET',
    pattern: '/api/v2/manager/status',
    handle: ({ manager }) => ({ payloadType: 'StatusPayload', payload: toStatusPayload(manager.info()) }),
  },
  {
    method: 'GET',
    pattern: '/api/v2/manager/cluster/topology',
    handle: ({ manager, query }) => {
      const statuses = manager.serviceNames().map((s) => manager.serviceStatus(s));
      const includeRouters = !isNo(query.get('includeRouters'));
      return {
        payloadType: 'ClusterTopologyPayload',
        payload: {
          topology: 'CLUSTERED_MASTER_SLAVE',
          name: statuses[0]?.name ?? manager.info().dataServiceName,
          services: statuses.map((s) => ({
            name: s.name,
            role: 'master' as const,
            datasources: s.datasources.map((d) => ({ name: d.name, role: d.role })),
          })),
          ...(includeRouters
            ? { routers: statuses.flatMap((s) => s.routers.map((r) => ({ name: r.host, connectorName: r.name, connections: r.connections }))) }
            : {}),
        },
      };
    },
  },
  {
    method: 'GET',
    pattern: '/api/v2/manager/status/service/:svc',
    handle: ({ manager, params, query }) => {
      const status = manager.serviceStatus(knownService(manager, params.svc!));
      const includeRouters = !isNo(query.get('includeRouters'));
      return {
        payloadType: 'ServiceStatusPayload',
        payload: toServiceStatusPayload(status, includeRouters),
        cacheKey: { source: status, variant: includeRouters ? '' : 'without routers' },
      };
    },
  },
  {
    method: 'GET',
    pattern: '/api/v2/manager/status/service/:svc/datasource/:ds',
    handle: ({ manager, params }) => {
      const svc = knownService(manager, params.svc!);
      const status = manager.datasourceStatus(svc, knownDatasource(manager, svc, params.ds!));
      return { payloadType: 'DatasourceStatusPayload', payload: toDatasourcePayload(status), cacheKey: { source: status, variant: '' } };
    },
  },
  {
    method: 'GET',
    pattern: '/api/v2/manager/service/:svc/datasource/:ds/ping',
    handle: async ({ manager, params }) => {
      const svc = knownService(manager, params.svc!);
      const result = await manager.pingDatasource(svc, knownDatasource(manager, svc, params.ds!));
      // As cctrl's `ping`: the host, checked apart from its database server (reported beside it).
      return {
        payloadType: 'BooleanPayload',
        payload: { value: result.hostAlive, host: result.host, address: result.address, dataServer: result.dataServer },
      };
    },
  },
  {
    method: 'GET',
    pattern: '/api/v2/manager/service/:svc/members',
    handle: ({ manager, params }) => {
      const svc = knownService(manager, params.svc!);
      return { payloadType: 'MembersPayload', payload: { service: svc, members: manager.members(svc) } };
    },
  },
  {
    method: 'GET',
    pattern: '/api/v2/manager/service/:svc/routes',
    handle: ({ manager, params }) => {
      const svc = knownService(manager, params.svc!);
      if (!manager.routes) throw new ToolkitError('not_found', 'this manager publishes no routes');
      return { payloadType: 'RoutesPayload', payload: manager.routes(svc) };
    },
  },
  {
    method: 'POST',
    pattern: CONNECTORS_PATTERN,
    handle: ({ manager, params, body, via }) => {
      const svc = knownService(manager, params.svc!);
      if (!manager.reportConnector) throw new ToolkitError('not_found', 'this manager takes no connector reports');
      manager.reportConnector(svc, parseConnectorReport(body), via);
      return { payloadType: 'BooleanPayload', payload: { value: true } };
    },
  },
  {
    method: 'GET',
    pattern: '/api/v2/manager/service/:svc/policy',
    handle: ({ manager, params }) => {
      const svc = knownService(manager, params.svc!);
      return { payloadType: 'PolicyPayload', payload: { service: svc, policy: manager.serviceStatus(svc).policy } };
    },
  },
  {
    method: 'GET',
    pattern: '/api/v2/manager/service/:svc/history',
    handle: ({ manager, params, query }) => {
      const svc = knownService(manager, params.svc!);
      const limit = historyLimit(query.get('limit'));
      return { payloadType: 'TaskListPayload', payload: { service: svc, tasks: manager.history(svc, limit) } };
    },
  },
  {
    method: 'GET',
    pattern: '/api/v2/manager/task/:taskId',
    handle: ({ manager, params }) => ({ payloadType: 'TaskPayload', payload: manager.task(params.taskId!) }),
  },
  { method: 'GET', pattern: '/api/v2/manager/events', stream: true },
  control('/switch', ({ body }) => ({
    op: 'switch',
    target: optionalString(body, 'target'),
    dryRun: optionalBoolean(body, 'dryRun'),
  })),
  control('/failover', ({ body }) => ({ op: 'failover', target: optionalString(body, 'target') })),
  control('/recover', () => ({ op: 'recover' })),
  control('/heartbeat', () => ({ op: 'heartbeat' })),
  control('/policy/:mode', ({ params }) => ({ op: 'policy', mode: policyMode(params.mode!) })),
  control('/datasource/:ds/:action', ({ manager, params }) => ({
    op: 'datasource',
    host: knownDatasource(manager, params.svc!, params.ds!),
    action: oneOf<DataSourceAction>(params.action!, DATASOURCE_ACTIONS, 'datasource action'),
  })),
  control('/replicator/:ds/:action', ({ manager, params }) => ({
    op: 'replicator',
    host: knownDatasource(manager, params.svc!, params.ds!),
    action: oneOf(params.action!, ['online', 'offline'] as const, 'replicator action'),
  })),
  control('/datasource/:ds/fault/:fault', ({ manager, params }) => ({
    op: 'fault',
    host: knownDatasource(manager, params.svc!, params.ds!),
    fault: oneOf<FaultAction>(params.fault!, FAULT_ACTIONS, 'fault'),
  })),
];

/** A control endpoint: every one starts a task and answers 201 with it. */
function control(suffix: string, toRequest: (ctx: RouteContext) => ControlRequest): Route {
  return {
    method: 'POST',
    pattern: `/api/v2/manager/control/service/:svc${suffix}`,
    handle: (ctx) => {
      const svc = knownService(ctx.manager, ctx.params.svc!);
      const request = stripUndefined(toRequest(ctx));
      const task = ctx.manager.control(svc, request, ctx.user, ctx.via, taskIdOf(ctx.body));
      return { payloadType: 'TaskPayload', payload: task, status: 201 };
    },
  };
}

function knownService(manager: Manager, svc: string): string {
  const names = manager.serviceNames();
  if (!names.includes(svc)) {
    throw new ToolkitError('not_found', `no service '${svc}'`, `known services: ${names.join(', ')}`);
  }
  return svc;
}

function knownDatasource(manager: Manager, svc: string, ds: string): string {
  const names = manager.serviceStatus(knownService(manager, svc)).datasources.map((d) => d.name);
  if (!names.includes(ds)) {
    throw new ToolkitError('not_found', `no datasource '${ds}' in service '${svc}'`, `datasources of ${svc}: ${names.join(', ')}`);
  }
  return ds;
}

function policyMode(text: string): PolicyMode {
  return oneOf<PolicyMode>(text.toUpperCase(), POLICY_MODES, 'policy', POLICY_MODES.map((m) => m.toLowerCase()));
}

function oneOf<T extends string>(value: string, allowed: readonly T[], what: string, shown: readonly string[] = allowed): T {
  if (!(allowed as readonly string[]).includes(value)) {
    throw new ToolkitError('usage', `unknown ${what} '${value}'`, `use one of: ${shown.join(', ')}`);
  }
  return value as T;
}

/** The task id a control call asks for (`taskId` in its body, a UUID), if any. */
export function taskIdOf(body: Record<string, unknown>): string | undefined {
  const id = optionalString(body, 'taskId');
  if (id !== undefined && !TASK_ID.test(id)) {
    throw new ToolkitError('usage', `'taskId' must be a UUID (8-4-4-4-12 hexadecimal digits), not '${id.slice(0, 64)}'`, 'leave it out, and the manager chooses one');
  }
  return id?.toLowerCase();
}

const TASK_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function optionalString(body: Record<string, unknown>, key: string): string | undefined {
  const v = body[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string' || v === '') throw new ToolkitError('usage', `'${key}' must be a non-empty string`);
  return v;
}

function optionalBoolean(body: Record<string, unknown>, key: string): boolean | undefined {
  const v = body[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'boolean') throw new ToolkitError('usage', `'${key}' must be true or false`);
  return v;
}

function historyLimit(text: string | null): number {
  if (text === null) return DEFAULT_HISTORY_LIMIT;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1 || n > MAX_HISTORY_LIMIT) {
    throw new ToolkitError('usage', `bad limit '${text}'`, `give an integer from 1 to ${MAX_HISTORY_LIMIT}`);
  }
  return n;
}

function isNo(value: string | null): boolean {
  return value !== null && ['no', 'false', '0'].includes(value.toLowerCase());
}

function stripUndefined<T extends object>(request: T): T {
  return Object.fromEntries(Object.entries(request).filter(([, v]) => v !== undefined)) as T;
}

/** A route's pattern split once: its literal segments by position, and where its parameters are. */
interface CompiledRoute {
  route: Route;
  literals: Array<[index: number, text: string]>;
  params: Array<[index: number, name: string]>;
}

/** The compiled routes by their number of segments. */
const routesByLength = new Map<number, CompiledRoute[]>();
for (const route of routes) {
  const parts = route.pattern.split('/');
  const compiled: CompiledRoute = { route, literals: [], params: [] };
  parts.forEach((part, i) => (part.startsWith(':') ? compiled.params.push([i, part.slice(1)]) : compiled.literals.push([i, part])));
  routesByLength.set(parts.length, [...(routesByLength.get(parts.length) ?? []), compiled]);
}

export type PathMatch = { route: Route; params: Readonly<Record<string, string>> };

/** Recent matches by path: clients poll the same few paths. Cleared when full. */
const matchCache = new Map<string, readonly PathMatch[]>();
const MATCH_CACHE_SIZE = 512;

/** Matches a path against the route patterns: the routes for that path, with their parameters. */
export function matchPath(pathname: string): readonly PathMatch[] {
  let found = matchCache.get(pathname);
  if (!found) {
    found = Object.freeze(matchUncached(pathname).map((m) => Object.freeze({ route: m.route, params: Object.freeze(m.params) })));
    if (matchCache.size >= MATCH_CACHE_SIZE) matchCache.clear();
    matchCache.set(pathname, found);
  }
  return found;
}

function matchUncached(pathname: string): Array<{ route: Route; params: Record<string, string> }> {
  const segments = pathname.split('/');
  const found: Array<{ route: Route; params: Record<string, string> }> = [];
  for (const { route, literals, params: names } of routesByLength.get(segments.length) ?? []) {
    if (!literals.every(([i, text]) => segments[i] === text)) continue;
    const params: Record<string, string> = {};
    let ok = true;
    for (const [i, name] of names) {
      let value: string;
      try {
        value = decodeURIComponent(segments[i]!);
      } catch {
        value = '';
      }
      if (value === '') {
        ok = false;
        break;
      }
      params[name] = value;
    }
    if (ok) found.push({ route, params });
  }
  // A literal segment beats a parameter (`.../datasource/db1/fault/x` is not action 'fault').
  if (found.length < 2) return found;
  return found.sort((a, b) => Object.keys(a.params).length - Object.keys(b.params).length);
}
