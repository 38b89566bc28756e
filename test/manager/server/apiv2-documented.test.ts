/**
 * APIv2 payloads carry the fields Continuent documents, in the documented name, type and format,
 * over real HTTP against the demo manager; our own additions stay beside them, and our client
 * still reads the model.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManagerClient } from '../../../src/api/client.js';
import type { Manager } from '../../../src/manager/api.js';
import { createDemoManager } from '../../../src/manager/index.js';
import { startManagerServer, type ManagerServer } from '../../../src/manager/server/server.js';
import { rawRequest } from '../../helpers/http.js';

const auth = { user: 'ops', password: 'documented-pw' };
let manager: Manager;
let server: ManagerServer;
const get = async (path: string) => (await rawRequest(`${server.url}${path}`, auth)).json.payload;

beforeAll(async () => {
  manager = await createDemoManager({ overrides: ['policy.liveness.samplePeriod=0.2'] });
  server = await startManagerServer({ manager, credentials: auth, host: '127.0.0.1', port: 0 });
});
afterAll(async () => {
  await server?.close();
  await manager?.close();
});

describe('APIv2 as documented', () => {
  it('StatusPayload.startTime is "2021-11-30T09:48:34.937 UTC"-style; ours in startTimeIso', async () => {
    const p = await get('/api/v2/manager/status');
    expect(p.startTime).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3} UTC$/);
    expect(p.startTimeIso).toBe(manager.info().startTime);
    expect(p.startTime).toBe(`${p.startTimeIso.slice(0, 23)} UTC`);
  });

  it('PingPayload: date as a Java date, jvmUptime in milliseconds', async () => {
    const p = (await rawRequest(`${server.url}/api/v2/ping`)).json.payload;
    expect(p.date).toMatch(/^(Sun|Mon|Tue|Wed|Thu|Fri|Sat) (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d\d \d\d:\d\d:\d\d UTC \d{4}$/);
    expect(Math.abs(Date.parse(p.dateIso) - Date.now())).toBeLessThan(5000);
    expect(p.jvmUptime).toBeGreaterThanOrEqual(p.uptimeSeconds * 1000);
    expect(p.jvmUptime).toBeLessThan((p.uptimeSeconds + 2) * 1000);
    expect(Number.isInteger(p.jvmUptime)).toBe(true);
  });

  it('ServiceStatusPayload: datasources are names, routers are named by host, error and errorText', async () => {
    const p = await get('/api/v2/manager/status/service/alpha');
    expect(p.datasources).toEqual(['db1', 'db2', 'db3']);
    expect(p.datasourceDetails.map((d: { name: string }) => d.name)).toEqual(['db1', 'db2', 'db3']);
    expect(p.routers[0]).toMatchObject({ name: 'db1', connectorName: 'connector@db1', connections: { active: expect.any(Number), created: expect.any(Number) } });
    expect(p).toMatchObject({ error: false, errorText: '' });
    const topology = await get('/api/v2/manager/cluster/topology');
    expect(topology.routers[0]).toMatchObject({ name: 'db1', connectorName: 'connector@db1' });
  });

  it('a datasource has groupId, lastShunResult and dataserver', async () => {
    const p = await get('/api/v2/manager/status/service/alpha/datasource/db2');
    expect(p).toMatchObject({ name: 'db2', groupId: 0, lastShunResult: null, dataserver: { state: 'ONLINE' }, lastShunReason: null, dataServer: { state: 'ONLINE' } });
  });

  it('a FAILED datasource sets the service error with its reason', async () => {
    const task = manager.control('alpha', { op: 'fault', host: 'db3', fault: 'dataserver-stop' }, 'test');
    for (const deadline = Date.now() + 20_000; manager.serviceStatus('alpha').datasources[2]!.state !== 'FAILED' && Date.now() < deadline; ) {
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(task.taskId).toBeTruthy();
    const p = await get('/api/v2/manager/status/service/alpha');
    expect(p.error).toBe(true);
    expect(p.errorText).toMatch(/^db3: /);
    manager.control('alpha', { op: 'fault', host: 'db3', fault: 'dataserver-start' }, 'test');
  }, 30_000);

  it('GET /api/v2/user/{name} gives the API user, its password obfuscated; createAdminUser says an admin exists', async () => {
    const r = await rawRequest(`${server.url}/api/v2/user/ops`, auth);
    expect(r.json).toMatchObject({ payloadType: 'CredentialsPayload', payload: { user: 'ops', pass: '**obfuscated**', access: 'full' } });
    expect(r.text).not.toContain(auth.password);
    expect((await rawRequest(`${server.url}/api/v2/user/nobody`, auth)).status).toBe(404);
    expect((await rawRequest(`${server.url}/api/v2/user/ops`)).status).toBe(401);
    const body = { payloadType: 'credentials', user: 'tungsten', pass: 'security' };
    expect((await rawRequest(`${server.url}/api/v2/createAdminUser`, { ...auth, method: 'POST', body })).status).toBe(400);
    const created = await rawRequest(`${server.url}/api/v2/createAdminUser?i-am-sure=true`, { ...auth, method: 'POST', body });
    expect(created.status).toBe(409);
    expect(created.json.payload.message).toMatch(/admin user already exists/);
  });

  it('our client still reads the model from these payloads', async () => {
    const client = new ManagerClient({ url: server.url, ...auth });
    try {
      const status = await client.serviceStatus('alpha');
      expect(status.datasources.map((d) => d.name)).toEqual(['db1', 'db2', 'db3']);
      expect(status.datasources[0]).not.toHaveProperty('groupId');
      expect(status.routers?.[0]?.name).toBe('connector@db1');
      expect((await client.status()).startTime).toBe(manager.info().startTime);
      expect((await client.datasourceStatus('alpha', 'db2')).dataServer.state).toBe('ONLINE');
      expect(await client.user('ops')).toEqual({ user: 'ops', pass: '**obfuscated**', access: 'full' });
    } finally {
      client.close?.();
    }
  });
});
