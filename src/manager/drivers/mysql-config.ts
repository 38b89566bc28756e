/**
 * The mysql driver's settings, from the manager's properties (src/manager/properties.ts):
 *
 *   mysql.user, mysql.password | mysql.passwordFile   the account the manager uses on every server;
 *                                                     slaves also log in to their master with it
 *   policy.liveness.hostPing.method   echo | ping     host check
 *   policy.liveness.hostPing.timeout  seconds
 *   policy.liveness.dbping.timeout    seconds         database ping (connect + SELECT 1)
 *
 * Credentials never appear in a message this module produces.
 */
import { readFileSync } from 'node:fs';
import { ToolkitError } from '../../errors.js';
import type { HostCheckMethod } from '../hostcheck.js';
import type { DataSourceConfig } from './driver.js';

export interface MysqlDriverOptions {
  user: string;
  password: string;
  /** The account slaves use to read the master's binlog (CHANGE MASTER TO MASTER_USER). */
  replicationUser: string;
  replicationPassword: string;
  hostCheck: { method: HostCheckMethod; timeoutMs: number; echoPort?: number };
  dbPingTimeoutMs: number;
}

/** The part of the manager's properties (ManagerProperties) the driver reads. */
export interface MysqlDriverProperties {
  datasources: DataSourceConfig[];
  mysql: { user: string; password: string | null; passwordFile: string | null };
  policy: { hostPingMethod: HostCheckMethod; hostPingTimeoutSeconds: number; dbPingTimeoutSeconds: number };
}

export function mysqlDriverOptionsFromProperties(props: Omit<MysqlDriverProperties, 'datasources'>): MysqlDriverOptions {
  const { user } = props.mysql;
  if (!user) {
    throw new ToolkitError('usage', 'manager.driver=mysql needs mysql.user', 'Set mysql.user and mysql.password (or mysql.passwordFile) in the properties.');
  }
  const password = readPassword(props.mysql.password, props.mysql.passwordFile);
  return {
    user,
    password,
    replicationUser: user,
    replicationPassword: password,
    hostCheck: { method: props.policy.hostPingMethod, timeoutMs: Math.round(props.policy.hostPingTimeoutSeconds * 1000) },
    dbPingTimeoutMs: Math.round(props.policy.dbPingTimeoutSeconds * 1000),
  };
}

function readPassword(inline: string | null, file: string | null): string {
  if (inline !== null && file) {
    throw new ToolkitError('usage', 'set either mysql.password or mysql.passwordFile, not both');
  }
  if (inline !== null) return inline;
  if (!file) {
    throw new ToolkitError('usage', 'manager.driver=mysql needs mysql.password or mysql.passwordFile', 'mysql.passwordFile names a file that holds only the password, readable by the manager.');
  }
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? 'unreadable';
    throw new ToolkitError('usage', `mysql.passwordFile ${file} cannot be read (${code})`, 'Point mysql.passwordFile at a file the manager can read.');
  }
  return text.replace(/\r?\n$/, '');
}
