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
      // A task still running (the user stopped waiting) would hold close() until it ends; the
      // demo's state is not kept, so give it a moment and move on.
      // The server is left to the process exit: closing it while a task still emits events
      // makes it write to ended event streams.
      const grace = new Promise<void>((resolve) => setTimeout(resolve, 500));
      await Promise.race([manager.close(), grace]);
    },
  };
}
