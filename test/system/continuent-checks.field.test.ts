/**
 * Continuent's own monitoring, unchanged, against our manager over real HTTP: the Nagios checks
 * tungsten_nagios_online, tungsten_nagios_latency and tungsten_nagios_policy, and tungsten_policy
 * (which sets the policy through `cctrl -expert -port 9997` and reads it back), all reading APIv1
 * through tpm's own TungstenStatus and TungstenAPI Ruby (fixtures/tpm/run-continuent-script.rb).
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Manager } from '../../src/manager/api.js';
import { createDemoManager } from '../../src/manager/index.js';
import type { ServiceStatus } from '../../src/manager/model.js';
import { startManagerServer, type ManagerServer } from '../../src/manager/server/server.js';
import { CCTRL_BIN, requireBuild } from '../e2e/cctrl-helpers.js';
import { RUN_CONTINUENT_SCRIPT_RB, continuentScriptsMissing, extractContinuentScripts } from '../helpers/continuent-ruby.js';
import { freeLoopbackAddress } from '../helpers/processes.js';

const missing = continuentScriptsMissing();
// Run only by `npm run test:field` (vitest.config.ts): the sources come from checkouts of the original projects, which
// are never committed here, so whoever asks for this run must have them, and their absence is a failure.
if (missing !== null) throw new Error(`npm run test:field needs ${missing}`);
const auth = { user: 'ops', password: 'nagios-pw' };

describe("Continuent's Nagios checks and tungsten_policy read our manager", () => {
  let manager: Manager;
  let host: string;
  let open: ManagerServer;
  let locked: ManagerServer;
  let lagging: ManagerServer;
  let dir: string;

  beforeAll(async () => {
    requireBuild();
    dir = extractContinuentScripts();
    host = await freeLoopbackAddress([8090], 'the Continuent checks');
    manager = await createDemoManager({ overrides: ['policy.liveness.samplePeriod=0.2'] });
    // As legacy monitoring runs: APIv1 reads opened to loopback by the property, on the default port.
    open = await startManagerServer({ manager, credentials: auth, host, port: 8090, v1UnauthenticatedLoopbackReads: true });
    locked = await startManagerServer({ manager, credentials: auth, host, port: 0 });
    // The same cluster with db3 29.5 s behind its master.
    const behind = (s: ServiceStatus): ServiceStatus => ({
      ...s,
      datasources: s.datasources.map((d) => (d.name === 'db3' && d.replicator ? { ...d, appliedLatency: 29.5, replicator: { ...d.replicator, appliedLatency: 29.5 } } : d)),
    });
    const lag = new Proxy(manager, {
      get: (target, key) => {
        if (key === 'serviceStatus') return (svc: string) => behind(target.serviceStatus(svc));
        const value = Reflect.get(target, key) as unknown;
        return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
      },
    });
    lagging = await startManagerServer({ manager: lag, credentials: auth, host, port: 0, v1UnauthenticatedLoopbackReads: true });
  });
  afterAll(async () => {
    await Promise.all([open?.close(), locked?.close(), lagging?.close()]);
    await manager?.close();
  });

  const run = async (server: ManagerServer, script: string, ...args: string[]) => {
    const env = {
      ...process.env,
      TEST_SERVICE: 'alpha',
      TEST_HOSTNAME: 'db1',
      TEST_API_SERVER: `${host}:${server.port}`,
      // tpm's TI.cctrl: `cctrl -expert -port <mgr_rmi_port>`.
      TEST_CCTRL: `TUNGSTEN_API_USER=${auth.user} TUNGSTEN_API_PASSWORD=${auth.password} ${process.execPath} ${CCTRL_BIN} -expert -host ${host} -port 9997`,
    };
    try {
      const { stdout } = await promisify(execFile)('ruby', [RUN_CONTINUENT_SCRIPT_RB, dir, `${dir}/${script}`, ...args], { env });
      return { code: 0, out: stdout.trim() };
    } catch (e) {
      const failed = e as { code?: number; stdout?: string; stderr?: string };
      return { code: failed.code ?? -1, out: `${failed.stdout ?? ''}${failed.stderr ?? ''}`.trim() };
    }
  };
  const untilState = async (name: string, test: (state: string) => boolean) => {
    for (const deadline = Date.now() + 20_000; Date.now() < deadline; await new Promise((r) => setTimeout(r, 100))) {
      if (test(manager.serviceStatus('alpha').datasources.find((d) => d.name === name)!.state)) return;
    }
    throw new Error(`timed out waiting for ${name}`);
  };

  it('a healthy cluster: every check OK, tungsten_policy says AUTOMATIC', async () => {
    expect(await run(open, 'tungsten_nagios_online')).toEqual({ code: 0, out: 'OK: All services are ONLINE' });
    expect(await run(open, 'tungsten_nagios_policy')).toEqual({ code: 0, out: 'OK: Cluster is in AUTOMATIC mode' });
    const latency = await run(open, 'tungsten_nagios_latency', '-w', '10', '-c', '20');
    expect(latency.code).toBe(0);
    expect(latency.out).toMatch(/^OK: All slaves are running normally \(max_latency=\d+(\.\d+)?\)$/);
    expect(await run(open, 'tungsten_policy')).toEqual({ code: 0, out: 'AUTOMATIC' });
  });

  it('without the legacy-monitoring property the reads need credentials, which the scripts do not send', async () => {
    const r = await run(locked, 'tungsten_nagios_online');
    // tpm's TungstenStatus gets APIv1's failure hash and fails on it: never a false OK.
    expect(r.code).toBe(3);
    expect(r.out).toMatch(/^UNKNOWN: /);
  });

  it('a slave 29.5 s behind: WARNING over -w 10, CRITICAL over -c 20', async () => {
    expect(await run(lagging, 'tungsten_nagios_latency', '-w', '10', '-c', '60')).toEqual({ code: 1, out: 'WARNING: db3=29.5s' });
    expect(await run(lagging, 'tungsten_nagios_latency', '-w', '10', '-c', '20')).toEqual({ code: 2, out: 'CRITICAL: db3=29.5s' });
  });

  it('tungsten_policy --set maintenance goes through cctrl -port 9997; the policy check then is CRITICAL', async () => {
    expect(await run(open, 'tungsten_policy', '--set', 'maintenance')).toEqual({ code: 0, out: 'MAINTENANCE' });
    expect(await run(open, 'tungsten_nagios_policy')).toEqual({ code: 2, out: 'CRITICAL: Cluster is in MAINTENANCE mode' });
    expect(await run(open, 'tungsten_policy', '--set', 'automatic')).toEqual({ code: 0, out: 'AUTOMATIC' });
  });

  it('a FAILED slave, then a failed-over master: the online check is CRITICAL naming them; --skip-shunned leaves the shunned one out', async () => {
    manager.control('alpha', { op: 'fault', host: 'db3', fault: 'dataserver-stop' }, 'test');
    await untilState('db3', (s) => s === 'FAILED');
    expect(await run(open, 'tungsten_nagios_online')).toEqual({ code: 2, out: 'CRITICAL: db3 is not ONLINE' });
    await untilState('db3', () => manager.history('alpha', 1)[0]?.state !== 'in_progress');
    manager.control('alpha', { op: 'fault', host: 'db1', fault: 'dataserver-stop' }, 'test');
    await untilState('db1', (s) => s === 'SHUNNED');
    expect(await run(open, 'tungsten_nagios_online')).toEqual({ code: 2, out: 'CRITICAL: db1, db3 are not ONLINE' });
    expect(await run(open, 'tungsten_nagios_online', '--skip-shunned', 'true')).toEqual({ code: 2, out: 'CRITICAL: db3 is not ONLINE' });
  }, 60_000);
});
