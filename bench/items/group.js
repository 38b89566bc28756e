/**
 * Item 7: the manager group on three real etcd members (test/helpers/etcd.ts), three
 * `tungsten-manager` processes.
 *
 * - Takeover: kill -9 of the coordinator to another member reporting isCoordinator=true (it has read
 *   the state and acts), against the target of the lease TTL + 1 s.
 * - Status API on a follower against the same API on a manager alone (state local), same load
 *   (bench/loadgen.js): at least 0.8x the requests per second.
 *
 * The members use the simulated driver, each simulating the same service: only the group (etcd,
 * leases, election, the API) is measured here, not the databases.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { api, runOk, simulatedServiceProperties, sleep, startManager } from '../lib/proc.js';
import { median, ratio } from '../lib/stats.js';
import { importTestHelper } from '../lib/ts-helpers.js';

const TTL_SECONDS = 3;
const LOADGEN = resolve(import.meta.dirname, '../loadgen.js');
const STATUS = '/api/v2/manager/status/service/alpha';

async function startGroup(etcd, dir, prefix) {
  const config = join(dir, 'alpha.properties');
  writeFileSync(config, simulatedServiceProperties(3, ['policy.liveness.samplePeriod=10']));
  const members = [];
  for (const name of ['ds1', 'ds2', 'ds3']) {
    const mgr = await startManager([
      '--config', config,
      '--property=manager.coordination=etcd',
      `--property=manager.etcd.endpoints=${etcd.endpoints.join(',')}`,
      `--property=manager.etcd.prefix=${prefix}`,
      `--property=manager.name=${name}`,
      `--property=manager.datasource=${name}`,
      `--property=manager.coordination.ttl=${TTL_SECONDS}`,
    ]);
    members.push({ name, mgr });
  }
  return members;
}

async function isCoordinator(mgr) {
  try {
    return (await api(mgr, 'GET', '/api/v2/manager/status')).isCoordinator === true;
  } catch {
    return false;
  }
}

async function waitForCoordinator(members, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    for (const m of members) if (await isCoordinator(m.mgr)) return m;
    await sleep(20);
  }
  throw new Error(`no coordinator within ${timeoutMs} ms`);
}

async function oneTakeover(etcd, dir, run) {
  const members = await startGroup(etcd, dir, `/bench-${process.pid}-${run}`);
  try {
    const first = await waitForCoordinator(members, 10_000);
    await sleep(1500);
    const killedAt = Date.now();
    first.mgr.child.kill('SIGKILL');
    const rest = members.filter((m) => m !== first);
    const next = await waitForCoordinator(rest, TTL_SECONDS * 1000 + 10_000);
    return { ms: Date.now() - killedAt, next: next.name };
  } finally {
    await Promise.all(members.map((m) => m.mgr.stop()));
  }
}

async function load(mgr, durationMs, warmupMs) {
  const credentials = `${mgr.user}:${mgr.password}`;
  const r = await runOk(process.execPath, [LOADGEN, `${mgr.url}${STATUS}`, '--connections', '64', '--duration-ms', String(durationMs), '--warmup-ms', String(warmupMs), '--auth', credentials]);
  const res = JSON.parse(r.stdout);
  if (res.errors > 0 || res.non2xx > 0 || res.requests === 0) throw new Error(`load on ${mgr.url}: ${res.requests} requests, ${res.errors} errors, ${res.non2xx} non-2xx`);
  return res.requests / res.seconds;
}

export async function benchGroup({ quick, log }) {
  const helpers = await importTestHelper('etcd');
  if (!helpers.etcdAvailable()) return { rows: [], notMeasured: [{ item: 7, name: 'manager group', why: `etcd is not installed (${helpers.etcdSkipReason})` }] };
  const runs = quick ? 1 : 3;
  const dir = mkdtempSync(join(tmpdir(), 'bench-group-'));
  log(`  3 etcd members, 3 managers (TTL ${TTL_SECONDS} s): ${runs} kill -9 takeover(s), then the status API on a follower and on a manager alone`);
  const etcd = await helpers.startEtcdCluster();
  const rows = [];
  try {
    const takeovers = [];
    for (let i = 0; i < runs; i++) takeovers.push(await oneTakeover(etcd, dir, i));
    const ms = takeovers.map((t) => t.ms);
    rows.push({
      item: 7, name: 'takeover after kill -9 of the coordinator', unit: 'ms', value: median(ms), samples: ms,
      baselineName: 'lease TTL + 1 s', baseline: TTL_SECONDS * 1000 + 1000, baselineSamples: [],
      ratio: ratio(median(ms), TTL_SECONDS * 1000 + 1000),
      target: '<= TTL + 1 s', pass: Math.max(...ms) <= TTL_SECONDS * 1000 + 1000,
      note: `worst ${Math.max(...ms)} ms`,
    });

    const durationMs = quick ? 1500 : 4000;
    const warmupMs = quick ? 300 : 800;
    const members = await startGroup(etcd, dir, `/bench-${process.pid}-api`);
    const config = join(dir, 'alone.properties');
    writeFileSync(config, simulatedServiceProperties(3, ['policy.liveness.samplePeriod=10']));
    const alone = await startManager(['--config', config]);
    try {
      const coordinator = await waitForCoordinator(members, 10_000);
      const follower = members.find((m) => m !== coordinator);
      const f = [];
      const a = [];
      for (let i = 0; i < (quick ? 2 : 3); i++) {
        f.push(await load(follower.mgr, durationMs, warmupMs));
        a.push(await load(alone, durationMs, warmupMs));
      }
      const r = ratio(median(f), median(a));
      rows.push({
        item: 7, name: 'status req/s on a group follower', unit: 'req/s', value: median(f), samples: f,
        baselineName: 'a manager alone (state local)', baseline: median(a), baselineSamples: a,
        ratio: r, target: '>= 0.8x', pass: r >= 0.8,
      });
    } finally {
      await alone.stop();
      await Promise.all(members.map((m) => m.mgr.stop()));
    }
  } finally {
    await etcd.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
  return { rows, notMeasured: [] };
}
