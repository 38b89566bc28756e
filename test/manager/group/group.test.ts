/**
 * The manager group on the simulated etcd and the virtual clock: election, one actor, followers
 * that show the coordinator's state, takeover after a kill, timing kept across a change of
 * coordinator, losing etcd (no action; the master's own manager fences it), rolling restart.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { startGroup, type GroupHarness } from './harness.js';

let group: GroupHarness | undefined;
afterEach(async () => {
  await group?.destroy();
  group = undefined;
});

const SERVICE = 'alpha';
/** Default demo timing: a stopped server is failed over (1+1) x 10 s after it is first seen. */
const DATASERVER_DELAY_MS = 20_000;

function promotions(g: GroupHarness): string[] {
  return g.log.filter((l) => /PROMOTING|promot/i.test(l) && /INFO|WARN/.test(l));
}

describe('a manager group on etcd', () => {
  it('elects exactly one coordinator; every member lists the same three members and the same coordinator', async () => {
    group = await startGroup();
    const acting = [...group.members.entries()].filter(([, m]) => m.acting()).map(([n]) => n);
    expect(acting).toHaveLength(1);
    for (const m of group.members.values()) {
      expect(m.members(SERVICE).map((x) => x.name)).toEqual(['db1', 'db2', 'db3']);
      // What the API lists of a member: the one member type, without the store's own fields (when it joined, its version).
      expect(m.members(SERVICE).find((x) => x.name === acting[0])).toEqual({
        name: acting[0],
        host: `${acting[0]}-host`,
        state: 'ONLINE',
        coordinator: true,
        datasource: acting[0],
        apiUrl: `http://${acting[0]}.invalid:8090`,
      });
      expect(m.info().coordinator).toBe(acting[0]);
      expect(m.info().isCoordinator).toBe(m.acting());
      expect(m.info().group).toMatchObject({ kind: 'etcd', quorum: true, coordinator: acting[0] });
    }
  });

  it('a control call to a follower is refused there (the server passes it to the coordinator); the coordinator runs it and every follower shows the result', async () => {
    group = await startGroup();
    const coordinatorName = group.coordinatorName()!;
    const follower = [...group.members.entries()].find(([n]) => n !== coordinatorName)![1];
    expect(follower.coordinatorApi()).toEqual({ name: coordinatorName, url: `http://${coordinatorName}.invalid:8090` });
    expect(() => follower.control(SERVICE, { op: 'switch', target: 'db3' }, 'tester')).toThrow(/not the coordinator/);
    const task = group.coordinator()!.control(SERVICE, { op: 'switch', target: 'db3' }, 'tester', 'db2');
    await group.clock.advance(10_000);
    expect(group.coordinator()!.task(task.taskId).state).toBe('complete');
    for (const m of group.members.values()) {
      expect(m.task(task.taskId).state).toBe('complete');
      expect(m.serviceStatus(SERVICE).datasources.find((d) => d.role === 'master')?.name).toBe('db3');
    }
  });

  it("the coordinator's alerts (a fenced server) are published by every member, once each, and never become tasks", async () => {
    group = await startGroup();
    const seen = new Map<string, string[]>();
    for (const [name, m] of group.members) {
      seen.set(name, []);
      m.subscribe((e) => e.type === 'alert' && seen.get(name)!.push(`${e.alert.kind} ${e.alert.datasource}: ${e.alert.message}`));
    }
    const slave = group.masterName() === 'db2' ? 'db3' : 'db2';
    await group.driver.allowWrites(group.coordinator()!.configOf(slave), { timeoutMs: 1000 });
    await group.clock.advance(5_000);
    expect(group.driver.node(slave).readOnly).toBe(true);
    for (const [name, lines] of seen) {
      expect(lines, name).toEqual([expect.stringMatching(new RegExp(`^fenced ${slave}: SPLIT-BRAIN GUARD: made ${slave}@alpha read-only \\(slave, ONLINE\\)`))]);
    }
    for (const m of group.members.values()) expect(m.history(SERVICE, 50)).toEqual([]);
  });

  it('a coordinator stopped cleanly right after a change commits it before it leaves: the next coordinator acts on it', async () => {
    group = await startGroup();
    const first = group.coordinatorName()!;
    group.coordinator()!.control(SERVICE, { op: 'policy', mode: 'MAINTENANCE' }, 'tester');
    await group.stop(first);
    const stored = JSON.parse(group.etcd.peek(`/tungsten/${SERVICE}/state`)!.value) as { service: { policy: string } };
    expect(stored.service.policy).toBe('MAINTENANCE');
    for (let t = 0; t < 10_000 && !group.coordinator(); t += 100) await group.clock.advance(100);
    expect(group.coordinatorName()).not.toBe(first);
    expect(group.coordinator()!.serviceStatus(SERVICE).policy).toBe('MAINTENANCE');
  });

  it.each([3, 10])('a killed coordinator is replaced within its lease and a second (TTL %i s); the new one acts on the shared state', async (ttlSeconds) => {
    group = await startGroup([], { ttlSeconds });
    const first = group.coordinatorName()!;
    group.kill(first);
    const killedAt = group.clock.now();
    let takeoverMs: number | null = null;
    for (let t = 0; t < 20_000; t += 100) {
      await group.clock.advance(100);
      if (group.coordinator()) {
        takeoverMs = group.clock.now() - killedAt;
        break;
      }
    }
    expect(takeoverMs).not.toBeNull();
    expect(takeoverMs!).toBeLessThanOrEqual(group.ttlSeconds * 1000 + 1000);
    expect(group.coordinatorName()).not.toBe(first);
    expect(group.masterName()).toBe('db1');
  });

  it('a failover keeps its timing when the coordinator is killed mid-interval: t + (threshold+1) x period, plus at most the takeover', async () => {
    group = await startGroup();
    const first = group.coordinatorName()!;
    await group.fault('db1', 'dataserver-stop');
    const faultAt = group.clock.now();
    await group.clock.advance(8_000);
    group.kill(first);
    let failedOverAt: number | null = null;
    for (let t = 0; t < 60_000; t += 250) {
      await group.clock.advance(250);
      const m = group.masterName();
      if (m && m !== 'db1') {
        failedOverAt = group.clock.now();
        break;
      }
    }
    expect(failedOverAt).not.toBeNull();
    const late = failedOverAt! - faultAt - DATASERVER_DELAY_MS;
    // The fault is first seen at the next sample (up to one period after it happened).
    expect(late).toBeLessThanOrEqual(10_000 + group.ttlSeconds * 1000 + 1000);
    expect(failedOverAt! - faultAt).toBeGreaterThanOrEqual(DATASERVER_DELAY_MS - 10_000);
  });

  it('a coordinator cut off from etcd stops acting before its lease can expire, and no one acts twice', async () => {
    group = await startGroup();
    const first = group.coordinatorName()!;
    group.etcd.partition(first, true);
    const cutAt = group.clock.now();
    let stoppedActingAt: number | null = null;
    for (let t = 0; t < 10_000; t += 50) {
      await group.clock.advance(50);
      const acting = [...group.members.entries()].filter(([, m]) => m.acting()).map(([n]) => n);
      expect(acting.length).toBeLessThanOrEqual(1);
      if (stoppedActingAt === null && !group.members.get(first)!.acting()) stoppedActingAt = group.clock.now();
      if (acting.length === 1 && acting[0] !== first) break;
    }
    expect(stoppedActingAt).not.toBeNull();
    // Its lease in etcd lasts at least TTL after the last renewal it sent, which was before the cut.
    expect(stoppedActingAt! - cutAt).toBeLessThan(group.ttlSeconds * 1000);
    expect(group.coordinatorName()).toBeDefined();
    expect(group.coordinatorName()).not.toBe(first);
  });

  it('the master’s manager cut off from etcd fences the master (FAILSAFE-SHUN) before its lease ends; AUTOMATIC then fails over on the other side', async () => {
    group = await startGroup();
    // Put the coordinator away from db1, so the cut member is a follower beside the master.
    if (group.coordinatorName() === 'db1') {
      group.kill('db1');
      await group.clock.advance(group.ttlSeconds * 1000 + 1000);
      await group.start('db1');
      await group.clock.advance(2000);
    }
    expect(group.coordinatorName()).not.toBe('db1');
    group.etcd.partition('db1', true);
    const cutAt = group.clock.now();
    const logFrom = group.log.length;
    let fencedAt: number | null = null;
    for (let t = 0; t < 8000 && fencedAt === null; t += 100) {
      await group.clock.advance(100);
      if ((await group.driver.readOnly(group.props.datasources[0]!, { timeoutMs: 1000 })) === true) fencedAt = group.clock.now();
    }
    expect(fencedAt).not.toBeNull();
    expect(fencedAt! - cutAt).toBeLessThan(group.ttlSeconds * 1000);
    const isolated = group.members.get('db1')!;
    expect(isolated.datasourceStatus(SERVICE, 'db1')).toMatchObject({ state: 'SHUNNED', lastShunReason: 'FAILSAFE-SHUN' });
    expect(isolated.info().group?.quorum).toBe(false);
    await group.clock.advance(30_000);
    expect(group.masterName()).not.toBe('db1');
    // The isolated member never acted as coordinator meanwhile.
    expect(group.log.slice(logFrom).filter((l) => l.startsWith('db1 ') && /is now the coordinator/.test(l))).toEqual([]);
    expect(group.log.slice(logFrom).some((l) => l.startsWith('db1 ERROR FAILSAFE'))).toBe(true);
  });

  it('with etcd’s majority lost nobody fails over, nobody promotes, and the master’s own manager makes it read-only', async () => {
    group = await startGroup();
    group.etcd.setQuorum(false);
    await group.fault('db1', 'dataserver-stop');
    await group.clock.advance(60_000);
    expect([...group.members.values()].filter((m) => m.acting())).toEqual([]);
    expect(promotions(group).filter((l) => /PROMOTING/.test(l))).toEqual([]);
    await group.fault('db1', 'dataserver-start');
    await group.clock.advance(5_000);
    expect(await group.driver.readOnly(group.props.datasources[0]!, { timeoutMs: 1000 })).toBe(true);
    for (const m of group.members.values()) expect(m.info().group?.quorum).toBe(false);
  });

  it('a rolling restart (each member stopped and started in turn) causes no failover and keeps control', async () => {
    group = await startGroup();
    for (const name of ['db1', 'db2', 'db3']) {
      await group.stop(name);
      await group.clock.advance(2000);
      await group.start(name);
      await group.clock.advance(5000);
      expect(group.coordinator()).toBeDefined();
      expect(group.masterName()).toBe('db1');
    }
    expect(group.log.filter((l) => /automatic failover|FAILING OVER/i.test(l))).toEqual([]);
    const task = group.coordinator()!.control(SERVICE, { op: 'switch', target: 'db2' }, 'tester');
    await group.clock.advance(10_000);
    expect(group.coordinator()!.task(task.taskId).state).toBe('complete');
  });
});
