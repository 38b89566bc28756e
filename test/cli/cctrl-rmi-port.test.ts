/**
 * `cctrl -expert -port 9997`, as tpm and Continuent's scripts call it (9997 is the manager's RMI
 * port): the built cctrl still reaches the manager's REST API, on 8090 by default, over real HTTP.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDemoManager } from '../../src/manager/index.js';
import type { Manager } from '../../src/manager/api.js';
import { startManagerServer, type ManagerServer } from '../../src/manager/server/server.js';
import { requireBuild, runCctrl } from '../e2e/cctrl-helpers.js';
import { freeLoopbackAddress } from '../helpers/processes.js';

const credentials = { user: 'ops', password: 'rmi-port-pw' };
const env = { TUNGSTEN_API_USER: credentials.user, TUNGSTEN_API_PASSWORD: credentials.password };
let manager: Manager;
let server: ManagerServer;
let host: string;

beforeAll(async () => {
  requireBuild();
  // Its own loopback address, so that the default port 8090 is this test's alone.
  host = await freeLoopbackAddress([8090, 9997], 'the -port test');
  manager = await createDemoManager();
  server = await startManagerServer({ manager, credentials, host, port: 8090 });
});
afterAll(async () => {
  await server?.close();
  await manager?.close();
});

describe('cctrl -port RMI_PORT', () => {
  it('echo ls | cctrl -expert -port 9997 reaches the REST API on 8090', async () => {
    const r = await runCctrl(['-expert', '-host', host, '-port', '9997'], { input: 'ls\n', env });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout.split('\n')[0]).toBe('COORDINATOR[db1:AUTOMATIC:ONLINE]');
  });

  it('-port 9997 with --api-port goes where --api-port says', async () => {
    const r = await runCctrl(['-host', host, '-port', '9997', '--api-port', '8090', '-e', 'ls'], { env });
    expect(r.code).toBe(0);
  });
});
