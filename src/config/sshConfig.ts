import { existsSync, readFileSync } from 'node:fs';
import { homedir, userInfo } from 'node:os';
import { join } from 'node:path';
import SSHConfig from 'ssh-config';
import { ToolkitError } from '../errors.js';

export type StrictHostKeyChecking = 'yes' | 'no' | 'accept-new';

export interface JumpSpec {
  host: string;
  user?: string;
  port?: number;
}

/** Everything needed to open an SSH connection to one host, after ssh config and tpm options. */
export interface SshTarget {
  /** The name as written in tungsten.ini (and looked up in the ssh config). */
  alias: string;
  hostName: string;
  port: number;
  user: string;
  identityFiles: string[];
  knownHostsFiles: string[];
  strictHostKeyChecking: StrictHostKeyChecking;
  connectTimeoutMs: number;
  proxyJump: JumpSpec[];
  agent?: string;
}

export interface SshResolveOptions {
  /** Parsed OpenSSH client config; undefined = none. */
  config?: SSHConfig;
  /** `--net-ssh-option=key=value` pairs, already split. */
  netSshOptions?: Record<string, string>;
  /** The `user` of tungsten.ini, which tpm passes explicitly (it wins over the ssh config). */
  iniUser?: string;
  connectTimeoutMs?: number;
  home?: string;
  env?: NodeJS.ProcessEnv;
}

export function loadSshConfig(file: string | undefined, home = homedir()): SSHConfig | undefined {
  const path = file ?? join(home, '.ssh', 'config');
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    if (file === undefined) return undefined;
    throw new ToolkitError('usage', `cannot read ssh config ${path}: ${(e as NodeJS.ErrnoException).code ?? e}`, 'check --ssh-config FILE');
  }
  try {
    return SSHConfig.parse(text);
  } catch (e) {
    throw new ToolkitError('usage', `cannot parse ssh config ${path}: ${(e as Error).message}`);
  }
}

/** tpm's `--net-ssh-option` keys (Net::SSH names) and the OpenSSH option each one sets. */
const NET_SSH_KEYS: Record<string, string> = {
  port: 'Port',
  user: 'User',
  timeout: 'ConnectTimeout',
  keys: 'IdentityFile',
  user_known_hosts_file: 'UserKnownHostsFile',
  verify_host_key: 'StrictHostKeyChecking',
  paranoid: 'StrictHostKeyChecking',
  proxy_jump: 'ProxyJump',
  host_name: 'HostName',
};

export function parseNetSshOptions(values: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const raw of values) {
    const eq = raw.indexOf('=');
    if (eq <= 0) throw new ToolkitError('usage', `--net-ssh-option "${raw}" is not key=value`, 'write it as --net-ssh-option=port=2222');
    const key = raw.slice(0, eq).trim().toLowerCase();
    if (!(key in NET_SSH_KEYS)) {
      throw new ToolkitError('usage', `--net-ssh-option: unknown key "${key}"`, `known keys: ${Object.keys(NET_SSH_KEYS).join(', ')}`);
    }
    out[key] = raw.slice(eq + 1);
  }
  return out;
}

function first(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

function all(v: string | string[] | undefined): string[] {
  if (v === undefined) return [];
  return Array.isArray(v) ? v : [v];
}

function expandPath(p: string, home: string, tokens: Record<string, string>): string {
  let out = p.replace(/^~(?=\/|$)/, home);
  out = out.replace(/%([%dhrupn])/g, (whole, t: string) => (t === '%' ? '%' : (tokens[t] ?? whole)));
  return out;
}

function strictness(value: string | undefined, where: string): StrictHostKeyChecking {
  const v = (value ?? 'yes').toLowerCase();
  if (v === 'yes' || v === 'ask' || v === 'always' || v === 'true') return 'yes';
  if (v === 'accept-new' || v === 'accept_new' || v === 'accept_new_or_local_tunnel') return 'accept-new';
  if (v === 'no' || v === 'off' || v === 'never' || v === 'false') return 'no';
  throw new ToolkitError('usage', `${where}: StrictHostKeyChecking "${value}" is not yes, accept-new or no`);
}

function port(value: string, where: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 65535) throw new ToolkitError('usage', `${where}: port "${value}" is not a number from 1 to 65535`);
  return n;
}

export function parseJump(spec: string): JumpSpec {
  const m = /^(?:([^@]+)@)?(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(spec.trim().replace(/^ssh:\/\//, ''));
  if (!m) throw new ToolkitError('usage', `ProxyJump "${spec}" is not [user@]host[:port]`);
  return {
    host: m[2]!.replace(/^\[|\]$/g, ''),
    ...(m[1] ? { user: m[1] } : {}),
    ...(m[3] ? { port: port(m[3], 'ProxyJump') } : {}),
  };
}

/** Resolves one host as OpenSSH would, with tpm's explicit options on top. */
export function resolveSshTarget(alias: string, options: SshResolveOptions = {}): SshTarget {
  const home = options.home ?? homedir();
  const env = options.env ?? process.env;
  const computed: Record<string, string | string[]> = options.config ? options.config.compute(alias) : {};
  const get = (name: string) => first(computed[name]);
  const net = options.netSshOptions ?? {};
  const localUser = env.USER ?? userInfo().username;
  const hostName = net.host_name ?? get('HostName') ?? alias;
  const user = net.user ?? options.iniUser ?? get('User') ?? localUser;
  const portValue = net.port ?? get('Port');
  const tokens = { d: home, h: hostName, r: user, u: localUser, n: alias, p: portValue ?? '22' };
  let identityFiles = net.keys ? net.keys.split(',') : all(computed.IdentityFile);
  if (identityFiles.length === 0) {
    identityFiles = ['id_ed25519', 'id_ecdsa', 'id_rsa'].map((n) => join(home, '.ssh', n)).filter((p) => existsSync(p));
  }
  const knownHostsRaw = net.user_known_hosts_file ?? all(computed.UserKnownHostsFile).join(' ');
  const knownHostsFiles = (knownHostsRaw ? knownHostsRaw.split(/\s+/).filter(Boolean) : [join(home, '.ssh', 'known_hosts'), join(home, '.ssh', 'known_hosts2')])
    .map((p) => expandPath(p, home, tokens));
  for (const g of all(computed.GlobalKnownHostsFile).join(' ').split(/\s+/).filter(Boolean)) knownHostsFiles.push(expandPath(g, home, tokens));
  if (!computed.GlobalKnownHostsFile) knownHostsFiles.push('/etc/ssh/ssh_known_hosts');
  const timeoutValue = net.timeout ?? get('ConnectTimeout');
  let connectTimeoutMs = options.connectTimeoutMs ?? 5000;
  if (timeoutValue !== undefined) {
    const s = Number(timeoutValue);
    if (!(s > 0)) throw new ToolkitError('usage', `${alias}: ConnectTimeout "${timeoutValue}" is not a positive number of seconds`);
    connectTimeoutMs = s * 1000;
  }
  const jumpRaw = net.proxy_jump ?? get('ProxyJump');
  const proxyJump = jumpRaw && jumpRaw.toLowerCase() !== 'none' ? jumpRaw.split(',').map(parseJump) : [];
  const agentRaw = get('IdentityAgent');
  const agent = agentRaw && agentRaw.toLowerCase() !== 'none' ? expandPath(agentRaw.replace(/^SSH_AUTH_SOCK$/, env.SSH_AUTH_SOCK ?? ''), home, tokens) : agentRaw ? undefined : env.SSH_AUTH_SOCK;
  return {
    alias,
    hostName,
    port: portValue ? port(portValue, alias) : 22,
    user,
    identityFiles: identityFiles.map((p) => expandPath(p, home, tokens)),
    knownHostsFiles,
    strictHostKeyChecking: strictness(net.verify_host_key ?? net.paranoid ?? get('StrictHostKeyChecking'), alias),
    connectTimeoutMs,
    proxyJump,
    ...(agent ? { agent } : {}),
  };
}
