/**
 * What the shell needs from a manager, and nothing else: the REST client (src/api) behind it, in
 * `cctrl --demo` as against a remote manager (and in the fast tests, against the real manager on a
 * virtual clock: test/helpers/virtual-manager.ts). Methods reject with
 * ToolkitError (unreachable, unauthorized, not_found, conflict, ...).
 */
import type { MemberChange } from '../api/failover.js';
import type { ManagerInfo } from '../manager/api.js';
import type { ControlRequest, DataSourceStatus, ManagerEvent, MemberStatus, ServiceStatus, TaskStatus } from '../manager/model.js';

export type { MemberChange } from '../api/failover.js';

export interface PingView {
  host: string;
  address: string;
  alive: boolean;
}

/** What a follower of a service's event stream is handed (ShellApi.watchEvents). */
export interface EventWatch {
  onEvent(event: ManagerEvent): void;
  /** True once the stream is open; false when it could not open or dropped (it is tried again shortly). */
  onStream(open: boolean): void;
}

export interface ShellApi {
  /**
   * Where it talks to, for the status line and messages: `http://127.0.0.1:8090` or
   * `in-process demo`. With several managers, the one answering now.
   */
  readonly address: string;
  info(): Promise<ManagerInfo>;
  serviceNames(): Promise<string[]>;
  serviceStatus(service: string): Promise<ServiceStatus>;
  datasourceStatus(service: string, datasource: string): Promise<DataSourceStatus>;
  pingDatasource(service: string, datasource: string): Promise<PingView>;
  members(service: string): Promise<MemberStatus[]>;
  /** `taskId`: the id the task is to have (a UUID), so that a call left unanswered can name it. */
  control(service: string, request: ControlRequest, taskId?: string): Promise<TaskStatus>;
  task(taskId: string): Promise<TaskStatus>;
  /** Newest first. */
  history(service: string, limit: number): Promise<TaskStatus[]>;
  /**
   * Follows a task until it ends, handing on each step as it happens (the manager's event stream;
   * polling only when the stream is unavailable); rejects with ToolkitError 'timeout' or 'interrupted'.
   */
  waitForTask(
    taskId: string,
    options: { onStep: (line: string) => void; timeoutMs: number; signal: AbortSignal },
  ): Promise<TaskStatus>;
  /**
   * Follows the service's event stream until `signal` aborts, reopening it when it drops: each
   * event the manager publishes (its status, task steps and ends) is handed on at once, and
   * `onStream` says whether the stream is open now. Absent: the shell polls only.
   */
  watchEvents?(service: string, watch: EventWatch, signal: AbortSignal): void;
  /** Several managers: called when another one takes over from the one answering. Returns the unsubscribe. */
  onMemberChange?(listener: (change: MemberChange) => void): () => void;
  close?(): Promise<void>;
}

/** What the shell says, once, when another manager takes over (scrollback, or stderr when scripted). */
export function memberChangeNote(change: MemberChange): string {
  return `manager ${change.from} stopped answering (${change.reason}); now connected to ${change.to}`;
}
