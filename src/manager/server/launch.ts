/**
 * A manager and its REST API in this process: what `tungsten-manager` runs, and what
 * `cctrl --demo` and the tests start (port 0 supported).
 */
import { readFileSync } from 'node:fs';
import { ToolkitError } from '../../errors.js';
import type { Manager } from '../api.js';
import { createManager } from '../index.js';
import { loadProperties, type ManagerProperties } from '../properties.js';
import type { ManagerLogger } from '../core.js';
import { startManagerServer, type ManagerServer } from './server.js';
import type { ApiCredentials } from './auth.js';

/** The documented credentials of a demo manager started without any. */
export const DEMO_CREDENTIALS: Readonly<ApiCredentials> = { user: 'tungsten', password: 'secret' };

export interface LaunchOptions {
  /** The simulated demo service alpha (db1 master; db2, db3 slaves). */
  demo?: boolean;
  /** Properties file; `properties` override it. */
  configFile?: string;
  /** `KEY=VALUE`, as given to --property. */
  properties?: readonly string[];
  /** Keep durable state here (same as the property manager.state.dir). */
  stateDir?: string;
  host?: string;
  port?: number;
  /** API credentials; a demo without any uses DEMO_CREDENTIALS. */
  user?: string;
  password?: string;
  tlsCertFile?: string;
  tlsKeyFile?: string;
  logger?: ManagerLogger;
  /** One line per API request. */
  requestLog?: (line: string) => void;
}

export interface RunningManager {
  url: string;
  user: string;
  password: string;
  /** The demo's documented credentials are in use (safe to print). */
  demoCredentials: boolean;
  manager: Manager;
  server: ManagerServer;
  props: ManagerProperties;
  /** Stop the API, then the manager (which flushes its state). Safe to call twice. */
  close(): Promise<void>;
}

/** API credentials from options: both or none; none is allowed only for a demo. */
export function resolveCredentials(opts: { user?: string; password?: string; demo?: boolean }): {
  credentials: ApiCredentials;
  demoCredentials: boolean;
} {
  const user = opts.user || undefined;
  const password = opts.password || undefined;
  if (user !== undefined && password !== undefined) {
    if (/[\s:!#$&'()*+,/;=?@[\]]/.test(user)) {
      throw new ToolkitError('usage', `API user name '${user}' contains a character that is not allowed`, 'use letters, digits, - _ . ~ only');
    }
    return { credentials: { user, password }, demoCredentials: false };
  }
  if (user !== undefined || password !== undefined) {
    throw new ToolkitError(
      'usage',
      user === undefined ? 'an API password was given without a user' : `no API password given for user '${user}'`,
      'give both --api-user U and --api-password P (or TUNGSTEN_API_USER and TUNGSTEN_API_PASSWORD)',
    );
  }
  if (opts.demo) return { credentials: { ...DEMO_CREDENTIALS }, demoCredentials: true };
  throw new ToolkitError(
    'usage',
    'the REST API needs credentials and none were given',
    'set them with --api-user U --api-password P, or the environment variables TUNGSTEN_API_USER and TUNGSTEN_API_PASSWORD',
  );
}

export async function launchManager(opts: LaunchOptions = {}): Promise<RunningManager> {
  const { credentials, demoCredentials } = resolveCredentials(opts);
  if (!opts.demo && opts.configFile === undefined && (opts.properties ?? []).length === 0) {
    throw new ToolkitError('usage', 'no configuration: give --config FILE or --demo', 'tungsten-manager --demo runs a simulated 3-node service');
  }
  const tls = readTls(opts.tlsCertFile, opts.tlsKeyFile);
  const overrides = [...(opts.properties ?? [])];
  if (opts.stateDir !== undefined) overrides.push(`manager.state.dir=${opts.stateDir}`);
  const props = loadProperties({ file: opts.configFile, demo: opts.demo && opts.configFile === undefined, overrides });

  // The mysql driver (and mysql2) load only when configured, so a demo starts fast.
  const driver =
    props.driver === 'mysql' ? (await import('../drivers/mysql.js')).mysqlDriverFromProperties(props) : undefined;
  if (props.driver === 'mysql' && props.mysql.replication.user === null) {
    opts.logger?.warn(
      "no mysql.replication.user: slaves log in to their master with the manager's own account, so its password goes into CHANGE MASTER and the servers' general log; set mysql.replication.user and mysql.replication.password (or passwordFile) to an account with REPLICATION SLAVE only",
    );
  }
  let manager: Awaited<ReturnType<typeof createManager>>;
  try {
    manager = await createManager({ properties: props, logger: opts.logger, driver });
  } catch (e) {
    await driver?.close();
    throw e;
  }
  const closeManager = async () => {
    await manager.close();
    await driver?.close();
  };
  let server: ManagerServer;
  try {
    server = await startManagerServer({
      manager,
      credentials,
      host: opts.host,
      port: opts.port,
      tls,
      log: opts.requestLog,
      maxConnections: props.api.maxConnections,
      v1UnauthenticatedLoopbackReads: props.api.v1UnauthenticatedLoopbackReads,
      idleTimeoutMs: props.api.idleTimeoutSeconds * 1000,
      headersTimeoutMs: props.api.headersTimeoutSeconds * 1000,
      requestTimeoutMs: props.api.requestTimeoutSeconds * 1000,
      warn: opts.logger ? (line) => opts.logger!.warn(line) : undefined,
    });
  } catch (e) {
    await closeManager();
    throw e;
  }
  manager.advertise(server.url);
  let closing: Promise<void> | undefined;
  return {
    url: server.url,
    user: credentials.user,
    password: credentials.password,
    demoCredentials,
    manager,
    server,
    props,
    close() {
      closing ??= (async () => {
        await server.close();
        await closeManager();
      })();
      return closing;
    },
  };
}

function readTls(certFile: string | undefined, keyFile: string | undefined): { cert: Buffer; key: Buffer } | undefined {
  if (certFile === undefined && keyFile === undefined) return undefined;
  if (certFile === undefined || keyFile === undefined) {
    throw new ToolkitError('usage', 'TLS needs both a certificate and a key', 'give --tls-cert FILE and --tls-key FILE together');
  }
  const read = (file: string, flag: string) => {
    try {
      return readFileSync(file);
    } catch (e) {
      throw new ToolkitError('usage', `cannot read ${flag} ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
  };
  return { cert: read(certFile, '--tls-cert'), key: read(keyFile, '--tls-key') };
}
