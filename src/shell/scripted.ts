/**
 * The scripted path: statements from -e or from stdin line by line, plain text (or one JSON
 * document per command) on stdout, diagnostics on stderr, no escape codes, and an exit code that
 * says the worst thing that happened. Never imports Ink or React.
 */
import type { Writable } from 'node:stream';
import { ExitCode } from '../errors.js';
import { neutraliseControls } from '../controlChars.js';
import { jsonDocument, renderOutcomeText } from '../format/render.js';
import type { Outcome } from '../format/result.js';
import type { Shell } from './session.js';

export interface ScriptedOptions {
  json: boolean;
  stdout: Writable;
  stderr: Writable;
  signal: AbortSignal;
  /**
   * Printed (after a blank line) when the input ends, as cctrl does at the end of its input
   * (`Exiting...`). Not with --json. tpm reads `echo ls | cctrl` with its output stripped: without
   * a line after the last box, its parser loses the last datasource.
   */
  endOfInputLine?: string;
}

/** When several commands fail differently, the exit code reports the most serious. */
const SEVERITY: number[] = [ExitCode.interrupted, ExitCode.internal, ExitCode.unreachable, ExitCode.timedOut, ExitCode.usage, ExitCode.failed, ExitCode.ok];

export function worseExitCode(a: number, b: number): number {
  const rank = (c: number) => {
    const i = SEVERITY.indexOf(c);
    return i < 0 ? 0 : SEVERITY.length - i;
  };
  return rank(b) > rank(a) ? b : a;
}

export async function runScripted(shell: Shell, lines: AsyncIterable<string> | Iterable<string>, options: ScriptedOptions): Promise<number> {
  let exitCode: number = ExitCode.ok;
  let stop = false;
  // Whatever the manager sent, no control character reaches the terminal or the log (JSON documents carry them escaped).
  const write = (stream: Writable, text: string) => {
    if (text) stream.write(neutraliseControls(text));
  };
  const onOutcome = (o: Outcome) => {
    exitCode = worseExitCode(exitCode, o.exitCode);
    if (options.json) write(options.stdout, `${jsonDocument(o)}\n`);
    else {
      // At a terminal (cctrl -e help), help fits its width; into a pipe, lines stay whole.
      const columns = (options.stdout as { isTTY?: boolean; columns?: number }).isTTY ? (options.stdout as { columns?: number }).columns : undefined;
      const text = renderOutcomeText(o, { streamed: true, ...(columns ? { width: columns } : {}) });
      write(options.stdout, text.out);
      write(options.stderr, text.err);
    }
    if (o.exitCode === ExitCode.unreachable || o.exitCode === ExitCode.interrupted || o.result?.kind === 'quit') stop = true;
  };
  const progress = options.json ? undefined : (line: string) => write(options.stdout, `${line}\n`);
  // Ctrl-C while waiting for the next line of stdin ends the script too.
  const aborted = new Promise<'aborted'>((resolve) => {
    if (options.signal.aborted) resolve('aborted');
    options.signal.addEventListener('abort', () => resolve('aborted'), { once: true });
  });
  const iterator = Symbol.asyncIterator in lines ? lines[Symbol.asyncIterator]() : toAsync(lines[Symbol.iterator]());
  for (;;) {
    const next = await Promise.race([iterator.next(), aborted]);
    if (next === 'aborted') break;
    if (next.done) {
      if (options.endOfInputLine && !options.json) write(options.stdout, `\n${options.endOfInputLine}\n`);
      break;
    }
    await shell.runLine(next.value, { signal: options.signal, progress }, onOutcome);
    if (stop || options.signal.aborted) break;
  }
  await iterator.return?.();
  if (options.signal.aborted) return ExitCode.interrupted;
  return exitCode;
}

function toAsync<T>(it: Iterator<T>): AsyncIterator<T> {
  return { next: async () => it.next() };
}
