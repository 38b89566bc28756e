/**
 * Every member lists every connector of the service, whichever member it reports to: the member
 * that takes a report shares it through etcd under its own lease. The group runs on the simulated
 * etcd and the virtual clock.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { ConnectorReport } from '../../../src/manager/routing.js';
import { startGroup, type GroupHarness } from './harness.js';

let group: GroupHarness | undefined;
afterEach(async () => {
  await group?.destroy();
  group = undefined;
});

const report = (over: Partial<ConnectorReport> = {}): ConnectorReport => ({
  name: 'connector@app1', host: 'app1', pid: 4242, state: 'ONLINE', created: 7, active: 3, listen: '127.0.0.1:3306', readListen: null, epoch: 1, holding: false, waiting: 0, manager: 'http://db2.invalid:8090', ...over,
});

function listedBy(g: GroupHarness, name = 'connector@app1') {
  return Object.fromEntries([...g.members].map(([member, core]) => [member, core.serviceStatus('alpha').routers.find((r) => r.name === name) ?? null]));
}

/** The connector reports to `member` every second for `ms`. */
async function reporting(g: GroupHarness, member: string, ms: number, over: Partial<ConnectorReport> = {}): Promise<void> {
  for (let t = 0; t < ms; t += 1000) {
    g.members.get(member)!.reportConnector('alpha', report(over));
    await g.clock.advance(1000);
  }
}

describe('connectors in a manager group', () => {
  it('a connector reporting to a follower is listed by every member, with the member it reports to; counts follow within a few seconds, a change in state at once', async () => {
    group = await startGroup();
    const coordinator = group.coordinatorName()!;
    const follower = ['db1', 'db2', 'db3'].find((n) => n !== coordinator)!;
    await reporting(group, follower, 2000);
    for (const [member, router] of Object.entries(listedBy(group))) {
      expect(router, `listed by ${member}`).toMatchObject({ host: 'app1', pid: 4242, state: 'ONLINE', connections: { created: 7, active: 3 }, connector: { reportedTo: follower, manager: 'http://db2.invalid:8090', epoch: 1 } });
    }
    await reporting(group, follower, 4000, { created: 9, active: 1 });
    for (const router of Object.values(listedBy(group))) expect(router?.connections).toEqual({ created: 9, active: 1 });
    group.members.get(follower)!.reportConnector('alpha', report({ created: 9, active: 1, state: 'ON-HOLD' }));
    await group.clock.advance(600);
    for (const router of Object.values(listedBy(group))) expect(router?.state).toBe('ON-HOLD');
  });

  it('the member it reported to dies: the others drop it with that member\'s lease, and list it again as soon as it reports to another', async () => {
    group = await startGroup();
    const coordinator = group.coordinatorName()!;
    const [first, second] = ['db1', 'db2', 'db3'].filter((n) => n !== coordinator) as [string, string];
    await reporting(group, first, 2000);
    expect(listedBy(group)[coordinator]?.connector?.reportedTo).toBe(first);
    group.kill(first);
    await group.clock.advance((group.ttlSeconds + 2) * 1000);
    expect(listedBy(group)).toEqual({ [coordinator]: null, [second]: null });
    await reporting(group, second, 1000);
    for (const router of Object.values(listedBy(group))) expect(router?.connector?.reportedTo).toBe(second);
  });

  it('a connector that stops reporting is dropped by every member once it has been silent 5 s', async () => {
    group = await startGroup();
    const coordinator = group.coordinatorName()!;
    const follower = ['db1', 'db2', 'db3'].find((n) => n !== coordinator)!;
    await reporting(group, follower, 2000);
    expect(Object.values(listedBy(group)).every((r) => r !== null)).toBe(true);
    await group.clock.advance(7000);
    expect(Object.values(listedBy(group))).toEqual([null, null, null]);
  });
});
