import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startManagerServer, type ManagerServer } from '../../../src/manager/server/index.js';
import { collectSse, rawRequest } from '../../helpers/http.js';
import { FakeManager } from './fake-manager.js';

const USER = 'tungsten';
const PASSWORD = 's3cret-pw';
const auth = { user: USER, password: PASSWORD };

let manager: FakeManager;
let server: ManagerServer;
let logLines: string[];

beforeEach(async () => {
  manager = new FakeManager(20);
  logLines = [];
  server = await startManagerServer({
    manager,
    credentials: auth,
    port: 0,
    heartbeatMs: 50,
    log: (l) => logLines.push(l),
  });
});

afterEach(async () => {
  await server.close();
});

const url = (path: string) => server.url + path;

async function waitUntil(condition: () => boolean | Promise<boolean>, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('authentication', () => {
  it('answers ping without credentials, in the envelope', async () => {
    const r = await rawRequest(url('/api/v2/ping'));
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({
      payloadType: 'PingPayload',
      payloadVersion: '1',
      payload: { message: 'Ping test', hostName: 'db1', pid: 4242, uptimeSeconds: 42 },
    });
  });

  it('refuses every other path without credentials: 401, a Basic challenge, an ErrorPayload', async () => {
    const r = await rawRequest(url('/api/v2/manager/status'));
    expect(r.status).toBe(401);
    expect(r.headers['www-authenticate']).toMatch(/^Basic realm=/);
    expect(r.json).toEqual({
      payloadType: 'ErrorPayload',
      payloadVersion: '1',
      payload: { status: 401, kind: 'unauthorized', message: 'credentials required', hint: expect.any(String) },
    });
  });

  it('refuses unknown paths without credentials as 401, not 404 (nothing is revealed)', async () => {
    const r = await rawRequest(url('/api/v2/nothing-here'));
    expect(r.status).toBe(401);
  });

  it.each([
    ['wrong password', USER, 'nope'],
    ['wrong user', 'admin', PASSWORD],
    ['empty password', USER, ''],
  ])('with a %s, a control call is refused with 401 and changes nothing', async (_what, user, password) => {
    const before = await rawRequest(url('/api/v2/manager/status/service/alpha'), auth);
    for (const path of ['/switch', '/policy/maintenance', '/datasource/db2/shun']) {
      const r = await rawRequest(url(`/api/v2/manager/control/service/alpha${path}`), { method: 'POST', user, password });
      expect(r.status).toBe(401);
      expect(r.json.payload.kind).toBe('unauthorized');
      expect(r.json.payload.message).toBe('wrong user name or password');
    }
    const after = await rawRequest(url('/api/v2/manager/status/service/alpha'), auth);
    expect(after.json).toEqual(before.json);
    expect(manager.controlCalls).toEqual([]);
    expect(manager.tasks.size).toBe(0);
  });

  it('never returns or logs the password', async () => {
    await rawRequest(url('/api/v2/manager/status'), { user: USER, password: 'wrong' });
    const ok = await rawRequest(url('/api/v2/manager/status'), auth);
    await rawRequest(url('/api/v2/manager/control/service/alpha/switch'), { ...auth, method: 'POST' });
    expect(ok.text).not.toContain(PASSWORD);
    expect(logLines.length).toBeGreaterThan(0);
    expect(logLines.join('\n')).not.toContain(PASSWORD);
    expect(logLines.join('\n')).not.toContain(Buffer.from(`${USER}:${PASSWORD}`).toString('base64'));
  });
});

describe('reads', () => {
  it.each([
    ['/api/v2/manager/status', 'StatusPayload', { dataServiceName: 'alpha', policyMode: 'AUTOMATIC', isCoordinator: true }],
    [
      '/api/v2/manager/cluster/topology',
      'ClusterTopologyPayload',
      {
        topology: 'CLUSTERED_MASTER_SLAVE',
        name: 'alpha',
        services: [{ name: 'alpha', role: 'master', datasources: [{ name: 'db1', role: 'master' }, { name: 'db2', role: 'slave' }, { name: 'db3', role: 'slave' }] }],
        routers: [
          { name: 'db1', connectorName: 'connector@db1', connections: { active: 1, created: 5 } },
          { name: 'db2', connectorName: 'connector@db2', connections: { active: 1, created: 5 } },
          { name: 'db3', connectorName: 'connector@db3', connections: { active: 1, created: 5 } },
        ],
      },
    ],
    ['/api/v2/manager/status/service/alpha', 'ServiceStatusPayload', { name: 'alpha', type: 'CLUSTERED_MASTER_SLAVE', policy: 'AUTOMATIC' }],
    ['/api/v2/manager/status/service/alpha/datasource/db2', 'DatasourceStatusPayload', { name: 'db2', role: 'slave', state: 'ONLINE', seqno: 10 }],
    ['/api/v2/manager/service/alpha/datasource/db2/ping', 'BooleanPayload', { value: true, host: 'db2' }],
    ['/api/v2/manager/service/alpha/members', 'MembersPayload', { service: 'alpha', members: expect.arrayContaining([{ name: 'db1', host: 'db1', state: 'ONLINE', coordinator: true }]) }],
    ['/api/v2/manager/service/alpha/policy', 'PolicyPayload', { service: 'alpha', policy: 'AUTOMATIC' }],
    ['/api/v2/manager/service/alpha/history?limit=5', 'TaskListPayload', { service: 'alpha', tasks: [] }],
  ])('GET %s answers 200 with %s', async (path, payloadType, expected) => {
    const r = await rawRequest(url(path), auth);
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toMatch(/^application\/json/);
    expect(r.json.payloadType).toBe(payloadType);
    expect(r.json.payloadVersion).toBe('1');
    expect(r.json.payload).toMatchObject(expected);
  });

  it('leaves routers out when asked', async () => {
    const service = await rawRequest(url('/api/v2/manager/status/service/alpha?includeRouters=false'), auth);
    expect(service.json.payload.routers).toBeUndefined();
    expect(service.json.payload.datasources).toHaveLength(3);
    const topology = await rawRequest(url('/api/v2/manager/cluster/topology?includeRouters=no'), auth);
    expect(topology.json.payload.routers).toBeUndefined();
  });
});

describe('bad requests', () => {
  it.each([
    ['GET', '/api/v2/manager/status/service/omega', 404, 'not_found', "no service 'omega'"],
    ['GET', '/api/v2/manager/status/service/alpha/datasource/db9', 404, 'not_found', "no datasource 'db9' in service 'alpha'"],
    ['GET', '/api/v2/manager/task/t999', 404, 'not_found', 'no task t999'],
    ['GET', '/api/v2/manager/nothing', 404, 'not_found', 'no such path: /api/v2/manager/nothing'],
    ['POST', '/api/v2/manager/control/service/omega/switch', 404, 'not_found', "no service 'omega'"],
    ['POST', '/api/v2/manager/control/service/alpha/datasource/db9/shun', 404, 'not_found', "no datasource 'db9' in service 'alpha'"],
    ['POST', '/api/v2/manager/control/service/alpha/datasource/db2/explode', 400, 'usage', "unknown datasource action 'explode'"],
    ['POST', '/api/v2/manager/control/service/alpha/policy/sleepy', 400, 'usage', "unknown policy 'SLEEPY'"],
    ['POST', '/api/v2/manager/control/service/alpha/datasource/db2/fault/meteor', 400, 'usage', "unknown fault 'meteor'"],
    ['POST', '/api/v2/manager/control/service/alpha/replicator/db2/restart', 400, 'usage', "unknown replicator action 'restart'"],
    ['GET', '/api/v2/manager/service/alpha/history?limit=0', 400, 'usage', "bad limit '0'"],
    ['POST', '/api/v2/manager/control/service/alpha/datasource/db2/welcome', 409, 'conflict', 'datasource db2 is not shunned'],
  ])('%s %s -> %i %s', async (method, path, status, kind, message) => {
    const r = await rawRequest(url(path), { ...auth, method });
    expect(r.status).toBe(status);
    expect(r.json).toMatchObject({ payloadType: 'ErrorPayload', payloadVersion: '1', payload: { status, kind, message } });
    expect(Object.keys(r.json.payload).sort()).toEqual(['hint', 'kind', 'message', 'status']);
  });

  it('answers 400 with a hint to a malformed JSON body, and runs nothing', async () => {
    const r = await rawRequest(url('/api/v2/manager/control/service/alpha/switch'), { ...auth, method: 'POST', body: '{"target": db3' });
    expect(r.status).toBe(400);
    expect(r.json.payload).toMatchObject({ status: 400, kind: 'usage', hint: expect.stringContaining('JSON object') });
    expect(r.json.payload.message).toMatch(/^malformed JSON body/);
    expect(manager.controlCalls).toEqual([]);
  });

  it.each([
    ['an array', [1, 2]],
    ['a wrong type', { target: 3 }],
    ['a non-boolean dryRun', { dryRun: 'yes' }],
  ])('answers 400 to a body with %s', async (_what, body) => {
    const r = await rawRequest(url('/api/v2/manager/control/service/alpha/switch'), { ...auth, method: 'POST', body });
    expect(r.status).toBe(400);
    expect(r.json.payload.kind).toBe('usage');
    expect(manager.controlCalls).toEqual([]);
  });

  it('refuses a body over the size limit with 413', async () => {
    const body = JSON.stringify({ target: 'x'.repeat(70 * 1024) });
    const r = await rawRequest(url('/api/v2/manager/control/service/alpha/switch'), { ...auth, method: 'POST', body });
    expect(r.status).toBe(413);
    expect(r.json.payload).toMatchObject({ status: 413, kind: 'usage', message: 'request body larger than 65536 bytes' });
    expect(manager.controlCalls).toEqual([]);
  });

  it('answers 405 with Allow to a wrong method', async () => {
    const get = await rawRequest(url('/api/v2/manager/control/service/alpha/switch'), auth);
    expect(get.status).toBe(405);
    expect(get.headers.allow).toBe('POST');
    expect(get.json.payload).toMatchObject({ status: 405, kind: 'usage', message: 'GET is not allowed on /api/v2/manager/control/service/alpha/switch' });
    const del = await rawRequest(url('/api/v2/manager/status'), { ...auth, method: 'DELETE' });
    expect(del.status).toBe(405);
    expect(del.headers.allow).toBe('GET');
  });
});

describe('control', () => {
  it('starts a switch as a task (201, Location), records the user, and the task completes', async () => {
    const r = await rawRequest(url('/api/v2/manager/control/service/alpha/switch'), { ...auth, method: 'POST', body: { target: 'db3' } });
    expect(r.status).toBe(201);
    expect(r.json.payloadType).toBe('TaskPayload');
    const task = r.json.payload;
    expect(task).toMatchObject({ state: 'in_progress', service: 'alpha', operation: 'switch to db3', requestedBy: USER });
    expect(r.headers.location).toBe(`/api/v2/manager/task/${task.taskId}`);
    expect(manager.controlCalls).toEqual([{ request: { op: 'switch', target: 'db3' }, requestedBy: USER }]);

    let final: any;
    await waitUntil(async () => {
      final = (await rawRequest(url(r.headers.location!), auth)).json;
      return final.payload.state !== 'in_progress';
    });
    expect(final.payloadType).toBe('TaskPayload');
    expect(final.payload).toMatchObject({ state: 'complete', taskResult: { newPrimary: 'db3' } });
    expect(final.payload.steps.map((s: any) => s.line)).toEqual(['SELECTED SLAVE: db3@alpha', 'PURGE REMAINING ACTIVE SESSIONS', 'SWITCH TO db3 COMPLETE']);
    const history = await rawRequest(url('/api/v2/manager/service/alpha/history?limit=1'), auth);
    expect(history.json.payload.tasks.map((t: any) => t.taskId)).toEqual([task.taskId]);
  });

  it.each([
    ['/policy/maintenance', { op: 'policy', mode: 'MAINTENANCE' }],
    ['/policy/Manual', { op: 'policy', mode: 'MANUAL' }],
    ['/datasource/db2/shun', { op: 'datasource', host: 'db2', action: 'shun' }],
    ['/replicator/db2/offline', { op: 'replicator', host: 'db2', action: 'offline' }],
    ['/datasource/db3/fault/dataserver-stop', { op: 'fault', host: 'db3', fault: 'dataserver-stop' }],
    ['/failover', { op: 'failover' }],
    ['/recover', { op: 'recover' }],
    ['/heartbeat', { op: 'heartbeat' }],
  ])('POST ...%s reaches the manager as %j', async (path, request) => {
    const r = await rawRequest(url(`/api/v2/manager/control/service/alpha${path}`), { ...auth, method: 'POST' });
    expect(r.status).toBe(201);
    expect(r.json.payloadType).toBe('TaskPayload');
    expect(manager.controlCalls).toEqual([{ request, requestedBy: USER }]);
  });

  it('lets exactly one of two concurrent switches run: one 201, one 409', async () => {
    const results = await Promise.all([
      rawRequest(url('/api/v2/manager/control/service/alpha/switch'), { ...auth, method: 'POST' }),
      rawRequest(url('/api/v2/manager/control/service/alpha/switch'), { ...auth, method: 'POST' }),
    ]);
    expect(results.map((r) => r.status).sort()).toEqual([201, 409]);
    const refused = results.find((r) => r.status === 409)!;
    expect(refused.json.payload).toMatchObject({ status: 409, kind: 'conflict' });
    expect(manager.controlCalls).toHaveLength(1);
  });
});

describe('event stream', () => {
  it('streams the current state, then the task steps in order, the task end and the new state', async () => {
    let taskId = '';
    const events = await collectSse(url('/api/v2/manager/events?service=alpha'), {
      ...auth,
      onOpen: () => {
        void rawRequest(url('/api/v2/manager/control/service/alpha/switch'), { ...auth, method: 'POST', body: { target: 'db2' } }).then(
          (r) => (taskId = r.json.payload.taskId),
        );
      },
      until: (evs) => evs.filter((e) => e.event === 'state').length >= 2,
    });
    expect(events.map((e) => e.event)).toEqual(['state', 'task-step', 'task-step', 'task-step', 'task-end', 'state']);
    expect(events[0]!.data.status.datasources[0]).toMatchObject({ name: 'db1', role: 'master' });
    const steps = events.filter((e) => e.event === 'task-step');
    expect(steps.map((e) => e.data.step.line)).toEqual(['SELECTED SLAVE: db2@alpha', 'PURGE REMAINING ACTIVE SESSIONS', 'SWITCH TO db2 COMPLETE']);
    expect(steps.every((e) => e.data.taskId === taskId && e.data.service === 'alpha')).toBe(true);
    expect(events[4]!.data).toMatchObject({ type: 'task-end', task: { taskId, state: 'complete' } });
    expect(events[5]!.data.status.datasources.find((d: any) => d.role === 'master').name).toBe('db2');
  });

  it('sends heartbeats and unsubscribes when the client goes away', async () => {
    const http = await import('node:http');
    const chunks: string[] = [];
    const req = http.request(url('/api/v2/manager/events?service=alpha'), {
      agent: false,
      headers: { authorization: `Basic ${Buffer.from(`${USER}:${PASSWORD}`).toString('base64')}` },
    });
    req.on('error', () => undefined);
    await new Promise<void>((resolve) => {
      req.on('response', (res) => {
        expect(res.headers['content-type']).toMatch(/^text\/event-stream/);
        res.setEncoding('utf8');
        res.on('data', (c: string) => {
          chunks.push(c);
          if (chunks.join('').includes(': heartbeat')) resolve();
        });
      });
      req.end();
    });
    expect(server.connections().streams).toBe(1);
    req.destroy();
    await waitUntil(() => server.connections().streams === 0);
  });

  it('answers 404 for an unknown service and 401 without credentials', async () => {
    const missing = await rawRequest(url('/api/v2/manager/events?service=omega'), auth);
    expect(missing.status).toBe(404);
    expect(missing.json.payload.kind).toBe('not_found');
    const anonymous = await rawRequest(url('/api/v2/manager/events?service=alpha'));
    expect(anonymous.status).toBe(401);
    expect(server.connections().streams).toBe(0);
  });

  it('ends open streams when the server closes', async () => {
    const done = collectSse(url('/api/v2/manager/events?service=alpha'), { ...auth, until: () => false, timeoutMs: 3000 }).catch(
      (e: Error) => e,
    );
    await waitUntil(() => server.connections().streams === 1);
    const started = Date.now();
    const closing = server.close();
    // A task still running emits after the server began closing: nothing may be written to the ended stream.
    expect(server.connections().streams).toBe(0);
    expect(() => manager.control('alpha', { op: 'switch' }, USER)).not.toThrow();
    await closing;
    expect(Date.now() - started).toBeLessThan(900);
    expect(server.connections().streams).toBe(0);
    await done;
  });
});

describe('listening', () => {
  it('refuses a port in use with a message suggesting --port', async () => {
    const port = Number(new URL(server.url).port);
    await expect(startManagerServer({ manager, credentials: auth, port })).rejects.toMatchObject({
      kind: 'refused',
      message: `port ${port} on 127.0.0.1 is already in use`,
      hint: 'pick another with --port N',
    });
  });
});
