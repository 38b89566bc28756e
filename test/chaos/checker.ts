/**
 * Fault-injection checking in the spirit of Jepsen, shared by every chaos tier (the simulated
 * driver in test/chaos/simulated.test.ts, real MariaDB in test/system/mariadb-chaos.test.ts).
 * Nothing here knows a driver: a tier turns its cluster into the snapshots below and calls in.
 *
 * Random schedules
 *   mulberry32(seed) -> () => number in [0, 1)          the seeded generator
 *   generateSchedule(seed, opts) -> ChaosStep[]          faults, operator actions, writes, waits
 *   describeAction(action) -> string                    one line a human reads ("freeze db1 (SIGSTOP)")
 *   Targets may be symbolic: '@master' (the server the manager calls master when the step runs) and
 *   '@slave' (a random other one); resolve them with resolveTarget(target, names, master, pick).
 *   'heal' undoes one outstanding fault of the tier's FaultLedger (host up, thaw, start, replicator).
 *
 * Invariants (InvariantChecker; durations are measured)
 *   1 'two-writable'     more than one server accepts writes (up, not frozen, read_only off):
 *                        checkWriters(now, servers) after every change the tier can see; each
 *                        episode is one violation whose durationMs says how long it lasted. The one
 *                        grace (docs/safety.md): a server that came back on its own (serverReturned:
 *                        thawed, restarted, its host up again) may be writable for comebackGraceMs,
 *                        the time the manager needs to see it answer and fence it.
 *   2 'lost-write'       a write acknowledged by the master of the moment (recordWrite with
 *                        byMaster; a write a stale application got from a fenced-late server, or
 *                        one a server took in its come-back grace, is invariant 1's business)
 *                        missing on the current master:
 *                        checkWrites(now, master, holds) when no task runs; writes the master that
 *                        failed over acknowledged after the new master's received position, before
 *                        the failover ended, are excused by the task's loss window (lossWindowOf).
 *     'loss-unreported'  lost in a failover that promoted but was interrupted (manager killed) before
 *                        its result said what it may lose (addInterruptedFailover, interruptedFailoverOf).
 *     'loss-underreported' more acknowledged writes lost at or below the failed master's last-seen
 *                        position than the failover task said it might lose.
 *   3 'master-not-writable' once quiet (every server and host up, nothing frozen, no task running,
 *                        the manager up) for quietMs, the ONLINE master must be the writable server.
 *     'slave-follows-other' an ONLINE slave follows anything but the manager's master for longer
 *                        than followToleranceMs.
 *     'online-but-down'  a datasource shown ONLINE whose server (or host) is down or frozen for
 *                        longer than its detection time plus one sample and one observation timeout.
 *   Call checkView(now, servers, manager) at frequent ticks (every second of virtual time or so).
 *   managerStarted(now) after a manager (re)start: the view timers start again from then.
 *   finish(now) closes open episodes and returns every Violation (seed, step, time, duration, detail).
 *
 * The manager group's tier (group-runner.ts) adds its own kinds (one coordinator at a time, terms,
 * commits and driver actions tied to the acting coordinator's term), found by the tier itself.
 *
 * Reporting
 *   summarize(results, replay) groups violations by kind with the smallest failing seed of each,
 *   the episode durations of 'two-writable', and the one-line replay command.
 */
import { describeRequest, type ControlRequest, type PolicyMode, type TaskStatus } from '../../src/manager/model.js';

// ---- random ----------------------------------------------------------------------------------

/** mulberry32, the simulated driver's generator (src/manager/random.ts). */
import { seededRandom as mulberry32 } from '../../src/manager/random.js';
export { mulberry32 };

// ---- schedules -------------------------------------------------------------------------------

/** Faults a tier injects: the simulated driver's FaultAction names; real MariaDB maps them to signals and services. */
export type ChaosFault =
  | 'dataserver-stop'
  | 'dataserver-kill'
  | 'dataserver-freeze'
  | 'host-down'
  | 'replicator-stop'
  | 'errant-write';

/** A datasource name, or '@master' / '@slave' resolved when the step runs. */
export type ChaosTarget = string;

export type ChaosAction =
  | { type: 'fault'; fault: ChaosFault; target: ChaosTarget }
  /** kill -9 of the database server, restarted `restartAfterMs` later. */
  | { type: 'crash-restart'; target: ChaosTarget; restartAfterMs: number }
  /** Undo one outstanding fault; `pick` in [0, 1) chooses which. */
  | { type: 'heal'; pick: number }
  | { type: 'operator'; request: ControlRequest }
  /** The manager killed (-9) and started again from its persisted state `downMs` later. */
  | { type: 'manager-restart'; downMs: number }
  /** `count` writes sent directly to one server, as a stale application would. */
  | { type: 'direct-write'; target: ChaosTarget; count: number }
  | { type: 'nothing' };

export interface ChaosStep {
  index: number;
  action: ChaosAction;
  /** Virtual (or real) time to let pass after the action. */
  waitMs: number;
  /** Application writes per second routed to the master of the moment while waiting. */
  writesPerSecond: number;
}

export interface ScheduleOptions {
  /** Datasource names. */
  datasources: readonly string[];
  steps: number;
  /** Faults to draw from (default: all). */
  faults?: readonly ChaosFault[];
  /** Leave out manager restarts (a tier that cannot restart its manager). */
  managerRestarts?: boolean;
  /** How many outstanding faults at most before the schedule heals (default 2). */
  maxOutstanding?: number;
  /** Longest wait after a step (default 40 s). */
  maxWaitMs?: number;
}

export const ALL_FAULTS: readonly ChaosFault[] = ['dataserver-stop', 'dataserver-kill', 'dataserver-freeze', 'host-down', 'replicator-stop', 'errant-write'];

/** A seeded schedule: the same seed and options always give the same steps. */
export function generateSchedule(seed: number, opts: ScheduleOptions): ChaosStep[] {
  const rnd = mulberry32(seed ^ 0x5eed);
  const int = (lo: number, hi: number) => lo + Math.floor(rnd() * (hi - lo + 1));
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
  const names = opts.datasources;
  const faults = opts.faults ?? ALL_FAULTS;
  const maxOutstanding = opts.maxOutstanding ?? 2;
  const maxWait = opts.maxWaitMs ?? 40_000;
  const target = (): ChaosTarget => (rnd() < 0.5 ? '@master' : pick(names));
  let outstanding = 0;
  let policyHeld = 0;
  const steps: ChaosStep[] = [];
  for (let index = 0; index < opts.steps; index++) {
    let action: ChaosAction;
    const r = rnd();
    if (policyHeld > 0 && --policyHeld === 0) {
      action = { type: 'operator', request: { op: 'policy', mode: 'AUTOMATIC' } };
    } else if (outstanding > 0 && (outstanding >= maxOutstanding || r < 0.25)) {
      action = { type: 'heal', pick: rnd() };
      outstanding--;
    } else if (r < 0.55) {
      const fault = pick(faults);
      if (fault === 'dataserver-kill' && rnd() < 0.5) {
        action = { type: 'crash-restart', target: target(), restartAfterMs: int(1, 25) * 1000 };
      } else {
        action = { type: 'fault', fault, target: fault === 'errant-write' ? (rnd() < 0.8 ? '@slave' : pick(names)) : target() };
        if (fault !== 'errant-write') outstanding++;
      }
    } else if (r < 0.78) {
      const request = operatorRequest(rnd, names);
      if (request.op === 'policy' && request.mode !== 'AUTOMATIC') policyHeld = int(1, 4);
      action = { type: 'operator', request };
    } else if (r < 0.86 && opts.managerRestarts !== false) {
      action = { type: 'manager-restart', downMs: pick([0, 0, 1000, 5000, 15_000]) };
    } else if (r < 0.93) {
      action = { type: 'direct-write', target: pick(names), count: int(1, 3) };
    } else {
      action = { type: 'nothing' };
    }
    const w = rnd();
    const waitMs = w < 0.3 ? int(0, 10) * 100 : w < 0.7 ? int(2, 12) * 1000 : int(15, Math.max(15, Math.round(maxWait / 1000))) * 1000;
    steps.push({ index, action, waitMs, writesPerSecond: pick([0, 1, 2, 2, 4]) });
  }
  return steps;
}

function operatorRequest(rnd: () => number, names: readonly string[]): ControlRequest {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
  const r = rnd();
  if (r < 0.15) return { op: 'switch' };
  if (r < 0.3) return { op: 'switch', target: pick(names) };
  if (r < 0.4) return { op: 'failover' };
  if (r < 0.52) return { op: 'recover' };
  if (r < 0.88) return { op: 'datasource', host: pick(names), action: pick(['shun', 'welcome', 'online', 'offline', 'recover', 'fail'] as const) };
  return { op: 'policy', mode: pick<PolicyMode>(['AUTOMATIC', 'MANUAL', 'MANUAL', 'MAINTENANCE']) };
}

/** The concrete datasource of a target: '@master' is `master` (or the first name), '@slave' one of the others. */
export function resolveTarget(target: ChaosTarget, names: readonly string[], master: string | null, pick: number): string {
  const m = master ?? names[0]!;
  if (target === '@master') return m;
  if (target === '@slave') {
    const others = names.filter((n) => n !== m);
    return others[Math.floor(pick * others.length)] ?? m;
  }
  return target;
}

const FAULT_WORDS: Record<ChaosFault, string> = {
  'dataserver-stop': 'stop the database (clean shutdown) of',
  'dataserver-kill': 'kill -9 the database of',
  'dataserver-freeze': 'freeze (SIGSTOP) the database of',
  'host-down': 'cut off the host',
  'replicator-stop': 'stop the replicator of',
  'errant-write': 'write an errant transaction directly on',
};

/** One line a human reads. */
export function describeAction(a: ChaosAction): string {
  switch (a.type) {
    case 'fault':
      return `${FAULT_WORDS[a.fault]} ${a.target}`;
    case 'crash-restart':
      return `kill -9 the database of ${a.target}, restart it ${a.restartAfterMs / 1000} s later`;
    case 'heal':
      return 'heal one outstanding fault';
    case 'operator':
      return `cctrl> ${describeRequest(a.request)}`;
    case 'manager-restart':
      return `kill -9 the manager, restart it from its state ${a.downMs / 1000} s later`;
    case 'direct-write':
      return `a stale application writes ${a.count} row(s) directly to ${a.target}`;
    case 'nothing':
      return 'nothing';
  }
}

// ---- fault ledger ----------------------------------------------------------------------------

export type Outstanding = 'host-down' | 'frozen' | 'stopped' | 'replicator-stopped';
export type Repair = 'host-up' | 'dataserver-thaw' | 'dataserver-start' | 'replicator-start';

const REPAIR: Record<Outstanding, Repair> = {
  'host-down': 'host-up',
  frozen: 'dataserver-thaw',
  stopped: 'dataserver-start',
  'replicator-stopped': 'replicator-start',
};
const REPAIR_ORDER: readonly Outstanding[] = ['host-down', 'frozen', 'stopped', 'replicator-stopped'];

/** Which faults are outstanding on which server, so that 'heal' and the final healing know what to undo. */
export class FaultLedger {
  private readonly open = new Map<string, Set<Outstanding>>();

  /** Records what a fault leaves behind (nothing for an errant write). */
  note(node: string, fault: ChaosFault | Repair): void {
    const set = this.open.get(node) ?? new Set<Outstanding>();
    this.open.set(node, set);
    switch (fault) {
      case 'dataserver-stop':
      case 'dataserver-kill':
        set.add('stopped');
        set.delete('frozen');
        break;
      case 'dataserver-freeze':
        if (!set.has('stopped')) set.add('frozen');
        break;
      case 'host-down':
        set.add('host-down');
        break;
      case 'replicator-stop':
        set.add('replicator-stopped');
        break;
      case 'host-up':
        set.delete('host-down');
        break;
      case 'dataserver-thaw':
        set.delete('frozen');
        break;
      case 'dataserver-start':
        set.delete('stopped');
        break;
      case 'replicator-start':
        set.delete('replicator-stopped');
        break;
      case 'errant-write':
        break;
    }
  }

  /** One repair for the outstanding fault `pick` chooses, or null when nothing is outstanding. */
  nextRepair(pick: number): { node: string; repair: Repair } | null {
    const nodes = [...this.open.entries()].filter(([, s]) => s.size > 0).map(([n]) => n).sort();
    if (nodes.length === 0) return null;
    const node = nodes[Math.floor(pick * nodes.length)]!;
    const set = this.open.get(node)!;
    const what = REPAIR_ORDER.find((o) => set.has(o))!;
    return { node, repair: REPAIR[what] };
  }

  /** Every repair still due, in a safe order. */
  allRepairs(): Array<{ node: string; repair: Repair }> {
    const out: Array<{ node: string; repair: Repair }> = [];
    for (const [node, set] of [...this.open.entries()].sort((a, b) => a[0].localeCompare(b[0]))) {
      for (const o of REPAIR_ORDER) if (set.has(o)) out.push({ node, repair: REPAIR[o] });
    }
    return out;
  }
}

// ---- what the checker sees -------------------------------------------------------------------

/** One server as it really is (not as the manager says). */
export interface ServerSnapshot {
  name: string;
  /** Up, answering, read_only off: an application's write would commit now. */
  acceptsWrites: boolean;
  /**
   * False when the checker has no fresh answer of the server to go by (its own probe is slow, as on
   * a loaded machine): acceptsWrites and following then say nothing. Absent: always seen (the
   * simulated tier).
   */
  seen?: boolean;
  /** 'no' when the server runs and answers; otherwise what is wrong. */
  down: 'no' | 'server' | 'host' | 'frozen';
  /** The master its replication follows; null on a server replicating from nobody. */
  following: string | null;
}

/** The manager's view; null while the manager is down. */
export interface ManagerSnapshot {
  policy: PolicyMode;
  datasources: ReadonlyArray<{ name: string; role: string; state: string }>;
  /** An operation (switch, failover, recover, ...) is in progress. */
  taskRunning: boolean;
  /** The tier knows the manager cannot be settled yet (a manager group with a member or etcd fault): not quiet. */
  unsettled?: boolean;
}

/** A write the cluster acknowledged to the application. */
export interface AckedWrite {
  /** Whatever identifies the row or transaction to `holds`. */
  id: number | string;
  seqno: number;
  /** The server that acknowledged it. */
  server: string;
  at: number;
  gtid?: string;
  /** That server was the master of the moment (the manager's, or the connectors' while no manager runs). Default true. */
  byMaster?: boolean;
}

/** What a failover task says it may lose (see lossWindowOf). */
export interface LossWindow {
  oldPrimary: string;
  newPrimary: string;
  /** Transactions seen on the failed master that the new one may lack; null: unknown. */
  mayLoseTransactions: number | null;
  /** The failed master's last seen position and when; null when never seen. */
  lastSeenSeqno: number | null;
  lastSeenAt: number | null;
  /** The new master's received position when chosen: writes of the old master above it may be lost. */
  keptSeqno: number | null;
  /** When the failover ended: writes acknowledged later are not excused. */
  endedAt: number;
}

/**
 * The adapter from a failover task's result to its loss window, the one place that knows the
 * result's field names (`mayLoseTransactions`, `masterLastSeen: {seqno, time}`, `candidateReceivedSeqno`).
 * Null for anything but a completed failover.
 */
export function lossWindowOf(task: TaskStatus): LossWindow | null {
  if (!task.operation.startsWith('failover')) return null;
  const r = task.taskResult ?? {};
  // An interrupted failover keeps what it reported before it promoted.
  const interruptedWithReport = task.state === 'failed' && 'mayLoseTransactions' in r && /interrupted/.test(String(r.error));
  if (task.state !== 'complete' && !interruptedWithReport) return null;
  const oldPrimary = typeof r.oldPrimary === 'string' ? r.oldPrimary : null;
  const newPrimary = typeof r.newPrimary === 'string' ? r.newPrimary : null;
  if (!oldPrimary || !newPrimary) return null;
  const num = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : null);
  const seen = (r.masterLastSeen ?? null) as { seqno?: unknown; time?: unknown } | null;
  const seenAt = seen && typeof seen.time === 'string' ? Date.parse(seen.time) : null;
  return {
    oldPrimary,
    newPrimary,
    mayLoseTransactions: num(r.mayLoseTransactions),
    lastSeenSeqno: seen ? num(seen.seqno) : null,
    lastSeenAt: seenAt !== null && Number.isFinite(seenAt) ? seenAt : null,
    keptSeqno: num(r.candidateReceivedSeqno),
    endedAt: task.endTime ? Date.parse(task.endTime) : Number.POSITIVE_INFINITY,
  };
}

/**
 * A failover that promoted a new master but never ended (the manager was killed meanwhile): its
 * result, and so what it may have lost, was never reported. Read from its step log.
 */
export function interruptedFailoverOf(task: TaskStatus): { oldPrimary: string; newPrimary: string; endedAt: number } | null {
  if (task.state !== 'failed' || !task.operation.startsWith('failover')) return null;
  for (const s of task.steps) {
    const m = /^SHUNNED THE FAILED MASTER '([^'@]+)@[^']*' \(FAILED-OVER-TO-([^)]+)\)/.exec(s.line);
    if (m) return { oldPrimary: m[1]!, newPrimary: m[2]!, endedAt: task.endTime ? Date.parse(task.endTime) : Number.POSITIVE_INFINITY };
  }
  return null;
}

// ---- invariants ------------------------------------------------------------------------------

export type ViolationKind =
  | 'two-writable'
  | 'lost-write'
  | 'loss-underreported'
  | 'loss-unreported'
  | 'master-not-writable'
  | 'slave-follows-other'
  | 'online-but-down'
  | 'manager-error'
  // The manager group's tier (group-runner.ts): found by the tier and reported with report().
  | 'two-coordinators'
  | 'term-regressed'
  | 'stale-commit'
  | 'action-not-acting'
  | 'stale-term-action'
  | 'late-action'
  | 'promotion-without-quorum'
  | 'follower-accepted-control'
  | 'group-not-settled';

export interface Violation {
  kind: ViolationKind;
  seed: number;
  /** The schedule step during which it began. */
  step: number;
  /** Milliseconds since the run started. */
  at: number;
  /** How long it lasted; null for a point violation, or one still going on when the run ended (see `open`). */
  durationMs: number | null;
  open: boolean;
  detail: string;
}

export interface CheckerOptions {
  seed: number;
  /** Time origin of the run, for `at`. */
  startedAt: number;
  samplePeriodMs: number;
  /** Detection time of a dead database server / host: (threshold + 1) x sample period. */
  dbDetectMs: number;
  hostDetectMs: number;
  /** Bound of one observation (db + host ping timeouts). */
  observationTimeoutMs: number;
  /** How long an ONLINE slave may follow another server (default 3 samples). */
  followToleranceMs?: number;
  /** How long things must be quiet before the master must be the writable server (default 4 samples). */
  quietMs?: number;
  /** How long a server that came back on its own may accept writes before the manager fences it (default 1.25 s). */
  comebackGraceMs?: number;
}

interface Episode {
  key: string;
  kind: ViolationKind;
  since: number;
  step: number;
  detail: string;
  /** Reported as a violation (past its tolerance). */
  reported: Violation | null;
  tolerance: number;
}

export class InvariantChecker {
  private readonly opts: Required<CheckerOptions>;
  private step = -1;
  private readonly violations: Violation[] = [];
  private readonly episodes = new Map<string, Episode>();
  private readonly writes: AckedWrite[] = [];
  /** Writes confirmed on `confirmedOn` (a server's history only grows while it is master). */
  private confirmed = new Set<AckedWrite>();
  private confirmedOn: string | null = null;
  private readonly excused = new Set<AckedWrite>();
  private readonly lost = new Set<AckedWrite>();
  private readonly windows: LossWindow[] = [];
  private quietSince: number | null = null;

  constructor(opts: CheckerOptions) {
    this.opts = {
      followToleranceMs: 3 * opts.samplePeriodMs,
      quietMs: 4 * opts.samplePeriodMs,
      comebackGraceMs: 1250,
      ...opts,
    };
  }

  setStep(step: number): void {
    this.step = step;
  }

  recordWrite(w: AckedWrite): void {
    this.writes.push(w);
  }

  /**
   * A write `w.server` acknowledged when `master` was the master of the moment: by the master
   * (invariant 2) unless it is another server, or one that came back on its own and is in its
   * come-back grace (a thawed old master committing what was in flight before it is fenced: the
   * documented window of invariant 1, whose checks see it writable).
   */
  recordAcknowledged(w: Omit<AckedWrite, 'byMaster'>, master: string | null): void {
    this.recordWrite({ ...w, byMaster: w.server === master && !this.inComebackGrace(w.server, w.at) });
  }

  get acknowledged(): number {
    return this.writes.length;
  }

  addLossWindow(w: LossWindow): void {
    this.windows.push(w);
  }

  private readonly interrupted: Array<{ oldPrimary: string; newPrimary: string; endedAt: number }> = [];

  /** A failover interrupted after its promotion (interruptedFailoverOf): losses in it are 'loss-unreported'. */
  addInterruptedFailover(f: { oldPrimary: string; newPrimary: string; endedAt: number }): void {
    if (!this.interrupted.some((x) => x.oldPrimary === f.oldPrimary && x.newPrimary === f.newPrimary && x.endedAt === f.endedAt)) this.interrupted.push(f);
  }

  /** A point violation found by the tier itself (e.g. the manager threw). */
  report(kind: ViolationKind, now: number, detail: string): void {
    this.violations.push({ kind, seed: this.opts.seed, step: this.step, at: now - this.opts.startedAt, durationMs: null, open: false, detail });
  }

  /**
   * A manager (re)started: what it could not have seen before is timed from now (a fresh manager
   * must observe a fault for the detection time before acting on it).
   */
  managerStarted(now: number): void {
    this.managerDown = false;
    for (const name of this.returnedWhileDown) this.returnedAt.set(name, now);
    this.returnedWhileDown.clear();
    for (const e of this.episodes.values()) {
      if (e.kind !== 'online-but-down' && e.kind !== 'slave-follows-other') continue;
      if (e.reported) {
        e.reported.durationMs = now - e.since;
        this.episodes.delete(e.key);
      } else if (e.since < now) {
        e.since = now;
      }
    }
  }

  private readonly returnedAt = new Map<string, number>();
  /** While no manager runs, nothing can fence: servers that come back meanwhile get their grace when one starts. */
  private managerDown = false;
  private readonly returnedWhileDown = new Set<string>();

  /** `name` came back on its own (thawed, restarted, its host up again): the grace of invariant 1 starts. */
  serverReturned(name: string, now: number): void {
    if (this.managerDown) this.returnedWhileDown.add(name);
    else this.returnedAt.set(name, now);
  }

  /** The manager was killed: a server still in its grace, or coming back from now on, waits for the next manager. */
  managerStopped(now: number): void {
    this.managerDown = true;
    for (const [name, at] of this.returnedAt) if (now - at <= this.opts.comebackGraceMs) this.returnedWhileDown.add(name);
  }

  /** `name` came back on its own moments ago: what it accepts now is the documented window, not the master's. */
  inComebackGrace(name: string, now: number): boolean {
    return this.returnedWhileDown.has(name) || now - (this.returnedAt.get(name) ?? -Infinity) <= this.opts.comebackGraceMs;
  }

  /** Invariant 1: at most one server accepts writes. Call after every change and at every tick. */
  checkWriters(now: number, servers: readonly ServerSnapshot[]): void {
    const writable = servers.filter((s) => s.acceptsWrites).map((s) => s.name);
    const inGrace = (name: string) => this.inComebackGrace(name, now);
    const counted = writable.filter((name) => !inGrace(name));
    this.episode('two-writable', 'two-writable', now, counted.length > 1, 0, () => `${writable.join(' and ')} accept writes`);
  }

  /** Invariant 3 (and 1): the manager's view against the servers. Call at frequent ticks. */
  checkView(now: number, servers: readonly ServerSnapshot[], manager: ManagerSnapshot | null): void {
    this.checkWriters(now, servers);
    const byName = new Map(servers.map((s) => [s.name, s]));
    const allUp = servers.every((s) => s.down === 'no');
    if (!manager) {
      this.quietSince = null;
      return;
    }
    // MAINTENANCE: the manager was told not to act; its view is checked once it may again.
    const quietNow = allUp && !manager.taskRunning && !manager.unsettled && manager.policy !== 'MAINTENANCE';
    if (!quietNow) this.quietSince = null;
    else this.quietSince ??= now;
    const masterRec = manager.datasources.find((d) => d.role === 'master' && d.state !== 'SHUNNED') ?? null;
    const onlineMaster = masterRec && masterRec.state === 'ONLINE' ? masterRec : null;

    // The ONLINE master is the writable one once quiet.
    const quietLongEnough = this.quietSince !== null && now - this.quietSince >= this.opts.quietMs;
    const writable = servers.filter((s) => s.acceptsWrites).map((s) => s.name);
    // A master whose writability the checker cannot see now is judged at the next answer.
    const masterKnown = onlineMaster !== null && byName.get(onlineMaster.name)?.seen !== false;
    const mismatch = quietLongEnough && onlineMaster !== null && masterKnown && (writable.length !== 1 || writable[0] !== onlineMaster.name);
    this.episode('master-not-writable', 'master-not-writable', now, mismatch, 0, () =>
      `quiet for ${Math.round((now - this.quietSince!) / 1000)} s, the manager's ONLINE master is ${onlineMaster!.name} but ${writable.length === 0 ? 'no server' : writable.join(' and ')} accept(s) writes`,
    );

    for (const d of manager.datasources) {
      const s = byName.get(d.name);
      if (!s) continue;
      // An ONLINE slave follows the master.
      // Only while there is a master to follow: the manager's master ONLINE and its server up.
      const masterUp = masterRec !== null && masterRec.state === 'ONLINE' && byName.get(masterRec.name)?.down === 'no';
      const wrongMaster = d.state === 'ONLINE' && d.role !== 'master' && masterUp && s.down === 'no' && s.seen !== false && s.following !== masterRec!.name && manager.policy !== 'MAINTENANCE';
      this.episode(`follow:${d.name}`, 'slave-follows-other', now, wrongMaster, this.opts.followToleranceMs, () =>
        `${d.name} is ONLINE as a slave but follows ${s.following ?? 'nobody'}, not the master ${masterRec!.name}`,
      );
      // ONLINE with its server down, past detection (not in MAINTENANCE: the manager was told not to act).
      const detect = (s.down === 'host' ? this.opts.hostDetectMs : this.opts.dbDetectMs) + this.opts.samplePeriodMs + this.opts.observationTimeoutMs;
      const shownOnlineButDown = d.state === 'ONLINE' && s.down !== 'no' && manager.policy !== 'MAINTENANCE';
      this.episode(`down:${d.name}`, 'online-but-down', now, shownOnlineButDown, detect, () => `${d.name} is shown ONLINE (${d.role}) but its ${s.down === 'host' ? 'host is down' : s.down === 'frozen' ? 'server is frozen' : 'server is stopped'}`);
    }
  }

  /**
   * Invariant 2: every acknowledged write is on `master` (the manager's ONLINE master, up), except
   * what a failover's loss window excuses. Call when no task runs and the master answers.
   */
  checkWrites(now: number, master: string, holds: (server: string, w: AckedWrite) => boolean): void {
    if (this.confirmedOn !== master) {
      this.confirmed = new Set();
      this.confirmedOn = master;
    }
    for (const w of this.writes) {
      if (w.byMaster === false || this.confirmed.has(w) || this.excused.has(w) || this.lost.has(w)) continue;
      if (holds(master, w)) {
        this.confirmed.add(w);
        continue;
      }
      // Lost with the failed master's history: acknowledged by it, or by an earlier master and replicated to it.
      const window = this.windows.find((x) => (x.oldPrimary === w.server || holds(x.oldPrimary, w)) && w.at <= x.endedAt && (x.keptSeqno === null || w.seqno > x.keptSeqno));
      if (window) {
        this.excused.add(w);
        this.excusedBy.set(w, window);
        this.checkLossReport(now, window);
        continue;
      }
      this.lost.add(w);
      const cut = this.interrupted.find((x) => x.oldPrimary === w.server && w.at <= x.endedAt);
      if (cut) {
        this.report('loss-unreported', now, `write ${w.gtid ?? w.id} acknowledged by ${w.server} at +${Math.round((w.at - this.opts.startedAt) / 100) / 10} s is not on the master ${master}: lost in the failover ${cut.oldPrimary} -> ${cut.newPrimary}, interrupted by a manager restart before its result said what it lost`);
        continue;
      }
      this.report('lost-write', now, `write ${w.gtid ?? w.id} acknowledged by ${w.server} at +${Math.round((w.at - this.opts.startedAt) / 100) / 10} s is not on the master ${master}`);
    }
  }

  private readonly underreported = new Set<LossWindow>();
  private readonly excusedBy = new Map<AckedWrite, LossWindow>();

  private checkLossReport(now: number, window: LossWindow): void {
    if (this.underreported.has(window)) return;
    // Seen on the master: at or below the position it was last seen at (same-millisecond times cannot tell).
    const seenLost = [...this.excused].filter((w) => this.excusedBy.get(w) === window && window.lastSeenSeqno !== null && w.seqno <= window.lastSeenSeqno && (window.keptSeqno === null || w.seqno > window.keptSeqno));
    if (window.mayLoseTransactions !== null && seenLost.length > window.mayLoseTransactions) {
      this.underreported.add(window);
      this.report('loss-underreported', now, `failover ${window.oldPrimary} -> ${window.newPrimary} said it may lose ${window.mayLoseTransactions} transaction(s) seen on the master; ${seenLost.length} acknowledged write(s) seen there were lost`);
    }
  }

  /** Closes the run: open episodes are reported with their duration so far. */
  finish(now: number): Violation[] {
    for (const e of this.episodes.values()) {
      if (e.reported) {
        e.reported.durationMs = now - e.since;
        e.reported.open = true;
      }
    }
    this.episodes.clear();
    return this.violations;
  }

  private episode(key: string, kind: ViolationKind, now: number, active: boolean, tolerance: number, detail: () => string): void {
    const e = this.episodes.get(key);
    if (!active) {
      if (e) {
        if (e.reported) e.reported.durationMs = now - e.since;
        this.episodes.delete(key);
      }
      return;
    }
    if (!e) {
      const fresh: Episode = { key, kind, since: now, step: this.step, detail: detail(), reported: null, tolerance };
      this.episodes.set(key, fresh);
      this.maybeReport(fresh, now);
      return;
    }
    // A fault that turns into one detected more slowly (a stopped server whose host then goes down) gets the longer time.
    e.tolerance = Math.max(e.tolerance, tolerance);
    this.maybeReport(e, now);
  }

  private maybeReport(e: Episode, now: number): void {
    if (e.reported || now - e.since < e.tolerance) return;
    const v: Violation = { kind: e.kind, seed: this.opts.seed, step: e.step, at: e.since - this.opts.startedAt, durationMs: null, open: false, detail: e.detail };
    e.reported = v;
    this.violations.push(v);
  }
}

// ---- reporting -------------------------------------------------------------------------------

export interface SeedResult {
  seed: number;
  violations: Violation[];
  /** Human reading of the schedule, for the report of a failing seed. */
  schedule?: string[];
}

function fmtMs(ms: number | null): string {
  if (ms === null) return '?';
  return ms >= 1000 ? `${Math.round(ms / 100) / 10} s` : `${ms} ms`;
}

/** One line per violation: kind, seed, step, time, duration, detail, replay command. */
export function formatViolation(v: Violation, replay: (seed: number) => string): string {
  const dur = v.durationMs === null && !v.open ? '' : ` for ${fmtMs(v.durationMs)}${v.open ? ' (still at the end)' : ''}`;
  return `[${v.kind}] seed ${v.seed} step ${v.step} at +${fmtMs(v.at)}${dur}: ${v.detail}  -- replay: ${replay(v.seed)}`;
}

/** Violations grouped by kind, with the smallest failing seed of each and its replay command. */
export function summarize(results: readonly SeedResult[], replay: (seed: number) => string): string {
  const byKind = new Map<ViolationKind, Violation[]>();
  for (const r of results) for (const v of r.violations) byKind.set(v.kind, [...(byKind.get(v.kind) ?? []), v]);
  const failing = results.filter((r) => r.violations.length > 0).length;
  const lines = [`chaos: ${results.length} seed(s), ${failing} with violations`];
  for (const [kind, vs] of [...byKind.entries()].sort((a, b) => a[0].localeCompare(b[0]))) {
    const seeds = new Set(vs.map((v) => v.seed));
    const smallest = vs.reduce((a, b) => (b.seed < a.seed || (b.seed === a.seed && b.at < a.at) ? b : a));
    const durations = vs.map((v) => v.durationMs).filter((d): d is number => d !== null).sort((a, b) => a - b);
    const spread = durations.length > 0 ? `; durations min ${fmtMs(durations[0]!)}, median ${fmtMs(durations[Math.floor(durations.length / 2)]!)}, max ${fmtMs(durations.at(-1)!)}, still open at the end ${vs.filter((v) => v.open).length}` : '';
    lines.push(`  ${kind}: ${vs.length} in ${seeds.size} seed(s)${spread}`);
    lines.push(`    smallest seed ${smallest.seed}: ${formatViolation(smallest, replay)}`);
  }
  return lines.join('\n');
}
