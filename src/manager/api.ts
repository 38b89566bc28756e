/**
 * What the manager offers to its servers (REST, in-process for `cctrl --demo`). The core implements
 * it; src/manager/server/ exposes it over HTTP. Methods throw ToolkitError (not_found, conflict,
 * usage, refused) for bad requests.
 */
import type { RoutesPayload } from '../connector/routes.js';
import type { ConnectorReport } from './routing.js';
import type { AuditRecord } from './audit.js';
import type {
  ControlRequest,
  DataSourceStatus,
  ManagerEvent,
  MemberStatus,
  PolicyMode,
  ResourceState,
  ServiceStatus,
  TaskStatus,
} from './model.js';

export interface ManagerInfo {
  dataServiceName: string;
  dataSourceName: string;
  hostName: string;
  startTime: string;
  uptimeSeconds: number;
  state: 'ONLINE';
  isCoordinator: boolean;
  isWitness: boolean;
  managerPID: number;
  parentPID: number;
  policyMode: PolicyMode;
  coordinator: string;
  driver: 'simulated' | 'mysql';
  version: string;
  /** The group this manager belongs to, as it sees it now (absent from older managers). */
  group?: GroupSummary;
}

/** What `members`, `cluster validate` and the status line say about the group. */
export interface GroupSummary {
  /** local: one manager alone; etcd: a member of a manager group. */
  kind: 'local' | 'etcd';
  /** This member's name. */
  self: string;
  /** Whether this member reaches a majority of etcd (always true alone). */
  quorum: boolean;
  /** The coordinator's member name; null when none is elected (or this member cannot tell). */
  coordinator: string | null;
  term: number | null;
  leaseTtlSeconds: number | null;
  leaseRemainingSeconds: number | null;
  /** Where the state lives: the state file, memory, or the etcd endpoints. */
  store: string;
  lastError: string | null;
}

/** One datasource pinged now: its host (cctrl's `ping`) and its database server, checked apart. */
export interface DatasourcePing {
  host: string;
  address: string;
  /** The database server answered the ping. */
  alive: boolean;
  /** The host is up (host check, or its server or kernel answered), whatever its database does. */
  hostAlive: boolean;
  dataServer: ResourceState;
}

export interface Manager {
  info(): ManagerInfo;
  serviceNames(): string[];
  /**
   * A status view. An implementation may hand out the same object again, but only while the status
   * it shows is unchanged (the core does, frozen, until its next change), so callers may cache what
   * they derive from it by identity, and must not modify it. The same holds for datasourceStatus.
   */
  serviceStatus(service: string): ServiceStatus;
  datasourceStatus(service: string, datasource: string): DataSourceStatus;
  /** Host check and database ping of one datasource, now. */
  pingDatasource(service: string, datasource: string): Promise<DatasourcePing>;
  /**
   * Start a control operation as a task and return it at once (state in_progress, or already
   * complete for instant ones). A second operation on a service while one runs: conflict.
   * `taskId`: the id the caller chose for the task (a UUID); one already taken is a conflict.
   */
  control(service: string, request: ControlRequest, requestedBy: string, via?: string | null, taskId?: string): TaskStatus;
  /** In a group, on a member that is not the coordinator: where control calls go instead (null: here). */
  coordinatorApi?(): { name: string; url: string } | null;
  /** This manager's name in its group. */
  memberName?(): string;
  task(taskId: string): TaskStatus;
  /** Newest first. */
  history(service: string, limit: number): TaskStatus[];
  /** Where connectors send connections now (RoutesPayload). */
  routes?(service: string): RoutesPayload;
  /** A connector's report of itself (every second): it is listed under ROUTERS while it reports. */
  /** `via`: the member that passed the report on (it came to another member), null when it came from the connector. */
  reportConnector?(service: string, report: ConnectorReport, via?: string | null): void;
  /** Members (managers) of the service with their state. */
  members(service: string): MemberStatus[];
  subscribe(listener: (event: ManagerEvent) => void): () => void;
  /** A line in the manager's audit log from its servers (a refused login). */
  recordAudit?(entry: AuditRecord): void;
  /** Stop monitoring, finish or abandon tasks, flush state to disk. */
  close(): Promise<void>;
}
