/**
 * cctrl from argv to exit code. Chooses the path before loading anything heavy: the Ink UI is a
 * dynamic import, taken only when stdin and stdout are terminals and no -e was given.
 */
import type { Readable, Writable } from 'node:stream';
import { toolVersion } from '../config/toolVersion.js';
import { ExitCode } from '../errors.js';
import { asToolkitError, simulateBugIfAsked } from '../failure.js';
import { neutraliseControls } from '../controlChars.js';
import { bannerLines, errorLine, jsonDocument } from '../format/render.js';
import { checkService, greet, openApi } from './connect.js';
import { parseArgs, type CctrlOptions } from './options.js';
import type { CommandRegistry } from './registry.js';
import { Shell, promptFor, toOutcomeError } from './session.js';
import { promptPassword } from '../config/secrets.js';
import { boundedLines } from './lines.js';
import { runScripted } from './scripted.js';
import { memberChangeNote, type ShellApi } from './services.js';

export interface MainIO {
  stdin: Readable & { isTTY?: boolean };
  stdout: Writable & { isTTY?: boolean };
  stderr: Writable;
  env: NodeJS.ProcessEnv;
  /** The commands (commands/cctrl/index.ts), handed in by the entry point. */
  commands: CommandRegistry;
}

/** What cctrl says when its standard input ends (after a blank line), as the original does. */
export const END_OF_INPUT_LINE = 'Exiting...';

export const SCRIPT_REFUSAL_HINT = 'run cctrl with -expert or --yes to allow it in a script';

export async function main(argv: string[], io: MainIO): Promise<number> {
  let api: ShellApi | null = null;
  let options: CctrlOptions | null = null;
  try {
    simulateBugIfAsked('cctrl', io.env);
    const parsed = parseArgs(argv, toolVersion());
    if (parsed.kind === 'print') {
      io.stdout.write(parsed.text);
      return ExitCode.ok;
    }
    options = parsed.options;
    const interactive = options.execute === null && !options.json && io.stdin.isTTY === true && io.stdout.isTTY === true;
    // A user without a password is asked for it at a terminal (without echo); a script is not.
    const stdin = io.stdin as MainIO['stdin'] & { setRawMode?: (raw: boolean) => void };
    const askPassword = stdin.isTTY === true && typeof stdin.setRawMode === 'function' ? (q: string) => promptPassword(q, stdin, io.stderr) : undefined;
    api = await openApi(options, io.env, askPassword);
    // Another manager taking over is said once: on stderr when scripted (stdout stays parseable);
    // at a terminal, below the banner, and then by the UI itself.
    const notes: string[] = [];
    const stopNotes = api.onMemberChange?.((change) => {
      if (interactive) notes.push(memberChangeNote(change));
      else io.stderr.write(`cctrl: ${neutraliseControls(memberChangeNote(change))}\n`);
    });
    const info = await greet(api);
    if (options.service !== null && !options.multi) await checkService(api, options.service);
    const state = {
      service: options.multi ? null : (options.service ?? info.dataServiceName),
      expert: options.expert,
      multi: options.multi,
    };
    if (interactive) {
      // chalk (under Ink) reads FORCE_COLOR but not NO_COLOR, when it is first imported.
      if (io.env['NO_COLOR']) process.env['FORCE_COLOR'] = '0';
      // Loading Ink and React takes longer than everything else: the banner and the prompt are
      // shown at once, keystrokes wait unechoed in raw mode, and the UI takes over where they are.
      stopNotes?.();
      const banner = [...bannerLines(info, api.address, toolVersion()), ...notes];
      const early = [...banner, neutraliseControls(promptFor(state))];
      io.stdout.write(early.join('\n'));
      // A terminal may report 0 columns (a serial line, `stty cols 0`): it is taken as 80 wide, by
      // this count and by Ink (which would otherwise wrap after every character).
      const out = io.stdout as { columns?: number };
      if (!(out.columns !== undefined && out.columns > 0)) out.columns = 80;
      const columns = out.columns!;
      const earlyRows = early.reduce((rows, line) => rows + Math.max(1, Math.ceil(line.length / columns)), 0);
      const stdin = io.stdin as { setRawMode?: (raw: boolean) => void };
      stdin.setRawMode?.(true);
      try {
        const { runInteractive } = await import('../ui/interactive.js');
        return await runInteractive({ api, commands: io.commands, state, info, options, env: io.env, version: toolVersion(), banner, earlyRows });
      } finally {
        stdin.setRawMode?.(false);
      }
    }
    const yes = options.yes;
    const shell = new Shell({
      api,
      commands: io.commands,
      state,
      timeoutMs: options.timeoutSeconds * 1000,
      confirm: async () => yes,
      refusalHint: SCRIPT_REFUSAL_HINT,
    });
    const abort = new AbortController();
    // SIGTERM (a runbook's timeout, systemd) stops waiting as Ctrl-C does, and says which task runs on.
    let signal: NodeJS.Signals | null = null;
    const onSigint = (name: NodeJS.Signals) => {
      signal ??= name;
      abort.abort();
    };
    process.on('SIGINT', onSigint);
    process.on('SIGTERM', onSigint);
    try {
      const fromStdin = options.execute === null;
      const lines = fromStdin ? boundedLines(io.stdin) : [options.execute!];
      const code = await runScripted(shell, lines, {
        json: options.json,
        stdout: io.stdout,
        stderr: io.stderr,
        signal: abort.signal,
        ...(fromStdin ? { endOfInputLine: END_OF_INPUT_LINE } : {}),
      });
      // 128 + the signal's number, as a shell reports a process ended by it.
      return signal === 'SIGTERM' && code === ExitCode.interrupted ? 143 : code;
    } finally {
      process.off('SIGINT', onSigint);
      process.off('SIGTERM', onSigint);
    }
  } catch (caught) {
    const e = asToolkitError('cctrl', caught);
    const error = toOutcomeError(e);
    const exitCode = e.exitCode;
    if (options?.json) {
      io.stdout.write(
        `${jsonDocument({ command: '', name: null, service: options.service, ok: false, exitCode, result: null, error })}\n`,
      );
    }
    io.stderr.write(`${errorLine(error.message, error.hint).replace(/^ERROR: /, 'cctrl: ')}\n`);
    return exitCode;
  } finally {
    await api?.close?.().catch(() => undefined);
  }
}

