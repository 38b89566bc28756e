/**
 * Runs one seeded chaos round (the schedule and invariants of test/chaos/checker.ts) against
 * three real mariadbd servers and a manager on the mysql driver, in real time:
 *
 * - faults happen to the servers, not through the manager: SIGSTOP/SIGCONT (freeze/thaw), kill -9
 *   and restart, clean shutdown and start, STOP SLAVE on a server, an errant transaction written
 *   as root on a server; and the manager itself restarted from its --state-dir, killed (halt())
 *   or closed cleanly, then createManager again with the same properties;
 * - operator actions go through ManagerCore.control (switch, failover, recover, shun, welcome, ...);
 * - an application writes continuously to the server the manager calls master, and now and then
 *   a stale one writes directly to another server (often the master of before), every
 *   acknowledged write recorded with its GTID;
 * - one poller per server reads read_only (and the master it follows) every POLL_MS; the checker
 *   sees the servers and the manager's view every TICK_MS. A server counts as accepting writes
 *   when it runs, is not frozen, and its last two answers (one poll apart) both said read_only=0:
 *   reads of different servers are not simultaneous, and a switch passes through a moment where
 *   one answer of each could be read as writable without two writable servers at any instant;
 * - the end of a round heals everything, lets the manager settle, and checks that every
 *   acknowledged write is on the master but those a failover reported it may lose.
 *
 * The fast tier's schedules are written for a 10 s sample period; their waits are scaled down
 * (see DEFAULT_WAIT_SCALE).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { isToolkitError } from '../../src/errors.js';
import type { ManagerCore } from '../../src/manager/core.js';
import { type MysqlDriver, mysqlDriverFromProperties } from '../../src/manager/drivers/mysql.js';
import { createManager } from '../../src/manager/index.js';
import type { ControlRequest, ManagerEvent } from '../../src/manager/model.js';
import { loadProperties, type ManagerProperties } from '../../src/manager/properties.js';
import {
  FaultLedger,
  InvariantChecker,
  describeAction,
  generateSchedule,
  interruptedFailoverOf,
  lossWindowOf,
  mulberry32,
  resolveTarget,
  type ChaosAction,
  type ChaosFault,
  type ChaosStep,
  type ManagerSnapshot,
  type Repair,
  type SeedResult,
  type ServerSnapshot,
} from '../chaos/checker.js';
import { datasourceProperties, startWriter, writeOnce, writtenIds, type MariaDbCluster, type ReadOnlySample } from './mariadb.js';

export const SERVICE = 'alpha';
/** The faults one machine can inject on real servers (no host-down: every "host" is this one). */
export const REAL_FAULTS: readonly ChaosFault[] = ['dataserver-stop', 'dataserver-kill', 'dataserver-freeze', 'replicator-stop', 'errant-write'];
const POLL_MS = 150;
const TICK_MS = 200;
/**
 * The fast tier's schedules wait as long as a 10 s sample period needs; the manager here samples
 * every 0.5 s but its observation timeouts (2 s for the database ping) are real, so a frozen
 * master fails over 3 to 5 s after it froze. Waits of 0.15 x the schedule's (0 to 3 s) let both
 * happen: faults undone before the manager acts, and faults it acts on.
 */
const DEFAULT_WAIT_SCALE = 0.15;

/**
 * What the servers really are, for the checker: one poller per server (a frozen one holds up only
 * its own) reading read_only and the master it follows every POLL_MS. A server accepts writes when
 * it runs, is not frozen, and its last two answers, one poll apart, both said read_only=0.
 */
export function watchServers(
  cluster: MariaDbCluster,
  /** Servers a fault is stopping or starting right now: down for the checker until it is done. */
  changing: ReadonlySet<string> = new Set(),
): { snapshot(): ServerSnapshot[]; stop(): Promise<void> } {
  const names = cluster.servers.map((s) => s.name);
  const latest = new Map<string, ReadOnlySample[]>();
  const probe = cluster.readOnlyProbe();
  let polling = true;
  const pollers = names.map(async (name) => {
    while (polling) {
      const sample = await probe.sampleOne(name, 800);
      const list = latest.get(name) ?? [];
      list.push(sample);
      if (list.length > 2) list.shift();
      latest.set(name, list);
      await sleep(POLL_MS);
    }
  });
  return {
    snapshot: () =>
      names.map((name) => {
        const state = cluster.state(name);
        // Only answers of the server as it runs now: a restarted one says nothing of its old self.
        const since = cluster.server(name).startedAt;
        const [prev, last] = (latest.get(name) ?? []).filter((x) => x.sentAt >= since);
        const fresh = last !== undefined && Date.now() - last.doneAt < 1500;
        return {
          name,
          acceptsWrites: state === 'running' && fresh && prev?.readOnly === false && last?.readOnly === false,
          seen: state === 'running' && fresh && prev !== undefined && prev.readOnly !== null && last.readOnly !== null,
          down: state === 'frozen' ? 'frozen' : state === 'stopped' || changing.has(name) ? 'server' : 'no',
          following: last?.following ?? null,
        };
      }),
    async stop() {
      polling = false;
      await Promise.all(pollers);
      probe.close();
    },
  };
}

export interface RoundOptions {
  cluster: MariaDbCluster;
  steps: number;
  samplePeriodSeconds: number;
  /** Factor on the schedule's waits (written for 10 s samples); default 0.15. */
  waitScale?: number;
  /** Every line of the round as it happens (replaying one seed). */
  verbose?: (line: string) => void;
}

export interface RoundResult extends SeedResult {
  ms: number;
  acknowledged: number;
  directWrites: number;
  failovers: number;
  /** Which action kinds ran (for the coverage line of the report). */
  actions: string[];
}

export function chaosProperties(cluster: MariaDbCluster, stateDir: string, samplePeriodSeconds: number): ManagerProperties {
  return loadProperties({
    overrides: [
      `service.name=${SERVICE}`,
      'manager.driver=mysql',
      ...datasourceProperties(cluster),
      'mysql.user=tungsten',
      'mysql.password=S3cret-manager-pw!',
      `policy.liveness.samplePeriod=${samplePeriodSeconds}`,
      'policy.liveness.dbping.timeout=2',
      'policy.liveness.hostPing.timeout=1',
      'manager.operation.step.timeout=6',
      `manager.state.dir=${stateDir}`,
    ],
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let directIds = 900_000_000;

/**
 * A fault (or its repair) done to a real server, not through the manager. False when there was
 * nothing to do (freezing a server that is not running, stopping replication on the master...).
 */
export async function injectServerFault(cluster: MariaDbCluster, node: string, fault: ChaosFault | Repair): Promise<boolean> {
  switch (fault) {
    case 'dataserver-stop':
      await cluster.shutdown(node);
      return true;
    case 'dataserver-kill':
      await cluster.kill9(node);
      return true;
    case 'dataserver-freeze':
      if (cluster.state(node) !== 'running') return false;
      await cluster.freeze(node);
      return true;
    case 'dataserver-thaw':
      await cluster.thaw(node);
      return true;
    case 'dataserver-start':
      if (cluster.state(node) === 'stopped') await cluster.start(node);
      return true;
    case 'replicator-stop':
      if (cluster.state(node) !== 'running') return false;
      // On a server that replicates from nobody there is nothing to stop, and nothing to heal.
      if ((await cluster.rootQuery<unknown[]>(node, 'SHOW SLAVE STATUS')).length === 0) return false;
      await cluster.rootQuery(node, 'STOP SLAVE');
      return true;
    case 'replicator-start':
      if (cluster.state(node) !== 'running') return false;
      await cluster.rootQuery(node, 'START SLAVE');
      return true;
    case 'errant-write':
      if (cluster.state(node) !== 'running') return false;
      // Root bypasses read_only: a transaction written behind the manager's back.
      await cluster.rootQuery(node, 'INSERT INTO app.writes (id) VALUES (?)', [nextDirectId()]);
      return true;
    case 'host-down':
    case 'host-up':
      return false;
  }
}

/** Ids for rows written behind the manager's back (errant and stale writes), apart from the application's. */
export function nextDirectId(): number {
  return directIds++;
}

/** What the database half of a step needs from its tier. */
export interface ServerActionIo {
  /** A schedule target ('@master', '@slave', a name) as a server name now. */
  at: (target: string) => string;
  inject: (node: string, fault: ChaosFault | Repair) => Promise<void>;
  ledger: FaultLedger;
  scaled: (ms: number) => number;
  log: (line: string) => void;
}

/** A step's fault, crash and restart, or heal, done to the real servers (both real tiers). */
export async function runServerAction(a: Extract<ChaosAction, { type: 'fault' | 'crash-restart' | 'heal' }>, index: number, io: ServerActionIo): Promise<void> {
  switch (a.type) {
    case 'fault': {
      const node = io.at(a.target);
      io.log(`step ${index}: ${describeAction({ ...a, target: node })}`);
      await io.inject(node, a.fault);
      return;
    }
    case 'crash-restart': {
      const node = io.at(a.target);
      io.log(`step ${index}: ${describeAction({ ...a, restartAfterMs: io.scaled(a.restartAfterMs), target: node })}`);
      await io.inject(node, 'dataserver-kill');
      await sleep(io.scaled(a.restartAfterMs));
      await io.inject(node, 'dataserver-start');
      return;
    }
    case 'heal': {
      const repair = io.ledger.nextRepair(a.pick);
      io.log(`step ${index}: ${repair ? `heal: ${repair.repair} ${repair.node}` : 'heal: nothing outstanding'}`);
      if (repair) await io.inject(repair.node, repair.repair);
      return;
    }
  }
}

/**
 * A 'direct-write' step on real servers: a stale application writes straight to a server, often
 * the master it knew before, else the step's target; every write a server acknowledged is given
 * to the checker. Resolves to how many were acknowledged.
 */
export async function runStaleWrites(
  a: Extract<ChaosAction, { type: 'direct-write' }>,
  index: number,
  io: { cluster: MariaDbCluster; masters: readonly string[]; master: () => string | null; rnd: () => number; at: (target: string) => string; log: (line: string) => void; checker: InvariantChecker },
): Promise<number> {
  const before = io.masters.length > 1 ? io.masters[io.masters.length - 2]! : null;
  const node = before && io.rnd() < 0.6 ? before : io.at(a.target);
  io.log(`step ${index}: ${describeAction({ ...a, target: node })}`);
  let acknowledged = 0;
  for (let i = 0; i < a.count; i++) {
    const outcome = await writeOnce(io.cluster, node, nextDirectId(), 2000);
    if ('failed' in outcome) continue;
    acknowledged++;
    io.log(`  the stale application's write ${outcome.gtid} was acknowledged by ${node}`);
    io.checker.recordAcknowledged({ id: outcome.id, seqno: outcome.seqno, server: node, at: outcome.ackedAt, gtid: outcome.gtid }, io.master());
  }
  return acknowledged;
}

export async function runMariaDbRound(seed: number, opts: RoundOptions): Promise<RoundResult> {
  const { cluster } = opts;
  const names = cluster.servers.map((s) => s.name);
  const rnd = mulberry32(seed ^ 0x3a71a);
  const scale = opts.waitScale ?? DEFAULT_WAIT_SCALE;
  const scaled = (ms: number) => Math.round(ms * scale);
  const stateDir = mkdtempSync(path.join(tmpdir(), 'mariadb-chaos-state-'));
  const props = chaosProperties(cluster, stateDir, opts.samplePeriodSeconds);
  const p = props.policy;
  const period = p.samplePeriodSeconds * 1000;
  const startedAt = Date.now();
  const checker = new InvariantChecker({
    seed,
    startedAt,
    samplePeriodMs: period,
    dbDetectMs: (p.dbPingFailThreshold + 1) * period,
    hostDetectMs: (p.hostPingFailThreshold + 1) * period,
    observationTimeoutMs: (p.dbPingTimeoutSeconds + p.hostPingTimeoutSeconds) * 1000,
  });
  const schedule = generateSchedule(seed, { datasources: names, steps: opts.steps, faults: REAL_FAULTS, maxWaitMs: 20_000 });
  const reading: string[] = [`seed ${seed}: ${schedule.length} steps, waits x${scale} (sample period ${opts.samplePeriodSeconds} s)`];
  const actions = new Set<string>();
  const log = (line: string) => {
    const text = `+${((Date.now() - startedAt) / 1000).toFixed(1)}s ${line}`;
    reading.push(text);
    opts.verbose?.(text);
  };

  // ---- the manager ---------------------------------------------------------------------------
  let manager: { core: ManagerCore; driver: MysqlDriver } | null = null;
  const running = new Set<string>();
  const failoverTasks = new Set<string>();
  const onEvent = (e: ManagerEvent) => {
    if (e.type === 'task-step' && !running.has(e.taskId)) {
      running.add(e.taskId);
      // A task the manager started by itself: the checker must see it running, however short.
      checkNow();
    }
    if (e.type === 'task-end') {
      running.delete(e.task.taskId);
      const w = lossWindowOf(e.task);
      if (w && !failoverTasks.has(e.task.taskId)) {
        failoverTasks.add(e.task.taskId);
        checker.addLossWindow(w);
      }
      log(`  task '${e.task.operation}' ${e.task.state}: ${JSON.stringify(e.task.taskResult)}`);
      if (opts.verbose) log(`    steps: ${e.task.steps.map((s) => `${((Date.parse(s.time) - startedAt) / 1000).toFixed(1)}s ${s.line}`).join(' | ')}`);
    }
  };
  const startManager = async (): Promise<boolean> => {
    const driver = mysqlDriverFromProperties(props);
    try {
      // Replaying one seed (verbose): the manager's own log lines too.
      const logger = opts.verbose ? { info: (m: string) => log(`  manager: ${m}`), warn: (m: string) => log(`  manager WARN: ${m}`), error: (m: string) => log(`  manager ERROR: ${m}`) } : undefined;
      const core = await createManager({ properties: props, driver, hostName: 'chaos', ...(logger ? { logger } : {}) });
      core.subscribe(onEvent);
      manager = { core, driver };
      checker.managerStarted(Date.now());
      // What the manager before this one did and this one restored from the state dir.
      for (const t of core.history(SERVICE, 50)) {
        const cut = interruptedFailoverOf(t);
        if (cut) checker.addInterruptedFailover(cut);
        const w = lossWindowOf(t);
        if (w && !failoverTasks.has(t.taskId)) {
          failoverTasks.add(t.taskId);
          checker.addLossWindow(w);
        }
      }
      return true;
    } catch (e) {
      await driver.close();
      checker.report('manager-error', Date.now(), `the manager did not start from its state dir: ${e instanceof Error ? e.message : String(e)}`);
      return false;
    }
  };
  const stopManager = async (how: 'close' | 'halt') => {
    const m = manager;
    if (!m) return;
    manager = null;
    running.clear();
    if (how === 'halt') m.core.halt();
    else await m.core.close();
    // A killed process's connections die with it.
    await m.driver.close();
  };
  const masterRecord = () => manager?.core.serviceStatus(SERVICE).datasources.find((d) => d.role === 'master' && d.state !== 'SHUNNED') ?? null;
  /** Where the application writes: the manager's master, or the last one it was told of (a connector keeps its route). */
  let routed: string | null = names[0]!;
  const masters: string[] = [names[0]!];
  const masterName = () => {
    const m = masterRecord()?.name ?? null;
    if (m && m !== routed) {
      routed = m;
      if (masters.at(-1) !== m) masters.push(m);
    }
    return routed;
  };

  // ---- what the servers really are ----------------------------------------------------------
  const changing = new Set<string>();
  const watch = watchServers(cluster, changing);
  const servers = () => watch.snapshot();
  const view = (): ManagerSnapshot | null => {
    if (!manager) return null;
    const status = manager.core.serviceStatus(SERVICE);
    return { policy: status.policy, datasources: status.datasources, taskRunning: running.size > 0 };
  };
  function checkNow(): void {
    checker.checkView(Date.now(), servers(), view());
  }
  let ticking = true;
  const ticker = (async () => {
    while (ticking) {
      checkNow();
      await sleep(TICK_MS);
    }
  })();

  // ---- the applications ---------------------------------------------------------------------
  let acknowledged = 0;
  let directWrites = 0;
  const writer = startWriter(cluster, {
    route: masterName,
    pauseMs: 5,
    statementTimeoutMs: 2000,
    onAck: (a) => {
      acknowledged++;
      // Not the master of the moment once the manager names another (the write waited on a frozen
      // old master, say): see recordAcknowledged.
      checker.recordAcknowledged({ id: a.id, seqno: a.seqno, server: a.server, at: a.ackedAt, gtid: a.gtid }, masterName());
    },
  });

  // ---- faults --------------------------------------------------------------------------------
  const ledger = new FaultLedger();
  const inject = async (node: string, fault: ChaosFault | Repair): Promise<void> => {
    actions.add(fault);
    // A clean shutdown or a restart takes a moment during which the server answers nothing.
    const stopsOrStarts = fault === 'dataserver-stop' || fault === 'dataserver-kill' || fault === 'dataserver-start';
    if (stopsOrStarts) changing.add(node);
    try {
      if (!(await injectServerFault(cluster, node, fault))) return;
      ledger.note(node, fault);
      // The checker sees every change the moment it happens, not only at the next tick.
      checkNow();
    } catch (e) {
      log(`  ${fault} ${node} failed: ${e instanceof Error ? e.message.split('\n')[0] : String(e)}`);
    } finally {
      if (stopsOrStarts) changing.delete(node);
    }
  };
  const control = (request: ControlRequest) => {
    if (!manager) return;
    actions.add(request.op === 'datasource' ? `datasource ${request.action}` : request.op);
    try {
      const t = manager.core.control(SERVICE, request, 'chaos');
      if (t.state === 'in_progress') running.add(t.taskId);
      checkNow();
    } catch (e) {
      if (!isToolkitError(e)) checker.report('manager-error', Date.now(), `control ${JSON.stringify(request)} threw ${e instanceof Error ? e.stack : String(e)}`);
      else log(`  refused: ${e.message}`);
    }
  };
  const runStep = async (step: ChaosStep): Promise<boolean> => {
    const a = step.action;
    const pick = rnd();
    const at = (t: string) => resolveTarget(t, names, masterName(), pick);
    switch (a.type) {
      case 'fault':
      case 'crash-restart':
      case 'heal':
        await runServerAction(a, step.index, { at, inject, ledger, scaled, log });
        break;
      case 'operator':
        log(`step ${step.index}: ${describeAction(a)}${manager ? '' : ' (manager down: not sent)'}`);
        control(a.request);
        break;
      case 'manager-restart': {
        const how = rnd() < 0.5 ? 'halt' : 'close';
        actions.add(`manager-${how}`);
        log(`step ${step.index}: restart the manager from its state dir (${how === 'halt' ? 'kill -9: halt()' : 'clean: close()'}), ${scaled(a.downMs)} ms down`);
        await stopManager(how);
        await sleep(scaled(a.downMs));
        if (!(await startManager())) return false;
        break;
      }
      case 'direct-write':
        actions.add('direct-write');
        directWrites += await runStaleWrites(a, step.index, { cluster, masters, master: masterName, rnd, at, log, checker });
        break;
      case 'nothing':
        break;
    }
    await sleep(scaled(step.waitMs));
    return true;
  };

  // ---- the round -----------------------------------------------------------------------------
  let alive = await startManager();
  if (alive) {
    // The manager first sees the cluster as reset() left it.
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline && !(names.every((n) => manager!.core.datasourceStatus(SERVICE, n).state === 'ONLINE'))) await sleep(50);
    log(`the manager sees ${JSON.stringify(view()?.datasources.map((d) => `${d.name}:${d.role}:${d.state}`))}`);
  }
  for (const step of alive ? schedule : []) {
    checker.setStep(step.index);
    if (!(await runStep(step))) {
      alive = false;
      break;
    }
  }
  if (alive) {
    // Heal everything, as operators would, and let the manager settle.
    checker.setStep(schedule.length);
    log(`step ${schedule.length}: heal everything, set policy automatic, wait, recover, wait`);
    for (const r of ledger.allRepairs()) await inject(r.node, r.repair);
    if (!manager) alive = await startManager();
    if (alive) {
      // Each wait ends once the manager has held a healthy view (an ONLINE master that is the one
      // writable server, nothing running) for the checker's quiet time, or at its limit.
      const healthy = () => {
        const v = view();
        const m = v?.datasources.find((d) => d.role === 'master' && d.state === 'ONLINE');
        const snap = servers();
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
      for (let i = 0; i < 150 && running.size > 0; i++) await sleep(100);
      control({ op: 'policy', mode: 'AUTOMATIC' });
      await settle(4000);
      for (let i = 0; i < 150 && running.size > 0; i++) await sleep(100);
      const v = view();
      if (v?.datasources.some((d) => d.state !== 'ONLINE')) {
        // What an operator does next: bring the failed-over back, and a master taken OFFLINE online.
        const offlineMaster = v.datasources.find((d) => d.role === 'master' && d.state === 'OFFLINE');
        if (offlineMaster) {
          control({ op: 'datasource', host: offlineMaster.name, action: 'online' });
          for (let i = 0; i < 150 && running.size > 0; i++) await sleep(100);
        }
        control({ op: 'recover' });
        for (let i = 0; i < 150 && running.size > 0; i++) await sleep(100);
        await settle(4000);
      }
    }
  }
  await writer.stop();
  // The last word on the writes: the manager's master (ONLINE, or at least not shunned), answering.
  const masterRecords = view()?.datasources.filter((d) => d.role === 'master') ?? [];
  const master = (masterRecords.find((d) => d.state === 'ONLINE') ?? masterRecords.find((d) => d.state !== 'SHUNNED'))?.name ?? null;
  const snapshot = servers();
  log(`end: manager ${JSON.stringify(view()?.datasources.map((d) => `${d.name}:${d.role}:${d.state}`))}, servers ${JSON.stringify(snapshot.map((s) => `${s.name}:${s.down === 'no' ? (s.acceptsWrites ? 'writable' : 'read-only') : s.down}<-${s.following ?? '-'}`))}`);
  // Its rows are what counts, writable or not (a read-only master is the view check's finding).
  if (master && cluster.state(master) === 'running' && running.size === 0) {
    const onMaster = await writtenIds(cluster, master);
    checker.checkWrites(Date.now(), master, (_server, w) => onMaster.has(Number(w.id)));
  } else {
    const why = running.size > 0 ? 'a task is still running' : `the manager's master is ${master ?? 'none'}`;
    log(`end: no master to check the writes against (${why})`);
    checker.report('manager-error', Date.now(), `after healing, no master to check ${acknowledged} acknowledged writes against (${why})`);
  }
  ticking = false;
  await ticker;
  const violations = checker.finish(Date.now());
  await watch.stop();
  await stopManager('close');
  rmSync(stateDir, { recursive: true, force: true });
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
