/** The shell's ShellApi over the manager's REST API (src/api's ManagerClient). */
import type { ManagerClient } from '../api/client.js';
import type { ShellApi } from './services.js';

export function restShellApi(client: ManagerClient): ShellApi {
  return {
    address: client.url,
    info: () => client.status(),
    serviceNames: async () => (await client.topology({ includeRouters: false })).services.map((s) => s.name),
    serviceStatus: async (service) => {
      const status = await client.serviceStatus(service);
      return { ...status, routers: status.routers ?? [] };
    },
    datasourceStatus: (service, ds) => client.datasourceStatus(service, ds),
    pingDatasource: async (service, ds) => {
      const p = await client.pingDatasource(service, ds);
      return { host: p.host ?? ds, address: p.address ?? '', alive: p.value };
    },
    members: async (service) => (await client.members(service)).members,
    control: (service, request) => client.control(service, request),
    task: (taskId) => client.task(taskId),
    history: async (service, limit) => (await client.history(service, limit)).tasks,
    waitForTask: (taskId, { onStep, timeoutMs, signal }) =>
      client.waitForTask(taskId, { onStep: (step) => onStep(step.line), timeoutMs, signal }),
    close: async () => client.close(),
  };
}
