/**
 * Where a password may come from, other than the command line: a file that only its owner can
 * read, or a prompt at a terminal without echo. And what is done when one is on the command line
 * anyway: it is accepted, a warning goes to stderr, and the process title is rewritten without it.
 *
 * On Linux, Node's process.title writes over the memory that /proc/PID/cmdline (and so `ps`) reads
 * the arguments from, so the password is gone from there once the program has started; what no
 * program can undo is the moment between exec and that write, and a copy kept elsewhere (a shell's
 * history, an audit of exec calls). Nothing in a message this module makes holds a secret.
 */
import { readFileSync, statSync } from 'node:fs';
import { basename } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { ToolkitError } from '../errors.js';

/** A password file's content: its first line, without the line end. Refused when others may read it. */
export function readPasswordFile(file: string, flag: string): string {
  let mode: number;
  let text: string;
  try {
    mode = statSync(file).mode;
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new ToolkitError('usage', `cannot read ${flag} ${file} (${(e as NodeJS.ErrnoException).code ?? 'unreadable'})`, `point ${flag} at a file that holds the password`);
  }
  if ((mode & 0o077) !== 0) {
    throw new ToolkitError('usage', `${flag} ${file} is readable by others (mode ${(mode & 0o777).toString(8).padStart(4, '0')})`, `run: chmod 600 ${file}`);
  }
  const first = text.split(/\r?\n/, 1)[0] ?? '';
  if (first === '') throw new ToolkitError('usage', `${flag} ${file} is empty`, 'write the password on its first line');
  return first;
}

/** Option names whose value is a password, as each program spells them. */
const SECRET_OPTIONS = new Set(['--password', '-password', '--api-password', '-api-password']);
/** A `--property KEY=VALUE` whose key names a secret. */
const SECRET_KEY = /pass|secret|pwd/i;

/** The arguments with every password replaced by `***`, and whether there was one. */
export function scrubSecretArgs(argv: readonly string[]): { args: string[]; found: boolean } {
  const args: string[] = [];
  let found = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const eq = a.indexOf('=');
    const name = eq < 0 ? a : a.slice(0, eq);
    if (SECRET_OPTIONS.has(name)) {
      found = true;
      if (eq < 0) {
        args.push(a);
        if (i + 1 < argv.length) {
          args.push('***');
          i++;
        }
      } else args.push(`${name}=***`);
      continue;
    }
    if (name === '--property' || name === '-property') {
      const value = eq < 0 ? argv[i + 1] : a.slice(eq + 1);
      const key = value?.split('=', 1)[0] ?? '';
      if (value !== undefined && value.includes('=') && SECRET_KEY.test(key)) {
        found = true;
        if (eq < 0) {
          args.push(a, `${key}=***`);
          i++;
        } else args.push(`${name}=${key}=***`);
        continue;
      }
    }
    args.push(a);
  }
  return { args, found };
}

/**
 * Called first thing by each program: with a password on its command line, warns on `stderr` and
 * rewrites the process title without it. Returns whether there was one.
 */
export function guardCommandLineSecrets(program: string, argv: readonly string[], stderr: Writable, alternatives: string): boolean {
  const { args, found } = scrubSecretArgs(argv);
  if (!found) return false;
  try {
    process.title = [basename(program), ...args].join(' ');
  } catch {
    // some platforms refuse; the warning still says what to do
  }
  stderr.write(`${basename(program)}: WARNING: a password on the command line can be read by every user of this machine while it starts (ps, /proc); ${alternatives}\n`);
  return true;
}

/**
 * Asks for a password at a terminal without echoing it. Enter ends it; Ctrl-C or Ctrl-D before
 * anything is typed cancels (interrupted).
 */
export function promptPassword(question: string, input: Readable & { isTTY?: boolean; setRawMode?: (raw: boolean) => void }, output: Writable): Promise<string> {
  return new Promise((resolve, reject) => {
    let typed = '';
    output.write(question);
    input.setRawMode?.(true);
    input.resume();
    const done = (error: ToolkitError | null) => {
      input.off('data', onData);
      input.setRawMode?.(false);
      input.pause();
      output.write('\n');
      if (error) reject(error);
      else resolve(typed);
    };
    const onData = (chunk: Buffer | string) => {
      for (const ch of typeof chunk === 'string' ? chunk : chunk.toString('utf8')) {
        if (ch === '\r' || ch === '\n') return done(null);
        if (ch === '\u0003' || (ch === '\u0004' && typed === '')) return done(new ToolkitError('interrupted', 'no password given'));
        if (ch === '\u007f' || ch === '\b') typed = typed.slice(0, -1);
        else if (ch >= ' ') typed += ch;
      }
    };
    input.on('data', onData);
  });
}
