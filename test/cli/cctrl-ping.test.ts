/**
 * `ping` as cctrl's: each datasource's host is checked, apart from its database server, and the
 * command exits 0 whatever it finds, since tpm's check_ping runs `echo 'ping' | cctrl` through a
 * call that raises on any other exit code and then scans for its NOT REACHABLE lines.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requireBuild, runCctrl, startTestManager, type TestManager } from '../e2e/cctrl-helpers.js';

/** tpm's check_ping (deployment_step_services.rb) reads the hosts it warns of with this pattern. */
const TPM_NOT_REACHABLE = /HOST ([a-zA-Z0-9\-.]+)\/[0-9.]+: NOT REACHABLE/g;

let manager: TestManager;
beforeAll(async () => {
  requireBuild();
  manager = await startTestManager(['policy.liveness.samplePeriod=0.2']);
});
afterAll(async () => {
  await manager?.close();
});

describe('cctrl ping, as tpm reads it', () => {
  it('a stopped database server alone leaves its host ALIVE; exit 0', async () => {
    await runCctrl([...manager.args, '--yes', '-e', 'service db3/mysql stop']);
    const r = await runCctrl(manager.args, { input: 'ping\n' });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^HOST db3\/[0-9.]+: ALIVE$/m);
    expect([...r.stdout.matchAll(TPM_NOT_REACHABLE)]).toEqual([]);
  });

  it('a host that is down is NOT REACHABLE, which tpm finds; still exit 0', async () => {
    await runCctrl([...manager.args, '--yes', '-e', 'service db2/host stop']);
    const r = await runCctrl(manager.args, { input: 'ping\n' });
    expect(r.code).toBe(0);
    expect([...r.stdout.matchAll(TPM_NOT_REACHABLE)].map((m) => m[1])).toEqual(['db2']);
    expect(r.stdout).toMatch(/^HOST db1\/[0-9.]+: ALIVE$/m);
  });
});
