/**
 * Every state a datasource can reach has a way out (docs/safety.md, "Ways out of every state"):
 * each case puts the service in that state, follows the documented commands, and checks the service
 * ends healthy: one ONLINE master that alone accepts writes, every other datasource an ONLINE slave
 * replicating from it.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { ControlRequest } from '../../src/manager/model.js';
import { failedByMonitorThenRestarted, startHarness, type Harness } from './harness.js';

let h: Harness | undefined;
afterEach(async () => {
  await h?.manager.close();
  h = undefined;
});

const NAMES = ['db1', 'db2', 'db3'];

async function expectHealthy(harness: Harness): Promise<void> {
  await harness.clock.advance(20_000);
  const master = harness.masterName()!;
  const view = harness.manager.serviceStatus('alpha').datasources.map((d) => [d.name, d.role === 'master' ? 'master' : 'slave', d.state]);
  expect(view).toEqual(NAMES.map((n) => [n, n === master ? 'master' : 'slave', 'ONLINE']));
  for (const n of NAMES) {
    const node = harness.driver.node(n);
    if (n === master) expect(node).toMatchObject({ readOnly: false, isMaster: true });
    else expect(node).toMatchObject({ readOnly: true, masterName: master });
  }
}

async function ok(harness: Harness, request: ControlRequest): Promise<void> {
  const task = await harness.run(request);
  expect({ request, state: task.state, result: task.taskResult }).toMatchObject({ state: 'complete' });
}

interface Case {
  state: string;
  setup(h: Harness): Promise<void>;
  wayOut: ControlRequest[];
  overrides?: string[];
}

const CASES: Case[] = [
  { state: 'slave OFFLINE', setup: (x) => ok(x, { op: 'datasource', host: 'db2', action: 'offline' }), wayOut: [{ op: 'datasource', host: 'db2', action: 'online' }] },
  { state: 'slave SHUNNED', setup: (x) => ok(x, { op: 'datasource', host: 'db2', action: 'shun' }), wayOut: [{ op: 'datasource', host: 'db2', action: 'welcome' }] },
  { state: 'slave SHUNNED (recover)', setup: (x) => ok(x, { op: 'datasource', host: 'db2', action: 'shun' }), wayOut: [{ op: 'datasource', host: 'db2', action: 'recover' }] },
  { state: 'slave FAILED by an operator', setup: (x) => ok(x, { op: 'datasource', host: 'db3', action: 'fail' }), wayOut: [{ op: 'datasource', host: 'db3', action: 'recover' }] },
  {
    state: 'slave FAILED by the monitor (MANUAL)',
    overrides: ['policy.mode=manual'],
    setup: (x) => failedByMonitorThenRestarted(x, 'db3'),
    wayOut: [{ op: 'datasource', host: 'db3', action: 'recover' }],
  },
  {
    state: 'slave FAILED by the monitor (AUTOMATIC: by itself)',
    setup: (x) => failedByMonitorThenRestarted(x, 'db3'),
    wayOut: [],
  },
  { state: 'master OFFLINE', setup: (x) => ok(x, { op: 'datasource', host: 'db1', action: 'offline' }), wayOut: [{ op: 'datasource', host: 'db1', action: 'online' }] },
  {
    state: 'master FAILED by an operator (failover, then recover)',
    overrides: ['policy.mode=manual'],
    setup: (x) => ok(x, { op: 'datasource', host: 'db1', action: 'fail' }),
    wayOut: [{ op: 'failover' }, { op: 'recover' }],
  },
  {
    state: 'master FAILED by an operator (recover it in place)',
    overrides: ['policy.mode=manual'],
    setup: (x) => ok(x, { op: 'datasource', host: 'db1', action: 'fail' }),
    wayOut: [{ op: 'datasource', host: 'db1', action: 'recover' }],
  },
  {
    state: 'master FAILED by the monitor (MANUAL: recover it in place)',
    overrides: ['policy.mode=manual'],
    setup: (x) => failedByMonitorThenRestarted(x, 'db1'),
    wayOut: [{ op: 'datasource', host: 'db1', action: 'recover' }],
  },
  {
    state: 'master FAILED by the monitor, no eligible slave (AUTOMATIC: by itself)',
    setup: async (x) => {
      await ok(x, { op: 'datasource', host: 'db2', action: 'shun' });
      await ok(x, { op: 'datasource', host: 'db3', action: 'shun' });
      await failedByMonitorThenRestarted(x, 'db1');
      await x.clock.advance(20_000);
      expect(x.ds('db1').state).toBe('ONLINE');
    },
    wayOut: [{ op: 'datasource', host: 'db2', action: 'welcome' }, { op: 'datasource', host: 'db3', action: 'welcome' }],
  },
  {
    state: 'master SHUNNED by an operator after it FAILED (failover, then recover)',
    overrides: ['policy.mode=manual'],
    setup: (x) => failedByMonitorThenRestarted(x, 'db1', (y) => ok(y, { op: 'datasource', host: 'db1', action: 'shun' })),
    wayOut: [{ op: 'failover' }, { op: 'recover' }],
  },
  {
    state: 'master SHUNNED by an operator after it FAILED (welcome it back)',
    overrides: ['policy.mode=manual'],
    setup: (x) => failedByMonitorThenRestarted(x, 'db1', (y) => ok(y, { op: 'datasource', host: 'db1', action: 'shun' })),
    wayOut: [{ op: 'datasource', host: 'db1', action: 'welcome' }],
  },
  {
    state: 'old master SHUNNED FAILED-OVER-TO',
    setup: async (x) => {
      await x.fault('db1', 'dataserver-stop');
      await x.clock.advance(40_000);
      expect(x.ds('db1').lastShunReason).toMatch(/^FAILED-OVER-TO-db[23]$/);
      await x.fault('db1', 'dataserver-start');
    },
    wayOut: [{ op: 'recover' }],
  },
  { state: 'policy MAINTENANCE', setup: (x) => ok(x, { op: 'policy', mode: 'MAINTENANCE' }), wayOut: [{ op: 'policy', mode: 'AUTOMATIC' }] },
];

describe('every state has a way out', () => {
  for (const c of CASES) {
    it(`${c.state}: ${c.wayOut.length === 0 ? '(nothing to do)' : c.wayOut.map((r) => JSON.stringify(r)).join(' then ')}`, async () => {
      h = await startHarness(c.overrides ?? []);
      await h.clock.advance(10_000);
      await c.setup(h);
      for (const request of c.wayOut) await ok(h, request);
      if (c.overrides?.includes('policy.mode=manual')) await ok(h, { op: 'policy', mode: 'AUTOMATIC' });
      await expectHealthy(h);
    });
  }

  it('an old master that diverged is refused by recover with the transactions it holds, and the hint says rebuild', async () => {
    h = await startHarness(['simulation.writesPerSecond=0']);
    await h.run({ op: 'heartbeat' });
    await h.clock.advance(10_000);
    await h.fault('db1', 'dataserver-stop');
    await h.clock.advance(40_000);
    const master = h.masterName()!;
    expect(master).not.toBe('db1');
    // Writes on each side after the failover: db1's history has forked.
    await h.run({ op: 'heartbeat' });
    await h.fault('db1', 'dataserver-start');
    await h.fault('db1', 'errant-write');
    const recover = await h.run({ op: 'recover' });
    expect(recover.state).toBe('failed');
    expect(recover.steps.map((s) => s.line).join('\n')).toMatch(/RECOVERY OF 'db1@alpha' FAILED: cannot rejoin/);
  });
});
