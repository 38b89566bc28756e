/** Running the built cctrl bin against a manager started in the test process. */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Manager } from '../../src/manager/api.js';
import type { ClusterDriver } from '../../src/manager/drivers/driver.js';
import { createDemoManager } from '../../src/manager/index.js';
import { startManagerServer, type ManagerServer } from '../../src/manager/server/server.js';

export const CCTRL_BIN = resolve(import.meta.dirname, '../../dist/src/cli/cctrl.js');
export const FORBID_UI = resolve(import.meta.dirname, 'cctrl-fixtures/forbid-ui.mjs');

export function requireBuild(): void {
  if (!existsSync(CCTRL_BIN)) throw new Error(`${CCTRL_BIN} is missing: run npm run build first`);
}

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  input?: string;
  env?: Record<string, string | undefined>;
  nodeArgs?: string[];
  /** Called with stdout so far on each chunk; may kill the child. */
  onStdout?: (soFar: string, child: ReturnType<typeof spawn>) => void;
  timeoutMs?: number;
  /** Leave stdin open after writing input (a script still typing). */
  keepStdinOpen?: boolean;
  /** Called with the child's pid once it is spawned. */
  onSpawn?: (pid: number) => void;
}

export function runCctrl(args: string[], options: RunOptions = {}): Promise<RunResult> {
  const home = mkdtempSync(join(tmpdir(), 'cctrl-home-'));
  const child = spawn(process.execPath, [...(options.nodeArgs ?? []), CCTRL_BIN, ...args], {
    env: {
      PATH: process.env.PATH,
      HOME: home,
      TZ: 'UTC',
      ...options.env,
    },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  if (child.pid !== undefined) options.onSpawn?.(child.pid);
  // cctrl may stop reading before all the input is written (it refused a line): not the test's failure.
  child.stdin.on('error', () => undefined);
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => {
    stdout += d;
    options.onStdout?.(stdout, child);
  });
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  if (options.keepStdinOpen) child.stdin.write(options.input ?? '');
  else child.stdin.end(options.input ?? '');
  const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 30_000);
  return new Promise((done) =>
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      done({ code, signal, stdout, stderr });
    }),
  );
}

export interface TestManager {
  url: string;
  user: string;
  password: string;
  args: string[];
  close(): Promise<void>;
}

/** The demo cluster behind its REST API on a free loopback port. */
export async function startTestManager(
  overrides: string[] = [],
  tls?: { cert: string; key: string },
  driver?: ClusterDriver,
): Promise<TestManager> {
  const group = await startTestGroup(1, overrides, tls, driver);
  return { url: group.urls[0]!, user: group.user, password: group.password, args: group.args, close: () => group.close() };
}

export interface TestGroup {
  /** One manager's state (the demo cluster), so every member serves the same tasks and status. */
  manager: Manager;
  /** Each member's REST API. */
  urls: string[];
  user: string;
  password: string;
  /** `--manager URL,URL,... --user U --password-file FILE` (a password on the command line draws a warning). */
  args: string[];
  /** Member i dies: it stops listening and its connections and event streams end. */
  stop(i: number): Promise<void>;
  close(): Promise<void>;
}

/**
 * A manager group as cctrl sees it: `size` REST servers on free loopback ports, all serving one
 * demo manager, as the members of a group serve one shared state.
 */
export async function startTestGroup(
  size: number,
  overrides: string[] = [],
  tls?: { cert: string; key: string },
  /** The cluster behind it (a SimulatedDriver the test makes fail); default the demo's own. */
  driver?: ClusterDriver,
): Promise<TestGroup> {
  const manager = await createDemoManager({ overrides, ...(driver ? { driver } : {}) });
  const credentials = { user: 'ops', password: 's3cret' };
  const servers: ManagerServer[] = [];
  try {
    for (let i = 0; i < size; i++) {
      servers.push(await startManagerServer({ manager, credentials, host: '127.0.0.1', port: 0, ...(tls ? { tls } : {}) }));
    }
  } catch (e) {
    await Promise.all(servers.map((s) => s.close()));
    await manager.close();
    throw e;
  }
  const urls = servers.map((s) => s.url);
  const passwordFile = join(mkdtempSync(join(tmpdir(), 'cctrl-pw-')), 'password');
  writeFileSync(passwordFile, `${credentials.password}\n`, { mode: 0o600 });
  return {
    manager,
    urls,
    ...credentials,
    args: ['--manager', urls.join(','), '--user', credentials.user, '--password-file', passwordFile],
    stop: (i) => servers[i]!.close(),
    async close() {
      await Promise.all(servers.map((s) => s.close()));
      await manager.close();
    },
  };
}
