/**
 * The one way a program ends on an error. A ToolkitError is a refusal or a failure the program
 * understood: its message and hint, its exit code. Anything else is a bug: the program says so,
 * writes the stack to a file (never to the operator's terminal), prints where it is, asks for a
 * report, and exits with ExitCode.internal (70), so a script can tell "the tool broke" from
 * "the cluster said no". cctrl, tpm, tungsten-manager and tungsten-connector all end here.
 */
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { neutraliseControls } from './controlChars.js';
import { ToolkitError, isToolkitError } from './errors.js';

export type ProgramName = 'cctrl' | 'tpm' | 'tungsten-manager' | 'tungsten-connector';

export interface FailureOptions {
  env?: NodeJS.ProcessEnv;
  now?: Date;
}

/** Where stack files go: $TUNGSTEN_CRASH_DIR, else the system's temporary directory. */
export function crashDir(env: NodeJS.ProcessEnv = process.env): string {
  return env['TUNGSTEN_CRASH_DIR'] || tmpdir();
}

/**
 * A ToolkitError as it is; anything else becomes an `internal` ToolkitError whose hint names the
 * file holding the stack. The file carries no arguments or environment (they may hold a password).
 */
export function asToolkitError(program: ProgramName, e: unknown, options: FailureOptions = {}): ToolkitError {
  if (isToolkitError(e)) return e;
  const now = options.now ?? new Date();
  const message = (e instanceof Error ? e.message : String(e)) || 'no message';
  const stamp = now.toISOString().replace(/[-:]/g, '').replace(/\..*$/, '');
  const file = join(crashDir(options.env), `${program}-internal-error-${stamp}-${process.pid}.txt`);
  const report = [
    `${program}: internal error at ${now.toISOString()}`,
    `node ${process.version} on ${process.platform}/${process.arch}`,
    '',
    describe(e),
    '',
  ].join('\n');
  let where: string;
  try {
    writeFileSync(file, report, { mode: 0o600 });
    where = `the details are in ${file}`;
  } catch (writeError) {
    where = `the details could not be written to ${file} (${(writeError as Error).message}):\n${describe(e)}`;
  }
  return new ToolkitError('internal', `internal error (a bug in ${program}, not a refusal): ${message}`, `${where}; please report the bug with that file`);
}

/** The stack, and the causes' stacks. */
function describe(e: unknown): string {
  const parts: string[] = [];
  for (let cur: unknown = e, depth = 0; cur !== undefined && depth < 5; depth++) {
    parts.push(cur instanceof Error ? (cur.stack ?? `${cur.name}: ${cur.message}`) : String(cur));
    cur = cur instanceof Error ? cur.cause : undefined;
    if (cur !== undefined) parts.push('caused by:');
  }
  return parts.join('\n');
}

/** Prints `program: message` and the hint on stderr and returns the exit code. */
export function reportFailure(program: ProgramName, e: unknown, stderr: { write(text: string): unknown } = process.stderr, options: FailureOptions = {}): number {
  const error = asToolkitError(program, e, options);
  // A message may quote what a host or a file said: its control characters never reach the terminal.
  stderr.write(neutraliseControls(`${program}: ${error.message}\n${error.hint ? `  ${error.hint}\n` : ''}`));
  return error.exitCode;
}

/**
 * TUNGSTEN_SIMULATE_BUG=PROGRAM makes that program throw an unexpected error as it starts: how the
 * tests check each program's bug path end to end. Nothing else reads it.
 */
export function simulateBugIfAsked(program: ProgramName, env: NodeJS.ProcessEnv = process.env): void {
  if (env['TUNGSTEN_SIMULATE_BUG'] === program) throw new TypeError(`simulated bug (TUNGSTEN_SIMULATE_BUG=${program})`);
}
