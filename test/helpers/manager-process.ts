/** Runs the built `tungsten-manager` (dist/src/cli/manager.js) as a real process. */
import { spawn, type ChildProcess } from 'node:child_process';
import { resolve } from 'node:path';

export const MANAGER_BIN = resolve(import.meta.dirname, '../../dist/src/cli/manager.js');

export interface ManagerProcess {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Resolves with the API URL once the banner is printed; rejects if the process exits first. */
  ready: Promise<string>;
  /** SIGKILL if still running (for afterEach). */
  kill(): void;
}

export function spawnManager(args: string[], env: Record<string, string | undefined> = {}): ManagerProcess {
  const childEnv: Record<string, string | undefined> = { ...process.env, TUNGSTEN_API_USER: undefined, TUNGSTEN_API_PASSWORD: undefined, ...env };
  for (const k of Object.keys(childEnv)) if (childEnv[k] === undefined) delete childEnv[k];
  const child = spawn(process.execPath, [MANAGER_BIN, ...args], { env: childEnv as NodeJS.ProcessEnv, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout!.setEncoding('utf8').on('data', (c: string) => (out += c));
  child.stderr!.setEncoding('utf8').on('data', (c: string) => (err += c));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) =>
    child.on('exit', (code, signal) => r({ code, signal })),
  );
  const ready = new Promise<string>((resolveUrl, reject) => {
    const check = () => {
      const m = /REST API on (https?:\/\/\S+)\/api\/v2/.exec(out);
      if (m) resolveUrl(m[1]!);
    };
    child.stdout!.on('data', check);
    void exited.then(({ code, signal }) => reject(new Error(`tungsten-manager exited (${code ?? signal}) before it was ready:\n${out}${err}`)));
  });
  ready.catch(() => undefined);
  return {
    child,
    stdout: () => out,
    stderr: () => err,
    exited,
    ready,
    kill: () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    },
  };
}
