#!/usr/bin/env node
/**
 * tungsten-manager: the manager and its REST API. Parses flags, starts the manager in this process,
 * prints how to connect, and shuts down cleanly on SIGINT/SIGTERM.
 */
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { guardCommandLineSecrets, readPasswordFile } from '../config/secrets.js';
import { ExitCode, ToolkitError } from '../errors.js';
import { reportFailure as reportProgramFailure, simulateBugIfAsked } from '../failure.js';
import { DEFAULT_API_HOST, DEFAULT_API_PORT } from '../manager/server/server.js';
import { launchManager, type RunningManager } from '../manager/server/launch.js';

interface ManagerFlags {
  demo?: boolean;
  port: number;
  bind: string;
  apiUser?: string;
  apiPassword?: string;
  apiPasswordFile?: string;
  config?: string;
  property: string[];
  tlsCert?: string;
  tlsKey?: string;
  stateDir?: string;
  logRequests?: boolean;
}

function parsePort(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n > 65535) throw new InvalidArgumentError('expected a port number 0-65535 (0 picks a free one)');
  return n;
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

function buildProgram(): Command {
  return new Command('tungsten-manager')
    .description('Watch a dataservice, apply the failover rules and serve the REST API (docs/api.md).')
    .option('--demo', 'run the simulated demo service alpha (db1 master, db2 and db3 slaves)')
    .option('--config <file>', 'properties file describing the service')
    .option('--property <key=value>', 'set one property, overriding the file (repeatable)', collect, [])
    .option('--state-dir <dir>', 'keep policy, roles and task history here, across restarts')
    .option('--bind <addr>', 'address the REST API listens on', DEFAULT_API_HOST)
    .option('--port <n>', 'port of the REST API (0: any free port)', parsePort, DEFAULT_API_PORT)
    .addOption(new Option('--api-user <user>', 'REST API user').env('TUNGSTEN_API_USER'))
    .addOption(new Option('--api-password <password>', 'REST API password; visible to other users in ps: prefer --api-password-file or TUNGSTEN_API_PASSWORD').env('TUNGSTEN_API_PASSWORD'))
    .option('--api-password-file <file>', 'read the REST API password from the first line of FILE (mode 0600)')
    .option('--tls-cert <file>', 'serve HTTPS with this PEM certificate (needs --tls-key)')
    .option('--tls-key <file>', 'private key of --tls-cert')
    .option('--log-requests', 'print one line per API request on stderr')
    .showHelpAfterError('(run tungsten-manager --help for the options)')
    .exitOverride()
    .allowExcessArguments(false);
}

function startBanner(running: RunningManager, tlsCertFile: string | undefined): string {
  const { props } = running;
  // The roles as the manager holds them now (restored from --state-dir), not as configured.
  const datasources = running.manager
    .serviceStatus(props.serviceName)
    .datasources.map((d) => `${d.name} (${d.role}${d.state === 'ONLINE' ? '' : `, ${d.state}`})`)
    .join(', ');
  const lines = [
    `tungsten-manager: service ${props.serviceName}, ${props.driver} driver, datasources ${datasources}`,
    `REST API on ${running.url}/api/v2 (docs/api.md)`,
  ];
  if (running.demoCredentials) lines.push(`demo API credentials: user ${running.user}, password ${running.password}`);
  if (props.stateDir) lines.push(`state kept in ${props.stateDir}`);
  const tls = tlsCertFile !== undefined ? ` --cacert ${tlsCertFile}` : '';
  lines.push(`connect with: cctrl --manager ${running.url} --user ${running.user}${tls}`);
  lines.push('stop with Ctrl-C');
  return lines.join('\n') + '\n';
}

async function main(argv: readonly string[]): Promise<number> {
  guardCommandLineSecrets('tungsten-manager', argv, process.stderr, 'use --api-password-file FILE or TUNGSTEN_API_PASSWORD, and mysql.passwordFile in the properties');
  const program = buildProgram();
  try {
    program.parse(argv as string[], { from: 'user' });
  } catch (e) {
    if (e instanceof CommanderError) {
      return e.exitCode === 0 ? ExitCode.ok : ExitCode.usage;
    }
    throw e;
  }
  const flags = program.opts<ManagerFlags>();
  let running: RunningManager;
  // The manager's timers do not hold the process (they are unref'd for in-process use). Start-up can
  // wait on them alone: a member restarted after a kill -9 waits for its old lease to end in etcd,
  // and without this the process would find nothing left to do and exit 0 in the middle of it.
  const startingUp = setInterval(() => undefined, 60_000);
  try {
    simulateBugIfAsked('tungsten-manager');
    running = await launchManager({
      demo: flags.demo,
      configFile: flags.config,
      properties: flags.property,
      stateDir: flags.stateDir,
      host: flags.bind,
      port: flags.port,
      user: flags.apiUser,
      password: apiPassword(program, flags),
      tlsCertFile: flags.tlsCert,
      tlsKeyFile: flags.tlsKey,
      logger: {
        info: (m) => process.stderr.write(`INFO ${m}\n`),
        warn: (m) => process.stderr.write(`WARN ${m}\n`),
        error: (m) => process.stderr.write(`ERROR ${m}\n`),
      },
      requestLog: flags.logRequests ? (line) => process.stderr.write(`${line}\n`) : undefined,
    });
  } catch (e) {
    return reportFailure(e);
  } finally {
    clearInterval(startingUp);
  }
  process.stdout.write(startBanner(running, flags.tlsCert));

  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (signal: NodeJS.Signals) => {
      if (stopping) {
        process.stderr.write(`tungsten-manager: ${signal} again, exiting without waiting\n`);
        process.exit(ExitCode.interrupted);
      }
      stopping = true;
      process.stderr.write(`tungsten-manager: ${signal}, stopping\n`);
      // The manager's timers do not hold the process (they are unref'd for in-process use): without
      // this, it would exit in the middle of a task's revert, before the state is flushed.
      const keepAlive = setInterval(() => undefined, 60_000);
      running
        .close()
        .then(
          () => resolve(ExitCode.ok),
          (e: unknown) => resolve(reportFailure(e)),
        )
        .finally(() => clearInterval(keepAlive));
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}

/** --api-password-file, else --api-password or TUNGSTEN_API_PASSWORD; both flags given is a usage error. */
function apiPassword(program: Command, flags: ManagerFlags): string | undefined {
  if (flags.apiPasswordFile === undefined) return flags.apiPassword;
  if (program.getOptionValueSource('apiPassword') === 'cli') {
    throw new ToolkitError('usage', 'give --api-password or --api-password-file, not both');
  }
  return readPasswordFile(flags.apiPasswordFile, '--api-password-file');
}

function reportFailure(e: unknown): number {
  return reportProgramFailure('tungsten-manager', e);
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    process.exitCode = reportFailure(e);
  },
);
