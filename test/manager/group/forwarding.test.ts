/**
 * Every member serves the whole API over real HTTP: a control call to a follower is passed to the
 * coordinator with the caller's credentials and carried out there; the follower answers with the
 * coordinator's task, serves it from the shared state, and the coordinator's audit line names the
 * member that took the call. The group runs on the simulated etcd and the virtual clock.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startManagerServer, type ManagerServer } from '../../../src/manager/server/server.js';
import { startGroup, type GroupHarness } from './harness.js';

const CREDENTIALS = { user: 'tester', password: 'group-secret' };
const auth = `Basic ${Buffer.from(`${CREDENTIALS.user}:${CREDENTIALS.password}`).toString('base64')}`;

let group: GroupHarness | undefined;
let servers: ManagerServer[] = [];
let dir: string | undefined;
afterEach(async () => {
  await Promise.all(servers.map((s) => s.close()));
  servers = [];
  await group?.destroy();
  group = undefined;
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

/** Every member serves the API on its own real socket, and tells the group where. */
async function serveEveryMember(g: GroupHarness): Promise<void> {
  for (const [, core] of g.members) {
    const server = await startManagerServer({ manager: core, credentials: CREDENTIALS, host: '127.0.0.1', port: 0 });
    servers.push(server);
    core.advertise(server.url);
  }
}

async function call(url: string, method: 'GET' | 'POST', path: string, authorization = auth) {
  const res = await fetch(`${url}${path}`, { method, headers: { authorization, ...(method === 'POST' ? { 'content-type': 'application/json' } : {}) }, body: method === 'POST' ? '{}' : undefined });
  return { status: res.status, body: (await res.json()) as { payload: Record<string, unknown> } };
}

describe('a control call to a follower over HTTP', () => {
  it('is carried out by the coordinator, answered by the follower, audited with the member that took it', async () => {
    dir = mkdtempSync(join(tmpdir(), 'group-forward-'));
    const audit = (name: string) => join(dir!, `${name}-audit.log`);
    group = await startGroup([], { auditDir: dir });
    await serveEveryMember(group);
    await group.clock.advance(3000);
    const coordinator = group.coordinatorName()!;
    const followerName = ['db1', 'db2', 'db3'].find((n) => n !== coordinator)!;
    const follower = servers[['db1', 'db2', 'db3'].indexOf(followerName)]!;

    const status = await call(follower.url, 'GET', '/api/v2/manager/status');
    expect(status.body.payload).toMatchObject({ isCoordinator: false, coordinator });

    const started = await call(follower.url, 'POST', '/api/v2/manager/control/service/alpha/switch');
    expect(started.status).toBe(201);
    const taskId = started.body.payload.taskId as string;
    await group.clock.advance(10_000);
    const onFollower = await call(follower.url, 'GET', `/api/v2/manager/task/${taskId}`);
    expect(onFollower.body.payload).toMatchObject({ taskId, state: 'complete', requestedBy: CREDENTIALS.user });

    const lines = readFileSync(audit(coordinator), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.filter((l) => l.taskId === taskId)).toEqual([
      expect.objectContaining({ user: CREDENTIALS.user, via: followerName, outcome: 'accepted' }),
      expect.objectContaining({ user: CREDENTIALS.user, via: followerName, outcome: 'complete' }),
    ]);
    expect(readFileSync(audit(coordinator), 'utf8')).not.toContain(CREDENTIALS.password);
  });

  it('with wrong credentials the follower refuses the call itself; nothing reaches the coordinator', async () => {
    group = await startGroup();
    await serveEveryMember(group);
    await group.clock.advance(3000);
    const followerIndex = [...group.members.values()].findIndex((m) => !m.acting());
    const bad = `Basic ${Buffer.from('tester:wrong').toString('base64')}`;
    const refused = await call(servers[followerIndex]!.url, 'POST', '/api/v2/manager/control/service/alpha/switch', bad);
    expect(refused.status).toBe(401);
    expect(group.coordinator()!.history('alpha', 10)).toEqual([]);
  });

  it('when the coordinator is gone and no other is elected yet, the follower says so (503) and names what to do', async () => {
    group = await startGroup();
    await serveEveryMember(group);
    await group.clock.advance(3000);
    group.etcd.setQuorum(false);
    await group.clock.advance(5000);
    const answer = await call(servers[0]!.url, 'POST', '/api/v2/manager/control/service/alpha/switch');
    expect(answer.status).toBe(503);
    expect(JSON.stringify(answer.body)).toMatch(/lost the group/);
  });

  it('a connector report to a follower whose coordinator just died is taken there (200), not refused: the connector does not lose its managers', async () => {
    group = await startGroup();
    await serveEveryMember(group);
    await group.clock.advance(3000);
    const coordinator = group.coordinatorName()!;
    const followerIndex = ['db1', 'db2', 'db3'].findIndex((n) => n !== coordinator);
    const follower = servers[followerIndex]!;
    // Dead, and its lease not yet run out: the follower still names it and passes reports on to it.
    await servers[['db1', 'db2', 'db3'].indexOf(coordinator)]!.close();
    group.kill(coordinator);
    const res = await fetch(`${follower.url}/api/v2/manager/service/alpha/connectors`, {
      method: 'POST',
      headers: { authorization: auth, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'connector@app1', host: 'app1', pid: 4242, state: 'ONLINE', created: 1, active: 0, listen: '127.0.0.1:3306', readListen: null, epoch: 1, holding: false }),
    });
    expect(res.status).toBe(200);
    const listed = await call(follower.url, 'GET', '/api/v2/manager/status/service/alpha');
    expect(JSON.stringify(listed.body.payload.routers)).toContain('connector@app1');
  });

  it('a connector report to a follower whose coordinator does not answer (frozen) is taken there within about a second', async () => {
    group = await startGroup();
    await serveEveryMember(group);
    await group.clock.advance(3000);
    const coordinator = group.coordinatorName()!;
    const follower = servers[['db1', 'db2', 'db3'].findIndex((n) => n !== coordinator)]!;
    // The coordinator's API accepts connections and never answers.
    const held: net.Socket[] = [];
    const frozen = net.createServer((s) => held.push(s));
    await new Promise<void>((r) => frozen.listen(0, '127.0.0.1', () => r()));
    try {
      group.members.get(coordinator)!.advertise(`http://127.0.0.1:${(frozen.address() as net.AddressInfo).port}`);
      await group.clock.advance(1000);
      const started = Date.now();
      const res = await fetch(`${follower.url}/api/v2/manager/service/alpha/connectors`, {
        method: 'POST',
        headers: { authorization: auth, 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'connector@app1', host: 'app1', pid: 4242, state: 'ONLINE', created: 1, active: 0, listen: '127.0.0.1:3306', readListen: null, epoch: 1, holding: false }),
      });
      expect(res.status).toBe(200);
      expect(held.length).toBe(1); // it did try the coordinator
      expect(Date.now() - started).toBeLessThan(1900); // under the connector's 2 s call timeout
    } finally {
      for (const s of held) s.destroy();
      await new Promise<void>((r) => frozen.close(() => r()));
    }
  });
});
