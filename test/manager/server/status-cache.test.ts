/**
 * The server sends status bodies serialized once per state change. These tests put the real core
 * behind it and check over real sockets that a body is never stale and never a mix of two states.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { toServiceStatusPayload } from '../../../src/api/v2-shapes.js';
import type { Manager } from '../../../src/manager/api.js';
import { createDemoManager, type ManagerCore } from '../../../src/manager/index.js';
import type { ServiceStatus } from '../../../src/manager/model.js';
import { startManagerServer, type ManagerServer } from '../../../src/manager/server/index.js';
import { rawRequest, type RawReply } from '../../helpers/http.js';
import { startHarness, type Harness } from '../harness.js';

const auth = { user: 'tungsten', password: 'cache-test-pw' };
const STATUS = '/api/v2/manager/status/service/alpha';
const STATUS_WITHOUT_ROUTERS = `${STATUS}?includeRouters=no`;
const DB2 = `${STATUS}/datasource/db2`;

let server: ManagerServer | undefined;
let h: Harness | undefined;
let core: ManagerCore | undefined;

afterEach(async () => {
  await server?.close();
  await h?.manager.close();
  await core?.close();
  server = h = core = undefined;
});

async function serve(manager: Manager): Promise<ManagerServer> {
  server = await startManagerServer({ manager, credentials: auth, port: 0 });
  return server;
}

async function get(path: string): Promise<RawReply> {
  const r = await rawRequest(server!.url + path, auth);
  expect(r.status).toBe(200);
  return r;
}

async function post(path: string): Promise<void> {
  const r = await rawRequest(`${server!.url}/api/v2/manager/control/service/alpha${path}`, { ...auth, method: 'POST' });
  expect(r.status).toBe(201);
}

const datasource = (r: RawReply, name: string) => (r.json.payload.datasourceDetails as ServiceStatus['datasources']).find((d) => d.name === name)!;

describe('status bodies on a manager whose state changes', () => {
  it('are the same bytes while nothing changes, and what the manager shows', async () => {
    h = await startHarness();
    await serve(h.manager);
    const first = await get(STATUS);
    const second = await get(STATUS);
    expect(second.text).toBe(first.text);
    expect(Number(first.headers['content-length'])).toBe(Buffer.byteLength(first.text));
    expect(first.json).toEqual({ payloadType: 'ServiceStatusPayload', payloadVersion: '1', payload: toServiceStatusPayload(h.manager.serviceStatus('alpha'), true) });
  });

  it('show a control call\'s change in the next response, on every status path', async () => {
    h = await startHarness();
    await serve(h.manager);
    const before = await Promise.all([get(STATUS), get(STATUS_WITHOUT_ROUTERS), get(DB2)]);
    expect(datasource(before[0], 'db2').state).toBe('ONLINE');
    expect(datasource(before[1], 'db2').state).toBe('ONLINE');
    expect(before[2].json.payload.state).toBe('ONLINE');

    await post('/datasource/db2/shun');
    const [full, withoutRouters, db2] = await Promise.all([get(STATUS), get(STATUS_WITHOUT_ROUTERS), get(DB2)]);
    expect(datasource(full, 'db2').state).toBe('SHUNNED');
    expect(full.json.payload.routers.length).toBeGreaterThan(0);
    expect(datasource(withoutRouters, 'db2').state).toBe('SHUNNED');
    expect(withoutRouters.json.payload).not.toHaveProperty('routers');
    expect(db2.json.payload).toMatchObject({ name: 'db2', state: 'SHUNNED', lastShunReason: 'MANUALLY-SHUNNED' });
  });

  it('show a policy change in the next response', async () => {
    h = await startHarness();
    await serve(h.manager);
    expect((await get(STATUS)).json.payload.policy).toBe('AUTOMATIC');
    await post('/policy/maintenance');
    expect((await get(STATUS)).json.payload.policy).toBe('MAINTENANCE');
    expect((await get('/api/v2/manager/service/alpha/policy')).json.payload.policy).toBe('MAINTENANCE');
  });

  it('show a monitoring sample in the next response', async () => {
    h = await startHarness();
    await serve(h.manager);
    const before = await get(STATUS);
    await post('/datasource/db3/fault/dataserver-stop');
    await h.clock.advance(h.props.policy.samplePeriodSeconds * 1000);
    const after = await get(STATUS);
    expect(Date.parse(after.json.payload.sampledAt)).toBeGreaterThan(Date.parse(before.json.payload.sampledAt));
    expect(datasource(after, 'db3').dataServer.state).toBe('STOPPED');
  });
});

describe('readers during a switch', () => {
  it('each get one whole state, one master, and never the old master once they saw the new', async () => {
    core = await createDemoManager({ overrides: ['simulation.stepDelayMs=20'] });
    // Every view the manager hands out, serialized: each body must be exactly one of them.
    const views = new Set<string>();
    const real = core;
    const recording = new Proxy(real, {
      get(target, key) {
        if (key === 'serviceStatus') {
          return (service: string) => {
            const status = target.serviceStatus(service);
            views.add(JSON.stringify(toServiceStatusPayload(status, true)));
            return status;
          };
        }
        const value = Reflect.get(target, key, target) as unknown;
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    await serve(recording);

    const oldMaster = real.serviceStatus('alpha').datasources.find((d) => d.role === 'master')!.name;
    const target = oldMaster === 'db3' ? 'db2' : 'db3';
    let switching = true;
    const reader = async () => {
      const seen: Array<{ master: string; body: string }> = [];
      while (switching) {
        const r = await get(STATUS);
        const masters = (r.json.payload.datasourceDetails as ServiceStatus['datasources']).filter((d) => d.role === 'master').map((d) => d.name);
        expect(masters).toHaveLength(1);
        seen.push({ master: masters[0]!, body: JSON.stringify(r.json.payload) });
      }
      return seen;
    };
    const readers = Array.from({ length: 8 }, reader);

    await new Promise((r) => setTimeout(r, 50));
    const task = real.control('alpha', { op: 'switch', target }, 'tester');
    const deadline = Date.now() + 15_000;
    while (real.task(task.taskId).state === 'in_progress' && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    expect(real.task(task.taskId).state).toBe('complete');
    const afterTask = await get(STATUS);
    switching = false;
    const seenByReader = await Promise.all(readers);

    expect(datasource(afterTask, target).role).toBe('master');
    const all = seenByReader.flat();
    expect(all.filter((s) => s.master === oldMaster).length).toBeGreaterThan(0);
    expect(all.filter((s) => s.master === target).length).toBeGreaterThan(0);
    for (const seen of seenByReader) {
      const firstNew = seen.findIndex((s) => s.master === target);
      if (firstNew >= 0) expect(seen.slice(firstNew).every((s) => s.master === target)).toBe(true);
    }
    for (const s of all) expect(views.has(s.body)).toBe(true);
  }, 30_000);
});
