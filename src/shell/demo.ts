/**
 * `cctrl --demo`: the manager's simulated 3-node cluster (service alpha: db1 master, db2 and db3
 * slaves) started in this process behind its REST API on a free loopback port, with one-time
 * credentials. The shell then talks to it exactly as it talks to a remote manager.
 */
import { randomBytes } from 'node:crypto';
import { FailoverClient } from '../api/failover.js';
import { launchManager } from '../manager/server/launch.js';
import { restShellApi } from './rest-api.js';
import type { ShellApi } from './services.js';

export async function startDemo(properties: readonly string[] = [], requestTimeoutMs = 10_000): Promise<ShellApi> {
  const running = await launchManager({
    demo: true,
    properties,
    host: '127.0.0.1',
    port: 0,
    user: 'demo',
    password: randomBytes(12).toString('hex'),
  });
  const client = new FailoverClient([running.url], { user: running.user, password: running.password, timeoutMs: requestTimeoutMs });
  const api = restShellApi(client);
  return {
    ...api,
    address: `${running.url} (demo)`,
    async close() {
      client.close();
      // A task still running (the user stopped waiting) would hold close() until it ends; the
      // demo's state is not kept, so give it a moment and move on.
      const grace = new Promise<void>((resolve) => setTimeout(resolve, 500));
      await Promise.race([running.close(), grace]);
    },
  };
}
