/**
 * The manager group on three real etcd members, in real time: three managers in this process over
 * one simulated cluster, each with its own etcd client (src/manager/coordination/etcd-client.ts).
 * What the group code does on the simulated etcd must hold on the real one: one coordinator, a
 * takeover within TTL + 1 s after a kill, nothing changing when one etcd member dies, and no
 * member acting while etcd has no majority. (test/system/manager-group.test.ts runs the same
 * faults with real tungsten-manager processes on real MariaDB.)
 */
import { titleOrSkipReason } from '../helpers/processes.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemClock, VirtualClock } from '../../src/manager/clock.js';
import type { PersistedState } from '../../src/manager/store.js';
import { EtcdClient } from '../../src/manager/coordination/etcd-client.js';
import { EtcdCoordination } from '../../src/manager/coordination/etcd.js';
import type { ManagerCore } from '../../src/manager/core.js';
import { SimulatedDriver } from '../../src/manager/drivers/simulated.js';
import { createManager } from '../../src/manager/index.js';
import { demoProperties } from '../../src/manager/properties.js';
import { etcdAvailable, etcdSkipReason, startEtcdCluster, type EtcdCluster } from '../helpers/etcd.js';

const TTL_SECONDS = 3;
const required = process.env.CI === 'true';
if (required && !etcdAvailable()) throw new Error(`CI=true: the group tests need etcd: ${etcdSkipReason}`);

describe.skipIf(!etcdAvailable())(titleOrSkipReason('a manager group on real etcd (in-process managers)', etcdAvailable() ? null : etcdSkipReason), () => {
  let etcd: EtcdCluster;
  const props = demoProperties([
    'simulation.stepDelayMs=0',
    'policy.liveness.samplePeriod=2',
    'manager.coordination=etcd',
    'manager.etcd.endpoints=http://placeholder:2379',
    `manager.coordination.ttl=${TTL_SECONDS}`,
  ]);
  let driver: SimulatedDriver;
  const members = new Map<string, ManagerCore>();
  let prefix = '';
  let log: string[] = [];

  async function startMember(name: string): Promise<ManagerCore> {
    const logger = { info: (m: string) => log.push(`${name} ${m}`), warn: (m: string) => log.push(`${name} ${m}`), error: (m: string) => log.push(`${name} ${m}`) };
    const kv = new EtcdClient({ endpoints: etcd.endpoints, timeoutMs: 500, now: () => systemClock.monotonic() });
    const coordination = new EtcdCoordination({ kv, clock: systemClock, service: props.serviceName, memberName: name, ttlSeconds: TTL_SECONDS, prefix, location: etcd.endpoints.join(','), logger });
    const core = await createManager({
      properties: { ...props, coordination: { ...props.coordination, memberName: name, datasource: name } },
      clock: systemClock,
      driver,
      hostName: `${name}-host`,
      coordination,
      logger,
    });
    members.set(name, core);
    return core;
  }

  const acting = () => [...members.entries()].filter(([, m]) => m.acting()).map(([n]) => n);
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  async function until<T>(what: string, timeoutMs: number, probe: () => T | undefined | null | false): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const v = probe();
      if (v) return v;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}\n${log.slice(-30).join('\n')}`);
      await sleep(50);
    }
  }

  beforeAll(async () => {
    etcd = await startEtcdCluster();
  }, 60_000);
  afterAll(async () => {
    for (const m of members.values()) m.halt();
    await etcd?.destroy();
  });

  async function freshGroup(): Promise<void> {
    for (const m of members.values()) m.halt();
    members.clear();
    log = [];
    prefix = `/test-${Date.now()}-${Math.random().toString(36).slice(2, 8)}`;
    driver = new SimulatedDriver({ clock: systemClock, datasources: props.datasources, connectors: props.connectors, stepDelayMs: 0, writesPerSecond: 2, seed: 1 });
    for (const name of ['db1', 'db2', 'db3']) await startMember(name);
    await until('a coordinator', 5000, () => acting().length === 1);
  }

  it('elects one coordinator that every member names; a kill -9 of it is taken over within TTL + 1 s, with no failover', async () => {
    await freshGroup();
    const first = acting()[0]!;
    for (const m of members.values()) await until('the same coordinator everywhere', 3000, () => m.info().coordinator === first);
    members.get(first)!.halt();
    members.delete(first);
    const killedAt = Date.now();
    const next = await until('a new coordinator', (TTL_SECONDS + 3) * 1000, () => acting()[0]);
    const takeoverMs = Date.now() - killedAt;
    console.log(`takeover after kill -9 of the coordinator: ${takeoverMs} ms (TTL ${TTL_SECONDS} s)`);
    expect(next).not.toBe(first);
    expect(takeoverMs).toBeLessThanOrEqual(TTL_SECONDS * 1000 + 1000);
    expect(members.get(next)!.serviceStatus('alpha').datasources.find((d) => d.role === 'master')?.name).toBe('db1');
    expect(log.some((l) => /FAILING OVER|failover:/.test(l))).toBe(false);
  }, 30_000);

  it('a clean stop of the coordinator hands over within about a second', async () => {
    await freshGroup();
    const first = acting()[0]!;
    const core = members.get(first)!;
    members.delete(first);
    const stoppedAt = Date.now();
    await core.close();
    await until('a new coordinator', 5000, () => acting()[0]);
    const handoverMs = Date.now() - stoppedAt;
    console.log(`handover after a clean stop of the coordinator: ${handoverMs} ms`);
    expect(handoverMs).toBeLessThan(2500);
  }, 30_000);

  it('between rounds a follower learns of a commit, and of a leader key freed, from its watch (its clock never runs a round here)', async () => {
    await freshGroup();
    await until('a coordinator', 10_000, () => acting()[0]);
    const reader = new EtcdClient({ endpoints: etcd.endpoints, timeoutMs: 1000 });
    const committed = (await reader.get(`${prefix}/${props.serviceName}/state`)).kv;
    reader.close();
    const state = JSON.parse(committed!.value) as PersistedState;
    for (const m of members.values()) m.halt();
    members.clear();

    // Rounds run on this clock's timers, and it is never advanced: after start(), only the watch can prompt one.
    const clock = new VirtualClock();
    const watchPrefix = `${prefix}-watch`;
    const member = (name: string) => {
      const kv = new EtcdClient({ endpoints: etcd.endpoints, timeoutMs: 1000, now: () => clock.monotonic() });
      const logger = { info: (m: string) => log.push(`${name} ${m}`), warn: (m: string) => log.push(`${name} ${m}`), error: (m: string) => log.push(`${name} ${m}`) };
      return new EtcdCoordination({ kv, clock, service: props.serviceName, memberName: name, ttlSeconds: TTL_SECONDS, prefix: watchPrefix, location: 'test', logger });
    };
    const record = (name: string) => ({ name, host: `${name}-host`, apiUrl: null, datasource: null, startedAt: '', version: 'test' });
    const a = member('a');
    const b = member('b');
    try {
      await a.start(record('a'));
      expect(a.isCoordinator()).toBe(true);
      await b.start(record('b'));
      expect(b.isCoordinator()).toBe(false);
      const seen: string[] = [];
      b.subscribe((change) => {
        if (change.type === 'state') seen.push(change.state.service.policy);
      });
      await a.commit({ ...state, service: { ...state.service, policy: 'MAINTENANCE' } });
      await until('the follower to show the commit', 3000, () => seen.includes('MAINTENANCE'));
      await a.close();
      await until('the follower to take the freed leader key', 3000, () => b.isCoordinator());
      expect(b.group().coordinator).toBe('b');
    } finally {
      a.halt();
      await b.close();
    }
  }, 30_000);

  it('one etcd member killed: never two coordinators, one acting within a TTL, and control works', async () => {
    await freshGroup();
    const victim = etcd.members[0]!.name;
    await etcd.kill(victim);
    try {
      // Killing etcd's leader can cost the coordinator a renewal while etcd elects another, and so a
      // takeover; whatever happens, never two act at once, and one acts again within a TTL.
      const seen: string[][] = [];
      const deadline = Date.now() + TTL_SECONDS * 1000;
      while (Date.now() < deadline) {
        seen.push(acting());
        await sleep(50);
      }
      expect(seen.filter((a) => a.length > 1)).toEqual([]);
      const coordinator = await until('one coordinator', TTL_SECONDS * 1000, () => (acting().length === 1 ? acting()[0] : null));
      const c = members.get(coordinator)!;
      const task = c.control('alpha', { op: 'switch', target: 'db2' }, 'tester');
      await until('the switch', 10_000, () => c.task(task.taskId).state !== 'in_progress');
      expect(c.task(task.taskId).state).toBe('complete');
    } finally {
      await etcd.start(victim);
    }
  }, 60_000);

  it('etcd majority lost: within 2/3 TTL nobody acts, the master is fenced by its own manager; when etcd is back one coordinator acts again', async () => {
    await freshGroup();
    const [a, b] = [etcd.members[0]!.name, etcd.members[1]!.name];
    await etcd.kill(a);
    await etcd.kill(b);
    const lostAt = Date.now();
    try {
      // 2/3 TTL after the last renewal that etcd acknowledged; etcd's leader may acknowledge one
      // for up to its election timeout (1 s here) after losing its majority. The lease it renewed
      // lasts at least as long on the other side: a new etcd leader gives every lease a fresh TTL.
      await until('nobody acting', TTL_SECONDS * 1000 + 1000, () => acting().length === 0);
      // That last renewal may be sent up to a round (0.5 s) after the loss; 0.5 s more for the kills and polling.
      expect(Date.now() - lostAt).toBeLessThan((2 / 3) * TTL_SECONDS * 1000 + 1000 + 500 + 500);
      const db1 = props.datasources[0]!;
      await until('db1 read-only (failsafe)', TTL_SECONDS * 1000 + 2000, () => members.get('db1')!.datasourceStatus('alpha', 'db1').lastShunReason === 'FAILSAFE-SHUN');
      expect(await driver.readOnly(db1, { timeoutMs: 500 })).toBe(true);
      await sleep(3000);
      expect(acting()).toEqual([]);
    } finally {
      await etcd.start(a);
      await etcd.start(b);
    }
    await until('a coordinator again', 20_000, () => acting().length === 1);
  }, 90_000);
});
