/** The shell's ShellApi over the managers' REST API (src/api's FailoverClient: one URL or several). */
import { randomUUID } from 'node:crypto';
import type { EventSubscription } from '../api/client.js';
import { describeRequest } from '../manager/model.js';
import type { FailoverClient } from '../api/failover.js';
import type { ShellApi } from './services.js';

/** How soon a dropped event stream is reopened. */
const STREAM_RETRY_MS = 1_000;

export function restShellApi(managers: FailoverClient): ShellApi {
  const read = managers.read.bind(managers);
  return {
    get address() {
      return managers.url;
    },
    info: () => read((c) => c.status()),
    serviceNames: async () => (await read((c) => c.topology({ includeRouters: false }))).services.map((s) => s.name),
    serviceStatus: async (service) => {
      const status = await read((c) => c.serviceStatus(service));
      return { ...status, routers: status.routers ?? [] };
    },
    datasourceStatus: (service, ds) => read((c) => c.datasourceStatus(service, ds)),
    pingDatasource: async (service, ds) => {
      const p = await read((c) => c.pingDatasource(service, ds));
      return { host: p.host ?? ds, address: p.address ?? '', alive: p.value };
    },
    members: async (service) => (await read((c) => c.members(service))).members,
    control: (service, request, taskId = randomUUID()) => managers.control(describeRequest(request), (c) => c.control(service, request, { taskId }), taskId),
    task: (taskId) => read((c) => c.task(taskId)),
    history: async (service, limit) => (await read((c) => c.history(service, limit))).tasks,
    waitForTask: (taskId, { onStep, timeoutMs, signal }) =>
      managers.waitForTask(taskId, { onStep: (step) => onStep(step.line), timeoutMs, signal }),
    watchEvents: (service, watch, signal) => {
      void (async () => {
        // A stream reopened with the id of the last event it gave is sent what it missed meanwhile
        // (the manager's replay ring; another manager, or one restarted, sends its snapshot instead).
        let lastEventId: string | null = null;
        while (!signal.aborted) {
          let sub: EventSubscription | undefined;
          try {
            sub = await read((c) => c.events(service, (event) => watch.onEvent(event), { signal, lastEventId }));
            watch.onStream(true);
            await sub.done;
          } catch {
            // The stream dropped or could not open: the shell polls meanwhile; try again shortly.
          }
          lastEventId = sub?.lastEventId() ?? lastEventId;
          if (signal.aborted) return;
          watch.onStream(false);
          await new Promise((r) => setTimeout(r, STREAM_RETRY_MS).unref());
        }
      })();
    },
    onMemberChange: (listener) => managers.onChange(listener),
    close: async () => managers.close(),
  };
}
