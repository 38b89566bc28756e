import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const TPM_BIN = fileURLToPath(new URL('../../dist/src/cli/tpm.js', import.meta.url));

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** Peak resident memory of the process in KiB (VmHWM, polled), when measured. */
  peakRssKiB?: number;
}

export interface RunOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Send SIGINT after this many ms. */
  interruptAfterMs?: number;
  measureRss?: boolean;
  /** Wrap the command: e.g. ['unshare', '-m', 'sh', '-c', '... "$@"', 'sh']. */
  prefix?: string[];
  timeoutMs?: number;
}

/** Runs a command (by default the built tpm) and collects its output; never throws on exit codes. */
export function runCommand(command: string, args: string[], options: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: options.cwd, env: { ...process.env, CI: process.env.CI ?? '', ...options.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let peak = 0;
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const poll = options.measureRss
      ? setInterval(() => {
          try {
            const m = /VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'));
            if (m) peak = Math.max(peak, Number(m[1]));
          } catch {
            // exited
          }
        }, 50)
      : undefined;
    const interrupt = options.interruptAfterMs !== undefined ? setTimeout(() => child.kill('SIGINT'), options.interruptAfterMs) : undefined;
    const kill = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 120_000);
    child.once('error', reject);
    child.once('close', (code, signal) => {
      clearInterval(poll);
      clearTimeout(interrupt);
      clearTimeout(kill);
      resolve({ code, signal, stdout, stderr, ...(options.measureRss ? { peakRssKiB: peak } : {}) });
    });
  });
}

export function runTpm(args: string[], options: RunOptions = {}): Promise<RunResult> {
  return runCommand(process.execPath, [TPM_BIN, ...args], options);
}
