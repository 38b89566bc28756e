/**
 * Where the API credentials come from: --user, --password or --password-file, else
 * TUNGSTEN_API_USER / TUNGSTEN_API_PASSWORD, else a credentials file (`user=` and `password=`
 * lines, `#` comments; default ~/.cctrl_credentials) that is refused unless only its owner can read
 * it. A user without a password from any of them has password null: cctrl asks for it at a terminal.
 */
import { readFileSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { readPasswordFile } from '../config/secrets.js';
import { ToolkitError } from '../errors.js';

export interface Credentials {
  user: string;
  password: string;
}

export interface ResolvedCredentials {
  user: string;
  /** null: none given anywhere (a terminal may be asked). */
  password: string | null;
}

export function defaultCredentialsPath(home = homedir()): string {
  return join(home, '.cctrl_credentials');
}

export function resolveCredentials(
  flags: { user: string | null; password: string | null; passwordFile?: string | null; credentials: string | null },
  env: NodeJS.ProcessEnv,
  home = homedir(),
): ResolvedCredentials | null {
  if (flags.password !== null && flags.passwordFile) {
    throw new ToolkitError('usage', 'give --password or --password-file, not both');
  }
  const user = flags.user ?? env['TUNGSTEN_API_USER'] ?? null;
  const fromFlagFile = flags.passwordFile ? readPasswordFile(flags.passwordFile, '--password-file') : null;
  const password = flags.password ?? fromFlagFile ?? env['TUNGSTEN_API_PASSWORD'] ?? null;
  if (user !== null) return { user, password };
  const file = flags.credentials ?? defaultCredentialsPath(home);
  let mode: number;
  try {
    mode = statSync(file).mode;
  } catch {
    if (flags.credentials) throw new ToolkitError('usage', `cannot read credentials file ${file}`, 'check the path given to --credentials');
    return null;
  }
  if ((mode & 0o077) !== 0) {
    throw new ToolkitError(
      'usage',
      `credentials file ${file} is readable by others (mode ${(mode & 0o777).toString(8).padStart(4, '0')})`,
      `run: chmod 600 ${file}`,
    );
  }
  const fromFile = parseCredentials(readFileSync(file, 'utf8'));
  if (!fromFile) throw new ToolkitError('usage', `credentials file ${file} has no user= line`, 'write user=NAME and password=SECRET lines');
  return { user: fromFile.user, password: password ?? fromFile.password };
}

export function parseCredentials(text: string): Credentials | null {
  let user: string | null = null;
  let password = '';
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const eq = line.indexOf('=');
    if (eq < 0) continue;
    const key = line.slice(0, eq).trim();
    const value = line.slice(eq + 1).trim();
    if (key === 'user') user = value;
    else if (key === 'password') password = value;
  }
  return user === null ? null : { user, password };
}
