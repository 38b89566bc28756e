/**
 * The read-only part of Tungsten's APIv1 (`http://host:8090/manager/...`, pre-7.0) that monitoring
 * in the field still calls: Continuent's Nagios checks (tungsten_nagios_online, _latency, _policy)
 * and tungsten_policy read `GET /manager/status/<svc>/` through tpm's TungstenAPI Ruby module.
 *
 * Paths: `status/<svc>/`, `policy/<svc>/`, `service/members`, `service/router/status`. Answers are
 * APIv1's: `{returnCode: "200", returnMessage, message, outputPayload}`, no APIv2 envelope. The
 * cluster state is in `outputPayload` itself (as tpm's CLI_API sample reads it) and again under
 * `outputPayload.dataServiceState` (as TungstenStatus reads it): `name, composite, coordinator,
 * policyManagerMode, dataSources{host: {...}}, replicators{host: {...}}`.
 *
 * Behind the API's credentials like every call; with `manager.api.v1.allowUnauthenticatedLoopbackReads=true`
 * these reads (and only these) are also answered without credentials to a client on loopback,
 * because the Ruby module sends none.
 */
import { ToolkitError } from '../../errors.js';
import type { Manager } from '../api.js';
import type { DataSourceStatus, ServiceStatus } from '../model.js';

export const APIV1_PREFIX = '/manager/';

export interface V1Answer {
  returnCode: '200';
  returnMessage: string;
  message: string;
  outputPayload: unknown;
}

/** The answer to an APIv1 read, or null when the path is not one of them. */
export function apiV1Read(manager: Manager, pathname: string): V1Answer | null {
  const parts = pathname.slice(APIV1_PREFIX.length).split('/').filter((p) => p !== '');
  const [what, second, third] = parts.map(decode);
  if (parts.length === 2 && what === 'status') {
    const state = dataServiceState(manager.serviceStatus(known(manager, second!)));
    return ok(`status of ${second}`, { ...state, dataServiceState: state });
  }
  if (parts.length === 2 && what === 'policy') {
    const status = manager.serviceStatus(known(manager, second!));
    return { ...ok(`policy of ${second}`, { policyManagerMode: status.policy, dataServiceName: status.name }), message: status.policy };
  }
  if (parts.length === 2 && what === 'service' && second === 'members') {
    const service = manager.info().dataServiceName;
    return ok(`members of ${service}`, { dataServiceName: service, members: manager.members(service) });
  }
  if (parts.length === 3 && what === 'service' && second === 'router' && third === 'status') {
    const status = manager.serviceStatus(manager.info().dataServiceName);
    return ok(`routers of ${status.name}`, {
      dataServiceName: status.name,
      routers: Object.fromEntries(status.routers.map((r) => [r.host, { ...r, connectionsActive: r.connections.active, connectionsCreated: r.connections.created }])),
    });
  }
  return null;
}

/** APIv1's failure shape: `returnCode` (a string, not "200") and `returnMessage`. */
export function apiV1Error(status: number, message: string): { returnCode: string; returnMessage: string; message: string } {
  return { returnCode: String(status), returnMessage: message, message };
}

function ok(what: string, outputPayload: unknown): V1Answer {
  return { returnCode: '200', returnMessage: `${what}`, message: what, outputPayload };
}

function dataServiceState(s: ServiceStatus) {
  const replicating = s.datasources.filter((d) => !d.witness);
  return {
    name: s.name,
    composite: s.composite,
    coordinator: s.coordinator.host,
    policyManagerMode: s.policy,
    dataSources: Object.fromEntries(s.datasources.map((d) => [d.name, dataSource(d)])),
    replicators: Object.fromEntries(replicating.map((d) => [d.name, replicator(d)])),
  };
}

function dataSource(d: DataSourceStatus) {
  return {
    name: d.name,
    dataServiceName: d.service,
    host: d.host,
    role: d.role,
    state: d.state,
    precedence: d.precedence,
    isAvailable: d.state === 'ONLINE',
    appliedLatency: d.appliedLatency ?? -1,
    relativeLatency: d.relativeLatency ?? -1,
    lastShunReason: d.lastShunReason ?? 'NONE',
    lastError: d.lastError ?? 'NONE',
    alertStatus: d.alertStatus,
    alertMessage: d.alertMessage ?? '',
    activeConnectionsCount: d.connections.active,
    connectionsCreatedCount: d.connections.created,
    dataServerState: d.dataServer.state,
    managerState: d.manager.state,
  };
}

/** A replicator with no status says so (state UNKNOWN, latency -1: "missing latency information"). */
function replicator(d: DataSourceStatus) {
  const r = d.replicator;
  return {
    host: d.name,
    serviceName: d.service,
    role: r?.role ?? d.role,
    state: r?.state ?? 'UNKNOWN',
    masterHost: r?.masterHost ?? null,
    appliedLastSeqno: r?.appliedSeqno ?? -1,
    maximumStoredSeqNo: r?.storedSeqno ?? -1,
    appliedLatency: r?.appliedLatency ?? -1,
    relativeLatency: r?.relativeLatency ?? -1,
  };
}

function known(manager: Manager, service: string): string {
  const names = manager.serviceNames();
  if (!names.includes(service)) throw new ToolkitError('not_found', `no service '${service}'`, `known services: ${names.join(', ')}`);
  return service;
}

function decode(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return '';
  }
}

/** A client on this machine's loopback (127.0.0.0/8, ::1, or IPv4-mapped). */
export function isLoopbackAddress(address: string | undefined): boolean {
  if (!address) return false;
  const v4 = address.startsWith('::ffff:') ? address.slice(7) : address;
  return v4 === '::1' || /^127\.\d+\.\d+\.\d+$/.test(v4);
}
