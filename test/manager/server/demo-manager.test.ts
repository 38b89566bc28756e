/** The API over real sockets in front of the real demo manager (simulated driver, real time). */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManagerClient } from '../../../src/api/index.js';
import { launchManager, type RunningManager } from '../../../src/manager/server/launch.js';
import { collectSse, rawRequest } from '../../helpers/http.js';

let running: RunningManager;
let client: ManagerClient;

beforeAll(async () => {
  running = await launchManager({ demo: true, port: 0, properties: ['simulation.stepDelayMs=50'] });
  client = new ManagerClient({ url: running.url, user: running.user, password: running.password });
});

afterAll(async () => {
  client.close();
  await running.close();
});

const auth = () => ({ user: running.user, password: running.password });

describe('REST API on the demo manager', () => {
  it('uses the documented demo credentials', () => {
    expect([running.user, running.password, running.demoCredentials]).toEqual(['tungsten', 'secret', true]);
  });

  it.each([
    ['/api/v2/ping', 'PingPayload'],
    ['/api/v2/manager/status', 'StatusPayload'],
    ['/api/v2/manager/cluster/topology', 'ClusterTopologyPayload'],
    ['/api/v2/manager/status/service/alpha', 'ServiceStatusPayload'],
    ['/api/v2/manager/status/service/alpha/datasource/db1', 'DatasourceStatusPayload'],
    ['/api/v2/manager/service/alpha/datasource/db2/ping', 'BooleanPayload'],
    ['/api/v2/manager/service/alpha/members', 'MembersPayload'],
    ['/api/v2/manager/service/alpha/policy', 'PolicyPayload'],
    ['/api/v2/manager/service/alpha/history', 'TaskListPayload'],
  ])('GET %s -> %s envelope', async (path, payloadType) => {
    const r = await rawRequest(running.url + path, auth());
    expect(r.status).toBe(200);
    expect(Object.keys(r.json).sort()).toEqual(['payload', 'payloadType', 'payloadVersion']);
    expect(r.json.payloadType).toBe(payloadType);
    expect(r.json.payloadVersion).toBe('1');
  });

  it('runs a switch as a task, streams its steps live and ends with the new master', async () => {
    const before = await client.serviceStatus('alpha');
    const oldMaster = before.datasources.find((d) => d.role === 'master')!.name;
    const target = before.datasources.find((d) => d.role === 'slave' && d.state === 'ONLINE')!.name;

    const events: Array<{ event: string; data: any }> = [];
    let taskId = '';
    const stream = collectSse(`${running.url}/api/v2/manager/events?service=alpha`, {
      ...auth(),
      timeoutMs: 15_000,
      onOpen: () => undefined,
      until: (evs) => {
        events.splice(0, events.length, ...evs);
        return evs.some((e) => e.event === 'task-end' && e.data.task.taskId === taskId);
      },
    });
    await new Promise((r) => setTimeout(r, 100)); // the stream is open

    const task = await client.switch('alpha', { target });
    taskId = task.taskId;
    expect(task).toMatchObject({ state: 'in_progress', requestedBy: 'tungsten', operation: `switch to ${target}` });
    const lines: string[] = [];
    const final = await client.waitForTask(task.taskId, { onStep: (s) => lines.push(s.line), timeoutMs: 15_000 });
    expect(final.state).toBe('complete');
    expect(lines).toEqual(final.steps.map((s) => s.line));
    expect(lines).toContain(`SELECTED SLAVE: ${target}@alpha`);

    await stream;
    const streamed = events.filter((e) => e.event === 'task-step' && e.data.taskId === taskId).map((e) => e.data.step.line);
    expect(streamed).toEqual(lines);
    expect(events.some((e) => e.event === 'state')).toBe(true);

    const after = await client.serviceStatus('alpha');
    expect(after.datasources.find((d) => d.role === 'master')!.name).toBe(target);
    expect(after.datasources.find((d) => d.name === oldMaster)!.role).toBe('slave');
    expect((await client.history('alpha', 1)).tasks[0]!.taskId).toBe(task.taskId);
  });

  it('answers two concurrent switches with exactly one 201 and one 409', async () => {
    const post = () => rawRequest(`${running.url}/api/v2/manager/control/service/alpha/switch`, { ...auth(), method: 'POST' });
    const results = await Promise.all([post(), post()]);
    expect(results.map((r) => r.status).sort()).toEqual([201, 409]);
    expect(results.find((r) => r.status === 409)!.json.payload.kind).toBe('conflict');
    const accepted = results.find((r) => r.status === 201)!.json.payload;
    expect((await client.waitForTask(accepted.taskId, { timeoutMs: 15_000 })).state).toBe('complete');
  });

  it('a control call may name its task up front: the task has that id; the same id again is a 409', async () => {
    const taskId = '6a1f0c2e-5b3d-4e8f-a7c9-1d2e3f4a5b6c';
    const path = `${running.url}/api/v2/manager/control/service/alpha/heartbeat`;
    const r = await rawRequest(path, { ...auth(), method: 'POST', body: { taskId: taskId.toUpperCase() } });
    expect([r.status, r.json.payload.taskId]).toEqual([201, taskId]);
    expect(r.headers.location).toBe(`/api/v2/manager/task/${taskId}`);
    expect((await client.waitForTask(taskId, { timeoutMs: 15_000 })).operation).toBe('cluster heartbeat');
    const again = await rawRequest(path, { ...auth(), method: 'POST', body: { taskId } });
    expect([again.status, again.json.payload.kind, again.json.payload.message]).toEqual([409, 'conflict', `task ${taskId} exists already`]);
    const bad = await rawRequest(path, { ...auth(), method: 'POST', body: { taskId: 42 } });
    expect([bad.status, bad.json.payload.kind]).toEqual([400, 'usage']);
  });

  it('refuses an illegal transition with 409 and leaves the state as it was', async () => {
    const before = await client.serviceStatus('alpha');
    const slave = before.datasources.find((d) => d.role === 'slave' && d.state === 'ONLINE')!.name;
    const r = await rawRequest(`${running.url}/api/v2/manager/control/service/alpha/datasource/${slave}/recover`, { ...auth(), method: 'POST' });
    expect([r.status, r.json.payloadType, r.json.payload.kind]).toEqual([409, 'ErrorPayload', 'conflict']);
    const after = await client.serviceStatus('alpha');
    expect(after.datasources.map((d) => [d.name, d.role, d.state])).toEqual(before.datasources.map((d) => [d.name, d.role, d.state]));
  });

  it('refuses a control call with wrong credentials (401) and changes nothing', async () => {
    const before = (await client.history('alpha', 1000)).tasks.length;
    const r = await rawRequest(`${running.url}/api/v2/manager/control/service/alpha/policy/maintenance`, { user: 'tungsten', password: 'x', method: 'POST' });
    expect(r.status).toBe(401);
    expect((await client.policy('alpha')).policy).toBe('AUTOMATIC');
    expect((await client.history('alpha', 1000)).tasks).toHaveLength(before);
  });

  it('sets the policy through the API', async () => {
    const task = await client.setPolicy('alpha', 'MANUAL');
    expect((await client.waitForTask(task.taskId)).state).toBe('complete');
    expect(await client.policy('alpha')).toEqual({ service: 'alpha', policy: 'MANUAL' });
    await client.waitForTask((await client.setPolicy('alpha', 'AUTOMATIC')).taskId);
  });
});
