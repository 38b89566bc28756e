/** cctrl at a real terminal: the built bin in a pseudo-terminal (node-pty), typed at as a person would. */
import pty from 'node-pty';
import { stripVTControlCharacters as stripAnsi } from 'node:util';
import { CCTRL_BIN } from './cctrl-helpers.js';

export interface Term {
  output(): string;
  write(data: string): void;
  waitFor(pattern: RegExp | string | (() => boolean), what: string, timeoutMs?: number): Promise<void>;
  exited: Promise<number>;
  kill(): void;
}

export function startTerm(args: string[], home: string, env: Record<string, string> = {}, size: { cols: number; rows: number } = { cols: 100, rows: 40 }): Term {
  const p = pty.spawn(process.execPath, [CCTRL_BIN, ...args], {
    name: 'xterm-color',
    cols: size.cols,
    rows: size.rows,
    env: { PATH: process.env.PATH ?? '', HOME: home, TZ: 'UTC', CI: 'false', TERM: 'xterm-color', ...env },
  });
  let raw = '';
  p.onData((d) => (raw += d));
  const exited = new Promise<number>((resolve) => p.onExit(({ exitCode }) => resolve(exitCode)));
  const output = () => stripAnsi(raw);
  return {
    output,
    write: (data) => p.write(data),
    async waitFor(pattern, what, timeoutMs = 15_000) {
      const until = Date.now() + timeoutMs;
      const test = () =>
        typeof pattern === 'string' ? output().includes(pattern) : typeof pattern === 'function' ? pattern() : pattern.test(output());
      while (!test()) {
        if (Date.now() > until) throw new Error(`timed out waiting for ${what}; screen so far:\n${output().slice(-3000)}`);
        await new Promise((r) => setTimeout(r, 25));
      }
    },
    exited,
    kill: () => p.kill(),
  };
}

/** Counts occurrences, to wait for the next prompt rather than an earlier one. */
export function count(text: string, needle: string): number {
  return text.split(needle).length - 1;
}
