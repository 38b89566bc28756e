/**
 * The manager core: monitors every datasource through the driver each sample period, applies the
 * policy rules, runs control operations as tasks with step logs, keeps its state durable and
 * publishes events. Construct it through createManager (src/manager/index.ts).
 */
import { randomUUID } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import { ToolkitError, isToolkitError } from '../errors.js';
import type { DatasourcePing } from './api.js';
import type { GroupSummary, ManagerInfo, Manager } from './api.js';
import type { AuditLog, AuditRecord } from './audit.js';
import { evaluateCandidates, selectCandidate, type CandidateInput, type EligibilityRules } from './candidates.js';
import { waitAtMost, type Clock } from './clock.js';
import type { ClusterDriver, DataSourceConfig, DriverCallOptions, Observation, RouterObservation } from './drivers/driver.js';
import { DriverTimeoutError, withClockTimeout } from './drivers/driver.js';
import { localResourceShortage } from './hostcheck.js';
import {
  describeRequest,
  type AlertStatus,
  type ControlRequest,
  type DataSourceStatus,
  type ManagerAlert,
  type ManagerAlertKind,
  type ManagerEvent,
  type PendingAction,
  type MemberStatus,
  type PolicyMode,
  type ServiceStatus,
  type TaskStatus,
} from './model.js';
import { pendingActionOf } from './pending.js';
import { planOperation, type PlannedOperation } from './operations/index.js';
import { PROMPT_ANSWER_MS, type ObservationPatience, type OperationContext, type TaskContext } from './operations/context.js';
import type { ManagerProperties } from './properties.js';
import { actionDelayMs, alertOf, faultsOf, replicationWarnings, type Fault, type FaultKind } from './rules.js';
import { decide, serverAheadOfMaster, type MonitorAction, type MonitorView } from './decide.js';
import {
  ConnectorRegistry,
  parseSharedConnector,
  SHARED_CONNECTOR_STALE_MS,
  type ConnectorFleet,
  type ConnectorReport,
  type KnownConnector,
} from './routing.js';
import type { RoutesPayload } from '../connector/routes.js';

/** How long a switch waits for every connector to say it holds before fencing the old master. */
const CONNECTOR_HOLD_WAIT_MS = 2_000;
import type { DataSourceRecord, PersistedState, ServiceRecord } from './store.js';
import { memberStatus, type Coordination, type CoordinationChange, type MemberRecord } from './coordination/coordination.js';
import { leaderOnlyDriver, leaderOnlyFleet } from './coordination/leader-only-driver.js';
import { NotCoordinatorError } from './coordination/coordination.js';

export interface ManagerLogger {
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

export const silentLogger: ManagerLogger = { info: () => {}, warn: () => {}, error: () => {} };

export interface ManagerCoreOptions {
  props: ManagerProperties;
  driver: ClusterDriver;
  clock: Clock;
  /** Where the state lives and whether this manager may act: alone (local) or a member of a group (etcd). */
  coordination: Coordination;
  /** What this manager publishes about itself to the group. */
  member: MemberRecord;
  /** Connectors it lists and tells besides those reporting to it (the demo's simulated ones); null: none. */
  fleet: ConnectorFleet | null;
  audit: AuditLog;
  logger: ManagerLogger;
  /** Close the driver when the manager closes. */
  ownsDriver: boolean;
  hostName: string;
  version: string;
}

/** What the monitor knows about a datasource beyond its durable record. */
interface LiveState {
  obs: Observation | null;
  faults: Fault[];
  /** First detection time of each fault still present. */
  faultSince: Map<FaultKind, number>;
  alert: { status: AlertStatus; message: string | null; time: number; timeIso: string };
  lastSeqno: number | null;
  seqnoChangedAt: number;
  /** What is wrong with its replication though it looks healthy (wrong master, errant transactions). */
  warnings: string[];
  /** The last lag seen while its replication ran: a failover judges slaves by it once the master is gone. */
  lastKnownLatency: number | null;
  lastKnownLatencyAt: number;
  /** Its position when its server last answered (for a master: what a failover may lose). */
  lastSeen: SeenPosition | null;
  /** Since when its server has been seen refusing writes without a break (null: not read-only, or unknown). */
  readOnlySince: number | null;
  /** When the observation in `obs` was started (null: none yet). */
  observedAt: number | null;
  /** When the monitor's observation still out was started (null: none is out). */
  observingSince: number | null;
}

/** Where a datasource was when its server last answered. */
export interface SeenPosition {
  seqno: number;
  gtidState: string | null;
  serverId: number | null;
  /** Clock time (ms). */
  at: number;
}

const TASK_HISTORY_LIMIT = 200;
/** The same failure of an automatic repair is raised as an alert again after this long. */
export const REPAIR_ALERT_REPEAT_MS = 5 * 60_000;
/** The last alerts kept in the shared state, for the other members of a group to publish. */
const SHARED_ALERTS = 20;

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

/** Freezes a view all the way down, so the one copy handed to every reader cannot be changed by any. */
function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

function messageOf(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** What tells two alerts apart (a follower publishes those its last copy of the state lacked). */
function alertKey(a: ManagerAlert): string {
  return `${a.time}|${a.kind}|${a.datasource}|${a.message}`;
}

export class ManagerCore implements Manager, OperationContext {
  readonly service: string;
  readonly props: ManagerProperties;
  /** The driver as operations use it: actions only while this manager coordinates. */
  readonly driver: ClusterDriver;
  /** Unguarded: observations, and the failsafe fence of this member's own datasource. */
  private readonly rawDriver: ClusterDriver;
  private readonly clock: Clock;
  private readonly coordination: Coordination;
  /** This member acts: it took over as coordinator and has not stepped down since. */
  private inCharge = false;
  private takingOver: Promise<void> | null = null;
  /** Set while this member, out of the group, keeps its own datasource (the master it sat beside) read-only. */
  private failsafeFenced = false;
  private unsubscribeCoordination: (() => void) | null = null;
  /** The tungsten-connector processes that report to this manager. */
  private readonly connectors = new ConnectorRegistry();
  /** The simulated connectors, told through the lease guard like any action. */
  private readonly fleet: ConnectorFleet | null;
  private readonly audit: AuditLog;
  private readonly logger: ManagerLogger;
  private readonly opts: ManagerCoreOptions;
  private readonly startTime: number;

  private serviceRecord!: ServiceRecord;
  private tasks: TaskStatus[] = [];
  /** The last alerts raised (SHARED_ALERTS), oldest first: committed with the state, so followers publish them. */
  private alerts: ManagerAlert[] = [];
  private readonly live = new Map<string, LiveState>();
  private routerObservations: RouterObservation[] = [];
  /** ISO-8601 of the last completed sample. */
  private sampledAtIso = iso(0);
  /**
   * The service status as of the last change, built on first read and shared (frozen) by every
   * reader until the next change; null when a change has happened since.
   */
  private statusView: ServiceStatus | null = null;
  /** When the view was last invalidated: the time its relative latencies are measured at. */
  private statusAsOf = 0;
  private readonly listeners = new Set<(event: ManagerEvent) => void>();
  private running: { task: TaskStatus; abort: AbortController; done: Promise<void> } | null = null;
  private readonly background = new Set<Promise<void>>();
  private tickTimer: ReturnType<Clock['setTimeout']> | null = null;
  private sampling = false;
  private closed = false;
  /** Set by halt(): behave as if the process died (nothing more is written). */
  private dead = false;
  private lastSaved = '';
  private autoFailoverReported = false;
  private readonly autoRecovering = new Set<string>();
  private readonly shutdown = new AbortController();
  /** Datasources that must refuse writes and are not yet seen read-only: fenced as soon as they answer. */
  private readonly fencePending = new Set<string>();
  /** Fence calls in flight, one per datasource. */
  private readonly fencing = new Set<string>();
  /** Datasources an operation needs read-only whatever their record says (the master being failed over), by task id. */
  private readonly fenceRequired = new Map<string, string>();
  /** The datasource an operation is promoting, by task id: the one server besides the master the write guard leaves alone. */
  private readonly promoting = new Map<string, string>();
  private fenceTimer: ReturnType<Clock['setTimeout']> | null = null;
  /** By datasource, the automatic repair's failure last raised as an alert, and when. */
  private readonly repairFailures = new Map<string, { message: string; at: number }>();

  private constructor(opts: ManagerCoreOptions) {
    this.opts = opts;
    this.props = opts.props;
    this.service = opts.props.serviceName;
    this.rawDriver = opts.driver;
    this.driver = leaderOnlyDriver(opts.driver, opts.coordination);
    this.fleet = opts.fleet ? leaderOnlyFleet(opts.fleet, opts.coordination) : null;
    this.clock = opts.clock;
    this.coordination = opts.coordination;
    this.audit = opts.audit;
    this.logger = opts.logger;
    this.startTime = opts.clock.now();
    // One abort listener per datasource observed at once: more than the default warning limit of 10.
    setMaxListeners(0, this.shutdown.signal);
  }

  /** Loads the durable state, takes a first sample, reconciles with what it sees, starts monitoring. */
  static async start(opts: ManagerCoreOptions): Promise<ManagerCore> {
    const core = new ManagerCore(opts);
    await opts.coordination.start(opts.member);
    core.adopt(await core.loadShared(), { restart: true });
    await core.sample();
    core.recordEvidence();
    core.unsubscribeCoordination = opts.coordination.subscribe((change) => core.onCoordination(change));
    if (opts.coordination.isCoordinator()) await core.takeOver('start');
    core.scheduleGuard();
    core.refreshAlerts();
    core.invalidateStatus();
    core.scheduleTick();
    return core;
  }

  // ---- the group -------------------------------------------------------------------------------

  /** Whether this manager decides and acts now: it took over and still holds the leadership. */
  acting(): boolean {
    return this.inCharge && !this.closed && this.coordination.isCoordinator();
  }

  /** The shared state; when the store does not answer, none (the configuration's records stand). */
  private async loadShared(): Promise<PersistedState | null> {
    try {
      return (await this.coordination.load()).state;
    } catch (e) {
      if (this.coordination.kind === 'local') throw e;
      this.logger.warn(`cannot read the shared state from ${this.coordination.location}: ${messageOf(e)}; showing the configuration until it answers`);
      return null;
    }
  }

  /**
   * Becomes the acting coordinator: reads the latest state (linearizably), settles what the previous
   * coordinator left in progress, reconciles the cluster with the records, then acts. Its fault
   * timings are its own, kept while it followed, so a failover due soon is not postponed.
   */
  private takeOver(why: 'start' | 'elected'): Promise<void> {
    if (this.takingOver) return this.takingOver;
    this.takingOver = (async () => {
      try {
        const { state } = await this.coordination.load();
        if (!this.coordination.isCoordinator() || this.closed) return;
        this.restore(state, why === 'start' ? 'INTERRUPTED BY MANAGER RESTART' : 'INTERRUPTED: THE COORDINATOR CHANGED');
        this.inCharge = true;
        if (why === 'elected') this.logger.warn(`${this.coordination.memberName} is now the coordinator of ${this.service}: acting on the shared state`);
        this.failsafeFenced = false;
        await this.reconcile();
        this.guardWrites();
        this.refreshAlerts();
        this.invalidateStatus();
        this.persist();
        this.emit({ type: 'state', service: this.service, status: this.serviceStatus(this.service) });
      } catch (e) {
        this.logger.error(`taking over as coordinator: ${messageOf(e)}`);
      } finally {
        this.takingOver = null;
      }
    })();
    return this.takingOver;
  }

  /** Stops acting at once: the running task is interrupted (its next driver action would be refused anyway). */
  private stepDown(reason: string): void {
    if (!this.inCharge) return;
    this.inCharge = false;
    this.logger.error(`${this.coordination.memberName} is no longer the coordinator (${reason}): it observes only`);
    this.running?.abort.abort(new Error(`no longer the coordinator: ${reason}`));
    this.fenceRequired.clear();
    this.promoting.clear();
    this.fencePending.clear();
    this.invalidateStatus();
    // What it changed and could not commit is not the group's: show the shared state again.
    void this.loadShared().then((state) => {
      if (!this.inCharge && !this.closed) this.adopt(state, { restart: false });
    });
  }

  private onCoordination(change: CoordinationChange): void {
    if (this.closed) return;
    if (change.type === 'leadership') {
      if (change.coordinator) void this.takeOver('elected');
      else this.stepDown('its lease or the leader key is gone');
    } else if (change.type === 'state') {
      if (!this.inCharge) this.adopt(change.state, { restart: false });
    } else if (change.type === 'connectors') {
      this.invalidateStatus();
    } else {
      if (this.inCharge && !this.coordination.isCoordinator()) this.stepDown('it lost the group');
      this.invalidateStatus();
      this.emit({ type: 'state', service: this.service, status: this.serviceStatus(this.service) });
    }
  }

  /**
   * A follower shows the coordinator's committed state: records and tasks replaced, and the task
   * steps that arrived since published to its own subscribers, so a call taken here streams back.
   */
  private adopt(saved: PersistedState | null, how: { restart: boolean }): void {
    if (how.restart) {
      this.restore(saved, null);
      return;
    }
    if (!saved || saved.service.name !== this.service) return;
    const before = new Map(this.tasks.map((t) => [t.taskId, t]));
    const alertsBefore = new Set(this.alerts.map(alertKey));
    const epochBefore = this.serviceRecord.routing?.epoch ?? 0;
    this.restore(saved, null);
    for (const alert of this.alerts) if (!alertsBefore.has(alertKey(alert))) this.emit({ type: 'alert', service: this.service, alert });
    if ((this.serviceRecord.routing?.epoch ?? 0) > epochBefore) this.emit({ type: 'routes', service: this.service, routes: this.routes(this.service) });
    for (const t of this.tasks) {
      const old = before.get(t.taskId);
      for (const step of t.steps.slice(old?.steps.length ?? 0)) this.emit({ type: 'task-step', service: this.service, taskId: t.taskId, step });
      if (t.state !== 'in_progress' && old?.state !== t.state) this.emit({ type: 'task-end', service: this.service, task: structuredClone(t) });
    }
    this.refreshAlerts();
    this.invalidateStatus();
    this.emit({ type: 'state', service: this.service, status: this.serviceStatus(this.service) });
  }

  // ---- Manager ---------------------------------------------------------------------------------

  info(): ManagerInfo {
    const coordinator = this.coordinatorName();
    return {
      dataServiceName: this.service,
      dataSourceName: this.props.coordination.datasource ?? coordinator,
      hostName: this.opts.hostName,
      startTime: iso(this.startTime),
      uptimeSeconds: Math.floor((this.clock.now() - this.startTime) / 1000),
      state: 'ONLINE',
      isCoordinator: this.acting(),
      isWitness: false,
      managerPID: process.pid,
      parentPID: process.ppid,
      policyMode: this.serviceRecord.policy,
      coordinator,
      driver: this.driver.kind,
      version: this.opts.version,
      group: this.groupSummary(),
    };
  }

  serviceNames(): string[] {
    return [this.service];
  }

  /**
   * The same frozen object for every call until the state changes (see invalidateStatus), so
   * readers may cache what they derive from it by identity.
   */
  serviceStatus(service: string): ServiceStatus {
    this.requireService(service);
    this.statusView ??= deepFreeze(this.buildServiceStatus(this.statusAsOf));
    // A countdown runs between changes: while one is pending, each read says how long is left now.
    if (!this.statusView.datasources.some((d) => d.pendingAction?.dueAt)) return this.statusView;
    const view = this.statusView;
    return deepFreeze({
      ...view,
      datasources: view.datasources.map((d) => (d.pendingAction?.dueAt ? { ...d, pendingAction: this.pendingAction(this.record(d.name)) } : d)),
    });
  }

  /** What the rules will do about `r` on their own, and when (src/manager/pending.ts). */
  private pendingAction(r: DataSourceRecord): PendingAction | null {
    const live = this.liveOf(r.name);
    const running = this.running?.task;
    const failover = running && running.requestedBy === 'manager' && running.operation.startsWith('failover') ? 'running' : this.autoFailoverReported ? 'tried' : 'not-yet';
    return pendingActionOf({
      name: r.name,
      role: r.role,
      state: r.state,
      isMaster: r === this.master(),
      faults: live.faults,
      faultSince: live.faultSince,
      policy: this.serviceRecord.policy,
      props: this.props,
      now: this.clock.now(),
      failover,
    });
  }

  private buildServiceStatus(asOf: number): ServiceStatus {
    const coordinator = this.coordinatorName();
    return {
      name: this.service,
      type: 'CLUSTERED_MASTER_SLAVE',
      composite: false,
      multimaster: false,
      policy: this.serviceRecord.policy,
      // In a group: OFFLINE while this member sees no coordinator (none elected, or it lost etcd).
      coordinator: { host: coordinator, state: this.simulatedMembers() || this.coordination.group().coordinator !== null ? 'ONLINE' : 'OFFLINE' },
      coordinators: [coordinator],
      datasources: this.serviceRecord.datasources.map((r) => this.datasourceView(r, asOf)),
      routers: [
        ...this.routerObservations.map((r) => ({
          name: `connector@${r.host}`,
          host: r.host,
          pid: r.pid,
          state: r.state,
          connections: { ...r.connections },
        })),
        ...this.knownConnectors().map((c) => ({
          name: c.name,
          host: c.host,
          pid: c.pid,
          state: c.state,
          connections: { active: c.active, created: c.created },
          connector: {
            listen: c.listen,
            readListen: c.readListen,
            manager: c.manager ?? null,
            epoch: c.epoch,
            holding: c.holding,
            waiting: c.waiting ?? 0,
            lastReportAt: iso(c.seenAt),
            reportedTo: c.reportedTo,
          },
        })),
      ],
      sampledAt: this.sampledAtIso,
    };
  }

  /** Drops the status view: the next read builds it from the state as it is now. */
  private invalidateStatus(): void {
    this.statusView = null;
    this.statusAsOf = this.clock.now();
  }

  datasourceStatus(service: string, datasource: string): DataSourceStatus {
    this.requireService(service);
    const name = this.record(datasource).name;
    return this.serviceStatus(service).datasources.find((d) => d.name === name)!;
  }

  /** Pings in flight by datasource: concurrent pings of one datasource share one observation. */
  private readonly pingsInFlight = new Map<string, Promise<Observation>>();

  async pingDatasource(service: string, datasource: string): Promise<DatasourcePing> {
    this.requireService(service);
    const cfg = this.configOf(datasource);
    // However many clients ask at once, the server sees one probe (one connection).
    let pending = this.pingsInFlight.get(cfg.name);
    if (!pending) {
      pending = this.observeOne(cfg, this.shutdown.signal).finally(() => this.pingsInFlight.delete(cfg.name));
      this.pingsInFlight.set(cfg.name, pending);
    }
    const obs = await pending;
    return { host: cfg.name, address: cfg.host, alive: obs.dataServer.state === 'ONLINE', hostAlive: obs.host === 'alive', dataServer: obs.dataServer.state };
  }

  /** Tells the group where this manager's API listens, unless manager.api.advertise says otherwise. */
  advertise(apiUrl: string): void {
    if (this.props.coordination.advertiseUrl === null) this.coordination.advertise(apiUrl);
  }

  memberName(): string {
    return this.coordination.memberName;
  }

  control(service: string, request: ControlRequest, requestedBy: string, via: string | null = null, taskId?: string): TaskStatus {
    const calledAt = this.clock.now();
    const operation = describeRequest(request);
    const refuse = (e: unknown): never => {
      this.audit.record({
        time: iso(calledAt),
        user: requestedBy,
        service,
        operation,
        request,
        outcome: isToolkitError(e) ? e.kind : 'failed',
        error: messageOf(e),
        taskId: null,
        durationMs: this.clock.now() - calledAt,
        ...(via ? { via } : {}),
      });
      throw e;
    };
    let planned: PlannedOperation;
    try {
      if (this.closed) throw new ToolkitError('unreachable', 'the manager is shutting down');
      this.requireService(service);
      if (!this.acting()) throw this.notActingError();
      if (taskId !== undefined && this.tasks.some((t) => t.taskId === taskId)) {
        throw new ToolkitError('conflict', `task ${taskId} exists already`, 'Give each control call a new task id, or none.');
      }
      planned = planOperation(this, request);
      if (planned.exclusive && this.running) {
        const t = this.running.task;
        throw new ToolkitError('conflict', `another operation is running on service '${this.service}': task ${t.taskId} (${t.operation}, requested by ${t.requestedBy})`, 'Wait for it to finish (see its task), then retry.');
      }
    } catch (e) {
      return refuse(e);
    }
    return this.runTask(operation, requestedBy, request, planned, calledAt, via, taskId);
  }

  /** Why this member does not take control calls itself (the server forwards them to the coordinator). */
  private notActingError(): ToolkitError {
    const g = this.coordination.group();
    if (!g.quorum) {
      return new ToolkitError('unreachable', `manager '${g.self}' has lost the group (etcd: ${g.lastError ?? 'no quorum'}): it takes no control calls`, 'Connect to another member: cctrl --manager URL,URL,...');
    }
    if (this.takingOver) return new ToolkitError('unreachable', `manager '${g.self}' is taking over as coordinator`, 'Retry in a few seconds.');
    return new ToolkitError('unreachable', `manager '${g.self}' is not the coordinator${g.coordinator ? ` ('${g.coordinator}' is)` : ' and none is elected yet'}`, 'Retry in a few seconds, or connect to the coordinator.');
  }

  /** The coordinator's API, for a control call taken by a follower; null when this member acts or none is known. */
  coordinatorApi(): { name: string; url: string } | null {
    if (this.acting()) return null;
    const g = this.coordination.group();
    if (!g.quorum || !g.coordinator || g.coordinator === g.self) return null;
    const m = g.members.find((x) => x.name === g.coordinator);
    return m?.apiUrl ? { name: m.name, url: m.apiUrl } : null;
  }

  private groupSummary(): GroupSummary {
    const { members: _members, ...summary } = this.coordination.group();
    return { ...summary, coordinator: this.simulatedMembers() ? this.coordinatorName() : summary.coordinator };
  }

  task(taskId: string): TaskStatus {
    const t = this.tasks.find((x) => x.taskId === taskId);
    if (!t) throw new ToolkitError('not_found', `no task '${taskId}'`);
    return structuredClone(t);
  }

  history(service: string, limit: number): TaskStatus[] {
    this.requireService(service);
    if (limit <= 0) return [];
    return this.tasks
      .filter((t) => t.service === service)
      .slice(-limit)
      .reverse()
      .map((t) => structuredClone(t));
  }

  members(service: string): MemberStatus[] {
    this.requireService(service);
    if (!this.simulatedMembers()) {
      return this.coordination.group().members.map(memberStatus);
    }
    const coordinator = this.coordinatorName();
    return this.props.datasources.map((d) => ({
      name: d.name,
      host: d.host,
      state: this.live.get(d.name)?.obs?.managerUp === false ? 'STOPPED' : 'ONLINE',
      coordinator: d.name === coordinator,
    }));
  }

  subscribe(listener: (event: ManagerEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.unsubscribeCoordination?.();
    if (this.tickTimer) this.clock.clearTimeout(this.tickTimer);
    if (this.fenceTimer) this.clock.clearTimeout(this.fenceTimer);
    this.shutdown.abort();
    this.running?.abort.abort();
    await this.running?.done;
    await Promise.allSettled([...this.background]);
    this.persist();
    await this.coordination.close().catch((e: unknown) => this.logger.warn(`leaving the group: ${messageOf(e)}`));
    if (this.opts.ownsDriver) await this.rawDriver.close();
    this.listeners.clear();
  }

  /**
   * Stops everything at once without finishing tasks or writing anything more: what a kill -9
   * leaves behind, for rehearsing restarts in-process.
   */
  halt(): void {
    this.dead = true;
    this.closed = true;
    this.unsubscribeCoordination?.();
    this.coordination.halt();
    if (this.tickTimer) this.clock.clearTimeout(this.tickTimer);
    if (this.fenceTimer) this.clock.clearTimeout(this.fenceTimer);
    this.shutdown.abort();
    this.running?.abort.abort();
    this.listeners.clear();
  }

  // ---- OperationContext ------------------------------------------------------------------------

  records(): DataSourceRecord[] {
    return this.serviceRecord.datasources;
  }

  record(name: string): DataSourceRecord {
    const r = this.serviceRecord.datasources.find((d) => d.name === name);
    if (!r) {
      throw new ToolkitError('not_found', `no datasource '${name}' in service '${this.service}'`, `known datasources: ${this.serviceRecord.datasources.map((d) => d.name).join(', ')}`);
    }
    return r;
  }

  configOf(name: string): DataSourceConfig {
    const r = this.record(name);
    const cfg = this.props.datasources.find((d) => d.name === name)!;
    return { ...cfg, role: r.role };
  }

  master(): DataSourceRecord | null {
    return this.serviceRecord.datasources.find((d) => d.role === 'master' && d.state !== 'SHUNNED') ?? null;
  }

  policy(): PolicyMode {
    return this.serviceRecord.policy;
  }

  heldPolicy(): { taskId: string; policy: PolicyMode } | null {
    return this.serviceRecord.policyToRestore;
  }

  setPolicy(mode: PolicyMode, holdFor?: { taskId: string; restore: PolicyMode } | null): void {
    this.serviceRecord.policy = mode;
    if (holdFor !== undefined) {
      this.serviceRecord.policyToRestore = holdFor ? { taskId: holdFor.taskId, policy: holdFor.restore } : null;
    }
    if (mode !== 'AUTOMATIC') this.autoFailoverReported = false;
    this.changed();
  }

  async observeAll(signal: AbortSignal, patience?: ObservationPatience): Promise<Map<string, Observation>> {
    const answers = new Map<string, Observation>();
    const asked = this.serviceRecord.datasources.map(async (r) => {
      const since = this.clock.now();
      const obs = await this.observeOne(this.configOf(r.name), signal);
      answers.set(r.name, obs);
      const live = this.liveOf(r.name);
      // The view keeps a newer answer (a sample asked for after this one and answered first).
      if (this.dead || (live.observedAt !== null && since < live.observedAt)) return;
      live.obs = obs;
      live.observedAt = since;
      // Fault timing (faultSince) belongs to the monitor's samples; only the view is refreshed here.
      if (!obs.inconclusive) live.faults = faultsOf(obs, this.qualified(r.name));
      this.invalidateStatus();
    });
    const everyone = Promise.all(asked);
    if (!patience) await everyone;
    else {
      const bounded = patience.of;
      const awaited = bounded === 'all' ? [] : asked.filter((_, i) => !bounded.has(this.serviceRecord.datasources[i]!.name));
      await Promise.all(awaited);
      await waitAtMost(this.clock, patience.ms, everyone);
    }
    this.recordEvidence();
    this.invalidateStatus();
    // Those still out when patience ran out are left out (and shown when they answer).
    return new Map(answers);
  }

  /** The same rules for every caller: who a candidate must follow, and how its lag is judged. */
  candidateInputs(exclude: string, target?: string): CandidateInput[] {
    return this.serviceRecord.datasources
      .filter((r) => r.name !== exclude && (target === undefined ? r.role !== 'master' : r.name === target))
      .map((r) => ({
        name: r.name,
        role: r.role,
        state: r.state,
        precedence: this.configOf(r.name).precedence,
        observation: this.liveOf(r.name).obs,
        lastKnownLatency: this.lagWhenMasterWasSeen(r.name, exclude),
      }));
  }

  /**
   * A slave's last known lag, if it was seen in step with `master` around when the master was last
   * seen (within a sample period): a lag measured long before, while the slave was later down or
   * cut off, says nothing of what it has now.
   */
  private lagWhenMasterWasSeen(name: string, master: string): number | null {
    const live = this.liveOf(name);
    const masterSeen = this.liveOf(master).lastSeen;
    if (live.lastKnownLatency === null) return null;
    if (masterSeen && live.lastKnownLatencyAt < masterSeen.at - this.props.policy.samplePeriodSeconds * 1000) return null;
    return live.lastKnownLatency;
  }

  eligibilityRules(masterName: string, mode: EligibilityRules['mode']): EligibilityRules {
    return {
      masterName,
      mode,
      maxLatencySeconds: this.props.policy.slaveMaxLatencySeconds,
      masterGtidState: this.liveOf(masterName).lastSeen?.gtidState ?? null,
      masterServerId: this.liveOf(masterName).lastSeen?.serverId ?? null,
      gtidStates: this.gtidStates(),
    };
  }

  /** Every datasource's GTID state as last seen. */
  private gtidStates(): Map<string, string | null> {
    return new Map(this.serviceRecord.datasources.map((r) => [r.name, this.liveOf(r.name).lastSeen?.gtidState ?? null]));
  }

  lastSeen(name: string): SeenPosition | null {
    return this.liveOf(name).lastSeen;
  }

  requireFence(task: TaskContext, name: string): void {
    this.fenceRequired.set(name, task.id);
  }

  releaseFence(task: TaskContext, name: string): void {
    if (this.fenceRequired.get(name) === task.id) this.fenceRequired.delete(name);
    this.fencePending.delete(name);
  }

  willPromote(task: TaskContext, name: string): void {
    this.promoting.set(name, task.id);
  }

  async fenceNow(task: TaskContext, name: string): Promise<boolean> {
    this.requireFence(task, name);
    const cfg = this.configOf(name);
    try {
      const ended = await this.call(task, `fencing writes on ${name}`, (o) => this.driver.fenceWrites(cfg, o), this.fenceTimeoutMs());
      task.step(`FENCED '${this.qualified(name)}': READ-ONLY, ${ended} CLIENT SESSIONS ENDED`);
      this.fencePending.delete(name);
      return true;
    } catch (e) {
      task.step(`COULD NOT FENCE '${this.qualified(name)}' NOW (${messageOf(e)}): IT WILL BE MADE READ-ONLY THE MOMENT IT ANSWERS`);
      this.fencePending.add(name);
      return false;
    }
  }

  call<T>(task: TaskContext, what: string, work: (opts: DriverCallOptions) => Promise<T>, timeoutMs?: number): Promise<T> {
    if (this.dead) return Promise.reject(new Error('the manager was halted'));
    const ms = timeoutMs ?? this.props.operationStepTimeoutSeconds * 1000;
    return withClockTimeout(this.clock, what, ms, task.signal, work);
  }

  changed(): void {
    this.refreshAlerts();
    this.invalidateStatus();
    this.persist();
    this.emit({ type: 'state', service: this.service, status: this.serviceStatus(this.service) });
  }

  async notifyRouters(task: TaskContext, opts: { endImmediately?: boolean } = {}): Promise<void> {
    const master = this.master();
    const masterName = master && master.state === 'ONLINE' ? master.name : null;
    const readable = this.serviceRecord.datasources.filter((d) => d.state === 'ONLINE').map((d) => d.name);
    const wasHeld = this.serviceRecord.routing?.hold ?? null;
    this.publishRoutes(null, opts.endImmediately ?? false);
    const connectors = this.knownConnectors();
    if (connectors.length > 0) {
      task.step(`${wasHeld ? 'CONNECTORS RESUME' : 'CONNECTORS ROUTE'} TO ${masterName ? `'${this.qualified(masterName)}'` : 'NO MASTER'} (ROUTES EPOCH ${this.serviceRecord.routing!.epoch}): ${connectors.map((c) => c.name).join(', ')}`);
    }
    if (this.fleet) await this.call(task, 'notify connectors', (o) => this.fleet!.notifyRouters(masterName, readable, o));
  }

  async holdRouters(task: TaskContext, reason: string): Promise<void> {
    const epoch = this.publishRoutes({ reason, since: iso(this.clock.now()) }, false);
    const expected = this.knownConnectors();
    if (expected.length === 0) return;
    task.step(`CONNECTORS TOLD TO HOLD NEW CONNECTIONS (ROUTES EPOCH ${epoch}): ${expected.map((c) => c.name).join(', ')}`);
    const holding = (name: string) => {
      const c = this.knownConnectors().find((x) => x.name === name);
      return c !== undefined && c.holding && (c.epoch ?? -1) >= epoch;
    };
    const deadline = this.clock.now() + CONNECTOR_HOLD_WAIT_MS;
    const waiting = new Set(expected.map((c) => c.name));
    while (waiting.size > 0 && this.clock.now() < deadline && !task.signal.aborted) {
      for (const name of [...waiting]) {
        if (holding(name)) {
          task.step(`CONNECTOR '${name}' IS HOLDING`);
          waiting.delete(name);
        }
      }
      if (waiting.size > 0) await new Promise<void>((r) => this.clock.setTimeout(r, 50));
    }
    for (const name of waiting) task.step(`CONNECTOR '${name}' DID NOT CONFIRM THE HOLD WITHIN ${CONNECTOR_HOLD_WAIT_MS / 1000} s: GOING ON (THE OLD MASTER IS FENCED ANYWAY)`);
  }

  /** A new routes epoch, committed with the state and sent to every event stream; returns the epoch. */
  private publishRoutes(hold: { reason: string; since: string } | null, endImmediately: boolean): number {
    const epoch = (this.serviceRecord.routing?.epoch ?? 0) + 1;
    this.serviceRecord.routing = { epoch, hold, endImmediately };
    this.persist();
    this.emit({ type: 'routes', service: this.service, routes: this.routes(this.service) });
    return epoch;
  }

  routes(service: string): RoutesPayload {
    this.requireService(service);
    const routing = this.serviceRecord.routing ?? { epoch: 0, hold: null, endImmediately: false };
    const backend = (name: string) => {
      const cfg = this.configOf(name);
      return { name, host: cfg.host, port: cfg.port };
    };
    const master = this.master();
    const maxLatency = this.props.policy.slaveMaxLatencySeconds;
    return {
      service: this.service,
      epoch: routing.epoch,
      master: master && master.state === 'ONLINE' ? backend(master.name) : null,
      slaves: this.serviceRecord.datasources
        .filter((d) => d !== master && d.state === 'ONLINE')
        .map((d) => {
          const rep = this.liveOf(d.name).obs?.replicator;
          const latencySeconds = rep && rep.appliedLatency >= 0 ? rep.appliedLatency : null;
          return { ...backend(d.name), latencySeconds, healthy: rep?.state === 'ONLINE' && latencySeconds !== null && latencySeconds <= maxLatency };
        }),
      hold: routing.hold,
      ...(routing.endImmediately ? { endImmediately: true } : {}),
    };
  }

  reportConnector(service: string, report: ConnectorReport, via: string | null = null): void {
    this.requireService(service);
    const now = this.clock.now();
    const known = this.connectors.list(now).some((c) => c.name === report.name);
    const reportedTo = via ?? this.coordination.memberName;
    const { share } = this.connectors.report(report, now, reportedTo, via === null);
    if (share) this.coordination.shareConnector?.(report.name, { ...report, seenAt: now, reportedTo });
    if (!known) this.logger.info(`connector ${report.name} (${report.host}, pid ${report.pid}) reports: ${report.state}, routes epoch ${report.epoch ?? 'none'}${via ? ` (through ${via})` : ''}`);
    this.pruneConnectors(now);
    // Its counts are part of the status: the next read shows them.
    this.invalidateStatus();
  }

  /**
   * Every connector of the service: those that report to this member (or were passed on to it),
   * and those the other members of the group share (see routing.ts).
   */
  private knownConnectors(): KnownConnector[] {
    const shared = (this.coordination.sharedConnectors?.() ?? []).flatMap((s) => {
      const c = parseSharedConnector(s.value);
      return c && c.name === s.name && this.clock.now() - c.seenAt <= SHARED_CONNECTOR_STALE_MS ? [c] : [];
    });
    return this.connectors.merged(this.clock.now(), shared);
  }

  /** Connectors silent too long are forgotten, and withdrawn from the group if this member shared them. */
  private pruneConnectors(now: number): void {
    for (const name of this.connectors.prune(now)) this.coordination.withdrawConnector?.(name);
  }

  qualified(name: string): string {
    return `${name}@${this.service}`;
  }

  // ---- tasks -----------------------------------------------------------------------------------

  private runTask(operation: string, requestedBy: string, request: ControlRequest, planned: PlannedOperation, calledAt: number, via: string | null = null, taskId?: string): TaskStatus {
    const task: TaskStatus = {
      taskId: taskId ?? randomUUID(),
      service: this.service,
      operation,
      requestedBy,
      state: 'in_progress',
      startTime: iso(this.clock.now()),
      endTime: null,
      steps: [],
      taskResult: null,
    };
    // On disk before anything is carried out: a manager that dies mid-call leaves this line.
    this.audit.record({
      time: iso(calledAt),
      user: requestedBy,
      service: this.service,
      operation,
      request,
      outcome: 'accepted',
      error: null,
      taskId: task.taskId,
      durationMs: 0,
      ...(via ? { via } : {}),
    });
    this.tasks.push(task);
    if (this.tasks.length > TASK_HISTORY_LIMIT) this.tasks.splice(0, this.tasks.length - TASK_HISTORY_LIMIT);
    const abort = new AbortController();
    const ctx: TaskContext = {
      id: task.taskId,
      signal: abort.signal,
      step: (line) => {
        if (this.dead || task.state !== 'in_progress') return;
        const step = { time: iso(this.clock.now()), line };
        task.steps.push(step);
        this.logger.info(`[${this.service}] ${operation}: ${line}`);
        this.persist();
        this.emit({ type: 'task-step', service: this.service, taskId: task.taskId, step });
      },
      report: (fields) => {
        if (this.dead || task.state !== 'in_progress') return;
        task.taskResult = { ...(task.taskResult ?? {}), ...fields };
        this.persist();
      },
    };
    const finish = (result: Record<string, unknown>, failed: boolean) => {
      if (this.dead) return;
      task.state = failed ? 'failed' : 'complete';
      task.endTime = iso(this.clock.now());
      task.taskResult = result;
      if (this.running?.task === task) this.running = null;
      for (const [name, taskId] of this.fenceRequired) if (taskId === task.taskId) this.fenceRequired.delete(name);
      for (const [name, taskId] of this.promoting) if (taskId === task.taskId) this.promoting.delete(name);
      this.audit.record({
        time: iso(calledAt),
        user: requestedBy,
        service: this.service,
        operation,
        request,
        outcome: task.state,
        error: failed ? String(result.error) : null,
        taskId: task.taskId,
        durationMs: this.clock.now() - calledAt,
        ...(via ? { via } : {}),
      });
      this.changed();
      // What the task held back (the server it was promoting) is checked again now, not at the next sample.
      this.guardWrites();
      this.emit({ type: 'task-end', service: this.service, task: structuredClone(task) });
    };
    const onError = (e: unknown) => {
      const reason = abort.signal.aborted && this.closed ? `interrupted by manager shutdown: ${messageOf(e)}` : messageOf(e);
      finish({ error: reason }, true);
    };
    // In a group the operation holds the service's one slot once the store has its record: a
    // coordinator cut off from etcd does nothing it could not record, and whoever coordinates
    // next finds the task and settles it.
    const committing = this.persist();
    const recorded = planned.exclusive && committing ? this.startedOnceRecorded(committing) : null;
    let outcome: ReturnType<PlannedOperation['run']>;
    try {
      outcome = recorded ? recorded.then(() => planned.run(ctx)) : planned.run(ctx);
    } catch (e) {
      onError(e);
      return structuredClone(task);
    }
    if (outcome instanceof Promise) {
      // The view the task leaves is fresh, as far as the servers answer promptly (a frozen one would hold the monitor back for a whole timeout).
      const refreshed = outcome.then(async (r) => {
        await this.observeAll(this.shutdown.signal, { of: 'all', ms: PROMPT_ANSWER_MS }).catch(() => undefined);
        return r;
      });
      const done = refreshed.then((r) => finish(r, false), onError);
      if (planned.exclusive) this.running = { task, abort, done };
      else this.track(done);
    } else {
      finish(outcome, false);
    }
    return structuredClone(task);
  }

  private track(p: Promise<void>): void {
    this.background.add(p);
    void p.finally(() => this.background.delete(p));
  }

  // ---- monitoring ------------------------------------------------------------------------------

  private scheduleTick(): void {
    if (this.closed) return;
    this.tickTimer = this.clock.setTimeout(() => {
      this.scheduleTick();
      void this.tick();
    }, this.props.policy.samplePeriodSeconds * 1000);
  }

  private async tick(): Promise<void> {
    if (this.sampling || this.closed) return;
    try {
      await this.sample();
      if (this.closed) return;
      this.recordEvidence();
      if (this.inCharge && !this.coordination.isCoordinator()) this.stepDown('its lease ran out');
      if (!this.inCharge && this.coordination.isCoordinator()) void this.takeOver('elected');
      if (this.acting() && !this.takingOver) {
        this.applyRules();
        this.guardWrites();
      } else {
        // A follower observes and shows; the coordinator's commits replace its records.
        this.refreshAlerts();
        this.invalidateStatus();
        this.emit({ type: 'state', service: this.service, status: this.serviceStatus(this.service) });
      }
    } catch (e) {
      this.logger.error(`monitor: ${messageOf(e)}`);
    }
  }

  private observationTimeoutMs(): number {
    const p = this.props.policy;
    return (p.dbPingTimeoutSeconds + p.hostPingTimeoutSeconds) * 1000;
  }

  /**
   * One observation, never rejecting. It is `inconclusive` (no evidence either way) when the
   * driver says so, when the call failed for the manager's own want of descriptors or memory, and
   * when a timeout or an unreachable verdict came after more than twice the deadline: the
   * manager's own event loop was stalled, so the deadline says nothing about the server.
   */
  private async observeOne(cfg: DataSourceConfig, signal: AbortSignal): Promise<Observation> {
    const timeoutMs = this.observationTimeoutMs();
    const started = this.clock.now();
    const stalled = (): string | null => {
      const took = this.clock.now() - started;
      return took > 2 * timeoutMs ? `the manager was stalled: a ${timeoutMs} ms deadline fired after ${took} ms` : null;
    };
    const previous = () => this.live.get(cfg.name)?.obs;
    let obs: Observation;
    try {
      obs = await withClockTimeout(this.clock, `observing ${cfg.name}`, timeoutMs, signal, (opts) => this.driver.observe(cfg, opts));
      if (obs.inconclusive === null && (obs.host === 'unreachable' || obs.dataServer.state === 'TIMEOUT' || obs.dataServer.state === 'UNREACHABLE')) {
        const cause = stalled();
        if (cause) obs = { ...obs, inconclusive: cause };
      }
    } catch (e) {
      const timedOut = e instanceof DriverTimeoutError;
      const reason = timedOut ? `no answer within ${timeoutMs} ms` : messageOf(e);
      const inconclusive = localResourceShortage(e) ?? (timedOut ? stalled() : null);
      this.logger.warn(`observing ${this.qualified(cfg.name)}: ${reason}${inconclusive ? ` (inconclusive: ${inconclusive})` : ''}`);
      obs = {
        host: 'alive',
        dataServer: { state: inconclusive ? 'UNKNOWN' : 'TIMEOUT', reason },
        managerUp: previous()?.managerUp ?? true,
        replicator: null,
        readOnly: null,
        connections: previous()?.connections ?? { active: 0, created: 0 },
        gtidState: null,
        inconclusive,
      };
    }
    // What was last seen of the manager and sessions there stands until something conclusive replaces it.
    const before = previous();
    return obs.inconclusive && before ? { ...obs, managerUp: before.managerUp, connections: before.connections } : obs;
  }

  /**
   * One monitoring sample: every datasource and the connectors, each bounded by its timeout. The
   * sample waits for their answers for less than a sample period: a server slower than that (frozen,
   * cut off) does not hold back what the others say, nor the rules; its answer is applied when it
   * comes, and it is not asked again until then.
   */
  private async sample(): Promise<void> {
    this.sampling = true;
    try {
      const at = this.clock.now();
      const signal = this.shutdown.signal;
      const answers = [...this.serviceRecord.datasources.map((r) => this.sampleOne(r.name, signal)), this.sampleRouters(signal)];
      // Three quarters of a period: the next tick (due a period after this one) must find this sample done.
      await waitAtMost(this.clock, (this.samplePeriodMs() * 3) / 4, Promise.all(answers));
      if (this.dead) return;
      this.sampledAtIso = iso(at);
      this.pruneConnectors(this.clock.now());
      this.invalidateStatus();
    } finally {
      this.sampling = false;
    }
  }

  private samplePeriodMs(): number {
    return this.props.policy.samplePeriodSeconds * 1000;
  }

  /** The monitor's observations still out, by datasource. */
  private readonly samplesInFlight = new Map<string, Promise<void>>();
  private routersInFlight: Promise<void> | null = null;

  /** The monitor's observation of one datasource, applied as it arrives; the one still out, if any. */
  private sampleOne(name: string, signal: AbortSignal): Promise<void> {
    const out = this.samplesInFlight.get(name);
    if (out) return out;
    const live = this.liveOf(name);
    const since = this.clock.now();
    live.observingSince = since;
    const answered = this.observeOne(this.configOf(name), signal)
      .then((obs) => {
        if (!this.dead) this.applySample(name, obs, since);
      })
      .finally(() => {
        this.samplesInFlight.delete(name);
        if (live.observingSince === since) live.observingSince = null;
      });
    this.samplesInFlight.set(name, answered);
    return answered;
  }

  private sampleRouters(signal: AbortSignal): Promise<void> {
    this.routersInFlight ??= withClockTimeout(this.clock, 'listing connectors', this.observationTimeoutMs(), signal, (opts) => this.fleet?.routers(opts) ?? Promise.resolve([]))
      .then(
        (routers) => {
          if (!this.dead) this.routerObservations = routers;
        },
        (e: unknown) => this.logger.warn(`connectors: ${messageOf(e)}`),
      )
      .finally(() => (this.routersInFlight = null));
    return this.routersInFlight;
  }

  /** A sample's answer for `name`, observed from `at`: the view, the faults and their timing. */
  private applySample(name: string, obs: Observation, at: number): void {
    const live = this.liveOf(name);
    // An answer older than the one shown (an operation observed meanwhile) tells nothing new.
    if (live.observedAt !== null && at < live.observedAt) return;
    const previousAt = live.observedAt;
    const wasInconclusive = live.obs?.inconclusive ?? null;
    live.obs = obs;
    live.observedAt = at;
    this.invalidateStatus();
    if (obs.inconclusive) {
      // No evidence either way: the faults the rules act on stay those of the last conclusive
      // answer, and their timers neither start nor clear. They pause: the time without
      // evidence does not count towards a failover.
      if (previousAt !== null) for (const [kind, since] of live.faultSince) live.faultSince.set(kind, since + (at - previousAt));
      if (!wasInconclusive) this.logger.warn(`${this.qualified(name)}: no conclusive observation (${obs.inconclusive}); keeping the last verdict`);
      return;
    }
    if (wasInconclusive) this.logger.info(`${this.qualified(name)}: conclusive observations again`);
    live.faults = faultsOf(obs, this.qualified(name));
    const present = new Set(live.faults.map((f) => f.kind));
    // A server that stops answering and then loses its host is one outage, timed from its start.
    const outageSince = [live.faultSince.get('dataserver'), live.faultSince.get('host')].filter((t): t is number => t !== undefined);
    for (const kind of [...live.faultSince.keys()]) if (!present.has(kind)) live.faultSince.delete(kind);
    for (const kind of present) {
      if (live.faultSince.has(kind)) continue;
      const inherited = kind === 'host' || kind === 'dataserver' ? Math.min(at, ...outageSince) : at;
      live.faultSince.set(kind, inherited);
    }
    if (obs.readOnly === true) live.readOnlySince ??= at;
    else if (obs.readOnly === false) live.readOnlySince = null;
    const seqno = obs.replicator?.appliedSeqno ?? null;
    if (seqno !== live.lastSeqno) {
      live.lastSeqno = seqno;
      live.seqnoChangedAt = at;
    }
  }

  private liveOf(name: string): LiveState {
    let live = this.live.get(name);
    if (!live) {
      live = {
        obs: null,
        faults: [],
        faultSince: new Map(),
        alert: { status: 'UNKNOWN', message: null, time: this.clock.now(), timeIso: iso(this.clock.now()) },
        lastSeqno: null,
        seqnoChangedAt: this.clock.now(),
        warnings: [],
        lastKnownLatency: null,
        lastKnownLatencyAt: 0,
        lastSeen: null,
        readOnlySince: null,
        observedAt: null,
        observingSince: null,
      };
      this.live.set(name, live);
    }
    return live;
  }

  /** The fault that has lasted long enough for the policy to act on, if any. */
  private confirmedFault(r: DataSourceRecord, now: number): Fault | null {
    const live = this.liveOf(r.name);
    for (const fault of live.faults) {
      const delay = actionDelayMs(fault.kind, r.role, this.props);
      const since = live.faultSince.get(fault.kind);
      if (delay !== null && since !== undefined && now - since >= delay) return fault;
    }
    return null;
  }

  /** What the monitor's decision is made of: the samples, the stored records, what is in flight. */
  private monitorView(): MonitorView {
    const group = this.coordination.kind === 'local' ? null : this.coordination.group().members.map((m) => ({ name: m.name, datasource: m.datasource }));
    return {
      now: this.clock.now(),
      policy: this.serviceRecord.policy,
      props: this.props,
      service: this.service,
      records: this.serviceRecord.datasources,
      seen: (name) => this.seenByRules(name),
      operationRunning: this.running !== null,
      repairing: this.autoRecovering,
      groupMembers: group,
      leaseTtlMs: this.coordination.kind === 'local' ? null : this.props.coordination.ttlSeconds * 1000,
    };
  }

  /**
   * What the rules see of a datasource: one whose answer is overdue (asked for more than a sample
   * period ago) is not taken as answering, however healthy its last answer was.
   */
  private seenByRules(name: string): LiveState {
    const live = this.liveOf(name);
    const waited = live.observingSince === null ? 0 : this.clock.now() - live.observingSince;
    if (waited <= this.samplePeriodMs() || !live.obs || live.obs.inconclusive) return live;
    return { ...live, obs: { ...live.obs, inconclusive: `no answer for ${waited} ms` } };
  }

  /** The policy rules, after each sample: decide (decide.ts), then carry the decision out. MAINTENANCE acts on nothing; MANUAL fences only. */
  private applyRules(): void {
    for (const action of decide(this.monitorView())) this.carryOut(action);
    if (this.master()?.state !== 'FAILED') this.autoFailoverReported = false;
    this.changed();
  }

  private carryOut(action: MonitorAction): void {
    const r = this.record(action.kind === 'failover' ? action.master : action.name);
    switch (action.kind) {
      case 'verdict':
        Object.assign(r, action.set);
        if (action.log) this.logger[action.log.level](action.log.message);
        if (action.audit) this.auditManagerAction(action.audit, 'complete', null);
        return;
      case 'repoint': {
        if (action.log) this.logger.warn(action.log);
        const master = this.record(action.master);
        this.repointInBackground(r, master, () => {
          if (action.thenOnline && r.state === 'FAILED' && r.fencedByMonitor) {
            Object.assign(r, { state: 'ONLINE', lastError: null, fencedByMonitor: false });
            this.logger.info(`${this.qualified(r.name)} is healthy again: ONLINE`);
          }
        });
        return;
      }
      case 'allow-writes':
        if (action.log) this.logger.warn(action.log);
        this.giveWritesBack(r, () => {
          if (action.then === 'noted') {
            this.auditManagerAction(`allow writes on master ${r.name}`, 'complete', null);
            const live = this.liveOf(r.name);
            if (live.obs) live.obs = { ...live.obs, readOnly: false };
          } else if (r.state === 'FAILED' && r.fencedByMonitor && r === this.master() && !this.running) {
            Object.assign(r, { state: 'ONLINE', lastError: null, fencedByMonitor: false });
            this.logger.warn(`master ${this.qualified(r.name)} is healthy again: ONLINE (writes allowed again)`);
            this.auditManagerAction(`datasource ${r.name} online`, 'complete', null);
          }
        });
        return;
      case 'failover':
        this.startAutomaticFailover(r);
        return;
    }
  }

  /**
   * Makes `r` a slave of `master` once the driver confirms it can follow without diverging; one that
   * cannot is FAILED with the reason, for the operator. `then` runs after a successful repoint.
   */
  private repointInBackground(r: DataSourceRecord, master: DataSourceRecord, then: () => void): void {
    const cfg = this.configOf(r.name);
    const masterCfg = this.configOf(master.name);
    this.repairInBackground(r, `repoint ${this.qualified(r.name)}`, async () => {
      const check = await this.stepCall(`checking that ${r.name} can follow ${master.name}`, (opts) => this.driver.checkRejoin(cfg, masterCfg, opts));
      if (this.running || this.master() !== master) return;
      if (!check.ok) {
        r.state = 'FAILED';
        r.lastError = `CANNOT FOLLOW '${this.qualified(master.name)}': ${check.reason}`;
        r.fencedByMonitor = false;
        this.logger.error(`${this.qualified(r.name)}: ${r.lastError}`);
        this.repairFailed(r.name, `could not repoint ${this.qualified(r.name)} to ${master.name}: ${r.lastError}`);
        return;
      }
      await this.stepCall(`repointing ${r.name}`, (opts) => this.driver.replicateFrom(cfg, masterCfg, opts));
      this.auditManagerAction(`datasource ${r.name} repoint to ${master.name}`, 'complete', null);
      this.repairFailures.delete(r.name);
      then();
    });
  }

  /** A master that answers read-only takes writes again; `then` runs once it does. */
  private giveWritesBack(r: DataSourceRecord, then: () => void): void {
    this.repairInBackground(r, `allow writes on ${this.qualified(r.name)}`, async () => {
      await this.stepCall(`allowing writes on ${r.name}`, (opts) => this.driver.allowWrites(this.configOf(r.name), opts));
      this.repairFailures.delete(r.name);
      then();
    });
  }

  /** Another server than `r` seen accepting writes, if any. */
  private otherWriter(r: DataSourceRecord): DataSourceRecord | undefined {
    return this.serviceRecord.datasources.find((d) => d !== r && this.liveOf(d.name).obs?.readOnly === false);
  }

  /** A driver call of the monitor's own, bounded by the operation step timeout. */
  private stepCall<T>(what: string, work: (opts: DriverCallOptions) => Promise<T>): Promise<T> {
    return withClockTimeout(this.clock, what, this.props.operationStepTimeoutSeconds * 1000, this.shutdown.signal, work);
  }

  /**
   * One repair the monitor makes on its own, one at a time per datasource, in the background:
   * published when it ends; when it fails, logged and raised as an alert (`could not <what>: <reason>`).
   */
  private repairInBackground(r: DataSourceRecord, what: string, work: () => Promise<void>): void {
    if (this.autoRecovering.has(r.name)) return;
    this.autoRecovering.add(r.name);
    const done = work()
      .then(() => this.changed())
      .catch((e: unknown) => {
        if (this.dead || this.closed) return;
        const message = `could not ${what}: ${messageOf(e)}`;
        this.logger.warn(message);
        this.repairFailed(r.name, message);
      })
      .finally(() => this.autoRecovering.delete(r.name));
    this.track(done);
  }

  /** An alert to every watcher (the shells' MANAGER lines): an event, never a task of the history. */
  private raiseAlert(kind: ManagerAlertKind, datasource: string, message: string): void {
    const alert: ManagerAlert = { time: iso(this.clock.now()), kind, datasource, message };
    this.alerts = [...this.alerts, alert].slice(-SHARED_ALERTS);
    this.persist();
    this.emit({ type: 'alert', service: this.service, alert });
  }

  /**
   * An automatic repair of `datasource` failed (the rules try it again at each sample): raised once,
   * then again only when the reason changes, after a repair of it succeeded, or REPAIR_ALERT_REPEAT_MS later.
   */
  private repairFailed(datasource: string, message: string): void {
    const now = this.clock.now();
    const last = this.repairFailures.get(datasource);
    if (last && last.message === message && now - last.at < REPAIR_ALERT_REPEAT_MS) return;
    this.repairFailures.set(datasource, { message, at: now });
    this.raiseAlert('repair-failed', datasource, message);
  }

  /** Its last observation is a real answer of a healthy server, not a guess. */
  private answersConclusively(name: string): boolean {
    const obs = this.liveOf(name).obs;
    return obs !== null && !obs.inconclusive && obs.host === 'alive' && obs.dataServer.state === 'ONLINE';
  }

  /**
   * What each datasource's answers tell beyond faults: the last lag seen while replication ran, the
   * position it was last seen at, and the replication warnings (wrong master, errant transactions).
   */
  private recordEvidence(): void {
    const now = this.clock.now();
    for (const r of this.serviceRecord.datasources) {
      const live = this.liveOf(r.name);
      const obs = live.obs;
      const rep = obs?.replicator;
      if (!obs || obs.inconclusive || obs.dataServer.state !== 'ONLINE' || !rep) continue;
      // Timed from when the answer was asked for: a server that has not answered since is not seen again.
      const at = live.observedAt ?? now;
      if (rep.state === 'ONLINE' && rep.appliedLatency >= 0) {
        live.lastKnownLatency = rep.appliedLatency;
        live.lastKnownLatencyAt = at;
      }
      live.lastSeen = { seqno: Math.max(rep.appliedSeqno, rep.storedSeqno), gtidState: obs.gtidState, serverId: obs.serverId ?? null, at };
    }
    const master = this.master();
    for (const r of this.serviceRecord.datasources) {
      const live = this.liveOf(r.name);
      const seen = master ? this.liveOf(master.name).lastSeen : null;
      const peers = this.serviceRecord.datasources.filter((d) => d !== r && d !== master).map((d) => this.liveOf(d.name).lastSeen?.gtidState ?? null);
      const expected =
        master && r !== master && r.role !== 'master' ? { masterName: master.name, masterGtidState: seen?.gtidState ?? null, masterServerId: seen?.serverId ?? null, peers } : null;
      const obs = live.obs;
      if (obs?.inconclusive) continue;
      live.warnings = replicationWarnings(obs, expected);
    }
  }

  // ---- the write guard -------------------------------------------------------------------------

  /**
   * Whether `r` must refuse writes now: every datasource but the master and the one an operation is
   * promoting, and a master an operator failed or an operation asked to fence.
   */
  private mustRefuseWrites(r: DataSourceRecord): boolean {
    if (this.fenceRequired.has(r.name)) return true;
    if (this.promoting.has(r.name)) return false;
    const master = this.master();
    if (r === master) return r.state === 'FAILED' && !r.fencedByMonitor;
    return true;
  }

  /**
   * The split-brain guard, after every sample whatever the policy: a server that must refuse writes
   * and is seen writable is fenced at once (and the fast loop, runFences, keeps asking the others).
   */
  private guardWrites(): void {
    for (const r of this.serviceRecord.datasources) {
      const obs = this.liveOf(r.name).obs;
      if (!this.mustRefuseWrites(r)) {
        this.fencePending.delete(r.name);
        continue;
      }
      if (obs?.readOnly !== false || obs.inconclusive) continue;
      if (!this.fencePending.has(r.name)) {
        const master = this.master();
        this.logger.error(
          `SPLIT-BRAIN GUARD: ${this.qualified(r.name)} (${r.role}, ${r.state}) accepts writes${master ? ` while ${this.qualified(master.name)} is the master` : ''}: making it read-only`,
        );
      }
      this.fencePending.add(r.name);
    }
    this.runFences();
  }

  private fenceTimeoutMs(): number {
    return this.props.policy.dbPingTimeoutSeconds * 1000;
  }

  /**
   * The write guard's fast loop, every second (or every sample period, if shorter), whatever the
   * samples say: each server that must refuse writes is asked whether it does (one cheap query) and
   * fenced if not; one known to need it (seen writable, being failed over) is fenced straight away.
   * A server that does not answer is asked again next time, so it is fenced the moment it answers:
   * a question left waiting on a frozen server is answered, and acted on, when it thaws.
   */
  private runFences(): void {
    if (this.dead || this.closed) return;
    if (!this.acting()) {
      this.failsafe();
      return;
    }
    for (const r of this.serviceRecord.datasources) {
      const name = r.name;
      if (this.fencing.has(name)) continue;
      if (!this.mustRefuseWrites(r)) {
        this.fencePending.delete(name);
        continue;
      }
      const known = this.fencePending.has(name);
      const cfg = this.configOf(name);
      this.fencing.add(name);
      const done = this.fenceUnlessReadOnly(this.driver, cfg, `guarding writes on ${name}`, !known)
        .then((ended) => {
          if (this.dead) return;
          this.fencePending.delete(name);
          if (ended === null || !this.mustRefuseWrites(r)) return;
          const live = this.liveOf(name);
          if (live.obs && !live.obs.inconclusive) live.obs = { ...live.obs, readOnly: true };
          const line = `SPLIT-BRAIN GUARD: made ${this.qualified(name)} read-only (${r.role}, ${r.state}): ended ${ended} client sessions`;
          this.logger.error(line);
          this.auditManagerAction(`fence datasource ${name}`, 'complete', null);
          this.repairFailures.delete(name);
          // A fence an operation asked for (a switch fencing its old master) is in that task's steps.
          if (!this.fenceRequired.has(name)) this.raiseAlert('fenced', name, line);
          this.changed();
        })
        .catch((e: unknown) => {
          // A server last seen accepting writes that could not be fenced: the guard asks again every
          // second; the operator hears of it once. One that is down, or merely does not answer the
          // question, is not news here (the monitor reports it), nor a fence a running task asked for.
          const obs = this.liveOf(name).obs;
          const seenWritable = obs !== null && !obs.inconclusive && obs.readOnly === false;
          if (seenWritable && !this.fenceRequired.has(name) && !this.dead && !this.closed && this.mustRefuseWrites(r)) {
            this.repairFailed(name, `could not make ${this.qualified(name)} (${r.role}, ${r.state}) read-only, which accepts writes: ${messageOf(e)}; the split-brain guard tries again every second`);
          }
        })
        .finally(() => this.fencing.delete(name));
      this.track(done);
    }
  }

  /**
   * A member that has lost the group keeps its own datasource read-only if it is the master: a new
   * coordinator, elected on the other side, may promote another. It fences before its own lease can
   * expire in etcd (the coordination reports the loss a third of a TTL early), needs no lease to
   * do so, and shows the datasource SHUNNED(FAILSAFE-SHUN) until it is back in the group.
   */
  private failsafe(): void {
    const own = this.props.coordination.datasource;
    if (this.coordination.kind === 'local' || !own) return;
    if (this.coordination.group().quorum) {
      if (this.failsafeFenced) {
        this.logger.warn(`back in the group: '${this.qualified(own)}' is the coordinator's to decide again`);
        this.failsafeFenced = false;
        void this.loadShared().then((state) => this.adopt(state, { restart: false }));
      }
      return;
    }
    const r = this.serviceRecord.datasources.find((d) => d.name === own);
    if (!r) return;
    const writable = this.liveOf(own).obs?.readOnly === false;
    if (!this.failsafeFenced && r.role !== 'master' && !writable) return;
    if (!this.failsafeFenced) {
      this.logger.error(`FAILSAFE: manager '${this.coordination.memberName}' cannot reach an etcd majority: making its datasource '${this.qualified(own)}' read-only`);
      this.failsafeFenced = true;
      r.state = 'SHUNNED';
      r.lastShunReason = 'FAILSAFE-SHUN';
      this.invalidateStatus();
    }
    if (this.fencing.has(own)) return;
    this.fencing.add(own);
    const cfg = this.configOf(own);
    const done = this.fenceUnlessReadOnly(this.rawDriver, cfg, `failsafe fence of ${own}`, true)
      .then((ended) => {
        if (ended === null || this.dead) return;
        const line = `FAILSAFE: made ${this.qualified(own)} read-only: ended ${ended} client sessions`;
        this.logger.error(line);
        this.auditManagerAction(`failsafe fence datasource ${own}`, 'complete', null);
        this.raiseAlert('fenced', own, line);
      })
      .catch((e: unknown) => this.logger.warn(`FAILSAFE: could not fence ${this.qualified(own)} yet: ${messageOf(e)}`))
      .finally(() => this.fencing.delete(own));
    this.track(done);
  }

  /**
   * Makes a server read-only and ends its sessions, within the fence timeout; with `askFirst`, only
   * if one cheap query finds it writable. Resolves to the sessions ended, or null when it was read-only.
   */
  private fenceUnlessReadOnly(driver: ClusterDriver, cfg: DataSourceConfig, what: string, askFirst: boolean): Promise<number | null> {
    return withClockTimeout(this.clock, what, this.fenceTimeoutMs(), this.shutdown.signal, async (opts) => {
      if (askFirst && (await driver.readOnly(cfg, opts))) return null;
      return driver.fenceWrites(cfg, opts);
    });
  }

  private scheduleGuard(): void {
    if (this.closed || this.dead) return;
    const period = Math.min(1000, this.props.policy.samplePeriodSeconds * 1000);
    this.fenceTimer = this.clock.setTimeout(() => {
      this.fenceTimer = null;
      this.runFences();
      this.scheduleGuard();
    }, period);
  }

  recordAudit(entry: AuditRecord): void {
    this.audit.record(entry);
  }

  private auditManagerAction(operation: string, outcome: 'complete' | 'failed', error: string | null): void {
    this.audit.record({
      time: iso(this.clock.now()),
      user: 'manager',
      service: this.service,
      operation,
      request: null,
      outcome,
      error,
      taskId: null,
      durationMs: 0,
    });
  }

  /** AUTOMATIC: the FAILED master is replaced by the best eligible slave; a refusal is reported once. */
  private startAutomaticFailover(master: DataSourceRecord): void {
    const choice = selectCandidate(evaluateCandidates(this.candidateInputs(master.name), this.eligibilityRules(master.name, 'failover')));
    if ('refusal' in choice && this.autoFailoverReported) return;
    this.autoFailoverReported = true;
    const request: ControlRequest = { op: 'failover' };
    try {
      const planned = planOperation(this, request, { automatic: true });
      this.runTask(describeRequest(request), 'manager', request, planned, this.clock.now());
    } catch (e) {
      this.logger.error(`automatic failover: ${messageOf(e)}`);
    }
  }

  // ---- views -----------------------------------------------------------------------------------

  /**
   * The demo's managers are part of its simulation (one per simulated host); a real manager alone,
   * or a group, shows its real members.
   */
  private simulatedMembers(): boolean {
    return this.coordination.kind === 'local' && this.rawDriver.kind === 'simulated';
  }

  private coordinatorName(): string {
    if (!this.simulatedMembers()) return this.coordination.group().coordinator ?? 'NONE';
    const up = this.props.datasources.find((d) => this.live.get(d.name)?.obs?.managerUp !== false);
    return (up ?? this.props.datasources[0]!).name;
  }

  private refreshAlerts(): void {
    const now = this.clock.now();
    for (const r of this.serviceRecord.datasources) {
      const live = this.liveOf(r.name);
      const alert = alertOf(r.state, live.faults, r.lastError, live.warnings);
      if (alert.status !== live.alert.status || alert.message !== live.alert.message) {
        live.alert =
          alert.status !== live.alert.status
            ? { ...alert, time: now, timeIso: iso(now) }
            : { ...alert, time: live.alert.time, timeIso: live.alert.timeIso };
      }
    }
  }

  /** `asOf`: the time relative latency is measured at (when the view was invalidated). */
  private datasourceView(r: DataSourceRecord, asOf: number): DataSourceStatus {
    const cfg = this.configOf(r.name);
    const live = this.liveOf(r.name);
    const obs = live.obs;
    const rep = obs?.replicator ?? null;
    const relativeLatency = rep ? Math.round((asOf - live.seqnoChangedAt) / 10) / 100 : null;
    return {
      name: r.name,
      service: this.service,
      host: cfg.host,
      role: r.role,
      state: r.state,
      alertStatus: live.alert.status,
      alertMessage: live.alert.message,
      alertTime: live.alert.timeIso,
      lastShunReason: r.lastShunReason,
      lastError: r.lastError,
      precedence: cfg.precedence,
      standby: r.role === 'standby',
      archive: r.role === 'archive' || cfg.precedence === -1,
      witness: false,
      manager: { state: obs?.managerUp === false ? 'STOPPED' : 'ONLINE' },
      replicator: rep
        ? {
            state: rep.state,
            role: rep.role,
            masterHost: rep.masterHost,
            appliedSeqno: rep.appliedSeqno,
            storedSeqno: rep.storedSeqno,
            appliedLatency: rep.appliedLatency,
            relativeLatency: relativeLatency ?? 0,
          }
        : null,
      dataServer: { state: obs?.dataServer.state ?? 'UNKNOWN' },
      connections: { ...(obs?.connections ?? { active: 0, created: 0 }) },
      seqno: rep?.appliedSeqno ?? null,
      appliedLatency: rep?.appliedLatency ?? null,
      relativeLatency,
      pendingAction: this.pendingAction(r),
    };
  }

  private requireService(service: string): void {
    if (service !== this.service) {
      throw new ToolkitError('not_found', `no service '${service}'`, `This manager runs service '${this.service}'.`);
    }
  }

  private emit(event: ManagerEvent): void {
    if (this.dead) return;
    for (const listener of this.listeners) {
      try {
        listener(event);
      } catch (e) {
        this.logger.warn(`event listener failed: ${messageOf(e)}`);
      }
    }
  }

  // ---- durability ------------------------------------------------------------------------------

  private snapshot(): PersistedState {
    return { version: 1, service: this.serviceRecord, tasks: this.tasks, ...(this.alerts.length > 0 ? { alerts: this.alerts } : {}) };
  }

  /**
   * Set while the state on disk is behind the one in memory (the last save failed): the manager runs
   * on, and retries on the next change and on this timer. The old file stays whole meanwhile.
   */
  private unsaved: { retry: ReturnType<Clock['setTimeout']> | null } | null = null;
  private readonly saveRetryMs = 5_000;

  /** Commits the state if it changed; only the acting coordinator commits. */
  /**
   * Commits the state as it is now. Resolves, for a shared store (etcd), once it is there or
   * refused; null when nothing is left pending: the local store wrote it before returning, or it
   * was already saved.
   */
  private persist(): Promise<void> | null {
    if (this.dead || !this.inCharge) return null;
    const state = this.snapshot();
    const text = JSON.stringify(state);
    if (text === this.lastSaved && !this.unsaved) return null;
    let committed: void | Promise<void>;
    try {
      committed = this.coordination.commit(state);
    } catch (e) {
      this.saveFailed(e);
      return null;
    }
    if (committed instanceof Promise) {
      committed.then(() => this.saved(text), (e: unknown) => this.saveFailed(e));
      return committed;
    }
    this.saved(text);
    return null;
  }

  /** An operation's start, once its record is committed; a refusal says that it never started. */
  private startedOnceRecorded(committing: Promise<void>): Promise<void> {
    return committing.catch((e: unknown) => {
      throw new Error(`not started: the task could not be recorded in ${this.coordination.location} first (${messageOf(e)})`);
    });
  }

  private saved(text: string): void {
    this.lastSaved = text;
    if (this.unsaved) {
      if (this.unsaved.retry) this.clock.clearTimeout(this.unsaved.retry);
      this.unsaved = null;
      const where = this.coordination.kind === 'local' ? 'on disk' : 'in etcd';
      this.logger.info(`manager state saved to ${this.coordination.location} again: what is ${where} is current`);
    }
  }

  private saveFailed(e: unknown): void {
    if (this.dead) return;
    if (e instanceof NotCoordinatorError) {
      this.stepDown(e.message);
      return;
    }
    if (!this.unsaved) {
      this.unsaved = { retry: null };
      this.logger.error(
        `cannot save manager state to ${this.coordination.location}: ${messageOf(e)}; running on the state in memory ` +
          `(the ${this.coordination.kind === 'local' ? 'file' : 'store'} keeps the last saved state: a restart now would lose the changes since), retrying every ${this.saveRetryMs / 1000} s`,
      );
    }
    if (!this.unsaved.retry && !this.closed) {
      const unsaved = this.unsaved;
      unsaved.retry = this.clock.setTimeout(() => {
        unsaved.retry = null;
        if (!this.closed) this.persist();
      }, this.saveRetryMs);
    }
  }

  /**
   * Builds the records from the configuration, then lays the persisted state over them. With
   * `interrupted` (taking charge), tasks left in progress are ended with that line and a policy an
   * interrupted task held is restored; without (a follower's view), the state is shown as it is.
   */
  private restore(saved: PersistedState | null, interrupted: string | null): void {
    const fromConfig = (d: DataSourceConfig): DataSourceRecord => ({
      name: d.name,
      role: d.role,
      state: 'ONLINE',
      lastShunReason: null,
      lastError: null,
      fencedByMonitor: false,
    });
    const savedService = saved && saved.service.name === this.service ? saved.service : null;
    this.serviceRecord = {
      name: this.service,
      policy: savedService?.policy ?? this.props.policy.mode,
      datasources: this.props.datasources.map((d) => {
        const kept = savedService?.datasources.find((s) => s.name === d.name);
        return kept ? { ...fromConfig(d), ...kept } : fromConfig(d);
      }),
      policyToRestore: savedService?.policyToRestore ?? null,
      ...(savedService?.routing ? { routing: savedService.routing } : {}),
    };
    this.tasks = saved?.tasks ?? [];
    this.alerts = saved?.alerts ?? [];
    if (interrupted === null) return;
    const now = iso(this.clock.now());
    for (const t of this.tasks) {
      if (t.state !== 'in_progress') continue;
      t.state = 'failed';
      t.endTime = now;
      t.steps.push({ time: now, line: interrupted });
      // What the task had reported (a failover's loss estimate) stays: it is all anyone will know.
      t.taskResult = { ...(t.taskResult ?? {}), error: interrupted.toLowerCase() };
    }
    const held = this.serviceRecord.policyToRestore;
    if (held) {
      this.logger.warn(`restoring policy ${held.policy} held by interrupted task ${held.taskId}`);
      this.serviceRecord.policy = held.policy;
      this.serviceRecord.policyToRestore = null;
    }
    if (this.serviceRecord.datasources.filter((d) => d.role === 'master' && d.state !== 'SHUNNED').length !== 1) {
      this.logger.warn(`persisted state has no single master; the rules and 'recover' must settle it`);
    }
  }

  /**
   * After a restart, make the records and the cluster agree: a master left read-only by an
   * interrupted switch gets its writes back, or, if another datasource took over as master, that
   * one is adopted; slaves replicating from anything but the master are repointed.
   */
  /**
   * Reconciliation runs while the monitor's rules wait (at start, at a takeover): each of its calls
   * gets an observation's deadline, not an operation step's, so a server that stops answering then
   * delays a due failover by seconds, not by a minute.
   */
  private reconcileTimeoutMs(): number {
    return Math.min(this.observationTimeoutMs(), this.props.operationStepTimeoutSeconds * 1000);
  }

  private async reconcile(): Promise<void> {
    const master = this.master();
    if (!master) return;
    const lines: string[] = [];
    const task: TaskContext = { id: 'reconcile', signal: this.shutdown.signal, step: (line) => lines.push(line), report: () => undefined };
    const obsOf = (name: string) => this.liveOf(name).obs;
    const actsAsMaster = (name: string) => {
      const o = obsOf(name);
      return o?.readOnly === false && o.replicator?.role === 'master';
    };
    let current = master;
    let ahead: ReturnType<typeof serverAheadOfMaster> = null;
    /** The recorded master was left FAILED: nobody is repointed to it. */
    let held = false;
    try {
      if (obsOf(master.name)?.readOnly === true) {
        const other = this.serviceRecord.datasources.find((d) => d.name !== master.name && d.state !== 'SHUNNED' && actsAsMaster(d.name));
        if (other) {
          task.step(`'${this.qualified(other.name)}' ACCEPTS WRITES AND '${this.qualified(master.name)}' DOES NOT: ADOPTING '${this.qualified(other.name)}' AS THE MASTER`);
          other.role = 'master';
          other.state = 'ONLINE';
          master.role = 'slave';
          current = other;
        } else if ((ahead = serverAheadOfMaster(master.name, this.serviceRecord.datasources, obsOf))) {
          // A promotion no coordinator committed: giving the recorded master its writes back would lose what that server acknowledged.
          task.step(
            `MASTER '${this.qualified(master.name)}' WAS LEFT READ-ONLY AND '${this.qualified(ahead.name)}' HOLDS TRANSACTIONS IT LACKS (${ahead.transactions.join(',')}): LEFT FAILED FOR THE OPERATOR`,
          );
          master.state = 'FAILED';
          master.lastError = `'${this.qualified(ahead.name)}' HOLDS TRANSACTIONS IT LACKS: ${ahead.transactions.join(',')}`;
          master.fencedByMonitor = false;
          held = true;
        } else {
          task.step(`MASTER '${this.qualified(master.name)}' WAS LEFT READ-ONLY: ALLOWING WRITES`);
          await this.call(task, `allowing writes on ${master.name}`, (opts) => this.driver.allowWrites(this.configOf(master.name), opts), this.reconcileTimeoutMs());
        }
      }
      // Slaves follow the master once it answers, each only after the driver confirms it can without diverging.
      const masterAnswers = !held && obsOf(current.name)?.dataServer.state === 'ONLINE' && !obsOf(current.name)?.inconclusive;
      for (const d of masterAnswers ? this.serviceRecord.datasources : []) {
        if (d === current || d.state === 'SHUNNED') continue;
        const rep = obsOf(d.name)?.replicator;
        if (!rep || obsOf(d.name)?.dataServer.state !== 'ONLINE') continue;
        if (rep.role === 'slave' && rep.masterHost === current.name) continue;
        const check = await this.call(task, `checking that ${d.name} can follow ${current.name}`, (opts) => this.driver.checkRejoin(this.configOf(d.name), this.configOf(current.name), opts), this.reconcileTimeoutMs());
        if (!check.ok) {
          task.step(`'${this.qualified(d.name)}' CANNOT FOLLOW '${this.qualified(current.name)}': ${check.reason}`);
          d.state = 'FAILED';
          d.lastError = `CANNOT FOLLOW '${this.qualified(current.name)}': ${check.reason}`;
          d.fencedByMonitor = false;
          continue;
        }
        task.step(`REPOINTING '${this.qualified(d.name)}' TO REPLICATE FROM '${this.qualified(current.name)}'`);
        await this.call(task, `repointing ${d.name}`, (opts) => this.driver.replicateFrom(this.configOf(d.name), this.configOf(current.name), opts), this.reconcileTimeoutMs());
      }
      if (lines.length > 0) {
        await this.notifyRouters(task);
        await this.observeAll(this.shutdown.signal);
      }
    } catch (e) {
      lines.push(`RECONCILIATION STOPPED: ${messageOf(e)}`);
    }
    if (lines.length === 0) return;
    const now = iso(this.clock.now());
    this.tasks.push({
      taskId: randomUUID(),
      service: this.service,
      operation: 'reconcile after restart',
      requestedBy: 'manager',
      state: lines.some((l) => l.startsWith('RECONCILIATION STOPPED')) ? 'failed' : 'complete',
      startTime: now,
      endTime: now,
      steps: lines.map((line) => ({ time: now, line })),
      taskResult: { master: current.name },
    });
    for (const line of lines) this.logger.warn(`reconcile: ${line}`);
  }
}
