/** A demo manager on a VirtualClock with the simulated driver in reach, for the manager's tests. */
import { expect } from 'vitest';
import { VirtualClock } from '../../src/manager/clock.js';
import type { ManagerCore } from '../../src/manager/core.js';
import { SimulatedDriver } from '../../src/manager/drivers/simulated.js';
import { createManager } from '../../src/manager/index.js';
import type { ControlRequest, DataSourceStatus, TaskStatus } from '../../src/manager/model.js';
import { demoProperties, type ManagerProperties } from '../../src/manager/properties.js';
import type { StateStore } from '../../src/manager/store.js';

export interface Harness {
  clock: VirtualClock;
  driver: SimulatedDriver;
  manager: ManagerCore;
  props: ManagerProperties;
  ds(name: string): DataSourceStatus;
  masterName(): string | undefined;
  /** Starts an operation as `tester`, lets it run `ms` of virtual time, returns its final view. */
  run(request: ControlRequest, ms?: number): Promise<TaskStatus>;
  fault(host: string, fault: Extract<ControlRequest, { op: 'fault' }>['fault']): Promise<void>;
}

export async function startHarness(overrides: string[] = [], opts: { clock?: VirtualClock; driver?: SimulatedDriver; store?: StateStore } = {}): Promise<Harness> {
  const clock = opts.clock ?? new VirtualClock();
  const props = demoProperties(['simulation.stepDelayMs=0', ...overrides]);
  const driver =
    opts.driver ??
    new SimulatedDriver({
      clock,
      datasources: props.datasources,
      connectors: props.connectors,
      stepDelayMs: props.simulation.stepDelayMs,
      writesPerSecond: props.simulation.writesPerSecond,
      seed: props.simulation.seed,
    });
  const manager = await createManager({ properties: props, clock, driver, hostName: 'test-host', store: opts.store });
  const h: Harness = {
    clock,
    driver,
    manager,
    props,
    ds: (name) => manager.datasourceStatus('alpha', name),
    masterName: () => manager.serviceStatus('alpha').datasources.find((d) => d.role === 'master' && d.state !== 'SHUNNED')?.name,
    async run(request, ms = 5000) {
      const started = manager.control('alpha', request, 'tester');
      await clock.advance(ms);
      return manager.task(started.taskId);
    },
    async fault(host, fault) {
      await h.run({ op: 'fault', host, fault }, 0);
    },
  };
  return h;
}

export function lines(task: TaskStatus): string[] {
  return task.steps.map((s) => s.line);
}

/** The monitor fails `host` (its server stopped for the detection time), then its server is started again. */
export async function failedByMonitorThenRestarted(harness: Harness, host: string, before?: (x: Harness) => Promise<void>): Promise<void> {
  await harness.fault(host, 'dataserver-stop');
  await harness.clock.advance(30_000);
  expect(harness.ds(host).state).toBe('FAILED');
  await before?.(harness);
  await harness.fault(host, 'dataserver-start');
}
