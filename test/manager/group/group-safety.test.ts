/**
 * Safety findings of the group's chaos tier (test/chaos/group.test.ts), each reproduced on the
 * simulated etcd and cluster and failing before its fix.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { startGroup, type GroupHarness } from './harness.js';

let group: GroupHarness | undefined;
afterEach(async () => {
  await group?.destroy();
  group = undefined;
});

describe('an action of the coordinator is bounded by its lease', () => {
  it('one sent to a server that does not answer gives up before the lease ends, and does not land when the server wakes under another coordinator (chaos group seed 60)', async () => {
    group = await startGroup();
    const first = group.coordinatorName()!;
    const core = group.members.get(first)!;
    const db2 = core.configOf('db2');
    // db2's database freezes; the coordinator asks it to take writes (what a reverted switch does)
    // with a step timeout far longer than its lease: the lease guard cuts it to what the lease leaves.
    await group.fault('db2', 'dataserver-freeze');
    let settled: 'pending' | 'resolved' | 'rejected' = 'pending';
    core.driver.allowWrites(db2, { timeoutMs: 60_000 }).then(
      () => (settled = 'resolved'),
      () => (settled = 'rejected'),
    );
    const sentAt = group.clock.now();
    group.etcd.partition(first, true);
    await group.clock.advance(group.ttlSeconds * 1000);
    expect(settled).toBe('rejected');
    // Another member takes over; db2 answers again long after the first coordinator's lease ended.
    await group.clock.advance(5000);
    expect(group.coordinatorName()).toBeDefined();
    expect(group.coordinatorName()).not.toBe(first);
    expect(group.clock.now() - sentAt).toBeGreaterThan(group.ttlSeconds * 1000);
    const writableBefore = group.driver.node('db2').readOnly === false;
    await group.fault('db2', 'dataserver-thaw');
    expect(writableBefore).toBe(false);
    expect(group.driver.node('db2').readOnly).toBe(true);
  });
});
