/**
 * The connector following real managers (the manager's HTTP server and event stream on real
 * sockets, the demo's simulated cluster behind each): moving from one member to another resumes
 * the event stream with Last-Event-ID and never takes the connector back to an older epoch.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Connector } from '../../src/connector/connector.js';
import { ManagerClient } from '../../src/api/client.js';
import { launchManager, type RunningManager } from '../../src/manager/server/launch.js';
import { connectorOptions, until } from './fake-manager.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };
const credentials = { user: 'tungsten', password: 'connector-test-pw' };

async function demoManager(): Promise<RunningManager> {
  const m = await launchManager({ demo: true, port: 0, ...credentials, properties: ['simulation.stepDelayMs=0'], logger: quiet as never });
  cleanups.push(() => m.close());
  return m;
}

async function switches(m: RunningManager, n: number): Promise<number> {
  const client = new ManagerClient({ url: m.url, ...credentials, timeoutMs: 5000 });
  try {
    for (let i = 0; i < n; i++) {
      const task = await client.switch('alpha');
      expect((await client.waitForTask(task.taskId, { timeoutMs: 15_000 })).state).toBe('complete');
    }
    return (await client.routes('alpha')).epoch;
  } finally {
    client.close();
  }
}

describe('connector: following real managers', () => {
  it('the member it streams from dies: it resumes on the next with Last-Event-ID, keeps its epoch against that member\'s older one, and takes only what is newer', async () => {
    const a = await demoManager();
    const b = await demoManager();
    const epochA = await switches(a, 2); // 4: two holds and two resumes
    expect(epochA).toBe(4);
    const logs: string[] = [];
    const connector = new Connector(
      connectorOptions([a.url, b.url], {
        ...credentials,
        contactTimeoutMs: 2_000,
        requestTimeoutMs: 1_000,
        log: { info: (m) => logs.push(m), warn: (m) => logs.push(`WARN ${m}`) },
      }),
    );
    await connector.start();
    cleanups.push(() => connector.stop(0, { farewell: false }));
    expect(connector.status()).toMatchObject({ state: 'ONLINE', epoch: 4, manager: a.url });
    const masterOnA = connector.status().routes!.master!.name;

    await a.close();
    // B is a member whose routes are older (epoch 0): the connector follows it and keeps epoch 4.
    await until(() => connector.status().manager === b.url, 'following the other member', 10_000);
    const statusOnB = () => (b.manager.serviceStatus('alpha').routers ?? []).find((r) => r.name === 'connector@test');
    await until(() => statusOnB()?.connector?.manager === b.url, 'the other member listing it as following it', 5_000);
    expect(statusOnB()?.connector?.epoch).toBe(4);
    expect(connector.status()).toMatchObject({ state: 'ONLINE', epoch: 4 });
    expect(connector.status().routes!.master!.name).toBe(masterOnA);

    // B's own switches: epochs 1 to 6; only 5 and 6 are newer than what the connector holds.
    const epochB = await switches(b, 3);
    expect(epochB).toBe(6);
    await until(() => connector.status().epoch === 6, 'the newer epoch from the other member', 5_000);
    const applied = logs.flatMap((l) => {
      const m = /^routes epoch (\d+) from (\S+):/.exec(l);
      return m ? [{ epoch: Number(m[1]), from: m[2] }] : [];
    });
    expect(applied.filter((x) => x.from === b.url).map((x) => x.epoch)).toEqual([5, 6]);
    const epochs = applied.map((x) => x.epoch);
    expect(epochs).toEqual([...epochs].sort((x, y) => x - y));
    expect(logs.some((l) => /ignored routes/.test(l))).toBe(false);
  });
});
