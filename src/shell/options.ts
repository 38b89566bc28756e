/**
 * cctrl's command line. cctrl's own single-dash spellings (-expert, -multi, -host, -port,
 * -service, -no-history) and the GNU ones both work; the first are rewritten to the second
 * before commander parses.
 */
import { Command, CommanderError, Option } from 'commander';
import { ToolkitError } from '../errors.js';

export interface CctrlOptions {
  expert: boolean;
  multi: boolean;
  host: string;
  /** -port as given: the manager's RMI port as real callers pass it (9997), or its REST port. */
  port: number;
  /** --api-port: the manager's REST port, when -port is its RMI port; null when not given. */
  apiPort: number | null;
  service: string | null;
  history: boolean;
  /** --manager as given: one URL or several, comma-separated (see managerUrls). */
  manager: string | null;
  user: string | null;
  password: string | null;
  passwordFile: string | null;
  credentials: string | null;
  cacert: string | null;
  insecure: boolean;
  timeoutSeconds: number;
  yes: boolean;
  json: boolean;
  execute: string | null;
  demo: boolean;
  /** KEY=VALUE settings of the --demo manager (same keys as tungsten-manager --property). */
  properties: string[];
}

export const DEFAULT_HOST = '127.0.0.1';
/** The manager's REST API port (tpm's manager-rest-api-port, mgr_api_port). */
export const DEFAULT_PORT = 8090;
/** The manager's RMI port (tpm's mgr_rmi_port): what tpm and Continuent's scripts pass as -port. */
export const MANAGER_RMI_PORT = 9997;
/** The REST port to use when -port is the RMI port, unless --api-port says. */
export const API_PORT_ENV = 'TUNGSTEN_API_PORT';
export const DEFAULT_TIMEOUT_SECONDS = 120;

const SINGLE_DASH_LONG = new Set([
  'expert', 'multi', 'host', 'port', 'api-port', 'service', 'no-history', 'manager', 'user', 'password',
  'credentials', 'cacert', 'insecure', 'timeout', 'yes', 'json', 'demo', 'property', 'help', 'version',
]);

export type ParsedArgs = { kind: 'run'; options: CctrlOptions } | { kind: 'print'; text: string };

export function parseArgs(argv: string[], version: string): ParsedArgs {
  const args = argv.map((a) => {
    const m = /^-([a-z][a-z-]+)(=.*)?$/.exec(a);
    return m && SINGLE_DASH_LONG.has(m[1]!) ? `-${a}` : a;
  });
  let printed = '';
  const program = new Command('cctrl')
    .description('The operator shell of a Tungsten-style MySQL/MariaDB cluster manager.')
    .option('-e, --execute <commands>', "run these commands (separated by ';') and exit")
    .option('--expert', 'start in expert mode: expert-level commands need no confirmation', false)
    .option('--multi', 'start at the root, above the services (use SERVICE / cd SERVICE)', false)
    .option('--service <name>', 'the service to act on (default: the manager\'s own)')
    .option(
      '--manager <url[,url...]>',
      `the manager's REST API (default http://${DEFAULT_HOST}:${DEFAULT_PORT}); several managers of a group: tried in order, the next when one stops answering`,
    )
    .option('--host <host>', `the manager's host, when --manager is not given`, DEFAULT_HOST)
    .option(
      '--port <port>',
      `the manager's port, when --manager is not given: its REST port, or its RMI port ${MANAGER_RMI_PORT} as tpm passes it (then the REST port is --api-port's)`,
      String(DEFAULT_PORT),
    )
    .option('--api-port <port>', `the manager's REST port when --port is its RMI port ${MANAGER_RMI_PORT} (default $${API_PORT_ENV}, else ${DEFAULT_PORT})`)
    .option('--user <user>', 'API user (or TUNGSTEN_API_USER, or the credentials file)')
    .option('--password <password>', 'API password; visible to other users in ps: prefer --password-file, TUNGSTEN_API_PASSWORD, the credentials file, or the prompt')
    .option('--password-file <file>', 'read the API password from the first line of FILE (mode 0600)')
    .option('--credentials <file>', 'credentials file with user= and password= lines, mode 0600 (default ~/.cctrl_credentials)')
    .option('--cacert <file>', "PEM file of the CA that signed the manager's certificate")
    .option('--insecure', "accept any TLS certificate from the manager", false)
    .option('--timeout <seconds>', 'how long to wait for an operation before saying its outcome is unknown', String(DEFAULT_TIMEOUT_SECONDS))
    .option('-y, --yes', 'answer yes to expert-level confirmations (needed in scripts without --expert)', false)
    .option('--json', 'one JSON document per command on stdout (schema: docs/cctrl.md)', false)
    .option('--no-history', 'do not read or write ~/.cctrl_history')
    .addOption(new Option('--demo', 'run a simulated 3-node cluster in-process and open the shell on it').default(false))
    .option('--property <key=value>', 'with --demo: set a manager property, e.g. simulation.stepDelayMs=1000 (repeatable)', (v: string, prev: string[]) => [...prev, v], [] as string[])
    .version(version, '--version', 'print the version')
    .helpOption('-h, --help', 'print this help')
    .allowExcessArguments(false)
    .exitOverride()
    .configureOutput({
      writeOut: (s) => (printed += s),
      writeErr: (s) => (printed += s),
      outputError: () => undefined,
    });
  try {
    program.parse(args, { from: 'user' });
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version') return { kind: 'print', text: printed };
      throw new ToolkitError('usage', e.message.replace(/^error: /, ''), 'see cctrl --help');
    }
    throw e;
  }
  const o = program.opts<Record<string, string | boolean | string[] | undefined>>();
  const port = tcpPort('--port', o['port']);
  const apiPort = o['apiPort'] === undefined ? null : tcpPort('--api-port', o['apiPort']);
  const timeoutSeconds = Number(o['timeout']);
  if (!Number.isFinite(timeoutSeconds) || timeoutSeconds <= 0) {
    throw new ToolkitError('usage', `--timeout must be a positive number of seconds, not '${o['timeout']}'`);
  }
  // Either would be ignored without a word, and the operator would believe they acted on the other.
  const given = (k: string) => program.getOptionValueSource(k) === 'cli';
  if (o['demo'] === true && (given('manager') || given('host') || given('port') || given('apiPort'))) {
    throw new ToolkitError('usage', '--demo runs its own simulated cluster: give --demo or --manager, not both');
  }
  if (o['demo'] !== true && given('property')) {
    throw new ToolkitError('usage', '--property sets a property of the --demo manager; it needs --demo', 'configure a running manager with tungsten-manager --property');
  }
  const str = (k: string): string | null => (typeof o[k] === 'string' ? (o[k] as string) : null);
  if (str('manager') !== null) splitManagers(str('manager')!);
  return {
    kind: 'run',
    options: {
      expert: o['expert'] === true,
      multi: o['multi'] === true,
      host: str('host') ?? DEFAULT_HOST,
      port,
      apiPort,
      service: str('service'),
      history: o['history'] !== false,
      manager: str('manager'),
      user: str('user'),
      password: str('password'),
      passwordFile: str('passwordFile'),
      credentials: str('credentials'),
      cacert: str('cacert'),
      insecure: o['insecure'] === true,
      timeoutSeconds,
      yes: o['yes'] === true,
      json: o['json'] === true,
      execute: str('execute'),
      demo: o['demo'] === true,
      properties: Array.isArray(o['property']) ? (o['property'] as string[]) : [],
    },
  };
}

/**
 * The managers to talk to, in the order to try them: --manager's list, else --host and the REST
 * port (restPort).
 */
export function managerUrls(options: Pick<CctrlOptions, 'manager' | 'host' | 'port'> & Partial<Pick<CctrlOptions, 'apiPort'>>, env: NodeJS.ProcessEnv = {}): string[] {
  if (options.manager !== null) return splitManagers(options.manager);
  const host = options.host.includes(':') ? `[${options.host}]` : options.host;
  return [`http://${host}:${restPort(options, env)}`];
}

/**
 * The REST port -port means. Every real caller (tpm, Continuent's scripts) passes the manager's
 * RMI port, 9997: that is mapped to the REST port, --api-port's, else $TUNGSTEN_API_PORT's, else
 * 8090 (tpm's defaults pair mgr_rmi_port 9997 with manager-rest-api-port 8090). Any other -port
 * is the REST port itself.
 */
export function restPort(options: Pick<CctrlOptions, 'port'> & Partial<Pick<CctrlOptions, 'apiPort'>>, env: NodeJS.ProcessEnv = {}): number {
  if (options.port !== MANAGER_RMI_PORT) return options.port;
  if (options.apiPort !== undefined && options.apiPort !== null) return options.apiPort;
  const fromEnv = env[API_PORT_ENV];
  if (fromEnv !== undefined && fromEnv !== '') return tcpPort(`$${API_PORT_ENV}`, fromEnv);
  return DEFAULT_PORT;
}

function tcpPort(what: string, value: unknown): number {
  const port = Number(value);
  if (typeof value === 'boolean' || !Number.isInteger(port) || port < 1 || port > 65535) {
    throw new ToolkitError('usage', `${what} must be a TCP port (1-65535), not '${String(value)}'`);
  }
  return port;
}

/** `URL[,URL...]`; an empty entry is a usage error (each URL is checked when the client is made). */
function splitManagers(list: string): string[] {
  const urls = list.split(',').map((u) => u.trim());
  if (urls.some((u) => u === '')) {
    throw new ToolkitError('usage', `--manager '${list}' has an empty entry`, 'give one URL or several separated by commas: --manager URL[,URL...]');
  }
  return urls;
}
