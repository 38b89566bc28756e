/** What an operation sees of the manager: the service's records, the driver, and its task's step log. */
import type { CandidateInput, EligibilityRules } from '../candidates.js';
import type { SeenPosition } from '../core.js';
import type { ClusterDriver, DataSourceConfig, DriverCallOptions, Observation } from '../drivers/driver.js';
import type { PolicyMode } from '../model.js';
import type { ManagerProperties } from '../properties.js';
import type { DataSourceRecord } from '../store.js';

/**
 * How long an answer is waited for when it is wanted but not needed (the view after a task, a
 * failed master's last position): a healthy server answers in milliseconds.
 */
export const PROMPT_ANSWER_MS = 1000;

/** How long some answers are worth waiting for: a failed master, or everyone once a task is done. */
export interface ObservationPatience {
  of: ReadonlySet<string> | 'all';
  ms: number;
}

export interface TaskContext {
  readonly id: string;
  /** Aborted when the manager shuts down. */
  readonly signal: AbortSignal;
  step(line: string): void;
  /** Records part of the result now (kept if the task is interrupted): e.g. what a failover may lose, before it promotes. */
  report(fields: Record<string, unknown>): void;
}

export interface OperationContext {
  readonly service: string;
  readonly props: ManagerProperties;
  readonly driver: ClusterDriver;
  records(): DataSourceRecord[];
  /** Throws not_found for a name that is not a datasource of the service. */
  record(name: string): DataSourceRecord;
  /** The driver's view of a datasource, with its current role. */
  configOf(name: string): DataSourceConfig;
  /** The datasource with role master that is not SHUNNED (it may be FAILED); null when none. */
  master(): DataSourceRecord | null;
  policy(): PolicyMode;
  /** The policy a task holding MAINTENANCE puts back when it ends (or is interrupted); null when none holds it. */
  heldPolicy(): { taskId: string; policy: PolicyMode } | null;
  /** Sets the policy; `holdFor` marks it as held by a task (restored if that task is interrupted). */
  setPolicy(mode: PolicyMode, holdFor?: { taskId: string; restore: PolicyMode } | null): void;
  /**
   * Fresh observations of every datasource (timed out ones are reported as such). With `patience`,
   * the answers of `patience.of` are waited for `patience.ms` at most (the others' in full); one
   * still out then is missing from the map.
   */
  observeAll(signal: AbortSignal, patience?: ObservationPatience): Promise<Map<string, Observation>>;
  /** A driver call bounded by `timeoutMs` (default: the operation step timeout; 0 = no limit). */
  call<T>(task: TaskContext, what: string, work: (opts: DriverCallOptions) => Promise<T>, timeoutMs?: number): Promise<T>;
  /** Persist and publish after records changed. */
  changed(): void;
  /**
   * Tell the connectors the current master and readable datasources (a new routes epoch, ending any
   * hold). `endImmediately`: a failover, connections to the old master end at once, not after the grace.
   */
  notifyRouters(task: TaskContext, opts?: { endImmediately?: boolean }): Promise<void>;
  /** Tell the connectors to hold (open no backend connection) and wait, briefly, until each says it does. */
  holdRouters(task: TaskContext, reason: string): Promise<void>;
  /** `db1@alpha`. */
  qualified(name: string): string;
  /** The slaves a switch or failover would choose from (or only `target`), as last observed. */
  candidateInputs(exclude: string, target?: string): CandidateInput[];
  /** What a candidate must satisfy to replace `masterName`. */
  eligibilityRules(masterName: string, mode: EligibilityRules['mode']): EligibilityRules;
  /** Where a datasource was when its server last answered; null when never. */
  lastSeen(name: string): SeenPosition | null;
  /** Holds `name` to read-only for the rest of the task, whatever its record says (the write guard fences it). */
  requireFence(task: TaskContext, name: string): void;
  /** Undoes requireFence (a reverted switch gives the old master its writes back). */
  releaseFence(task: TaskContext, name: string): void;
  /** `name` is about to be promoted: the write guard leaves it writable for the rest of the task. */
  willPromote(task: TaskContext, name: string): void;
  /**
   * Fences `name` now (read-only, client sessions ended), logging the outcome; when it does not
   * answer, the write guard fences it the moment it does. Resolves to whether it was fenced now.
   */
  fenceNow(task: TaskContext, name: string): Promise<boolean>;
}

export type OperationResult = Record<string, unknown>;
