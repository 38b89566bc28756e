#!/usr/bin/env node
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Command, CommanderError, Option } from 'commander';
import { diagHelp, runDiagCommand, type DiagOptions } from '../../commands/tpm/diag.js';
import { queryHelp, runQueryCommand, QUERY_WHATS } from '../../commands/tpm/query.js';
import { reverseHelp, runReverseCommand, type ReverseOptions } from '../../commands/tpm/reverse.js';
import { toolVersion } from '../config/toolVersion.js';
import { neutraliseControls, terminalJson } from '../controlChars.js';
import type { DiagRunResult } from '../diag/run.js';
import type { HostProgress } from '../diag/types.js';
import { ExitCode } from '../errors.js';
import { reportFailure, simulateBugIfAsked } from '../failure.js';

function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

function addOptions(cmd: Command, options: ReadonlyArray<readonly [string, string, string?]>): Command {
  for (const [flags, description, def] of options) {
    const o = new Option(flags, description);
    if (def !== undefined) o.default(def);
    if (flags.startsWith('--net-ssh-option')) o.argParser(collect);
    cmd.addOption(o);
  }
  return cmd;
}

function mib(bytes: number): string {
  return `${(bytes / 1048576).toFixed(1)} MiB`;
}

/** Plain progress for logs and pipes: one line when a host starts and one when it ends. */
export function plainProgressLine(p: HostProgress): string | undefined {
  if (p.phase === 'connecting') return `${p.host}: connecting`;
  if (p.phase === 'done') {
    const secs = (((p.finishedAt ?? 0) - (p.startedAt ?? 0)) / 1000).toFixed(1);
    // The error may quote a host: its control characters are shown, never sent to the terminal.
    return neutraliseControls(`${p.host}: ${p.status}, ${p.files} files, ${mib(p.bytes)}, ${secs} s${p.error ? `: ${p.error}` : ''}`);
  }
  return undefined;
}

async function progressReporter(json: boolean): Promise<{ listener: (p: HostProgress) => void; stop: () => void }> {
  if (process.stderr.isTTY && process.env.CI !== 'true') {
    const { startDiagProgressView } = await import('../ui/diag/progress.js');
    return startDiagProgressView(process.stderr);
  }
  return {
    listener: (p) => {
      const line = plainProgressLine(p);
      if (line && !json) process.stderr.write(`${line}\n`);
      else if (line && json && p.phase === 'done') process.stderr.write(`${line}\n`);
    },
    stop: () => undefined,
  };
}

function reportDiag(result: DiagRunResult, json: boolean): void {
  if (json) {
    process.stdout.write(`${terminalJson(result.manifest)}\n`);
    return;
  }
  const hosts = result.manifest.hosts;
  const bad = hosts.filter((h) => h.status !== 'ok');
  // Nothing from any host is not diagnostic information: say what the archive holds instead.
  const nothing = hosts.length > 0 && hosts.every((h) => h.status !== 'ok' && h.status !== 'partial');
  process.stdout.write(
    nothing
      ? `No diagnostic information from any host; an archive with only the manifest and SUMMARY.txt written to ${result.archivePath}\n`
      : `Diagnostic information written to ${result.archivePath}\n`,
  );
  process.stdout.write(`sha256 ${result.sha256}\n`);
  if (bad.length > 0) {
    process.stdout.write(`Incomplete: ${bad.length} of ${hosts.length} hosts; SUMMARY.txt in the archive says what is missing\n`);
    for (const h of bad) process.stdout.write(`  ${h.host}: ${h.status}${h.error ? `: ${h.error}` : ''}\n`);
  }
}

export function buildProgram(): Command {
  const program = new Command('tpm')
    .description('Diagnostics and configuration for Tungsten clusters: diag, reverse, query')
    .version(toolVersion())
    .exitOverride()
    .configureOutput({ outputError: () => undefined });

  addOptions(program.command(diagHelp.name).description(diagHelp.summary), diagHelp.options).action(async (opts: DiagOptions) => {
    const controller = new AbortController();
    const onSigint = () => controller.abort();
    process.on('SIGINT', onSigint);
    process.on('SIGTERM', onSigint);
    const progress = await progressReporter(opts.json === true);
    try {
      const result = await runDiagCommand(opts, {
        argv: process.argv.slice(2),
        cwd: process.cwd(),
        signal: controller.signal,
        onProgress: progress.listener,
      });
      progress.stop();
      reportDiag(result, opts.json === true);
      process.exitCode = result.exitCode;
    } finally {
      progress.stop();
      process.off('SIGINT', onSigint);
      process.off('SIGTERM', onSigint);
    }
  });

  addOptions(program.command(reverseHelp.name).alias('dump').description(reverseHelp.summary), reverseHelp.options).action((opts: ReverseOptions) => {
    process.stdout.write(runReverseCommand(opts, { cwd: process.cwd() }).text);
  });

  addOptions(program.command(`${queryHelp.name} <what>`).description(queryHelp.summary).addHelpText('after', `\n<what>: ${QUERY_WHATS.join(' | ')}`), queryHelp.options).action(
    (what: string, opts: { ini?: string }) => {
      const result = runQueryCommand(what, opts, { cwd: process.cwd() });
      if (result.note) process.stderr.write(`tpm: ${result.note}\n`);
      process.stdout.write(result.text);
      if (result.exitCode !== undefined) process.exitCode = result.exitCode;
    },
  );
  return program;
}

export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    simulateBugIfAsked('tpm');
    await program.parseAsync(argv, { from: 'user' });
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help') return 0;
      process.stderr.write(`tpm: ${e.message.replace(/^error: /, '')}\n(see tpm --help)\n`);
      return ExitCode.usage;
    }
    return reportFailure('tpm', e);
  }
}

function isEntryPoint(): boolean {
  try {
    return !!process.argv[1] && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url);
  } catch {
    return false;
  }
}

if (isEntryPoint()) {
  main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
