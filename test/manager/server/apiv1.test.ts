/**
 * APIv1's read paths over real HTTP against the demo manager, in the shapes tpm's TungstenAPI Ruby
 * and Continuent's Nagios checks read; behind the API's credentials unless the legacy-monitoring
 * property opens them to loopback.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Manager } from '../../../src/manager/api.js';
import { createDemoManager } from '../../../src/manager/index.js';
import { isLoopbackAddress } from '../../../src/manager/server/apiv1.js';
import { startManagerServer, type ManagerServer } from '../../../src/manager/server/server.js';
import { rawRequest } from '../../helpers/http.js';

const auth = { user: 'ops', password: 'v1-secret' };
let manager: Manager;
let locked: ManagerServer;
let open: ManagerServer;

beforeAll(async () => {
  manager = await createDemoManager();
  locked = await startManagerServer({ manager, credentials: auth, host: '127.0.0.1', port: 0 });
  open = await startManagerServer({ manager, credentials: auth, host: '127.0.0.1', port: 0, v1UnauthenticatedLoopbackReads: true });
});
afterAll(async () => {
  await Promise.all([locked?.close(), open?.close()]);
  await manager?.close();
});

describe('APIv1 reads', () => {
  it('GET /manager/status/<svc>/ gives the cluster state in outputPayload and outputPayload.dataServiceState', async () => {
    const r = await rawRequest(`${locked.url}/manager/status/alpha/`, auth);
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({ returnCode: '200' });
    for (const state of [r.json.outputPayload, r.json.outputPayload.dataServiceState]) {
      expect(state).toMatchObject({ name: 'alpha', composite: false, coordinator: 'db1', policyManagerMode: 'AUTOMATIC' });
      expect(Object.keys(state.dataSources)).toEqual(['db1', 'db2', 'db3']);
      expect(state.dataSources.db2).toMatchObject({ role: 'slave', state: 'ONLINE', lastShunReason: 'NONE' });
      expect(typeof state.dataSources.db2.appliedLatency).toBe('number');
      expect(state.replicators.db2).toMatchObject({ role: 'slave', state: 'ONLINE', masterHost: 'db1' });
      expect(typeof state.replicators.db2.appliedLatency).toBe('number');
      expect(typeof state.replicators.db2.appliedLastSeqno).toBe('number');
    }
  });

  it('policy, members and router status', async () => {
    const policy = await rawRequest(`${locked.url}/manager/policy/alpha/`, auth);
    expect(policy.json).toMatchObject({ returnCode: '200', message: 'AUTOMATIC', outputPayload: { policyManagerMode: 'AUTOMATIC' } });
    const members = await rawRequest(`${locked.url}/manager/service/members`, auth);
    expect(members.json.outputPayload.members.map((m: { name: string }) => m.name)).toEqual(['db1', 'db2', 'db3']);
    const routers = await rawRequest(`${locked.url}/manager/service/router/status`, auth);
    expect(Object.keys(routers.json.outputPayload.routers)).toEqual(['db1', 'db2', 'db3']);
    expect(routers.json.outputPayload.routers.db1).toMatchObject({ state: 'ONLINE' });
  });

  it('needs the credentials by default (APIv1 failure shape, 401)', async () => {
    const r = await rawRequest(`${locked.url}/manager/status/alpha/`);
    expect(r.status).toBe(401);
    expect(r.headers['www-authenticate']).toMatch(/^Basic/);
    expect(r.json).toMatchObject({ returnCode: '401' });
    expect(r.text).not.toContain('dataSources');
  });

  it('with manager.api.v1.allowUnauthenticatedLoopbackReads, a loopback client reads without credentials; APIv2 still needs them', async () => {
    expect((await rawRequest(`${open.url}/manager/status/alpha/`)).status).toBe(200);
    expect((await rawRequest(`${open.url}/api/v2/manager/status/service/alpha`)).status).toBe(401);
  });

  it('changes are not served, whatever the property; unknown services and paths are 404 in the APIv1 shape', async () => {
    const post = await rawRequest(`${open.url}/manager/policy/alpha/maintenance`, { method: 'POST' });
    expect(post.status).toBe(401);
    const authed = await rawRequest(`${open.url}/manager/policy/alpha/maintenance`, { ...auth, method: 'POST' });
    expect(authed.status).toBe(405);
    expect(authed.json.returnCode).toBe('405');
    expect(manager.serviceStatus('alpha').policy).toBe('AUTOMATIC');
    const unknown = await rawRequest(`${locked.url}/manager/status/omega/`, auth);
    expect(unknown.status).toBe(404);
    expect(unknown.json).toMatchObject({ returnCode: '404', returnMessage: expect.stringContaining("no service 'omega'") });
    expect((await rawRequest(`${locked.url}/manager/nothing`, auth)).json.returnCode).toBe('404');
  });

  it('counts only loopback as loopback', () => {
    expect(['127.0.0.1', '127.4.5.6', '::1', '::ffff:127.0.0.1'].every(isLoopbackAddress)).toBe(true);
    expect(['10.0.0.1', '::ffff:10.0.0.1', '', undefined, '1270.0.0.1'].some(isLoopbackAddress)).toBe(false);
  });
});
