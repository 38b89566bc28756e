/**
 * `cctrl --demo`: the manager's simulated 3-node cluster (service alpha: db1 master, db2 and db3
 * slaves) started in this process behind its REST API on a free loopback port, with one-time
 * credentials. The shell then talks to it exactly as it talks to a remote manager.
 */
import { randomBytes } from 'node:crypto';
import { ManagerClient } from '../api/client.js';
import { createDemoManager } from '../manager/index.js';
import { startManagerServer } from '../manager/server/server.js';
import { restShellApi } from './rest-api.js';
import type { ShellApi } from './services.js';

export async function startDemo(properties: readonly string[] = [], requestTimeoutMs = 10_000): Promise<ShellApi> {
  const manager = await createDemoManager({ overrides: properties });
  const credentials = { user: 'demo', password: randomBytes(12).toString('hex') };
  let server;
  try {
    server = await startManagerServer({ manager, credentials, host: '127.0.0.1', port: 0 });
  } catch (e) {
    await manager.close();
    throw e;
  }
  const client = new ManagerClient({ url: server.url, ...credentials, timeoutMs: requestTimeoutMs });
  const api = restShellApi(client);
  return {
    ...api,
    address: `${server.url} (demo)`,
    async close() {
      client.close();
      await server.close();
      await manager.close();
    },
  };
}
