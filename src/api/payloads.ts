/**
 * The REST API's wire types: the APIv2 envelope and the payloads it carries. Payloads are the
 * cluster model of src/manager/model.ts under Tungsten's APIv2 names, plus extensions in the same
 * style (documented in docs/api.md). Type-only imports keep this module free at run time.
 */
import type { RoutesPayload } from '../connector/routes.js';
import type {
  ManagerEvent,
  MemberStatus,
  PolicyMode,
  ResourceState,
  Role,
  TaskStatus,
} from '../manager/model.js';
import { ToolkitError, type ErrorKind } from '../errors.js';
import type { DatasourcePayloadFields, ServiceStatusPayloadFields, StatusPayloadFields } from './v2-shapes.js';

export const PAYLOAD_VERSION = '1';

export interface Envelope<T = unknown> {
  payloadType: string;
  payloadVersion: typeof PAYLOAD_VERSION;
  payload: T;
}

export interface PingPayload {
  message: 'Ping test';
  /** As APIv2 prints it (a Java date, in UTC): `Tue Nov 30 09:48:34 UTC 2021`. */
  date: string;
  hostName: string;
  pid: number;
  /** Milliseconds the manager has been up (APIv2 keeps the JVM's name for it). */
  jvmUptime: number;
  /** Extensions: `date` as ISO-8601 UTC, and the uptime in seconds. */
  dateIso: string;
  uptimeSeconds: number;
}

/** `startTime` in APIv2's format (`2021-11-30T09:48:34.937 UTC`), ISO-8601 in `startTimeIso`. */
export type StatusPayload = StatusPayloadFields;

export interface ClusterTopologyPayload {
  topology: 'CLUSTERED_MASTER_SLAVE';
  name: string;
  services: Array<{ name: string; role: 'master'; datasources: Array<{ name: string; role: Role }> }>;
  /** Absent with `?includeRouters=no`. `name` is the connector's host (APIv2), `connectorName` ours (`connector@db1`). */
  routers?: Array<{ name: string; connectorName: string; connections: { active: number; created: number } }>;
}

/** The service (v2-shapes.ts): `datasources` are names (APIv2), the datasources in `datasourceDetails`; `routers` absent with `?includeRouters=false`. */
export type ServiceStatusPayload = ServiceStatusPayloadFields;

/** The model's datasource plus APIv2's `groupId`, `lastShunResult`, `dataserver`. */
export type DatasourceStatusPayload = DatasourcePayloadFields;

/** `GET /api/v2/user/{name}`: the password is never sent. */
export interface CredentialsPayload {
  user: string;
  pass: '**obfuscated**';
  access: 'full';
}

export interface StringPayload {
  value: string;
}

/**
 * `value` is the APIv2 field. For a datasource ping it says whether the host is up (as cctrl's
 * `ping`), whatever its database server does; `host` and `address` say what was pinged and
 * `dataServer` the state the database ping found.
 */
export interface BooleanPayload {
  value: boolean;
  host?: string;
  address?: string;
  dataServer?: ResourceState;
}

export type { MemberStatus } from '../manager/model.js';

export interface MembersPayload {
  service: string;
  members: MemberStatus[];
}

export interface PolicyPayload {
  service: string;
  policy: PolicyMode;
}

export type TaskPayload = TaskStatus;

export interface TaskListPayload {
  service: string;
  tasks: TaskStatus[];
}

export interface ErrorPayload {
  /** The HTTP status, repeated so a body read alone still says it. */
  status: number;
  kind: ErrorKind;
  message: string;
  hint: string | null;
}

/** Payload type names, by payload, as they appear in `payloadType`. */
export interface PayloadTypes {
  PingPayload: PingPayload;
  StatusPayload: StatusPayload;
  ClusterTopologyPayload: ClusterTopologyPayload;
  ServiceStatusPayload: ServiceStatusPayload;
  DatasourceStatusPayload: DatasourceStatusPayload;
  BooleanPayload: BooleanPayload;
  MembersPayload: MembersPayload;
  PolicyPayload: PolicyPayload;
  TaskPayload: TaskPayload;
  TaskListPayload: TaskListPayload;
  ErrorPayload: ErrorPayload;
  RoutesPayload: RoutesPayload;
  CredentialsPayload: CredentialsPayload;
  StringPayload: StringPayload;
}
export type PayloadType = keyof PayloadTypes;

export function envelope<K extends PayloadType>(payloadType: K, payload: PayloadTypes[K]): Envelope<PayloadTypes[K]> {
  return { payloadType, payloadVersion: PAYLOAD_VERSION, payload };
}

/** Server-sent event names; the `data:` line is the ManagerEvent as JSON. */
export type SseEventName = ManagerEvent['type'];

export const API_PREFIX = '/api/v2';

/** Paths of the API, built in one place for the server's docs, the client and the tests. */
export const apiPaths = {
  ping: () => `${API_PREFIX}/ping`,
  user: (name: string) => `${API_PREFIX}/user/${enc(name)}`,
  createAdminUser: () => `${API_PREFIX}/createAdminUser`,
  managerStatus: () => `${API_PREFIX}/manager/status`,
  topology: () => `${API_PREFIX}/manager/cluster/topology`,
  serviceStatus: (svc: string) => `${API_PREFIX}/manager/status/service/${enc(svc)}`,
  datasourceStatus: (svc: string, ds: string) =>
    `${API_PREFIX}/manager/status/service/${enc(svc)}/datasource/${enc(ds)}`,
  datasourcePing: (svc: string, ds: string) =>
    `${API_PREFIX}/manager/service/${enc(svc)}/datasource/${enc(ds)}/ping`,
  members: (svc: string) => `${API_PREFIX}/manager/service/${enc(svc)}/members`,
  routes: (svc: string) => `${API_PREFIX}/manager/service/${enc(svc)}/routes`,
  connectors: (svc: string) => `${API_PREFIX}/manager/service/${enc(svc)}/connectors`,
  policy: (svc: string) => `${API_PREFIX}/manager/service/${enc(svc)}/policy`,
  history: (svc: string, limit?: number) =>
    `${API_PREFIX}/manager/service/${enc(svc)}/history${limit === undefined ? '' : `?limit=${limit}`}`,
  task: (taskId: string) => `${API_PREFIX}/manager/task/${enc(taskId)}`,
  events: (svc?: string) => `${API_PREFIX}/manager/events${svc === undefined ? '' : `?service=${enc(svc)}`}`,
  control: (svc: string, ...rest: string[]) =>
    [`${API_PREFIX}/manager/control/service/${enc(svc)}`, ...rest.map(enc)].join('/'),
};

/**
 * One path segment, encoded. `.` and `..` are refused: encoding leaves them as they are, and the
 * URL would resolve them (`datasource .. recover` would become the service's `recover`).
 */
function enc(segment: string): string {
  if (segment === '.' || segment === '..' || segment === '') {
    throw new ToolkitError('usage', `'${segment}' is not a name`, 'give the name of a service, datasource or task');
  }
  return encodeURIComponent(segment);
}
