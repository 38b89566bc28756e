/**
 * The cluster model as every view sees it: the manager produces these, the REST API carries them
 * (inside the APIv2 envelope), `cctrl` formats them. Names follow Tungsten's APIv2 payloads where
 * they exist; the rest are extensions in the same style.
 */
import type { RoutesPayload } from '../connector/routes.js';

export const ROLES = ['master', 'slave', 'relay', 'standby', 'archive', 'witness'] as const;
export type Role = (typeof ROLES)[number];

export const RESOURCE_STATES = [
  'ONLINE',
  'OFFLINE',
  'SHUNNED',
  'FAILED',
  'SYNCHRONIZING',
  'JOINING',
  'SUSPECT',
  'STOPPED',
  'UNKNOWN',
  'TIMEOUT',
  'DEGRADED',
  'UNREACHABLE',
  'BACKUP',
  'RESTORING',
  /** A connector with no manager: new connections wait. */
  'ON-HOLD',
] as const;
export type ResourceState = (typeof RESOURCE_STATES)[number];

export const ALERT_STATUSES = ['OK', 'WARN', 'DIMINISHED', 'CRITICAL', 'SHUNNED', 'UNKNOWN'] as const;
export type AlertStatus = (typeof ALERT_STATUSES)[number];

export const POLICY_MODES = ['AUTOMATIC', 'MANUAL', 'MAINTENANCE'] as const;
export type PolicyMode = (typeof POLICY_MODES)[number];

/** `MANUALLY-SHUNNED`, `FAILED-OVER-TO-db2`, `SUPERSEDED`, `FAILSAFE_SHUN`, ... */
export type ShunReason = string;

export interface ReplicatorStatus {
  /** The replicator's own state: ONLINE, OFFLINE, SYNCHRONIZING, STOPPED, ... */
  state: ResourceState;
  role: Role;
  /** Host this replicator reads from (slaves, relays); null on a master. */
  masterHost: string | null;
  appliedSeqno: number;
  storedSeqno: number;
  /** Seconds. */
  appliedLatency: number;
  /** Seconds since the last applied event. */
  relativeLatency: number;
}

export interface DataSourceStatus {
  name: string;
  service: string;
  host: string;
  role: Role;
  state: ResourceState;
  alertStatus: AlertStatus;
  /** Shown as `REASON[...]` under the status line; null when there is nothing to say. */
  alertMessage: string | null;
  /** When the alert status was last set, ISO-8601 UTC. */
  alertTime: string;
  lastShunReason: ShunReason | null;
  /** Why the datasource is FAILED, e.g. `DATASERVER 'db3@alpha' STOPPED`. */
  lastError: string | null;
  /** Lower wins ties in candidate selection; -1 marks an archive node. */
  precedence: number;
  standby: boolean;
  archive: boolean;
  witness: boolean;
  manager: { state: 'ONLINE' | 'STOPPED' };
  /** null: status not available. */
  replicator: ReplicatorStatus | null;
  dataServer: { state: ResourceState };
  connections: { active: number; created: number };
  /** Convenience copies of replicator fields, as APIv2's DatasourceStatusPayload has them. */
  seqno: number | null;
  appliedLatency: number | null;
  relativeLatency: number | null;
  /**
   * What the rules will do about this datasource on their own, and when (a fault waiting out its
   * interval, a FAILED master waiting for a failover or for the operator); null when nothing is
   * coming. Absent from older managers.
   */
  pendingAction?: PendingAction | null;
}

/** What the manager's rules are about to do (or will not do) about a datasource. docs/api.md. */
export interface PendingAction {
  /** `failover`: of the master; `fail` / `offline`: the datasource's own state; `none`: the policy will not act. */
  action: 'failover' | 'fail' | 'offline' | 'none';
  /** What is wrong, as REASON shows it (`DATASERVER STOPPED`), or `FAILED` for a master already failed. */
  fault: string;
  policy: PolicyMode;
  /** When the rules act, ISO-8601 UTC on the manager's clock; null when they will not, or act at once. */
  dueAt: string | null;
  /** Seconds from this answer until then, rounded up; null when dueAt is. */
  inSeconds: number | null;
  /** In words: `db1 DATASERVER STOPPED: automatic failover in 12 s (AUTOMATIC)`. */
  message: string;
}

export interface RouterStatus {
  /** `connector@db1`. */
  name: string;
  host: string;
  pid: number;
  state: ResourceState;
  connections: { active: number; created: number };
  /** A `tungsten-connector` that reports itself (absent for the demo's simulated connectors). */
  connector?: ConnectorDetail;
}

/** What a `tungsten-connector` last reported of itself, and where (for `ls -l` and the API). */
export interface ConnectorDetail {
  /** `HOST:PORT` of its write port, and of its read port (null: none). */
  listen: string;
  readListen: string | null;
  /** The manager it follows (the member its event stream comes from), as it names it; null: none yet. */
  manager: string | null;
  /** The routes epoch it applied; null before any. */
  epoch: number | null;
  /** It holds new connections (a switch is under way). */
  holding: boolean;
  /** Clients waiting for a server now. */
  waiting: number;
  /** ISO-8601 UTC of its last report that reached this member (directly, passed on, or shared). */
  lastReportAt: string;
  /** The member (manager name) its last report reached. */
  reportedTo: string;
}

export interface ServiceStatus {
  name: string;
  type: 'CLUSTERED_MASTER_SLAVE';
  composite: false;
  multimaster: false;
  policy: PolicyMode;
  coordinator: { host: string; state: ResourceState };
  coordinators: string[];
  datasources: DataSourceStatus[];
  routers: RouterStatus[];
  /** ISO-8601 UTC of the last completed monitoring sample. */
  sampledAt: string;
}

export type TaskState = 'in_progress' | 'complete' | 'failed';

export interface TaskStep {
  /** ISO-8601 UTC. */
  time: string;
  line: string;
}

/** A manager of the service, as `members` lists it (the simulated cluster's, or a group's). */
export interface MemberStatus {
  name: string;
  host: string;
  state: 'ONLINE' | 'STOPPED';
  coordinator: boolean;
  /** In a group: the datasource the member sits beside, and where its API listens. */
  datasource?: string | null;
  apiUrl?: string | null;
}

export interface TaskStatus {
  taskId: string;
  service: string;
  /** What was asked, as cctrl would type it: `switch to db3`, `datasource db2 shun`. */
  operation: string;
  requestedBy: string;
  state: TaskState;
  startTime: string;
  endTime: string | null;
  steps: TaskStep[];
  /** On success e.g. `{newPrimary: 'db3'}`; on failure `{error: '...'}`. */
  taskResult: Record<string, unknown> | null;
}

/** What an operator asks the manager to do; every control call and automatic action is one of these. */
export type ControlRequest =
  | { op: 'switch'; target?: string; dryRun?: boolean }
  | { op: 'failover'; target?: string }
  | { op: 'recover' }
  | { op: 'datasource'; host: string; action: DataSourceAction }
  | { op: 'policy'; mode: PolicyMode }
  | { op: 'heartbeat' }
  | { op: 'replicator'; host: string; action: 'online' | 'offline' }
  | { op: 'fault'; host: string; fault: FaultAction };

/** The request as cctrl would type it. */
export function describeRequest(request: ControlRequest): string {
  switch (request.op) {
    case 'switch':
      return `switch${request.target ? ` to ${request.target}` : ''}${request.dryRun ? ' (dry run)' : ''}`;
    case 'failover':
      return `failover${request.target ? ` to ${request.target}` : ''}`;
    case 'recover':
      return 'recover';
    case 'datasource':
      return `datasource ${request.host} ${request.action}`;
    case 'policy':
      return `set policy ${String(request.mode).toLowerCase()}`;
    case 'heartbeat':
      return 'cluster heartbeat';
    case 'replicator':
      return `replicator ${request.host} ${request.action}`;
    case 'fault':
      return `datasource ${request.host} fault ${request.fault}`;
    default:
      return `unknown operation`;
  }
}

export const DATASOURCE_ACTIONS = ['online', 'offline', 'shun', 'welcome', 'recover', 'fail'] as const;
export type DataSourceAction = (typeof DATASOURCE_ACTIONS)[number];

/** Fault injection, for rehearsal on a simulated cluster. */
export const FAULT_ACTIONS = [
  'dataserver-stop',
  'dataserver-start',
  'host-down',
  'host-up',
  'replicator-stop',
  'replicator-start',
  /** kill -9 of the database server: its slaves keep only what already reached them. */
  'dataserver-kill',
  /** SIGSTOP / SIGCONT of the database server: it answers nothing meanwhile, then goes on unchanged. */
  'dataserver-freeze',
  'dataserver-thaw',
  /** A transaction written directly on the server (a SUPER user despite read_only): an errant GTID on a slave. */
  'errant-write',
] as const;
export type FaultAction = (typeof FAULT_ACTIONS)[number];

/**
 * Something the manager did, or failed to do, on its own and outside any task: a server the
 * split-brain guard (or a member's failsafe) fenced, an automatic repair (a repoint, writes given
 * back, a fence of a writable server) that failed. Published as `alert` events only, never as tasks:
 * a burst of fences must not push the failovers out of the task history's window.
 */
export interface ManagerAlert {
  /** ISO-8601 UTC. */
  time: string;
  kind: ManagerAlertKind;
  /** The datasource it concerns. */
  datasource: string;
  /** In words, on one line: what happened, and for a failure why (`could not repoint db3@alpha: ...`). */
  message: string;
}

export const MANAGER_ALERT_KINDS = ['fenced', 'repair-failed'] as const;
export type ManagerAlertKind = (typeof MANAGER_ALERT_KINDS)[number];

/** Events the manager publishes (server-sent to watchers). */
export type ManagerEvent =
  | { type: 'state'; service: string; status: ServiceStatus }
  /** The manager fenced a server, or an automatic repair failed (ManagerAlert). */
  | { type: 'alert'; service: string; alert: ManagerAlert }
  | { type: 'task-step'; service: string; taskId: string; step: TaskStep }
  | { type: 'task-end'; service: string; task: TaskStatus }
  /** Where connectors send connections now (src/connector/routes.ts). */
  | { type: 'routes'; service: string; routes: RoutesPayload };
