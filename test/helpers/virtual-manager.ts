/**
 * The real manager core on a VirtualClock with the simulated driver (test/manager/harness.ts),
 * behind its REST server on a free loopback port, reached the way production's shell reaches a
 * manager: restShellApi over a FailoverClient. For the fast tests of the shell, the cctrl commands
 * and the Ink UI, so that they run the client, the server and the manager production runs.
 *
 * Virtual time moves only when the test lets it: `passing(work)` moves it until `work` settles (a
 * task's steps run meanwhile), `ticking()` keeps it moving until stopped (the Ink UI). With
 * neither, a task waits at its first timed step: a switch that does not finish.
 */
import { randomBytes } from 'node:crypto';
import { onTestFinished } from 'vitest';
import { FailoverClient } from '../../src/api/failover.js';
import type { TaskStatus } from '../../src/manager/model.js';
import { startManagerServer, type ManagerServer } from '../../src/manager/server/index.js';
import { restShellApi } from '../../src/shell/rest-api.js';
import type { ShellApi } from '../../src/shell/services.js';
import { startHarness, type Harness } from '../manager/harness.js';

/** Virtual time per step of the pump: a tenth of a step of a switch (simulation.stepDelayMs=200 below). */
const PUMP_STEP_MS = 100;

export interface VirtualManager extends Harness {
  /** The server's URL (`http://127.0.0.1:PORT`). */
  url: string;
  /** User and password the server takes. */
  credentials: { user: string; password: string };
  /** What production's shell is given: restShellApi over a FailoverClient to `url` (or to `options.urls`). */
  api: ShellApi;
  /** Moves virtual time until `work` settles, and gives its result. */
  passing<T>(work: Promise<T>): Promise<T>;
  /** Keeps virtual time moving until the returned function is called (and has resolved). */
  ticking(): () => Promise<void>;
  /** The newest task of service alpha. */
  latestTask(): TaskStatus;
  /** The server stops listening and drops every connection: the manager is gone for the client. */
  stopServing(): Promise<void>;
}

export interface VirtualManagerOptions {
  /** Manager properties on top of the demo's (test/manager/harness.ts). */
  overrides?: string[];
  /** The client's per-request timeout. Default 10 s: a bound for a loaded machine, never waited out by a passing test. */
  requestTimeoutMs?: number;
  /** Where the client connects instead of the server itself (a front that misbehaves, a closed port). */
  urls?: (serverUrl: string) => Promise<string[]> | string[];
}

/** Starts one; it is closed when the current test ends. */
export async function startVirtualManager(options: VirtualManagerOptions = {}): Promise<VirtualManager> {
  const h = await startHarness(['simulation.stepDelayMs=200', ...(options.overrides ?? [])]);
  const credentials = { user: 'tungsten', password: randomBytes(9).toString('hex') };
  let server: ManagerServer | null = await startManagerServer({ manager: h.manager, credentials, host: '127.0.0.1', port: 0 });
  const url = server.url;
  const urls = options.urls ? await options.urls(url) : [url];
  const client = new FailoverClient(urls, { ...credentials, timeoutMs: options.requestTimeoutMs ?? 10_000 });

  let wanted = 0;
  let pump: Promise<void> | null = null;
  const ticking = (): (() => Promise<void>) => {
    wanted++;
    pump ??= (async () => {
      while (wanted > 0) await h.clock.advance(PUMP_STEP_MS);
      pump = null;
    })();
    let stopped = false;
    return async () => {
      if (!stopped) {
        stopped = true;
        wanted--;
      }
      // Others may still want time to pass: then the pump goes on for them.
      if (wanted === 0) await pump;
    };
  };
  const stopServing = async () => {
    const s = server;
    server = null;
    await s?.close();
  };

  const vm: VirtualManager = {
    ...h,
    url,
    credentials,
    api: restShellApi(client),
    async passing(work) {
      const stop = ticking();
      try {
        return await work;
      } finally {
        await stop();
      }
    },
    ticking,
    latestTask: () => {
      const [task] = h.manager.history('alpha', 1);
      if (!task) throw new Error('the manager has run no task');
      return task;
    },
    stopServing,
  };
  onTestFinished(async () => {
    client.close();
    await stopServing();
    // A task still running (a switch that was not waited for) ends as time passes.
    await vm.passing(h.manager.close());
    wanted = 0;
    await pump;
  });
  return vm;
}
