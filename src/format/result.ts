/**
 * What commands return: typed data, never text. src/format/ turns these into cctrl text and the
 * --json documents (docs/cctrl.md), src/ui into the Ink views. It sits here, below the shell, so
 * the views never import src/shell.
 */
import type { ErrorKind } from '../errors.js';
import type { GroupSummary, ManagerInfo } from '../manager/api.js';
import type { DataSourceStatus, MemberStatus, PolicyMode, ReplicatorStatus, ServiceStatus, TaskStatus } from '../manager/model.js';
import type { HealthVerdict } from './health.js';

export interface Candidate {
  name: string;
  eligible: boolean;
  /** Why it is (not) eligible, in words. */
  reason: string;
  appliedSeqno: number | null;
  storedSeqno: number | null;
  latency: number | null;
  precedence: number;
}

export type CommandResult =
  | { kind: 'ls'; status: ServiceStatus; detailed: boolean; host: string | null; resources?: boolean }
  | { kind: 'services'; services: string[] }
  | { kind: 'task'; operation: string; task: TaskStatus }
  | { kind: 'policy'; policy: PolicyMode; task: TaskStatus }
  | { kind: 'dry-run'; operation: string; master: string | null; selected: string | null; candidates: Candidate[] }
  | { kind: 'ping'; results: Array<{ name: string; address: string | null; alive: boolean }> }
  | { kind: 'members'; service: string; members: MemberStatus[]; group: GroupSummary | null }
  | {
      kind: 'validate';
      service: string;
      members: string[];
      reachable: string[];
      majority: number;
      valid: boolean;
      group: GroupSummary | null;
      /** The service's health verdict (src/format/health.ts); null when its status could not be read. */
      health: HealthVerdict | null;
    }
  | { kind: 'replicator-status'; datasource: string; replicator: ReplicatorStatus | null; status: DataSourceStatus }
  | { kind: 'history'; service: string; tasks: TaskStatus[] }
  /** `history TASKID`: one task with its whole step log. */
  | { kind: 'task-log'; task: TaskStatus }
  | { kind: 'use'; service: string | null }
  | { kind: 'expert'; expert: boolean }
  | { kind: 'help'; command: string | null; text: string }
  | { kind: 'info'; info: ManagerInfo }
  | { kind: 'quit' };

export type ResultKind = CommandResult['kind'];

export interface OutcomeError {
  kind: ErrorKind;
  message: string;
  hint: string | null;
  /** The manager task concerned (timeouts, interrupted waits): check it with `history TASKID`. */
  taskId: string | null;
}

/** One statement's outcome: what --json prints, and what decides the exit code. */
export interface Outcome {
  /** The statement as typed. */
  command: string;
  /** The command it resolved to, null when unknown. */
  name: string | null;
  service: string | null;
  ok: boolean;
  exitCode: number;
  result: CommandResult | null;
  error: OutcomeError | null;
}
