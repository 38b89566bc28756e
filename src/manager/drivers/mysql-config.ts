/**
 * The mysql driver's settings, from the manager's properties (src/manager/properties.ts):
 *
 *   mysql.user, mysql.password | mysql.passwordFile   the account the manager uses on every server
 *   mysql.replication.user,                           the account slaves log in to their master with
 *     mysql.replication.password | .passwordFile      (CHANGE MASTER TO MASTER_USER): only REPLICATION
 *                                                     SLAVE is needed; without it the manager's own
 *                                                     account is used, with a warning at start
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
  /** A replication account of its own was configured (else the manager's is used, with a warning). */
  separateReplicationAccount?: boolean;
  hostCheck: { method: HostCheckMethod; timeoutMs: number; echoPort?: number };
  dbPingTimeoutMs: number;
}

/** The part of the manager's properties (ManagerProperties) the driver reads. */
export interface MysqlDriverProperties {
  datasources: DataSourceConfig[];
  mysql: {
    user: string;
    password: string | null;
    passwordFile: string | null;
    replication?: { user: string | null; password: string | null; passwordFile: string | null };
  };
  policy: { hostPingMethod: HostCheckMethod; hostPingTimeoutSeconds: number; dbPingTimeoutSeconds: number };
}

export function mysqlDriverOptionsFromProperties(props: Omit<MysqlDriverProperties, 'datasources'>): MysqlDriverOptions {
  const { user } = props.mysql;
  if (!user) {
    throw new ToolkitError('usage', 'manager.driver=mysql needs mysql.user', 'Set mysql.user and mysql.password (or mysql.passwordFile) in the properties.');
  }
  const password = readPassword(props.mysql.password, props.mysql.passwordFile);
  const replication = props.mysql.replication;
  const separate = replication !== undefined && replication.user !== null;
  if (!separate && replication && (replication.password !== null || replication.passwordFile !== null)) {
    throw new ToolkitError('usage', 'a replication password needs mysql.replication.user', 'Set mysql.replication.user to the account slaves log in to their master with.');
  }
  return {
    user,
    password,
    replicationUser: separate ? replication.user! : user,
    replicationPassword: separate ? readPassword(replication.password, replication.passwordFile, 'mysql.replication') : password,
    separateReplicationAccount: separate,
    hostCheck: { method: props.policy.hostPingMethod, timeoutMs: Math.round(props.policy.hostPingTimeoutSeconds * 1000) },
    dbPingTimeoutMs: Math.round(props.policy.dbPingTimeoutSeconds * 1000),
  };
}

function readPassword(inline: string | null, file: string | null, prefix = 'mysql'): string {
  if (inline !== null && file) {
    throw new ToolkitError('usage', `set either ${prefix}.password or ${prefix}.passwordFile, not both`);
  }
  if (inline !== null) return inline;
  if (!file) {
    throw new ToolkitError('usage', `manager.driver=mysql needs ${prefix}.password or ${prefix}.passwordFile`, `${prefix}.passwordFile names a file that holds only the password, readable by the manager.`);
  }
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? 'unreadable';
    throw new ToolkitError('usage', `${prefix}.passwordFile ${file} cannot be read (${code})`, `Point ${prefix}.passwordFile at a file the manager can read.`);
  }
  return text.replace(/\r?\n$/, '');
}
