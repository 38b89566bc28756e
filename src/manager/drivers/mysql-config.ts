/**
 * The mysql driver's settings, read from the manager's properties:
 *
 *   mysql.user, mysql.password | mysql.passwordFile      the account the manager uses on every server
 *   mysql.replicationUser, mysql.replicationPassword      what slaves log in to the master with
 *                                                         (default: the manager's account)
 *   policy.liveness.hostPing.method   echo | ping         host check (default echo)
 *   policy.liveness.hostPing.timeout  seconds, or 500ms   (default 2 s)
 *   policy.liveness.dbping.timeout    seconds, or 500ms   database ping (default 15 s)
 *
 * Credentials never appear in a message this module produces.
 */
import { readFileSync } from 'node:fs';
import { ToolkitError } from '../../errors.js';
import { parseHostCheckMethod, type HostCheckMethod } from '../hostcheck.js';

export interface MysqlDriverOptions {
  user: string;
  password: string;
  replicationUser: string;
  replicationPassword: string;
  hostCheck: { method: HostCheckMethod; timeoutMs: number; echoPort?: number };
  dbPingTimeoutMs: number;
}

export type Properties = Record<string, string | undefined> | Map<string, string>;

function getter(props: Properties): (key: string) => string | undefined {
  if (props instanceof Map) return (key) => props.get(key);
  return (key) => props[key];
}

/** `2` (seconds), `2s`, `1500ms`. */
export function parseDuration(key: string, value: string | undefined, fallbackMs: number): number {
  if (value === undefined || value.trim() === '') return fallbackMs;
  const match = /^\s*(\d+(?:\.\d+)?)\s*(ms|s)?\s*$/.exec(value);
  if (!match) throw new ToolkitError('usage', `${key} must be a duration in seconds (2, 2s) or milliseconds (500ms), not '${value}'`);
  const amount = Number(match[1]);
  return Math.round(match[2] === 'ms' ? amount : amount * 1000);
}

export function mysqlDriverOptionsFromProperties(props: Properties): MysqlDriverOptions {
  const get = getter(props);
  const user = get('mysql.user');
  if (!user) {
    throw new ToolkitError('usage', 'manager.driver=mysql needs mysql.user', 'set mysql.user and mysql.password (or mysql.passwordFile) in the properties');
  }
  const password = readPassword(get('mysql.password'), get('mysql.passwordFile'));
  let method: HostCheckMethod;
  try {
    method = parseHostCheckMethod(get('policy.liveness.hostPing.method'));
  } catch (e) {
    throw new ToolkitError('usage', (e as Error).message);
  }
  return {
    user,
    password,
    replicationUser: get('mysql.replicationUser') || user,
    replicationPassword: get('mysql.replicationPassword') ?? (get('mysql.replicationUser') ? '' : password),
    hostCheck: { method, timeoutMs: parseDuration('policy.liveness.hostPing.timeout', get('policy.liveness.hostPing.timeout'), 2000) },
    dbPingTimeoutMs: parseDuration('policy.liveness.dbping.timeout', get('policy.liveness.dbping.timeout'), 15_000),
  };
}

function readPassword(inline: string | undefined, file: string | undefined): string {
  if (inline !== undefined && file) {
    throw new ToolkitError('usage', 'set either mysql.password or mysql.passwordFile, not both');
  }
  if (inline !== undefined) return inline;
  if (!file) {
    throw new ToolkitError('usage', 'manager.driver=mysql needs mysql.password or mysql.passwordFile', 'mysql.passwordFile names a file holding only the password, readable by the manager');
  }
  try {
    return readFileSync(file, 'utf8').replace(/\r?\n$/, '');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? 'unreadable';
    throw new ToolkitError('usage', `mysql.passwordFile ${file} cannot be read (${code})`, 'point mysql.passwordFile at a file the manager can read');
  }
}
