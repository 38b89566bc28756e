/**
 * The chaos checker over a manager GROUP: three members (db1..db3, each beside its datasource) on
 * one simulated cluster and one simulated etcd (MemoryEtcd), all on one VirtualClock. The cluster
 * half of a run is sim-runner's createSimWorld (servers, application writes, database faults, the
 * invariants of checker.ts); this file adds the members, their faults and the group's invariants.
 *
 * Fault model (besides the database faults and operator actions of checker.ts's schedules)
 *   kill -9 of a member      halt(): nothing more of that process runs (its timers, its pending
 *                            driver and etcd answers are dropped); its lease runs out in etcd.
 *                            Restarted later (a new process: new lease, new term if elected).
 *   clean stop / start       close(): it resigns and revokes its lease; a rolling restart stops and
 *                            starts each member in turn.
 *   partition(member)        its etcd client reaches nothing (every call times out), the
 *                            databases still answer it; healed later.
 *   quorum lost              etcd answers nobody; back later.
 *   freeze (SIGSTOP)         the member's process stops, the world does not: each member runs on
 *                            its own Clock over the shared one, and while frozen none of its timers
 *                            fire (they are kept, overdue) and every answer of the databases and of
 *                            etcd to a request it sent is held; requests it sent before the freeze
 *                            still reach their server and take effect (a real request is on the
 *                            wire). Time keeps counting (leases expire, monotonic() moves on). On
 *                            the thaw (SIGCONT) it runs as Node does after a stop: first every
 *                            overdue timer in due order (the timers phase; answers arriving
 *                            meanwhile are still held), then the held answers in arrival order
 *                            (the poll phase). Nothing is sent to a frozen member (an HTTP call
 *                            would hang), and it is killed, not stopped cleanly, when told to go.
 *   operator calls           sent to the acting coordinator; sometimes to another member, which
 *                            must refuse ('not the coordinator', 'lost the group' or 'taking over'):
 *                            the HTTP forwarding to the coordinator is tested elsewhere.
 *
 * Invariants (beyond checker.ts's: one writable master, no acknowledged write lost, ...), checked at
 * every timer a member's clock fires, every driver action and every tick:
 *   two-coordinators          more than one member acting (ManagerCore.acting()) at one instant.
 *   term-regressed            a coordinator acting in a term lower than one already seen, or two
 *                             coordinators in one term.
 *   stale-commit              a state commit etcd accepted while the leader key was not the
 *                             committer's at that term, or sent by an async chain that began in
 *                             another term of that member.
 *   action-not-acting         a mutating driver call (fence, allow writes, promote, repoint,
 *                             replicator, heartbeat, connector notice) sent by a member not acting
 *                             then; the one exception is the failsafe fence of its own datasource.
 *   stale-term-action         a mutating call sent while acting in term T by an async chain (a
 *                             timer's callback and everything it awaited, tracked with
 *                             AsyncLocalStorage) that began while that member acted in another
 *                             term: it acts on a view of an earlier term (a frozen coordinator
 *                             that woke up, lost and won the group again, say).
 *   late-action               a mutating call that completed after the sender's term had left
 *                             the leader key (what it did landed outside its lease).
 *   promotion-without-quorum  a promote sent while etcd's majority had been lost for longer than any
 *                             acting window could last (two thirds of a TTL).
 *   follower-accepted-control a member not acting accepted a control call.
 * Liveness (at the end, after every fault is healed and the group has settled):
 *   group-not-settled         not exactly one coordinator, or a running member showing another
 *                             master than the coordinator's.
 */
import type { ConnectorFleet } from '../../src/manager/routing.js';
import { AsyncLocalStorage } from 'node:async_hooks';
import { isToolkitError } from '../../src/errors.js';
import type { Clock, TimerHandle, VirtualClock } from '../../src/manager/clock.js';
import { EtcdCoordination } from '../../src/manager/coordination/etcd.js';
import type { EtcdCompare, EtcdKv, EtcdOp, EtcdTxnResult } from '../../src/manager/coordination/kv.js';
import { MemoryEtcd } from '../../src/manager/coordination/memory-etcd.js';
import type { ManagerCore } from '../../src/manager/core.js';
import type { ClusterDriver, DataSourceConfig, DriverCallOptions } from '../../src/manager/drivers/driver.js';
import { createManager, type ManagerLogger } from '../../src/manager/index.js';
import type { ControlRequest, ManagerEvent } from '../../src/manager/model.js';
import {
  describeAction,
  generateSchedule,
  interruptedFailoverOf,
  lossWindowOf,
  mulberry32,
  type ChaosAction,
  type ScheduleOptions,
  type ChaosStep,
  type SeedResult,
  type ViolationKind,
} from './checker.js';
import { createSimWorld, type SimWorld } from './sim-runner.js';

const SERVICE = 'alpha';
const MEMBERS = ['db1', 'db2', 'db3'] as const;
const PREFIX = '/tungsten';
const LEADER_KEY = `${PREFIX}/${SERVICE}/leader`;
const STATE_KEY = `${PREFIX}/${SERVICE}/state`;

// ---- schedules -----------------------------------------------------------------------------------

/** A member: the acting coordinator, a member that is not, the one beside the master, or by name. */
export type MemberTarget = '@coordinator' | '@follower' | '@beside-master' | string;

export type GroupAction =
  /** kill -9; restarted `downMs` later within the step, or left down until a heal (null). */
  | { type: 'member-kill'; target: MemberTarget; downMs: number | null }
  /** A clean stop; started again `downMs` later, or left down until a heal (null). */
  | { type: 'member-stop'; target: MemberTarget; downMs: number | null }
  | { type: 'rolling-restart' }
  | { type: 'partition'; target: MemberTarget }
  | { type: 'quorum-lost' }
  | { type: 'freeze'; target: MemberTarget }
  /** Undo one outstanding member or etcd fault; `pick` in [0, 1) chooses which. */
  | { type: 'group-heal'; pick: number };

export interface GroupStep {
  index: number;
  action: ChaosAction | GroupAction;
  waitMs: number;
  writesPerSecond: number;
  /** For operator actions: sent to a member that is not the coordinator (which must refuse). */
  toFollower?: boolean;
}

export function isGroupAction(a: ChaosAction | GroupAction): a is GroupAction {
  return ['member-kill', 'member-stop', 'rolling-restart', 'partition', 'quorum-lost', 'freeze', 'group-heal'].includes(a.type);
}

/**
 * The database schedule of checker.ts (the same for the same seed and step count) with member and
 * etcd faults inserted before some of its steps. The schedule's 'manager-restart' is a kill -9 of
 * the acting coordinator, restarted `downMs` later.
 */
export function generateGroupSchedule(seed: number, opts: ScheduleOptions): GroupStep[] {
  const base = generateSchedule(seed, opts);
  const rnd = mulberry32(seed ^ 0x9c0a9);
  const int = (lo: number, hi: number) => lo + Math.floor(rnd() * (hi - lo + 1));
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
  const target = (): MemberTarget => pick<MemberTarget>(['@coordinator', '@coordinator', '@follower', '@beside-master', ...MEMBERS]);
  const out: GroupStep[] = [];
  let outstanding = 0;
  const push = (action: ChaosAction | GroupAction, waitMs: number, writesPerSecond: number, toFollower?: boolean) =>
    out.push({ index: out.length, action, waitMs, writesPerSecond, ...(toFollower ? { toFollower } : {}) });
  const groupWait = () => {
    const w = rnd();
    // Short (inside a lease), around a lease, and long (past detection and failover).
    return w < 0.3 ? int(0, 20) * 100 : w < 0.7 ? int(2, 12) * 1000 : int(15, 40) * 1000;
  };
  for (const step of base) {
    if (rnd() < 0.4) {
      let action: GroupAction;
      const r = rnd();
      if (outstanding > 0 && (outstanding >= 2 || r < 0.3)) {
        action = { type: 'group-heal', pick: rnd() };
        outstanding--;
      } else if (r < 0.45) {
        const held = rnd() < 0.5;
        action = { type: 'member-kill', target: target(), downMs: held ? null : pick([0, 1000, 3000, 8000, 20_000]) };
        if (held) outstanding++;
      } else if (r < 0.55) {
        const held = rnd() < 0.4;
        action = { type: 'member-stop', target: target(), downMs: held ? null : pick([0, 2000, 5000]) };
        if (held) outstanding++;
      } else if (r < 0.6) {
        action = { type: 'rolling-restart' };
      } else if (r < 0.75) {
        action = { type: 'partition', target: target() };
        outstanding++;
      } else if (r < 0.83) {
        action = { type: 'quorum-lost' };
        outstanding++;
      } else {
        action = { type: 'freeze', target: target() };
        outstanding++;
      }
      push(action, groupWait(), pick([0, 1, 2, 2, 4]));
    }
    push(step.action, step.waitMs, step.writesPerSecond, step.action.type === 'operator' && rnd() < 0.25);
  }
  return out;
}

export function describeGroupAction(a: GroupAction): string {
  switch (a.type) {
    case 'member-kill':
      return `kill -9 the manager ${a.target}${a.downMs === null ? ' (left down)' : `, restart it ${a.downMs / 1000} s later`}`;
    case 'member-stop':
      return `stop the manager ${a.target} cleanly${a.downMs === null ? ' (left down)' : `, start it ${a.downMs / 1000} s later`}`;
    case 'rolling-restart':
      return 'rolling restart of every manager';
    case 'partition':
      return `cut the manager ${a.target} off from etcd`;
    case 'quorum-lost':
      return "etcd loses its majority";
    case 'freeze':
      return `freeze (SIGSTOP) the manager ${a.target}`;
    case 'group-heal':
      return 'heal one outstanding member or etcd fault';
  }
}

// ---- a member's process ------------------------------------------------------------------------

/** What an async chain of a member began under: a timer's callback, or a control call. */
interface ChainContext {
  member: string;
  incarnation: number;
  /** The term it acted in when the chain began; null when it was not acting. */
  term: number | null;
}

const chains = new AsyncLocalStorage<ChainContext>();

/**
 * One member process's clock over the shared one (see the fault model above): timers that come due
 * while it is frozen wait for the thaw, answers to its requests are held, and once killed nothing of
 * it runs again.
 */
class ProcessClock implements Clock {
  frozen = false;
  dead = false;
  /** The timers phase of a thaw: answers still wait for the poll phase. */
  private ioHeld = false;
  private nextId = 1;
  private readonly inner = new Map<number, TimerHandle>();
  private deferred: Array<{ id: number; fn: () => void }> = [];
  private held: Array<() => void> = [];

  constructor(
    private readonly shared: VirtualClock,
    private readonly fire: (fn: () => void) => void,
  ) {}

  now(): number {
    return this.shared.now();
  }

  monotonic(): number {
    return this.shared.monotonic();
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    const id = this.nextId++;
    const handle = this.shared.setTimeout(() => {
      this.inner.delete(id);
      if (this.dead) return;
      if (this.frozen) this.deferred.push({ id, fn });
      else this.fire(fn);
    }, ms);
    if (!this.dead) this.inner.set(id, handle);
    return { id };
  }

  clearTimeout(handle: TimerHandle): void {
    const h = this.inner.get(handle.id);
    if (h) this.shared.clearTimeout(h);
    this.inner.delete(handle.id);
    if (this.deferred.length > 0) this.deferred = this.deferred.filter((d) => d.id !== handle.id);
  }

  /** An answer to one of this process's requests: delivered now, or when it runs again. */
  hold<T>(p: Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      p.then(
        (v) => this.deliver(() => resolve(v)),
        (e: unknown) => this.deliver(() => reject(e)),
      );
    });
  }

  private deliver(fn: () => void): void {
    if (this.dead) return;
    if (this.frozen || this.ioHeld) this.held.push(fn);
    else fn();
  }

  freeze(): void {
    this.frozen = true;
  }

  /** SIGCONT: the overdue timers (each followed by its microtasks), then the held answers. */
  async thaw(settle: () => Promise<void>): Promise<void> {
    if (!this.frozen || this.dead) return;
    this.frozen = false;
    this.ioHeld = true;
    while (this.deferred.length > 0 && !this.dead) {
      const next = this.deferred.shift()!;
      this.fire(next.fn);
      await settle();
    }
    this.ioHeld = false;
    const answers = this.held;
    this.held = [];
    for (const a of answers) if (!this.dead) a();
    await settle();
  }

  kill(): void {
    this.dead = true;
    for (const h of this.inner.values()) this.shared.clearTimeout(h);
    this.inner.clear();
    this.deferred = [];
    this.held = [];
  }
}

interface MemberProcess {
  name: string;
  incarnation: number;
  clock: ProcessClock;
  coordination: EtcdCoordination;
  /** null while it starts. */
  core: ManagerCore | null;
  status: 'starting' | 'running' | 'stopping';
  /** Its driver calls in flight (one connection each). */
  connections: Set<AbortController>;
  /** How often it was frozen. */
  freezes: number;
}

/** MemoryEtcd that sees who sends each request and checks every state commit it accepts. */
class CheckedEtcd extends MemoryEtcd {
  private caller: string | null = null;
  onCommit: (member: string | null, term: number | null, leader: { value: string; createRevision: number } | null) => void = () => undefined;

  override request<T>(name: string, what: string, work: () => T): Promise<T> {
    return super.request(name, what, () => {
      const before = this.caller;
      this.caller = name;
      try {
        return work();
      } finally {
        this.caller = before;
      }
    });
  }

  override txn(compare: EtcdCompare[], success: EtcdOp[], failure: EtcdOp[]): EtcdTxnResult {
    const commitsState = success.some((op) => 'put' in op && op.put.key === STATE_KEY);
    const leader = commitsState ? this.get(LEADER_KEY) : null;
    const r = super.txn(compare, success, failure);
    if (commitsState && r.succeeded) {
      const termCompare = compare.find((c) => c.key === LEADER_KEY && c.target === 'CREATE');
      this.onCommit(this.caller, termCompare ? Number(termCompare.value) : null, leader ? { value: leader.value, createRevision: leader.createRevision } : null);
    }
    return r;
  }
}

// ---- the run -----------------------------------------------------------------------------------

export interface GroupRunOptions {
  /** Steps of the database schedule (member and etcd faults come on top). */
  steps: number;
  verbose?: (line: string) => void;
  /** Quiet time at the end, after healing everything and a recover (default 30 s). */
  settleMs?: number;
}

const MUTATING = new Set(['notifyRouters', 'fenceWrites', 'allowWrites', 'promote', 'replicateFrom', 'setReplicator', 'heartbeat']);

export async function runGroupSeed(seed: number, opts: GroupRunOptions): Promise<SeedResult> {
  const grnd = mulberry32(seed ^ 0x6a0b);
  const ttlSeconds = [3, 3, 5, 9][Math.floor(grnd() * 4)]!;
  const actWindowMs = (ttlSeconds * 1000 * 2) / 3;
  const world: SimWorld = createSimWorld(seed, {
    verbose: opts.verbose,
    properties: ['manager.coordination=etcd', 'manager.etcd.endpoints=http://etcd.invalid:2379', `manager.coordination.ttl=${ttlSeconds}`],
  });
  const { clock, driver, props, names, checker, log } = world;
  world.reading[0] += `, etcd lease ${ttlSeconds} s`;
  const etcd = new CheckedEtcd(clock, { timeoutMs: 500 });
  const schedule = generateGroupSchedule(seed, { steps: opts.steps, datasources: names });
  const procs = new Map<string, MemberProcess>();
  let incarnations = 0;
  let quorumLostAt: number | null = null;
  const report = (kind: ViolationKind, detail: string) => {
    checker.report(kind, clock.now(), detail);
    log(`  VIOLATION [${kind}] ${detail}`);
  };
  const settle = async () => {
    for (let i = 0; i < 20; i++) await new Promise<void>((r) => setImmediate(r));
  };

  // -- who acts -------------------------------------------------------------------------------------

  /**
   * Whether a member may act now: acting() once it runs; while it starts or stops cleanly (close()
   * settles the running task, a reverted switch say, before it resigns), holding the lease.
   */
  const actingNow = (p: MemberProcess): boolean => (p.core && p.status === 'running' ? p.core.acting() : !p.clock.dead && p.coordination.isCoordinator());
  // group().term, read directly: it is asked at every timer of every member, and group() builds the whole view.
  const termOf = (p: MemberProcess): number | null => {
    if (!p.coordination.isCoordinator()) return null;
    const term = (p.coordination as unknown as { term?: number | null }).term;
    return term === undefined ? p.coordination.group().term : term;
  };
  const acting = (): MemberProcess[] => [...procs.values()].filter(actingNow);
  const coordinator = (): MemberProcess | undefined => {
    const a = acting();
    return a.length === 1 ? a[0] : undefined;
  };

  let maxTerm: { term: number; holder: string } | null = null;
  let twoCoordinators = false;
  const regressed = new Set<string>();
  let shownCoordinator: string | null = null;
  const seenTasks = new Set<string>();
  const noteTasks = (core: ManagerCore) => {
    for (const t of core.history(SERVICE, 50)) {
      const reported = lossWindowOf(t);
      if (reported) checker.addLossWindow(reported);
      const cut = interruptedFailoverOf(t);
      if (cut && !reported) checker.addInterruptedFailover(cut);
    }
  };
  /** The group's invariants at this instant. */
  const checkGroup = () => {
    const now = acting();
    if (now.length > 1 && !twoCoordinators) report('two-coordinators', `${now.map((p) => `${p.name} (term ${termOf(p)})`).join(' and ')} act as coordinator at once`);
    twoCoordinators = now.length > 1;
    for (const p of now) {
      const term = termOf(p);
      if (term === null) continue;
      const holder = `${p.name}#${p.incarnation}`;
      if (maxTerm && (term < maxTerm.term || (term === maxTerm.term && holder !== maxTerm.holder)) && !regressed.has(`${holder}:${term}`)) {
        regressed.add(`${holder}:${term}`);
        report('term-regressed', `${p.name} acts in term ${term} after ${maxTerm.holder.split('#')[0]} acted in term ${maxTerm.term}`);
      }
      if (!maxTerm || term > maxTerm.term) maxTerm = { term, holder };
    }
    // The checker's "manager up" is a coordinator acting: without one nothing fences.
    // A frozen coordinator fences nothing: for the checker no manager runs then.
    const c = now.length === 1 && now[0]!.core && !now[0]!.clock.frozen ? now[0]! : null;
    const key = c ? `${c.name}#${c.incarnation}` : null;
    if (key !== shownCoordinator) {
      if (shownCoordinator !== null) checker.managerStopped(clock.now());
      if (c) {
        checker.managerStarted(clock.now());
        noteTasks(c.core!);
      }
      if (opts.verbose) log(`  coordinator: ${c ? `${c.name} (term ${termOf(c)})` : 'none'}`);
      shownCoordinator = key;
    }
  };

  etcd.onCommit = (member, term, leader) => {
    const p = member ? procs.get(member) : undefined;
    if (!leader || term === null || leader.createRevision !== term || leader.value !== member) {
      report('stale-commit', `etcd accepted a state commit by ${member ?? '?'} in term ${term} while the leader key was ${leader ? `${leader.value}'s (term ${leader.createRevision})` : 'gone'}`);
    }
    const ctx = chains.getStore();
    if (p && ctx && ctx.member === p.name && ctx.incarnation === p.incarnation && ctx.term !== null && ctx.term !== term) {
      report('stale-commit', `${p.name} committed the state in term ${term} from work begun in its term ${ctx.term}`);
    }
  };

  // -- a member's driver and etcd client --------------------------------------------------------------

  const memberDriver = (p: () => MemberProcess): ClusterDriver & ConnectorFleet => {
    const d = driver;
    /**
     * One call of this process to a database server. A kill -9 closes its connections: the calls in
     * flight are aborted. The simulated server runs a call that waited on it when it wakes; the
     * mysql driver opens a connection per call, and a client frozen meanwhile cannot finish the
     * handshake, so a call whose sender was frozen during it is not held against the lease.
     */
    const send = <T>(method: string, ds: DataSourceConfig | null, callOpts: DriverCallOptions, run: (o: DriverCallOptions) => Promise<T>): Promise<T> => {
      const proc = p();
      if (proc.clock.dead) return new Promise<T>(() => undefined);
      if (proc.clock.frozen) report('manager-error', `the frozen member ${proc.name} sent ${method}${ds ? ` ${ds.name}` : ''} (harness: a frozen process ran)`);
      const connection = new AbortController();
      const outer = callOpts.signal;
      const onOuterAbort = () => connection.abort(outer?.reason);
      if (outer?.aborted) connection.abort(outer.reason);
      else outer?.addEventListener('abort', onOuterAbort, { once: true });
      proc.connections.add(connection);
      const call = () => {
        const p = run({ ...callOpts, signal: connection.signal });
        void p.then(done, done);
        return p;
      };
      const done = () => {
        proc.connections.delete(connection);
        outer?.removeEventListener('abort', onOuterAbort);
      };
      if (!MUTATING.has(method)) return proc.clock.hold(call());
      checkGroup();
      const what = `${method}${ds ? ` ${ds.name}` : ''}`;
      const isActing = actingNow(proc);
      const failsafe = method === 'fenceWrites' && ds?.name === proc.name;
      const term = termOf(proc);
      const freezes = proc.freezes;
      if (!isActing && !failsafe) report('action-not-acting', `${proc.name} sent ${what} while not acting as coordinator (term ${term ?? 'none'})`);
      const ctx = chains.getStore();
      if (ctx && ctx.member === proc.name && ctx.incarnation === proc.incarnation && ctx.term !== null && term !== null && ctx.term !== term) {
        report('stale-term-action', `${proc.name} sent ${what} in term ${term} from work begun in its term ${ctx.term}`);
      }
      if (method === 'promote' && quorumLostAt !== null && clock.now() - quorumLostAt >= actWindowMs) {
        report('promotion-without-quorum', `${proc.name} sent ${what} ${Math.round(clock.now() - quorumLostAt)} ms after etcd lost its majority`);
      }
      if (opts.verbose && process.env.CHAOS_TRACE_ACTIONS) log(`  ${proc.name}: ${what}${failsafe && !isActing ? ' (failsafe)' : ` (term ${term})`}`);
      const sent = call();
      sent.then(
        () => {
          if (failsafe && !isActing) return;
          const leader = etcd.peek(LEADER_KEY);
          if (term === null || (leader && leader.createRevision === term)) return;
          const where = `${proc.name}'s ${what}, sent in term ${term}, completed when the leader key was ${leader ? `${leader.value}'s (term ${leader.createRevision})` : 'gone'}`;
          if (proc.freezes !== freezes || proc.clock.frozen) log(`  ${where}: its sender was frozen meanwhile (not held against the lease)`);
          else report('late-action', where);
        },
        () => undefined,
      );
      return proc.clock.hold(sent);
    };
    return {
      kind: d.kind,
      observe: (ds, o) => send('observe', ds, o, (x) => d.observe(ds, x)),
      routers: (o) => send('routers', null, o, (x) => d.routers(x)),
      notifyRouters: (master, readable, o) => send('notifyRouters', null, o, (x) => d.notifyRouters(master, readable, x)),
      position: (ds, o) => send('position', ds, o, (x) => d.position(ds, x)),
      fenceWrites: (ds, o) => send('fenceWrites', ds, o, (x) => d.fenceWrites(ds, x)),
      readOnly: (ds, o) => send('readOnly', ds, o, (x) => d.readOnly(ds, x)),
      allowWrites: (ds, o) => send('allowWrites', ds, o, (x) => d.allowWrites(ds, x)),
      waitApplied: (ds, pos, o) => send('waitApplied', ds, o, (x) => d.waitApplied(ds, pos, x)),
      promote: (ds, o) => send('promote', ds, o, (x) => d.promote(ds, x)),
      replicateFrom: (ds, m, o) => send('replicateFrom', ds, o, (x) => d.replicateFrom(ds, m, x)),
      checkRejoin: (ds, m, o) => send('checkRejoin', ds, o, (x) => d.checkRejoin(ds, m, x)),
      setReplicator: (ds, on, o) => send('setReplicator', ds, o, (x) => d.setReplicator(ds, on, x)),
      heartbeat: (ds, o) => send('heartbeat', ds, o, (x) => d.heartbeat(ds, x)),
      close: async () => undefined,
    };
  };

  const memberKv = (p: () => MemberProcess, kv: EtcdKv): EtcdKv => {
    const send = <T>(run: () => Promise<T>): Promise<T> => {
      const proc = p();
      if (proc.clock.dead) return new Promise<T>(() => undefined);
      return proc.clock.hold(run());
    };
    return {
      get: (key) => send(() => kv.get(key)),
      range: (prefix) => send(() => kv.range(prefix)),
      txn: (c, s, f) => send(() => kv.txn(c, s, f)),
      leaseGrant: (ttl) => send(() => kv.leaseGrant(ttl)),
      leaseKeepAlive: (id) => send(() => kv.leaseKeepAlive(id)),
      leaseRevoke: (id) => send(() => kv.leaseRevoke(id)),
      close: () => kv.close(),
    };
  };

  // -- member lifecycle -------------------------------------------------------------------------------

  const onEvent = (e: ManagerEvent) => {
    if (e.type !== 'task-end') return;
    const w = lossWindowOf(e.task);
    if (w && !seenTasks.has(`${e.task.taskId}:${e.task.state}`)) checker.addLossWindow(w);
    seenTasks.add(`${e.task.taskId}:${e.task.state}`);
    if (opts.verbose && !seenTasks.has(`${e.task.taskId}:logged`)) {
      seenTasks.add(`${e.task.taskId}:logged`);
      log(`  task '${e.task.operation}' ${e.task.state}: ${e.task.steps.map((s) => s.line).join(' | ')} ${JSON.stringify(e.task.taskResult)}`);
    }
  };

  const start = (name: string): void => {
    if (procs.has(name)) return;
    const incarnation = ++incarnations;
    let self: MemberProcess | null = null;
    const me = () => self!;
    const clockOf = new ProcessClock(clock, (fn) => {
      const p = me();
      chains.run({ member: p.name, incarnation: p.incarnation, term: actingNow(p) ? termOf(p) : null }, () => {
        checkGroup();
        fn();
      });
    });
    const logger: ManagerLogger =
      opts.verbose && process.env.CHAOS_TRACE_LOG
        ? { info: (m) => log(`  [${name}] ${m}`), warn: (m) => log(`  [${name}] WARN ${m}`), error: (m) => log(`  [${name}] ERROR ${m}`) }
        : { info: () => undefined, warn: () => undefined, error: () => undefined };
    const coordination = new EtcdCoordination({ kv: memberKv(me, etcd.client(name)), clock: clockOf, service: SERVICE, memberName: name, ttlSeconds, prefix: PREFIX, location: 'memory', logger });
    self = { name, incarnation, clock: clockOf, coordination, core: null, status: 'starting', connections: new Set(), freezes: 0 };
    procs.set(name, self);
    const memberProps = { ...props, coordination: { ...props.coordination, memberName: name, datasource: name } };
    const proc = self;
    chains
      .run({ member: name, incarnation, term: null }, () =>
        createManager({ properties: memberProps, clock: clockOf, driver: memberDriver(me), hostName: `${name}-host`, coordination, logger, apiUrl: `http://${name}.invalid:8090` }),
      )
      .then(
        (core) => {
          if (proc.clock.dead || procs.get(name) !== proc) {
            core.halt();
            return;
          }
          proc.core = core;
          proc.status = 'running';
          core.subscribe(onEvent);
          noteTasks(core);
        },
        (e: unknown) => {
          if (proc.clock.dead || procs.get(name) !== proc) return;
          procs.delete(name);
          proc.clock.kill();
          report('manager-error', `the manager ${name} did not start: ${e instanceof Error ? e.message : String(e)}`);
        },
      );
  };

  const kill = (name: string): void => {
    const p = procs.get(name);
    if (!p) return;
    procs.delete(name);
    p.core?.halt();
    if (!p.core) p.coordination.halt();
    p.clock.kill();
    for (const c of p.connections) c.abort(new Error(`${name} was killed`));
    checkGroup();
  };

  /** A clean stop, in the background: the process is gone once close() returns. */
  const stop = (name: string): void => {
    const p = procs.get(name);
    if (!p) return;
    if (p.clock.frozen || !p.core) {
      kill(name);
      return;
    }
    p.status = 'stopping';
    const core = p.core;
    void chains
      .run({ member: name, incarnation: p.incarnation, term: actingNow(p) ? termOf(p) : null }, () => core.close())
      .catch((e: unknown) => report('manager-error', `the manager ${name} failed to stop: ${e instanceof Error ? e.message : String(e)}`))
      .finally(() => {
        if (procs.get(name) === p) procs.delete(name);
        p.clock.kill();
      });
  };

  // -- targets and outstanding faults ------------------------------------------------------------------

  const pickOf = <T>(xs: readonly T[], r: number): T | undefined => xs[Math.floor(r * xs.length)];
  const resolveMember = (t: MemberTarget, r: number): string => {
    const running = [...procs.values()];
    if (t === '@coordinator') return coordinator()?.name ?? pickOf(running, r)?.name ?? MEMBERS[Math.floor(r * 3)]!;
    if (t === '@follower') {
      const c = coordinator()?.name;
      return pickOf(running.filter((p) => p.name !== c), r)?.name ?? pickOf(MEMBERS.filter((n) => n !== c), r)!;
    }
    if (t === '@beside-master') return world.masterName() ?? 'db1';
    return t;
  };

  type Outstanding = { kind: 'down'; name: string } | { kind: 'partition'; name: string } | { kind: 'quorum' } | { kind: 'frozen'; name: string };
  const outstanding: Outstanding[] = [];
  const describeOutstanding = (o: Outstanding) => (o.kind === 'down' ? `start ${o.name}` : o.kind === 'partition' ? `reconnect ${o.name} to etcd` : o.kind === 'quorum' ? 'etcd majority back' : `thaw ${o.name}`);
  const repair = async (o: Outstanding): Promise<void> => {
    const i = outstanding.indexOf(o);
    if (i >= 0) outstanding.splice(i, 1);
    switch (o.kind) {
      case 'down':
        start(o.name);
        break;
      case 'partition':
        etcd.partition(o.name, false);
        break;
      case 'quorum':
        etcd.setQuorum(true);
        quorumLostAt = null;
        break;
      case 'frozen': {
        const p = procs.get(o.name);
        if (p?.clock.frozen) await p.clock.thaw(settle);
        break;
      }
    }
    checkGroup();
  };
  /**
   * SIGSTOP lands between two turns of the member's event loop: what its last callback started
   * (a control call's first steps, say) runs to its next wait first. A member starting or stopping
   * is left alone (its start-up and shutdown also wait on setImmediate, which no clock holds).
   */
  const freeze = async (name: string) => {
    const p = procs.get(name);
    if (!p || p.clock.frozen || p.status !== 'running') return false;
    await settle();
    if (procs.get(name) !== p || p.clock.frozen || p.status !== 'running') return false;
    p.clock.freeze();
    p.freezes++;
    outstanding.push({ kind: 'frozen', name });
    checkGroup();
    return true;
  };
  const down = (name: string) => {
    if (!outstanding.some((o) => o.kind === 'down' && o.name === name)) outstanding.push({ kind: 'down', name });
    for (const o of [...outstanding]) if (o.kind === 'frozen' && o.name === name) outstanding.splice(outstanding.indexOf(o), 1);
  };

  /** Waits until every member process that is going away has gone (a clean stop takes time). */
  const waitGone = async (name: string, wps: number) => {
    for (let i = 0; i < 120 && procs.get(name)?.status === 'stopping'; i++) await world.tick(wps, 250);
    if (procs.get(name)?.status === 'stopping') {
      report('manager-error', `the manager ${name} did not stop within 30 s`);
      kill(name);
    }
  };

  // -- control calls ------------------------------------------------------------------------------------

  const control = (request: ControlRequest, toFollower: boolean): string => {
    const c = coordinator();
    const candidates = [...procs.values()].filter((p) => p.core && p.status === 'running' && !p.clock.frozen);
    const target = toFollower || !c ? pickOf(candidates.filter((p) => !actingNow(p)), world.rnd()) : c;
    if (!target?.core) return ' (no member to send it to)';
    if (target.clock.frozen) return ` (the coordinator ${target.name} is frozen: not sent)`;
    const core = target.core;
    const isActing = actingNow(target);
    try {
      const t = chains.run({ member: target.name, incarnation: target.incarnation, term: isActing ? termOf(target) : null }, () => core.control(SERVICE, request, 'chaos'));
      if (!isActing) report('follower-accepted-control', `${target.name}, not the coordinator, accepted ${JSON.stringify(request)} (task ${t.taskId})`);
      return ` (sent to ${target.name}${isActing ? ', the coordinator' : ''}: task ${t.state})`;
    } catch (e) {
      if (!isToolkitError(e)) {
        report('manager-error', `control ${JSON.stringify(request)} on ${target.name} threw ${e instanceof Error ? e.stack : String(e)}`);
        return '';
      }
      if (!isActing && !/not the coordinator|lost the group|taking over as coordinator/.test(e.message)) {
        report('follower-accepted-control', `${target.name}, not the coordinator, refused ${JSON.stringify(request)} with an unexpected reason: ${e.message}`);
      }
      return ` (sent to ${target.name}${isActing ? ', the coordinator' : ''}: refused: ${e.message})`;
    }
  };

  // -- the checker's view: the acting coordinator's ------------------------------------------------------

  world.view = () => {
    const c = coordinator();
    if (!c?.core || c.clock.frozen) return null;
    const status = c.core.serviceStatus(SERVICE);
    // A member down, starting, stopping or frozen, or cut off from etcd, or etcd without a majority: the
    // master's own member may have fenced it (failsafe), which the coordinator settles at its next samples.
    const unsettled = outstanding.length > 0 || MEMBERS.some((n) => procs.get(n)?.status !== 'running' || procs.get(n)?.clock.frozen);
    return { policy: status.policy, datasources: status.datasources, taskRunning: c.core.history(SERVICE, 10).some((t) => t.state === 'in_progress'), unsettled };
  };
  world.afterAdvance = checkGroup;

  // -- steps ----------------------------------------------------------------------------------------------

  const runGroupAction = async (step: GroupStep, a: GroupAction): Promise<void> => {
    const r = world.rnd();
    switch (a.type) {
      case 'member-kill':
      case 'member-stop': {
        const name = resolveMember(a.target, r);
        const present = procs.has(name);
        log(`step ${step.index}: ${describeGroupAction({ ...a, target: name })}${present ? '' : ' (not running)'}`);
        if (!present) break;
        if (a.type === 'member-kill') kill(name);
        else {
          stop(name);
          await waitGone(name, step.writesPerSecond);
        }
        if (a.downMs === null) down(name);
        else {
          await world.wait(a.downMs, step.writesPerSecond);
          start(name);
        }
        break;
      }
      case 'rolling-restart':
        log(`step ${step.index}: ${describeGroupAction(a)}`);
        for (const name of MEMBERS) {
          const p = procs.get(name);
          if (!p || p.clock.frozen || p.status !== 'running') continue;
          stop(name);
          await waitGone(name, step.writesPerSecond);
          await world.wait(2000, step.writesPerSecond);
          start(name);
          await world.wait(5000, step.writesPerSecond);
        }
        break;
      case 'partition': {
        const name = resolveMember(a.target, r);
        log(`step ${step.index}: ${describeGroupAction({ ...a, target: name })}`);
        etcd.partition(name, true);
        outstanding.push({ kind: 'partition', name });
        break;
      }
      case 'quorum-lost':
        log(`step ${step.index}: ${describeGroupAction(a)}`);
        if (quorumLostAt === null) {
          etcd.setQuorum(false);
          quorumLostAt = clock.now();
          outstanding.push({ kind: 'quorum' });
        }
        break;
      case 'freeze': {
        const name = resolveMember(a.target, r);
        const ok = await freeze(name);
        log(`step ${step.index}: ${describeGroupAction({ ...a, target: name })}${ok ? '' : ' (not running or already frozen)'}`);
        break;
      }
      case 'group-heal': {
        const o = outstanding.length > 0 ? outstanding[Math.floor(a.pick * outstanding.length)]! : null;
        log(`step ${step.index}: ${o ? `heal: ${describeOutstanding(o)}` : 'heal: no member or etcd fault outstanding'}`);
        if (o) await repair(o);
        break;
      }
    }
  };

  const runStep = async (step: GroupStep): Promise<void> => {
    const a = step.action;
    if (isGroupAction(a)) {
      await runGroupAction(step, a);
    } else {
      const pick = world.rnd();
      if (a.type === 'operator') {
        log(`step ${step.index}: ${describeAction(a)}${step.toFollower ? ' to a member that is not the coordinator' : ''}${control(a.request, step.toFollower === true)}`);
      } else if (a.type === 'manager-restart') {
        const name = coordinator()?.name ?? pickOf([...procs.keys()], pick);
        log(`step ${step.index}: kill -9 the coordinator${name ? ` ${name}` : ' (none running)'}, restart it ${a.downMs / 1000} s later`);
        if (name) {
          kill(name);
          await world.wait(a.downMs, step.writesPerSecond);
          if (!outstanding.some((o) => o.kind === 'down' && o.name === name)) start(name);
        }
      } else {
        await world.clusterAction(step as ChaosStep, pick);
      }
    }
    checkGroup();
    world.check();
    await world.wait(step.waitMs, step.writesPerSecond);
  };

  const view = (p: MemberProcess) =>
    p.core
      ?.serviceStatus(SERVICE)
      .datasources.map((d) => `${d.name}:${d.role}:${d.state}`)
      .join(' ');

  // Start the group: the three members, one after the other, then a lease for the election.
  for (const name of MEMBERS) start(name);
  for (let i = 0; i < 60 && [...procs.values()].some((p) => p.status === 'starting'); i++) await world.tick(0, 500);
  await world.wait(ttlSeconds * 1000, 0);
  if (!coordinator()) report('group-not-settled', `no coordinator ${ttlSeconds} s after the group started`);

  for (const step of schedule) {
    checker.setStep(step.index);
    await runStep(step);
    if (opts.verbose) {
      const truth = names.map((n) => driver.node(n)).map((s) => `${s.name}:${s.isMaster ? 'M' : `<-${s.masterName}`}:${s.acceptsWrites ? 'W' : 'ro'}:${s.replicatorState}`);
      const members = MEMBERS.map((n) => {
        const p = procs.get(n);
        return `${n}:${!p ? 'down' : p.clock.frozen ? 'frozen' : p.status}${p && actingNow(p) ? `:coordinator(term ${termOf(p)})` : ''}`;
      });
      log(`  members: ${members.join(' ')} | coordinator's view: ${coordinator() ? view(coordinator()!) : 'none'} | truth: ${truth.join(' ')}`);
    }
  }

  // Heal everything, as operators would, and let the group settle.
  checker.setStep(schedule.length);
  log(`step ${schedule.length}: heal everything (databases, etcd, members), set policy automatic, wait, recover`);
  for (const o of [...outstanding].sort((x, y) => (x.kind === 'frozen' ? -1 : 0) - (y.kind === 'frozen' ? -1 : 0))) await repair(o);
  for (const r of world.ledger.allRepairs()) await world.inject(r.node, r.repair);
  for (const name of MEMBERS) start(name);
  const electionMs = (ttlSeconds + 2) * 1000 + 30_000;
  for (let t = 0; t < electionMs && !coordinator()?.core; t += 1000) await world.tick(2);
  for (let i = 0; i < 30 && world.view()?.taskRunning; i++) await world.tick(2);
  log(`  policy automatic${control({ op: 'policy', mode: 'AUTOMATIC' }, false)}`);
  // Long enough for a failover of a master failed meanwhile ((threshold + 1) x sample period after its detection).
  await world.wait(40_000, 2);
  log(`  recover${control({ op: 'recover' }, false)}`);
  await world.wait(opts.settleMs ?? 30_000, 2);

  // Liveness: one coordinator, every member showing its master.
  const c = coordinator();
  const running = [...procs.values()].filter((p) => p.core && p.status === 'running');
  if (!c?.core) {
    report('group-not-settled', `after healing everything: ${acting().length} members acting (${acting().map((p) => p.name).join(', ') || 'none'}), members running: ${running.map((p) => p.name).join(', ')}`);
  } else {
    const masterOf = (p: MemberProcess) => p.core!.serviceStatus(SERVICE).datasources.find((d) => d.role === 'master' && d.state !== 'SHUNNED')?.name ?? 'none';
    const expected = masterOf(c);
    for (const p of running) {
      if (masterOf(p) !== expected) report('group-not-settled', `after healing everything ${p.name} shows master ${masterOf(p)} (${view(p)}), the coordinator ${c.name} ${expected} (${view(c)})`);
    }
    if (running.length !== MEMBERS.length) report('group-not-settled', `after healing everything only ${running.map((p) => p.name).join(', ')} run`);
  }
  const violations = checker.finish(clock.now());
  for (const name of [...procs.keys()]) kill(name);
  await driver.close();
  return { seed, violations, schedule: world.reading };
}
