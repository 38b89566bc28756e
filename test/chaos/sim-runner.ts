/**
 * Runs one seeded chaos schedule (checker.ts) against a manager on a VirtualClock with the
 * simulated driver and a memory store: faults go straight to the driver (they happen to the
 * cluster, not through the manager), operator actions through manager.control, application writes
 * through the connectors' route (and now and then directly to a server). The driver outlives
 * manager kills (halt + createManager on the same store). Every change of the servers is checked
 * the moment it happens (driver.onChange), the manager's view at every virtual second.
 *
 * The cluster half of a run (the simulated servers, the checker, the fault ledger, ticks with
 * application writes, the schedule's database faults and direct writes) is createSimWorld, which
 * the manager group's tier (group-runner.ts) shares; only who the manager is differs.
 */
import { isToolkitError } from '../../src/errors.js';
import { VirtualClock } from '../../src/manager/clock.js';
import type { ManagerCore } from '../../src/manager/core.js';
import type { DataSourceConfig } from '../../src/manager/drivers/driver.js';
import { SimulatedDriver } from '../../src/manager/drivers/simulated.js';
import { createManager } from '../../src/manager/index.js';
import type { FaultAction, ManagerEvent } from '../../src/manager/model.js';
import { demoProperties, type ManagerProperties } from '../../src/manager/properties.js';
import { memoryStore } from '../../src/manager/store.js';
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
  type ChaosStep,
  type ManagerSnapshot,
  type SeedResult,
  type ServerSnapshot,
} from './checker.js';

const SERVICE = 'alpha';
const TICK_MS = 1000;

export interface SimRunOptions {
  steps: number;
  /** Log every step with the manager's view (replaying one seed). */
  verbose?: (line: string) => void;
  /** Quiet time at the end, after healing everything. */
  settleMs?: number;
}

export interface SimWorldOptions {
  /** Properties on top of the simulation's own (a manager group's coordination, say). */
  properties?: readonly string[];
  verbose?: (line: string) => void;
  /** Virtual time between two checks of the view (default 1 s). */
  tickMs?: number;
}

/** The simulated cluster of one seeded run and everything the checker needs of it; the tier supplies the manager(s). */
export interface SimWorld {
  readonly seed: number;
  /** The run's generator (after the world took its own draws): the tier draws its targets from it. */
  readonly rnd: () => number;
  readonly clock: VirtualClock;
  readonly driver: SimulatedDriver;
  readonly props: ManagerProperties;
  readonly names: string[];
  readonly checker: InvariantChecker;
  readonly ledger: FaultLedger;
  readonly startedAt: number;
  /** The human reading of the run, one line per step. */
  readonly reading: string[];
  readonly stepDelayMs: number;
  readonly restartReadOnly: boolean;
  /** The manager's view the checker compares with the servers (null while none acts): set by the tier. */
  view: () => ManagerSnapshot | null;
  /** After every advance of the clock, before the view is checked (the tier's own invariants). */
  afterAdvance: () => void;
  log(line: string): void;
  cfg(name: string): DataSourceConfig;
  servers(): ServerSnapshot[];
  /** The master of the moment: the manager's, or the connectors' route while no manager says. */
  masterName(): string | null;
  record(w: ReturnType<SimulatedDriver['appWrite']>): void;
  check(): void;
  tick(writesPerSecond: number, ms?: number): Promise<void>;
  wait(ms: number, writesPerSecond: number): Promise<void>;
  inject(node: string, fault: FaultAction): Promise<void>;
  /** The cluster's part of a step (database faults, heal, direct writes, nothing); false for the tier's own actions. */
  clusterAction(step: ChaosStep, pick: number): Promise<boolean>;
}

export function createSimWorld(seed: number, opts: SimWorldOptions = {}): SimWorld {
  const rnd = mulberry32(seed ^ 0xc1a05);
  const clock = new VirtualClock();
  const stepDelayMs = [0, 20, 200][Math.floor(rnd() * 3)]!;
  const restartReadOnly = rnd() < 0.3;
  const tickMs = opts.tickMs ?? TICK_MS;
  const props = demoProperties([`simulation.stepDelayMs=${stepDelayMs}`, 'simulation.writesPerSecond=0', `simulation.seed=${seed}`, ...(opts.properties ?? [])]);
  const names = props.datasources.map((d) => d.name);
  const cfg = (name: string): DataSourceConfig => props.datasources.find((d) => d.name === name)!;
  const driver = new SimulatedDriver({
    clock,
    datasources: props.datasources,
    connectors: props.connectors,
    stepDelayMs,
    writesPerSecond: 0,
    seed,
    restartReadOnly,
  });
  const p = props.policy;
  const period = p.samplePeriodSeconds * 1000;
  const startedAt = clock.now();
  const checker = new InvariantChecker({
    seed,
    startedAt,
    samplePeriodMs: period,
    dbDetectMs: (p.dbPingFailThreshold + 1) * period,
    hostDetectMs: (p.hostPingFailThreshold + 1) * period,
    observationTimeoutMs: (p.dbPingTimeoutSeconds + p.hostPingTimeoutSeconds) * 1000,
  });
  const reading: string[] = [`seed ${seed}: step delay ${stepDelayMs} ms, restarted servers come up ${restartReadOnly ? 'read-only' : 'writable'}`];
  const ledger = new FaultLedger();
  let writeCredit = 0;

  const world: SimWorld = {
    seed,
    rnd,
    clock,
    driver,
    props,
    names,
    checker,
    ledger,
    startedAt,
    reading,
    stepDelayMs,
    restartReadOnly,
    view: () => null,
    afterAdvance: () => undefined,
    log(line) {
      const text = `+${((clock.now() - startedAt) / 1000).toFixed(1)}s ${line}`;
      reading.push(text);
      opts.verbose?.(text);
    },
    cfg,
    servers: () =>
      names.map((name) => {
        const s = driver.node(name);
        return {
          name,
          acceptsWrites: s.acceptsWrites,
          down: !s.hostUp ? 'host' : !s.dataServerUp ? 'server' : s.frozen ? 'frozen' : 'no',
          following: s.isMaster ? null : s.masterName,
        };
      }),
    masterName() {
      const m = world.view()?.datasources.find((d) => d.role === 'master' && d.state !== 'SHUNNED');
      return m?.name ?? driver.routedTo();
    },
    record(w) {
      if (w.ok) checker.recordAcknowledged({ id: w.id, seqno: w.seqno, server: w.server, at: w.at, gtid: w.gtid }, world.masterName());
    },
    check() {
      const snap = world.servers();
      const v = world.view();
      checker.checkView(clock.now(), snap, v);
      if (!v || v.taskRunning) return;
      const master = v.datasources.find((d) => d.role === 'master' && d.state === 'ONLINE');
      if (master && snap.find((s) => s.name === master.name)?.acceptsWrites) {
        checker.checkWrites(clock.now(), master.name, (server, w) => driver.holdsWrite(server, { id: w.id as number, seqno: w.seqno }));
      }
    },
    async tick(writesPerSecond, ms = tickMs) {
      writeCredit += (writesPerSecond * ms) / 1000;
      while (writeCredit >= 1) {
        writeCredit -= 1;
        world.record(driver.routedWrite());
      }
      await clock.advance(ms);
      world.afterAdvance();
      world.check();
    },
    async wait(ms, writesPerSecond) {
      for (let left = ms; left > 0; left -= tickMs) await world.tick(writesPerSecond, Math.min(tickMs, left));
    },
    async inject(node, fault) {
      try {
        // Before the fault: the driver reports the change (and the checker looks) while injecting it.
        if (fault === 'dataserver-thaw' || fault === 'dataserver-start' || fault === 'host-up') checker.serverReturned(node, clock.now());
        await driver.injectFault(cfg(node), fault);
        ledger.note(node, fault as Parameters<FaultLedger['note']>[1]);
      } catch {
        // e.g. an errant write on a server that is down: nothing happened
      }
    },
    async clusterAction(step, pick) {
      const a: ChaosAction = step.action;
      const at = (t: string) => resolveTarget(t, names, world.masterName(), pick);
      switch (a.type) {
        case 'fault': {
          const node = at(a.target);
          world.log(`step ${step.index}: ${describeAction({ ...a, target: node })}`);
          await world.inject(node, a.fault);
          return true;
        }
        case 'crash-restart': {
          const node = at(a.target);
          world.log(`step ${step.index}: ${describeAction({ ...a, target: node })}`);
          await world.inject(node, 'dataserver-kill');
          await world.wait(a.restartAfterMs, step.writesPerSecond);
          await world.inject(node, 'dataserver-start');
          return true;
        }
        case 'heal': {
          const repair = ledger.nextRepair(a.pick);
          world.log(`step ${step.index}: ${repair ? `heal: ${repair.repair} ${repair.node}` : 'heal: nothing outstanding'}`);
          if (repair) await world.inject(repair.node, repair.repair);
          return true;
        }
        case 'direct-write': {
          const node = at(a.target);
          world.log(`step ${step.index}: ${describeAction({ ...a, target: node })}`);
          for (let i = 0; i < a.count; i++) world.record(driver.appWrite(node));
          return true;
        }
        case 'nothing':
          return true;
        default:
          return false;
      }
    },
  };
  driver.onChange(() => checker.checkWriters(clock.now(), world.servers()));
  return world;
}

export async function runSimulatedSeed(seed: number, opts: SimRunOptions): Promise<SeedResult> {
  const world = createSimWorld(seed, { verbose: opts.verbose });
  const { rnd, clock, driver, props, names, checker, ledger, reading, log, tick, wait, inject, check } = world;
  const store = memoryStore();
  const schedule = generateSchedule(seed, { datasources: names, steps: opts.steps });

  let manager: ManagerCore | null = null;
  const running = new Set<string>();
  world.view = () => {
    if (!manager) return null;
    const status = manager.serviceStatus(SERVICE);
    return { policy: status.policy, datasources: status.datasources, taskRunning: running.size > 0 };
  };
  const onEvent = (e: ManagerEvent) => {
    if (e.type === 'task-step') {
      running.add(e.taskId);
      if (opts.verbose && process.env.CHAOS_TRACE_STEPS) log(`  task step: ${e.step.line}`);
    }
    if (e.type === 'task-end') {
      running.delete(e.task.taskId);
      const w = lossWindowOf(e.task);
      if (w) checker.addLossWindow(w);
      if (opts.verbose) log(`  task '${e.task.operation}' ${e.task.state}: ${e.task.steps.map((s) => s.line).join(' | ')} ${JSON.stringify(e.task.taskResult)}`);
    }
  };
  const start = async (): Promise<boolean> => {
    let settled = false;
    let failure: unknown = null;
    const starting = createManager({ properties: props, clock, driver, store, hostName: 'chaos' }).then(
      (m) => {
        manager = m;
        m.subscribe(onEvent);
        checker.managerStarted(clock.now());
        for (const t of m.history(SERVICE, 50)) {
          const reported = lossWindowOf(t);
          if (reported) checker.addLossWindow(reported);
          const cut = interruptedFailoverOf(t);
          if (cut && !reported) checker.addInterruptedFailover(cut);
        }
      },
      (e: unknown) => {
        failure = e;
      },
    );
    void starting.finally(() => (settled = true));
    // Start-up observes the servers: a frozen one holds it until the observation timeout.
    for (let i = 0; i < 600 && !settled; i++) await tick(0);
    await starting;
    if (failure || !manager) {
      checker.report('manager-error', clock.now(), `the manager did not start: ${failure instanceof Error ? failure.message : String(failure)}`);
      return false;
    }
    return true;
  };

  const control = (request: Parameters<ManagerCore['control']>[1]) => {
    if (!manager) return;
    try {
      const t = manager.control(SERVICE, request, 'chaos');
      if (t.state === 'in_progress') running.add(t.taskId);
    } catch (e) {
      if (!isToolkitError(e)) checker.report('manager-error', clock.now(), `control ${JSON.stringify(request)} threw ${e instanceof Error ? e.stack : String(e)}`);
    }
  };

  const runStep = async (step: ChaosStep) => {
    const a = step.action;
    const pick = rnd();
    if (a.type === 'operator') {
      log(`step ${step.index}: ${describeAction(a)}${manager ? '' : ' (manager down: not sent)'}`);
      control(a.request);
    } else if (a.type === 'manager-restart') {
      log(`step ${step.index}: ${describeAction(a)}`);
      if (manager) {
        (manager as ManagerCore).halt();
        manager = null;
        running.clear();
        checker.managerStopped(clock.now());
      }
      await wait(a.downMs, step.writesPerSecond);
      if (!(await start())) return false;
    } else {
      await world.clusterAction(step, pick);
    }
    check();
    await wait(step.waitMs, step.writesPerSecond);
    return true;
  };

  if (!(await start())) return { seed, violations: checker.finish(clock.now()), schedule: reading };
  let alive = true;
  for (const step of schedule) {
    checker.setStep(step.index);
    if (!(await runStep(step))) {
      alive = false;
      break;
    }
    if (opts.verbose) log(`  view: ${JSON.stringify(world.view()?.datasources.map((d) => `${d.name}:${d.role}:${d.state}`))} truth: ${JSON.stringify(names.map((n) => driver.node(n)).map((s) => `${s.name}:${s.isMaster ? 'M' : `<-${s.masterName}`}:${s.acceptsWrites ? 'W' : 'ro'}:${s.replicatorState}:${s.gtidState}`))}`);
  }
  if (alive) {
    // Heal everything, as operators would, and let the manager settle.
    checker.setStep(schedule.length);
    log(`step ${schedule.length}: heal everything, set policy automatic, wait, recover`);
    for (const r of ledger.allRepairs()) await inject(r.node, r.repair);
    if (!manager) alive = await start();
    if (alive) {
      for (let i = 0; i < 30 && running.size > 0; i++) await tick(2);
      control({ op: 'policy', mode: 'AUTOMATIC' });
      await wait(60_000, 2);
      control({ op: 'recover' });
      await wait(opts.settleMs ?? 60_000, 2);
    }
  }
  const violations = checker.finish(clock.now());
  if (manager) (manager as ManagerCore).halt();
  await driver.close();
  return { seed, violations, schedule: reading };
}
