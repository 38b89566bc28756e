/**
 * Where our model and Continuent's documented APIv2 shapes differ, the one place that turns one
 * into the other: the server sends the documented fields (name, type and format), keeps ours as
 * extra fields, and the client turns the payload back into the model. Documented examples:
 * StatusPayload `startTime: "2021-11-30T09:48:34.937 UTC"`, ServiceStatusPayload `datasources:
 * ["east","west"]` (names), a Datasource's `groupId`, `lastShunResult`, `dataserver`, a
 * Router's `name` as the connector's host, a service's `error`/`errorText`, and PingPayload's
 * `jvmUptime` in milliseconds.
 */
import type { ManagerInfo } from '../manager/api.js';
import type { DataSourceStatus, RouterStatus, ServiceStatus } from '../manager/model.js';

/** A datasource as the API carries it: the model, plus the documented names of its fields. */
export type DatasourcePayloadFields = DataSourceStatus & {
  /** The datasource group (Tungsten's `groupId`); 0: every datasource is in the one group. */
  groupId: number;
  /** APIv2's name for `lastShunReason`. */
  lastShunResult: string | null;
  /** APIv2's name for `dataServer`. */
  dataserver: { state: DataSourceStatus['dataServer']['state'] };
};

/** A router as the API carries it: `name` is the connector's host (APIv2), `connectorName` our `connector@HOST`. */
export type RouterPayloadFields = Omit<RouterStatus, 'name'> & { name: string; connectorName: string };

/** ServiceStatusPayload: `datasources` are names (APIv2); the datasources themselves are in `datasourceDetails`. */
export type ServiceStatusPayloadFields = Omit<ServiceStatus, 'datasources' | 'routers'> & {
  datasources: string[];
  datasourceDetails: DatasourcePayloadFields[];
  routers?: RouterPayloadFields[];
  /** APIv2: the service has an error (here: a datasource is FAILED); `errorText` says which and why ('' when none). */
  error: boolean;
  errorText: string;
};

/** StatusPayload: `startTime` in APIv2's format; ours (ISO-8601) in `startTimeIso`. */
export type StatusPayloadFields = ManagerInfo & { startTimeIso: string };

export function toDatasourcePayload(ds: DataSourceStatus): DatasourcePayloadFields {
  return { ...ds, groupId: 0, lastShunResult: ds.lastShunReason, dataserver: { state: ds.dataServer.state } };
}

export function toRouterPayload(r: RouterStatus): RouterPayloadFields {
  return { ...r, name: r.host, connectorName: r.name };
}

export function fromRouterPayload(r: RouterPayloadFields | RouterStatus): RouterStatus {
  const { connectorName, ...rest } = r as RouterPayloadFields;
  return { ...rest, name: connectorName ?? (r.name.includes('@') ? r.name : `connector@${r.name}`) };
}

export function toServiceStatusPayload(s: ServiceStatus, includeRouters: boolean): ServiceStatusPayloadFields {
  const { datasources, routers, ...rest } = s;
  const failed = datasources.filter((d) => d.state === 'FAILED');
  return {
    ...rest,
    datasources: datasources.map((d) => d.name),
    datasourceDetails: datasources.map(toDatasourcePayload),
    ...(includeRouters ? { routers: routers.map(toRouterPayload) } : {}),
    error: failed.length > 0,
    errorText: failed.map((d) => `${d.name}: ${d.lastError ?? 'FAILED'}`).join('; '),
  };
}

/** The model from a payload; a payload from an older manager (datasources as objects) too. */
export function fromServiceStatusPayload(p: ServiceStatusPayloadFields | (Omit<ServiceStatus, 'routers'> & { routers?: RouterStatus[] })): Omit<ServiceStatus, 'routers'> & { routers?: RouterStatus[] } {
  const { datasourceDetails, error: _error, errorText: _errorText, ...rest } = p as ServiceStatusPayloadFields;
  const datasources = (datasourceDetails ?? (p.datasources as unknown as DataSourceStatus[])).map(fromDatasourcePayload);
  return { ...rest, datasources, ...(p.routers ? { routers: p.routers.map(fromRouterPayload) } : {}) } as Omit<ServiceStatus, 'routers'> & { routers?: RouterStatus[] };
}

export function fromDatasourcePayload(d: DatasourcePayloadFields | DataSourceStatus): DataSourceStatus {
  const { groupId: _g, lastShunResult: _l, dataserver: _d, ...rest } = d as DatasourcePayloadFields;
  return rest;
}

export function toStatusPayload(info: ManagerInfo): StatusPayloadFields {
  return { ...info, startTime: tungstenTime(info.startTime), startTimeIso: info.startTime };
}

export function fromStatusPayload(p: StatusPayloadFields | ManagerInfo): ManagerInfo {
  const { startTimeIso, ...rest } = p as StatusPayloadFields;
  return { ...rest, startTime: startTimeIso ?? p.startTime };
}

/** `2021-11-30T09:48:34.937 UTC`: APIv2's times (Java's `yyyy-MM-dd'T'HH:mm:ss.SSS z`, in UTC). */
export function tungstenTime(iso: string | number | Date): string {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? String(iso) : `${d.toISOString().slice(0, 23)} UTC`;
}

const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** `Tue Nov 30 09:48:34 UTC 2021`: a Java Date as its toString() prints it, in UTC (PingPayload's `date`). */
export function javaDate(at: Date): string {
  const p = (n: number) => String(n).padStart(2, '0');
  return `${DAYS[at.getUTCDay()]} ${MONTHS[at.getUTCMonth()]} ${p(at.getUTCDate())} ${p(at.getUTCHours())}:${p(at.getUTCMinutes())}:${p(at.getUTCSeconds())} UTC ${at.getUTCFullYear()}`;
}
