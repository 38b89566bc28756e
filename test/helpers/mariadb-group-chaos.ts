/**
 * One seeded chaos round over a manager GROUP with every piece real: three etcd members, three
 * mariadbd and three `tungsten-manager` processes (test/helpers/manager-group.ts), in real time.
 * The schedule is the simulated group tier's (test/chaos/group-runner.ts generateGroupSchedule,
 * with the faults one machine can do to real servers), the invariants those of
 * test/chaos/checker.ts plus what the group's members show over their APIs and etcd holds:
 *
 * - member faults are done to the processes: kill -9 (restarted later or left down), SIGTERM (a
 *   clean stop), a rolling restart, SIGSTOP/SIGCONT, and a member cut off from etcd (its own TCP
 *   proxy drops every packet) but not from the databases;
 * - etcd loses its majority: two of its three members killed or stopped (SIGSTOP), back later;
 * - database faults, operator actions (sent to the coordinator, or to a follower that forwards
 *   them), a stale application's writes and the application's own, as in the single manager's
 *   tier (test/helpers/mariadb-chaos.ts);
 * - the checker sees the servers (one poller per server) and the acting coordinator's view (over
 *   HTTP, every TICK_MS); every task, with what a failover said it may lose, is read from etcd's
 *   state key, so a failover whose coordinator died is still counted.
 *
 * The group's invariants seen from outside (the simulated tier checks those that need the inside,
 * such as a commit under a stale term):
 *   two-coordinators   two members answer isCoordinator=true within less than a third of a TTL
 *                      of each other (a coordinator stops acting a third of a TTL before its lease
 *                      can expire, and nobody else can be elected before it has: two such answers
 *                      that close together are two coordinators at once), or in the same term;
 *   term-regressed     a member answers as coordinator in a term lower than one another member
 *                      acted in, asked after that other answer arrived (plus the same margin), or
 *                      etcd's leader key is found with a lower creation revision than before;
 *   group-not-settled  after healing: not exactly one coordinator, or a member showing another
 *                      master than the coordinator's.
 */
import { isToolkitError } from '../../src/errors.js';
import { ManagerClient } from '../../src/api/client.js';
import type { ControlRequest, TaskStatus } from '../../src/manager/model.js';
import {
  FaultLedger,
  InvariantChecker,
  describeAction,
  interruptedFailoverOf,
  lossWindowOf,
  mulberry32,
  resolveTarget,
  type ChaosFault,
  type ManagerSnapshot,
  type Repair,
} from '../chaos/checker.js';
import { describeGroupAction, generateGroupSchedule, isGroupAction, type GroupAction, type GroupStep, type MemberTarget } from '../chaos/group-runner.js';
import { injectServerFault, REAL_FAULTS, runServerAction, runStaleWrites, watchServers, type RoundResult } from './mariadb-chaos.js';
import { startWriter, writtenIds } from './mariadb.js';
import { API_PASSWORD, API_USER, MEMBER_NAMES, SERVICE, type GroupEnv } from './manager-group.js';

const TICK_MS = 250;
/** The group's schedules are written for a 10 s sample period and lease; the group here samples every 0.5 s under a 3 s lease. */
const DEFAULT_WAIT_SCALE = 0.15;

export interface GroupRoundOptions {
  env: GroupEnv;
  steps: number;
  waitScale?: number;
  verbose?: (line: string) => void;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));


/** One member's answer that it acts as coordinator: asked at sentAt, answered at doneAt. */
export interface Claim {
  member: string;
  term: number | null;
  sentAt: number;
  doneAt: number;
}

/**
 * What the members' answers prove about the group, seen from outside. A coordinator stops acting
 * `margin` (a third of a TTL) before its lease can expire, and nobody can be elected before it has
 * expired: two members answering as coordinator within less than `margin` of each other were two
 * coordinators at once; so were two in one term. A member answering in a term lower than one another
 * member acted in, asked more than `margin` after that other answer arrived, acts in a past term.
 */
export class CoordinatorClaims {
  private readonly firstOfTerm = new Map<number, Claim>();
  constructor(private readonly margin: number) {}

  /** The claims of one round of questions; what they prove wrong (keyed, so a caller reports each once). */
  judge(round: readonly Claim[]): Array<{ key: string; kind: 'two-coordinators' | 'term-regressed'; detail: string }> {
    const found: Array<{ key: string; kind: 'two-coordinators' | 'term-regressed'; detail: string }> = [];
    for (let i = 0; i < round.length; i++) {
      for (let j = i + 1; j < round.length; j++) {
        const a = round[i]!;
        const b = round[j]!;
        const span = Math.max(a.doneAt, b.doneAt) - Math.min(a.sentAt, b.sentAt);
        if (span < this.margin || (a.term !== null && a.term === b.term)) {
          found.push({ key: `two:${a.member}:${a.term}:${b.member}:${b.term}`, kind: 'two-coordinators', detail: `${a.member} (term ${a.term}) and ${b.member} (term ${b.term}) both answered as coordinator within ${span} ms` });
        }
      }
    }
    for (const c of round) {
      if (c.term === null) continue;
      for (const [term, first] of this.firstOfTerm) {
        if (term > c.term && first.member !== c.member && c.sentAt > first.doneAt + this.margin) {
          found.push({ key: `regressed:${c.member}:${c.term}`, kind: 'term-regressed', detail: `${c.member} answered as coordinator in term ${c.term}, asked ${c.sentAt - first.doneAt} ms after ${first.member} answered in term ${term}` });
        }
      }
      if (!this.firstOfTerm.has(c.term)) this.firstOfTerm.set(c.term, c);
    }
    return found;
  }
}

export async function runMariaDbGroupRound(seed: number, opts: GroupRoundOptions): Promise<RoundResult> {
  const { env } = opts;
  const db = env.db;
  const names = db.servers.map((s) => s.name);
  const rnd = mulberry32(seed ^ 0x6e7a1);
  const scale = opts.waitScale ?? DEFAULT_WAIT_SCALE;
  const scaled = (ms: number) => Math.round(ms * scale);
  const period = env.samplePeriodSeconds * 1000;
  const ttlMs = env.ttlSeconds * 1000;
  /** How far apart in time two answers may be and still prove two coordinators at once. */
  const margin = ttlMs / 3;
  const startedAt = Date.now();
  const checker = new InvariantChecker({
    seed,
    startedAt,
    samplePeriodMs: period,
    dbDetectMs: (env.failThreshold + 1) * period,
    hostDetectMs: (env.failThreshold + 1) * period,
    // The members' db ping (2 s) and host ping (1 s) timeouts (test/helpers/manager-group.ts).
    observationTimeoutMs: 3000,
    // A master found read-only (restarted, say) gets its writes back only after a lease: its own
    // member may have fenced it, cut off from etcd (decide.ts, mayBeFailsafeFenced). Quiet means
    // past that wait, two samples more, and one observation that took its whole timeout (a loaded
    // machine: two suites at once showed the write-back 235 ms after a 6 s quiet).
    quietMs: Math.max(4 * period, ttlMs + 2 * period + 3000),
  });
  const schedule = generateGroupSchedule(seed, { datasources: names, steps: opts.steps, faults: REAL_FAULTS, maxWaitMs: 20_000 });
  const reading: string[] = [`seed ${seed}: ${schedule.length} steps, waits x${scale} (sample period ${env.samplePeriodSeconds} s, lease ${env.ttlSeconds} s)`];
  const actions = new Set<string>();
  const log = (line: string) => {
    const text = `+${((Date.now() - startedAt) / 1000).toFixed(1)}s ${line}`;
    reading.push(text);
    opts.verbose?.(text);
  };
  const report = (kind: Parameters<InvariantChecker['report']>[0], detail: string) => {
    log(`  VIOLATION ${kind}: ${detail}`);
    checker.report(kind, Date.now(), detail);
  };

  const clients = new Map<string, ManagerClient>(MEMBER_NAMES.map((n) => [n, new ManagerClient({ url: env.manager(n).url, user: API_USER, password: API_PASSWORD, timeoutMs: 1500 })]));
  const client = (n: string) => clients.get(n)!;
  const answering = (n: string) => env.manager(n).running() && !env.manager(n).frozen();

  // ---- the group as its members answer -------------------------------------------------------
  const claims = new CoordinatorClaims(margin);
  let coordinator = null as { name: string; term: number | null } | null;
  let lastLeaderRevision = 0;
  const reported = new Set<string>();
  const once = (key: string, kind: Parameters<InvariantChecker['report']>[0], detail: string) => {
    if (reported.has(key)) return;
    reported.add(key);
    report(kind, detail);
  };
  const judgeClaims = (round: Claim[]) => {
    for (const f of claims.judge(round)) once(f.key, f.kind, f.detail);
  };

  // ---- what etcd holds: every task, and the leader key ----------------------------------------
  const failoverTasks = new Set<string>();
  const runningTasks = new Set<string>();
  const noteTask = (t: TaskStatus) => {
    if (t.state === 'in_progress') runningTasks.add(t.taskId);
    else runningTasks.delete(t.taskId);
    if (failoverTasks.has(t.taskId)) return;
    const w = lossWindowOf(t);
    const cut = interruptedFailoverOf(t);
    if (w) checker.addLossWindow(w);
    if (cut) checker.addInterruptedFailover(cut);
    if (w || cut) {
      failoverTasks.add(t.taskId);
      log(`  task '${t.operation}' ${t.state}: ${JSON.stringify(t.taskResult)}`);
    }
  };
  const readEtcd = async () => {
    const base = `${env.prefix()}/${SERVICE}/`;
    const { kvs } = await env.etcdClient().range(base);
    const leader = kvs.find((kv) => kv.key === `${base}leader`);
    if (leader) {
      if (leader.createRevision < lastLeaderRevision) once(`leader:${leader.createRevision}`, 'term-regressed', `etcd's leader key was created at revision ${leader.createRevision}, after one created at ${lastLeaderRevision}`);
      lastLeaderRevision = Math.max(lastLeaderRevision, leader.createRevision);
    }
    const state = kvs.find((kv) => kv.key === `${base}state`);
    if (state) {
      const tasks = (JSON.parse(state.value) as { tasks: TaskStatus[] }).tasks;
      runningTasks.clear();
      for (const t of tasks) noteTask(t);
    }
  };

  // ---- the checker's view: the acting coordinator's --------------------------------------------
  let view = null as ManagerSnapshot | null;
  let routed: string | null = names[0]!;
  const masters: string[] = [names[0]!];
  const changing = new Set<string>();
  const watch = watchServers(db, changing);
  type Outstanding = { kind: 'down'; name: string } | { kind: 'partition'; name: string } | { kind: 'quorum'; etcd: string[]; how: 'kill' | 'stop' } | { kind: 'frozen'; name: string };
  const outstanding: Outstanding[] = [];
  const unsettled = () => outstanding.length > 0 || MEMBER_NAMES.some((n) => !answering(n));

  let lastViewError: string | null = null;
  const observe = async () => {
    const answers = await Promise.all(
      MEMBER_NAMES.map(async (n): Promise<Claim | null> => {
        if (!answering(n)) return null;
        const sentAt = Date.now();
        const s = await env.status(n, 1000);
        if (!s || s.isCoordinator !== true) return null;
        return { member: n, term: typeof s.group?.term === 'number' ? s.group.term : null, sentAt, doneAt: Date.now() };
      }),
    );
    const claims = answers.filter((c): c is Claim => c !== null);
    judgeClaims(claims);
    const acting = claims.length === 1 ? claims[0]! : null;
    if ((acting?.member ?? null) !== (coordinator?.name ?? null) || acting?.term !== coordinator?.term) {
      // Without an acting coordinator nothing fences: for the checker no manager runs.
      if (coordinator) checker.managerStopped(Date.now());
      if (acting) checker.managerStarted(Date.now());
      log(`  coordinator: ${acting ? `${acting.member} (term ${acting.term})` : 'none'}`);
      coordinator = acting ? { name: acting.member, term: acting.term } : null;
    }
    await readEtcd().catch(() => undefined);
    // Published once the tick has it: cleared before the status read, a view read by the run
    // between two awaits (the final check's) was null while a tick was under way.
    let next: ManagerSnapshot | null = null;
    if (coordinator && answering(coordinator.name)) {
      try {
        const [status, history] = await Promise.all([client(coordinator.name).serviceStatus(SERVICE), client(coordinator.name).history(SERVICE, 10)]);
        for (const t of history.tasks ?? []) noteTask(t);
        next = {
          policy: status.policy,
          datasources: status.datasources,
          taskRunning: runningTasks.size > 0 || (history.tasks ?? []).some((t) => t.state === 'in_progress'),
          unsettled: unsettled(),
        };
        const m = status.datasources.find((d) => d.role === 'master' && d.state !== 'SHUNNED')?.name ?? null;
        if (m && m !== routed) {
          routed = m;
          if (masters.at(-1) !== m) masters.push(m);
        }
      } catch (e) {
        const why = e instanceof Error ? e.message : String(e);
        if (why !== lastViewError) log(`  the coordinator ${coordinator.name}'s view: ${why}`);
        lastViewError = why;
      }
    }
    view = next;
    checker.checkView(Date.now(), watch.snapshot(), view);
  };
  let ticking = true;
  const ticker = (async () => {
    while (ticking) {
      const began = Date.now();
      await observe();
      await sleep(Math.max(0, TICK_MS - (Date.now() - began)));
    }
  })();

  // ---- the applications ------------------------------------------------------------------------
  let acknowledged = 0;
  let directWrites = 0;
  const writer = startWriter(db, {
    route: () => routed,
    pauseMs: 5,
    statementTimeoutMs: 2000,
    onAck: (a) => {
      acknowledged++;
      checker.recordAcknowledged({ id: a.id, seqno: a.seqno, server: a.server, at: a.ackedAt, gtid: a.gtid }, routed);
    },
  });

  // ---- database faults, operator calls, stale writes ------------------------------------------
  const ledger = new FaultLedger();
  const inject = async (node: string, fault: ChaosFault | Repair): Promise<void> => {
    actions.add(fault);
    const stopsOrStarts = fault === 'dataserver-stop' || fault === 'dataserver-kill' || fault === 'dataserver-start';
    if (stopsOrStarts) changing.add(node);
    try {
      if (!(await injectServerFault(db, node, fault))) return;
      if (fault === 'dataserver-thaw' || fault === 'dataserver-start') checker.serverReturned(node, Date.now());
      ledger.note(node, fault);
      checker.checkWriters(Date.now(), watch.snapshot());
    } catch (e) {
      log(`  ${fault} ${node} failed: ${e instanceof Error ? e.message.split('\n')[0] : String(e)}`);
    } finally {
      if (stopsOrStarts) changing.delete(node);
    }
  };
  const control = async (request: ControlRequest, toFollower: boolean): Promise<string> => {
    const c = coordinator && answering(coordinator.name) ? coordinator.name : null;
    const followers = MEMBER_NAMES.filter((n) => n !== c && answering(n));
    const target = toFollower || !c ? (followers[Math.floor(rnd() * followers.length)] ?? null) : c;
    if (!target) return ' (no member answers: not sent)';
    actions.add(request.op === 'datasource' ? `datasource ${request.action}` : request.op);
    try {
      const t = await client(target).control(SERVICE, request);
      if (t.state === 'in_progress') runningTasks.add(t.taskId);
      return ` (sent to ${target}${target === c ? ', the coordinator' : ', which forwards it'}: task ${t.state})`;
    } catch (e) {
      const message = e instanceof Error ? e.message : String(e);
      if (!isToolkitError(e) || /HTTP 500|internal error/i.test(message)) report('manager-error', `control ${JSON.stringify(request)} on ${target}: ${message}`);
      return ` (sent to ${target}: ${message})`;
    }
  };
  // ---- member and etcd faults -----------------------------------------------------------------
  const resolveMember = (t: MemberTarget, r: number): string => {
    if (t === '@coordinator') return coordinator?.name ?? MEMBER_NAMES[Math.floor(r * 3)]!;
    if (t === '@follower') {
      const others = MEMBER_NAMES.filter((n) => n !== coordinator?.name);
      return others[Math.floor(r * others.length)]!;
    }
    if (t === '@beside-master') return routed ?? 'db1';
    return t;
  };
  const startMember = async (name: string) => {
    const m = env.manager(name);
    if (m.running()) return;
    actions.add('member-start');
    try {
      await m.start();
    } catch (e) {
      report('manager-error', `the manager ${name} did not start: ${e instanceof Error ? e.message : String(e)}`);
    }
  };
  const forget = (name: string) => {
    for (const o of [...outstanding]) if ((o.kind === 'frozen' || o.kind === 'down') && o.name === name) outstanding.splice(outstanding.indexOf(o), 1);
  };
  const repair = async (o: Outstanding) => {
    const i = outstanding.indexOf(o);
    if (i >= 0) outstanding.splice(i, 1);
    switch (o.kind) {
      case 'down':
        await startMember(o.name);
        break;
      case 'partition':
        await env.manager(o.name).proxy.heal();
        break;
      case 'frozen':
        env.manager(o.name).thaw();
        break;
      case 'quorum':
        for (const e of o.etcd) {
          if (o.how === 'stop') env.etcd.cont(e);
          else await env.etcd.start(e).catch((err: unknown) => report('manager-error', `etcd member ${e} did not start again: ${err instanceof Error ? err.message : String(err)}`));
        }
        break;
    }
  };
  const describeOutstanding = (o: Outstanding) =>
    o.kind === 'down' ? `start ${o.name}` : o.kind === 'partition' ? `reconnect ${o.name} to etcd` : o.kind === 'quorum' ? `etcd members ${o.etcd.join(', ')} back` : `thaw ${o.name}`;

  const runGroupAction = async (step: GroupStep, a: GroupAction): Promise<void> => {
    const r = rnd();
    actions.add(a.type);
    switch (a.type) {
      case 'member-kill':
      case 'member-stop': {
        const name = resolveMember(a.target, r);
        const m = env.manager(name);
        const downMs = a.downMs === null ? null : scaled(a.downMs);
        log(`step ${step.index}: ${describeGroupAction({ ...a, target: name, downMs })}${m.running() ? '' : ' (not running)'}`);
        if (!m.running()) break;
        forget(name);
        if (a.type === 'member-kill') await m.kill9();
        else await m.stop();
        if (downMs === null) outstanding.push({ kind: 'down', name });
        else {
          await sleep(downMs);
          await startMember(name);
        }
        break;
      }
      case 'rolling-restart':
        log(`step ${step.index}: ${describeGroupAction(a)}`);
        for (const name of MEMBER_NAMES) {
          const m = env.manager(name);
          if (!m.running() || m.frozen()) continue;
          await m.stop();
          await sleep(scaled(2000));
          await startMember(name);
          await sleep(scaled(5000));
        }
        break;
      case 'partition': {
        const name = resolveMember(a.target, r);
        log(`step ${step.index}: ${describeGroupAction({ ...a, target: name })}`);
        if (outstanding.some((o) => o.kind === 'partition' && o.name === name)) break;
        await env.manager(name).proxy.cut('blackhole');
        outstanding.push({ kind: 'partition', name });
        break;
      }
      case 'quorum-lost': {
        if (outstanding.some((o) => o.kind === 'quorum')) {
          log(`step ${step.index}: ${describeGroupAction(a)} (already lost)`);
          break;
        }
        const members = env.etcd.members.map((m) => m.name);
        const spared = members[Math.floor(r * members.length)]!;
        const lost = members.filter((m) => m !== spared);
        const how = rnd() < 0.5 ? 'kill' : 'stop';
        log(`step ${step.index}: ${describeGroupAction(a)}: ${how === 'kill' ? 'kill -9' : 'SIGSTOP'} etcd members ${lost.join(', ')}`);
        for (const e of lost) {
          if (how === 'kill') await env.etcd.kill(e);
          else await env.etcd.stop(e);
        }
        outstanding.push({ kind: 'quorum', etcd: lost, how });
        break;
      }
      case 'freeze': {
        const name = resolveMember(a.target, r);
        const m = env.manager(name);
        const ok = m.running() && !m.frozen();
        log(`step ${step.index}: ${describeGroupAction({ ...a, target: name })}${ok ? '' : ' (not running or already frozen)'}`);
        if (!ok) break;
        m.freeze();
        outstanding.push({ kind: 'frozen', name });
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
      const pick = rnd();
      const at = (t: string) => resolveTarget(t, names, routed, pick);
      switch (a.type) {
        case 'fault':
        case 'crash-restart':
        case 'heal':
          await runServerAction(a, step.index, { at, inject, ledger, scaled, log });
          break;
        case 'operator':
          log(`step ${step.index}: ${describeAction(a)}${step.toFollower ? ' through a member that is not the coordinator' : ''}${await control(a.request, step.toFollower === true)}`);
          break;
        case 'manager-restart': {
          const name = coordinator?.name ?? null;
          actions.add('coordinator-kill');
          log(`step ${step.index}: kill -9 the coordinator${name ? ` ${name}` : ' (none acting)'}, restart it ${scaled(a.downMs) / 1000} s later`);
          if (name && env.manager(name).running()) {
            forget(name);
            await env.manager(name).kill9();
            await sleep(scaled(a.downMs));
            await startMember(name);
          }
          break;
        }
        case 'direct-write':
          actions.add('direct-write');
          directWrites += await runStaleWrites(a, step.index, { cluster: db, masters, master: () => routed, rnd, at, log, checker });
          break;
        case 'nothing':
          break;
      }
    }
    await sleep(scaled(step.waitMs));
  };

  // ---- the round -------------------------------------------------------------------------------
  const waitFor = async (what: string, maxMs: number, ok: () => boolean) => {
    const deadline = Date.now() + maxMs;
    while (Date.now() < deadline) {
      if (ok()) return true;
      await sleep(100);
    }
    log(`  gave up waiting ${maxMs / 1000} s for ${what}`);
    return false;
  };
  await waitFor('the coordinator to be seen', 10_000, () => coordinator !== null && view !== null);
  log(`the coordinator ${coordinator?.name ?? 'none'} sees ${JSON.stringify(view?.datasources.map((d) => `${d.name}:${d.role}:${d.state}`))}`);
  for (const step of schedule) {
    checker.setStep(step.index);
    await runStep(step);
  }

  // Heal everything, as operators would, and let the group settle.
  checker.setStep(schedule.length);
  log(`step ${schedule.length}: heal everything (databases, etcd, members), set policy automatic, wait, recover, wait`);
  for (const o of [...outstanding].sort((x, y) => (x.kind === 'frozen' ? -1 : 0) - (y.kind === 'frozen' ? -1 : 0))) await repair(o);
  for (const r of ledger.allRepairs()) await inject(r.node, r.repair);
  for (const name of MEMBER_NAMES) await startMember(name);
  await waitFor('one coordinator after healing', (env.ttlSeconds + 2) * 1000 + 10_000, () => coordinator !== null && view !== null);
  const idle = () => waitFor('no task running', 20_000, () => view !== null && !view.taskRunning);
  const healthy = () => {
    const v = view;
    const m = v?.datasources.find((d) => d.role === 'master' && d.state === 'ONLINE');
    const snap = watch.snapshot();
    return !!v && !v.taskRunning && !!m && snap.every((x) => x.down === 'no') && snap.filter((x) => x.acceptsWrites).map((x) => x.name).join() === m.name;
  };
  const settle = async (maxMs: number) => {
    const minMs = 4 * period + TICK_MS;
    const deadline = Date.now() + maxMs;
    let since: number | null = null;
    while (Date.now() < deadline) {
      if (!healthy()) since = null;
      else if ((since ??= Date.now()) <= Date.now() - minMs) return;
      await sleep(100);
    }
  };
  await idle();
  log(`  policy automatic${await control({ op: 'policy', mode: 'AUTOMATIC' }, false)}`);
  await settle(6000);
  await idle();
  if (view && view.datasources.some((d) => d.state !== 'ONLINE')) {
    const offlineMaster = view.datasources.find((d) => d.role === 'master' && d.state === 'OFFLINE');
    if (offlineMaster) {
      log(`  datasource ${offlineMaster.name} online${await control({ op: 'datasource', host: offlineMaster.name, action: 'online' }, false)}`);
      await idle();
    }
    log(`  recover${await control({ op: 'recover' }, false)}`);
    await idle();
    await settle(6000);
  }
  await waitFor("the coordinator's view", 15_000, () => view !== null);
  await writer.stop();

  // Liveness: one coordinator, every member showing its master.
  const finalView = view;
  const masterRecords = finalView?.datasources.filter((d) => d.role === 'master') ?? [];
  const master = (masterRecords.find((d) => d.state === 'ONLINE') ?? masterRecords.find((d) => d.state !== 'SHUNNED'))?.name ?? null;
  if (!coordinator) {
    report('group-not-settled', 'after healing everything no member acts as coordinator');
  } else {
    for (const n of MEMBER_NAMES) {
      let shown: string | null = null;
      try {
        shown = (await env.serviceStatus(n)).datasources.find((d: { role: string; state: string }) => d.role === 'master' && d.state !== 'SHUNNED')?.name ?? 'none';
      } catch (e) {
        report('group-not-settled', `after healing everything ${n} does not answer: ${e instanceof Error ? e.message : String(e)}`);
        continue;
      }
      if (shown !== master) report('group-not-settled', `after healing everything ${n} shows master ${shown}, the coordinator ${coordinator.name} ${master ?? 'none'}`);
    }
  }
  const snapshot = watch.snapshot();
  log(`end: coordinator ${coordinator?.name ?? 'none'}, view ${JSON.stringify(finalView?.datasources.map((d) => `${d.name}:${d.role}:${d.state}`))}, servers ${JSON.stringify(snapshot.map((s) => `${s.name}:${s.down === 'no' ? (s.acceptsWrites ? 'writable' : 'read-only') : s.down}<-${s.following ?? '-'}`))}`);
  if (master && db.state(master) === 'running' && finalView && !finalView.taskRunning) {
    const onMaster = await writtenIds(db, master);
    checker.checkWrites(Date.now(), master, (_server, w) => onMaster.has(Number(w.id)));
  } else {
    const why = finalView?.taskRunning ? 'a task is still running' : `the coordinator's master is ${master ?? 'none'}`;
    report('manager-error', `after healing, no master to check ${acknowledged} acknowledged writes against (${why})`);
  }
  ticking = false;
  await ticker;
  const violations = checker.finish(Date.now());
  await watch.stop();
  for (const c of clients.values()) c.close();
  return {
    seed,
    violations,
    schedule: reading,
    ms: Date.now() - startedAt,
    acknowledged,
    directWrites,
    failovers: failoverTasks.size,
    actions: [...actions].sort(),
  };
}
