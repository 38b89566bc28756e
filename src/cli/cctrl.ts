#!/usr/bin/env node
/**
 * cctrl: the operator's shell. Scripted (stdin or stdout not a terminal, or -e) it prints plain
 * text or --json; at a terminal it opens the Ink UI. Exit codes: README, section cctrl.
 */
import { cctrlCommands } from '../../commands/cctrl/index.js';
import { guardCommandLineSecrets } from '../config/secrets.js';
import { main } from '../shell/main.js';

// A closed pipe (`cctrl -e ls | head -1`) ends the program quietly.
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
});

guardCommandLineSecrets('cctrl', process.argv.slice(2), process.stderr, 'use --password-file FILE, TUNGSTEN_API_PASSWORD or ~/.cctrl_credentials, or give only --user to be asked');
const code = await main(process.argv.slice(2), {
  stdin: process.stdin,
  stdout: process.stdout,
  stderr: process.stderr,
  env: process.env,
  commands: cctrlCommands,
});
process.exitCode = code;
// Let stdout drain into a pipe, then leave even if a keep-alive socket or stdin is still open.
process.stdout.write('', () => process.exit(code));
