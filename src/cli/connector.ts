#!/usr/bin/env node
/**
 * tungsten-connector: applications connect to it as to MariaDB; it routes each connection to the
 * master of the moment (and, on --read-listen, to a slave), following the managers. Parses flags,
 * starts the connector (src/connector), prints where it listens, and stops cleanly on SIGINT/SIGTERM.
 */
import { hostname } from 'node:os';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { ExitCode, ToolkitError } from '../errors.js';
import { reportFailure as reportProgramFailure, simulateBugIfAsked } from '../failure.js';
import { Connector } from '../connector/connector.js';
import type { ListenAddress } from '../connector/router.js';
import { describeBackend } from '../connector/routes.js';
import { guardCommandLineSecrets } from '../config/secrets.js';
import { resolveCredentials } from '../shell/credentials.js';

interface ConnectorFlags {
  manager: string;
  service: string;
  listen: ListenAddress;
  readListen?: ListenAddress;
  user?: string;
  password?: string;
  passwordFile?: string;
  credentials?: string;
  cacert?: string;
  insecure?: boolean;
  name?: string;
  offlineAfter: number;
  holdTimeout: number;
  switchGrace: number;
  maxWaiting: number;
  forwarding: 'handles' | 'streams';
}

/** `HOST:PORT`, `[V6]:PORT` or `PORT` (then loopback). Port 0 picks a free port. */
function parseListen(value: string): ListenAddress {
  const m = /^(?:\[([^\]]+)\]|([^:[\]]*)):(\d+)$/.exec(value) ?? /^()()(\d+)$/.exec(value);
  if (!m) throw new InvalidArgumentError('expected HOST:PORT (or PORT alone, on 127.0.0.1)');
  const port = Number(m[3]);
  if (port > 65535) throw new InvalidArgumentError(`port ${port} is out of range (0-65535)`);
  const host = m[1] ?? m[2] ?? '';
  return { host: host === '' ? '127.0.0.1' : host, port };
}

function seconds(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < 0) throw new InvalidArgumentError('expected a number of seconds (0 or more)');
  return n;
}

function positiveInt(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < 1) throw new InvalidArgumentError('expected a whole number, 1 or more');
  return n;
}

function buildProgram(): Command {
  return new Command('tungsten-connector')
    .description('Route application connections to the master of the moment (and reads to slaves), following the managers.')
    .requiredOption('--manager <url[,url...]>', 'the managers\' REST API; several members of a group: the next when one stops answering')
    .requiredOption('--service <name>', 'the dataservice to route to')
    .requiredOption('--listen <host:port>', 'where applications connect for the master (a port alone: on 127.0.0.1)', parseListen)
    .option('--read-listen <host:port>', 'where applications connect for reads: a healthy slave, else the master', parseListen)
    .option('--user <user>', 'manager API user (or TUNGSTEN_API_USER, or the credentials file)')
    .option('--password <password>', 'manager API password; visible to other users in ps: prefer --password-file, TUNGSTEN_API_PASSWORD or the credentials file')
    .option('--password-file <file>', 'read the manager API password from the first line of FILE (mode 0600)')
    .option('--credentials <file>', 'credentials file with user= and password= lines, mode 0600 (default ~/.cctrl_credentials)')
    .option('--cacert <file>', "PEM file of the CA that signed the managers' certificate")
    .option('--insecure', "accept any TLS certificate from the managers")
    .option('--name <name>', 'the name the managers list this connector under (default connector@<hostname>)')
    .option('--offline-after <seconds>', 'without a manager: ON-HOLD, then OFFLINE after this long (new connections refused)', seconds, 30)
    .option('--hold-timeout <seconds>', 'how long a new client waits for a server (hold, ON-HOLD, no master) before it is refused', seconds, 30)
    .option('--switch-grace <seconds>', 'on a switch, connections to the old master end after this long (at once on a failover)', seconds, 5)
    .addOption(new Option('--max-waiting <n>', 'clients that may wait at once; more are refused').argParser(positiveInt).default(1000))
    .addOption(
      new Option('--forwarding <way>', "how bytes are forwarded: between the sockets' handles (less CPU), or through Node's streams (the fallback)")
        .choices(['handles', 'streams'])
        .default('handles'),
    )
    .showHelpAfterError('(run tungsten-connector --help for the options)')
    .exitOverride()
    .allowExcessArguments(false);
}

function splitManagers(list: string): string[] {
  const urls = list.split(',').map((u) => u.trim());
  if (urls.some((u) => u === '')) {
    throw new ToolkitError('usage', `--manager '${list}' has an empty entry`, 'give one URL or several separated by commas: --manager URL[,URL...]');
  }
  return urls;
}

function say(line: string): void {
  process.stderr.write(`tungsten-connector: ${line}\n`);
}

async function main(argv: readonly string[]): Promise<number> {
  guardCommandLineSecrets('tungsten-connector', argv, process.stderr, 'use --password-file FILE, TUNGSTEN_API_PASSWORD or ~/.cctrl_credentials');
  const program = buildProgram();
  try {
    program.parse(argv as string[], { from: 'user' });
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode === 0 ? ExitCode.ok : ExitCode.usage;
    throw e;
  }
  const flags = program.opts<ConnectorFlags>();
  let connector: Connector;
  try {
    simulateBugIfAsked('tungsten-connector');
    if (flags.readListen && flags.readListen.port !== 0 && flags.readListen.port === flags.listen.port && flags.readListen.host === flags.listen.host) {
      throw new ToolkitError('usage', '--listen and --read-listen give the same address', 'give the read port its own address');
    }
    const credentials = resolveCredentials(
      { user: flags.user ?? null, password: flags.password ?? null, passwordFile: flags.passwordFile ?? null, credentials: flags.credentials ?? null },
      process.env,
    );
    const host = hostname();
    connector = new Connector({
      managers: splitManagers(flags.manager),
      service: flags.service,
      user: credentials?.user,
      password: credentials?.password ?? undefined,
      caFile: flags.cacert,
      insecure: flags.insecure === true,
      name: flags.name ?? `connector@${host}`,
      host,
      pid: process.pid,
      listen: flags.listen,
      readListen: flags.readListen ?? null,
      offlineAfterMs: flags.offlineAfter * 1000,
      holdTimeoutMs: flags.holdTimeout * 1000,
      switchGraceMs: flags.switchGrace * 1000,
      maxWaiting: flags.maxWaiting,
      forwarding: flags.forwarding,
      log: { info: (m) => say(m), warn: (m) => say(`WARN ${m}`) },
    });
  } catch (e) {
    return reportFailure(e);
  }

  let report;
  try {
    report = await connector.start();
  } catch (e) {
    return reportFailure(e);
  }
  const status = connector.status();
  const name = flags.name ?? `connector@${hostname()}`;
  const lines = [`tungsten-connector ${name}[${process.pid}]: service ${flags.service}, managers ${connector.status().manager ?? flags.manager}`];
  lines.push(`listening on ${report.listen} (master)${report.readListen ? `, ${report.readListen} (slaves)` : ''}`);
  if (report.state === 'ONLINE') {
    const r = status.routes!;
    const slaves = r.slaves.map((s) => s.name).join(', ');
    lines.push(`state ONLINE: routes epoch ${r.epoch}, master ${r.master ? describeBackend(r.master) : 'none'}${slaves ? `, slaves ${slaves}` : ''}${r.hold ? `, HOLD (${r.hold.reason})` : ''}`);
  } else {
    lines.push(`state ON-HOLD: no manager answers; new connections wait`);
  }
  lines.push('stop with Ctrl-C');
  process.stdout.write(lines.join('\n') + '\n');
  if (report.onHoldBecause !== null) {
    say(`WARN starting ON-HOLD: ${report.onHoldBecause}`);
    say(`WARN new connections wait until a manager answers; OFFLINE (connections refused) after ${flags.offlineAfter} s without one`);
  }

  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (signal: NodeJS.Signals) => {
      if (stopping) {
        say(`${signal} again, exiting without waiting`);
        process.exit(ExitCode.interrupted);
      }
      stopping = true;
      const active = connector.status().stats.active;
      say(`${signal}, stopping: no new connections${active > 0 ? `; ${active} open connection${active === 1 ? '' : 's'} get up to ${Math.min(flags.switchGrace, 5)} s to finish` : ''}`);
      connector.stop(Math.min(flags.switchGrace, 5) * 1000).then(
        () => resolve(ExitCode.ok),
        (e: unknown) => resolve(reportFailure(e)),
      );
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}

function reportFailure(e: unknown): number {
  return reportProgramFailure('tungsten-connector', e);
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
    // Stopped: what is still scheduled (a reconnect back-off) must not hold the exit.
    process.stdout.write('', () => process.stderr.write('', () => process.exit(code)));
  },
  (e: unknown) => {
    process.exitCode = reportFailure(e);
  },
);

