import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { homedir, hostname as osHostname, userInfo } from 'node:os';
import { basename, dirname, isAbsolute, join } from 'node:path';
import SSHConfig from 'ssh-config';
import { ToolkitError } from '../errors.js';

/**
 * How a host name becomes an SSH connection: the way OpenSSH's own client resolves it. Where `ssh`
 * is installed (it is wherever tpm runs) we ask it: `ssh -G HOST` with the same -F, user, port and
 * options prints every setting after Include, Match (exec, user, host, !host...), first-value-wins,
 * token and defaults, exactly as a real `ssh` would use them. Without `ssh`, a smaller resolver
 * over the parsed file stands in (case-insensitive keywords, first value wins, Include, Host and
 * Match host/user/localuser/originalhost/exec/all with negation, tokens and ${VAR}).
 */

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
  /** A command whose stdin/stdout carry the connection (tokens still to expand: %h %p %r %n ...). */
  proxyCommand?: string;
  /** The name known_hosts is searched under instead of the host's (HostKeyAlias). */
  hostKeyAlias?: string;
  /** IdentitiesOnly yes: offer the identity files only, not every key of the agent. */
  identitiesOnly?: boolean;
  agent?: string;
  /** Who resolved it: OpenSSH itself (`ssh -G`) or the stand-in resolver. */
  resolvedBy?: 'ssh -G' | 'fallback';
}

export interface SshResolveOptions {
  /** The client config to read (`ssh -F`); default: OpenSSH's own (~/.ssh/config, /etc/ssh/ssh_config). */
  configFile?: string;
  /** Parsed OpenSSH client config, for the stand-in resolver; undefined = none. */
  config?: SSHConfig;
  /** `--net-ssh-option` pairs, already split. */
  netSshOptions?: Record<string, string>;
  /** The `user` of tungsten.ini, which tpm passes explicitly (it wins over the ssh config). */
  iniUser?: string;
  /** A user and port given for this connection (a ProxyJump hop's `user@host:port`): like `ssh -l -p`. */
  user?: string;
  port?: number;
  connectTimeoutMs?: number;
  home?: string;
  env?: NodeJS.ProcessEnv;
  /** The OpenSSH client to ask (default `ssh` on the PATH); false: never ask it. */
  ssh?: string | false;
}

const loadedFrom = new WeakMap<SSHConfig, string>();

/**
 * Reads Include'd files into the text where they are named (globs and ~ allowed; relative to
 * ~/.ssh). As in OpenSSH, an included file starts in the context of the Include line (top level or
 * its Host/Match block) and the including file resumes in that context after it.
 */
function withIncludes(text: string, home: string, depth = 0): string {
  if (depth > 16) return text;
  let context = 'Host *';
  const out: string[] = [];
  for (const line of text.split('\n')) {
    const header = /^[ \t]*(host|match)([ \t=].*)$/i.exec(line);
    if (header) context = line.trim();
    const include = /^[ \t]*include[ \t=]+(.+)$/i.exec(line);
    if (!include) {
      out.push(line);
      continue;
    }
    for (const raw of splitArgs(include[1]!)) {
      let p = raw.replace(/^~(?=\/|$)/, home);
      if (!isAbsolute(p)) p = join(home, '.ssh', p);
      for (const file of globFiles(p)) {
        try {
          out.push(context, withIncludes(readFileSync(file, 'utf8'), home, depth + 1), context);
        } catch {
          // an unreadable Include is skipped, as OpenSSH does for a glob that matches nothing
        }
      }
    }
  }
  return out.join('\n');
}

function globFiles(path: string): string[] {
  const name = basename(path);
  if (!/[*?]/.test(name)) return existsSync(path) ? [path] : [];
  const re = new RegExp(`^${name.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`);
  try {
    return readdirSync(dirname(path))
      .filter((n) => re.test(n))
      .sort()
      .map((n) => join(dirname(path), n));
  } catch {
    return [];
  }
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
    const parsed = SSHConfig.parse(withIncludes(text, home));
    if (file !== undefined) loadedFrom.set(parsed, file);
    return parsed;
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

function strictness(value: string | undefined, where: string): StrictHostKeyChecking {
  const v = (value ?? 'yes').toLowerCase();
  if (v === 'yes' || v === 'ask' || v === 'always' || v === 'true') return 'yes';
  if (v === 'accept-new' || v === 'accept_new' || v === 'accept_new_or_local_tunnel') return 'accept-new';
  if (v === 'no' || v === 'off' || v === 'never' || v === 'false') return 'no';
  throw new ToolkitError('usage', `${where}: StrictHostKeyChecking "${value}" is not yes, accept-new or no`);
}

/** Net::SSH's verify_host_key words in OpenSSH's. */
function netStrictness(value: string): string {
  return strictness(value, '--net-ssh-option verify_host_key');
}

function port(value: string, where: string): number {
  const n = /^\d+$/.test(value) ? Number(value) : (SERVICES[value.toLowerCase()] ?? NaN);
  if (!Number.isInteger(n) || n < 1 || n > 65535) throw new ToolkitError('usage', `${where}: port "${value}" is not a number from 1 to 65535`);
  return n;
}

/** The service names a Port may use (OpenSSH asks getservbyname; these are the ones seen in the field). */
const SERVICES: Record<string, number> = { ssh: 22 };

export function parseJump(spec: string): JumpSpec {
  const m = /^(?:([^@]+)@)?(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(spec.trim().replace(/^ssh:\/\//, ''));
  if (!m) throw new ToolkitError('usage', `ProxyJump "${spec}" is not [user@]host[:port]`);
  return {
    host: m[2]!.replace(/^\[|\]$/g, ''),
    ...(m[1] ? { user: m[1] } : {}),
    ...(m[3] ? { port: port(m[3], 'ProxyJump') } : {}),
  };
}

/** The values of %-tokens (ssh_config(5) TOKENS) for one connection. */
export interface TokenContext {
  home: string;
  localUser: string;
  hostName: string;
  user: string;
  port: number;
  alias: string;
  hostKeyAlias?: string;
  proxyJump?: string;
  env: NodeJS.ProcessEnv;
}

/** Expands ~, %-tokens and ${VAR} as OpenSSH does for IdentityFile, UserKnownHostsFile, ProxyCommand... */
export function expandTokens(text: string, t: TokenContext, options: { tilde?: boolean } = {}): string {
  const local = osHostname();
  const values: Record<string, string> = {
    '%': '%',
    d: t.home,
    u: t.localUser,
    l: local,
    L: local.split('.')[0]!,
    h: t.hostName,
    r: t.user,
    p: String(t.port),
    n: t.alias,
    i: String(process.getuid?.() ?? ''),
    k: t.hostKeyAlias ?? t.alias,
    j: t.proxyJump ?? '',
    C: createHash('sha1').update(`${local}${t.hostName}${t.port}${t.user}${t.proxyJump ?? ''}`).digest('hex'),
  };
  let out = options.tilde === false ? text : text.replace(/^~(?=\/|$)/, t.home);
  out = out.replace(/%(.)/g, (whole, c: string) => values[c] ?? whole);
  return out.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (whole, name: string) => t.env[name] ?? whole);
}

/** Splits an ssh_config argument list: whitespace separates, double quotes group. */
function splitArgs(value: string): string[] {
  const out: string[] = [];
  const re = /"([^"]*)"|(\S+)/g;
  for (let m = re.exec(value); m; m = re.exec(value)) out.push(m[1] ?? m[2]!);
  return out;
}

function sshAvailable(binary: string): boolean {
  const r = spawnSync(binary, ['-V'], { encoding: 'utf8', timeout: 5000 });
  return !r.error;
}

const availability = new Map<string, boolean>();

function askOpenSsh(binary: string): boolean {
  let known = availability.get(binary);
  if (known === undefined) availability.set(binary, (known = sshAvailable(binary)));
  return known;
}

/** What `ssh -G` printed: every keyword (lower case) with its values, in order. */
export type OpenSshSettings = Map<string, string[]>;

/** Runs `ssh -G` for one host with tpm's overrides on the command line (which win, as in ssh). */
export function openSshSettings(alias: string, options: SshResolveOptions, binary = 'ssh'): OpenSshSettings {
  const net = options.netSshOptions ?? {};
  const args = ['-G'];
  const configFile = options.configFile ?? (options.config ? loadedFrom.get(options.config) : undefined);
  if (configFile) args.push('-F', configFile);
  const user = net.user ?? options.user ?? options.iniUser;
  if (user) args.push('-l', user);
  const p = net.port ?? (options.port !== undefined ? String(options.port) : undefined);
  if (p) args.push('-p', p);
  if (net.timeout) args.push('-o', `ConnectTimeout=${net.timeout}`);
  if (net.user_known_hosts_file) args.push('-o', `UserKnownHostsFile=${net.user_known_hosts_file}`);
  const strict = net.verify_host_key ?? net.paranoid;
  if (strict) args.push('-o', `StrictHostKeyChecking=${netStrictness(strict)}`);
  if (net.proxy_jump) args.push('-o', `ProxyJump=${net.proxy_jump}`);
  if (net.host_name) args.push('-o', `HostName=${net.host_name}`);
  args.push('--', alias);
  const r = spawnSync(binary, args, { encoding: 'utf8', timeout: 20_000, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...options.env } });
  if (r.error || r.status !== 0) {
    const why = (r.stderr ?? '').split(/\r?\n/).filter((l) => l && !/^Pseudo-terminal/.test(l)).join('; ') || String(r.error ?? `exit ${r.status}`);
    throw new ToolkitError('usage', `ssh config for ${alias}: ${why}`, `OpenSSH refuses it too (check with: ${binary} ${args.join(' ')})`);
  }
  const settings: OpenSshSettings = new Map();
  for (const line of r.stdout.split('\n')) {
    const sp = line.indexOf(' ');
    if (sp <= 0) continue;
    const key = line.slice(0, sp).toLowerCase();
    const list = settings.get(key);
    if (list) list.push(line.slice(sp + 1));
    else settings.set(key, [line.slice(sp + 1)]);
  }
  return settings;
}

function agentFrom(value: string | undefined, env: NodeJS.ProcessEnv, tokens: TokenContext): string | undefined {
  if (value === undefined || value === 'SSH_AUTH_SOCK') return env.SSH_AUTH_SOCK || undefined;
  if (value.toLowerCase() === 'none') return undefined;
  if (value.startsWith('$')) return env[value.slice(1)] || undefined;
  return expandTokens(value, tokens);
}

function timeoutMs(value: string | undefined, fallbackMs: number, alias: string): number {
  if (value === undefined || value === 'none') return fallbackMs;
  const s = parseTime(value);
  if (!(s > 0)) throw new ToolkitError('usage', `${alias}: ConnectTimeout "${value}" is not a positive time (seconds, or 1m, 30s...)`);
  return s * 1000;
}

/** OpenSSH time format: 90, 1m30s, 1h, ... (ssh_config(5) TIME FORMATS). */
function parseTime(value: string): number {
  if (/^\d+$/.test(value)) return Number(value);
  const m = /^(?:\d+[sSmMhHdDwW])+$/.test(value) ? value.match(/\d+[sSmMhHdDwW]/g)! : null;
  if (!m) return NaN;
  const unit: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400, w: 604800 };
  return m.reduce((n, part) => n + Number(part.slice(0, -1)) * unit[part.slice(-1).toLowerCase()]!, 0);
}

function fromOpenSsh(alias: string, s: OpenSshSettings, options: SshResolveOptions): SshTarget {
  const env = options.env ?? process.env;
  const home = options.home ?? homedir();
  const one = (k: string) => s.get(k)?.[0];
  const hostName = one('hostname') ?? alias;
  const user = one('user') ?? env.USER ?? userInfo().username;
  const portValue = port(one('port') ?? '22', alias);
  const jumpRaw = one('proxyjump');
  const hostKeyAlias = one('hostkeyalias');
  const tokens: TokenContext = {
    home,
    localUser: env.USER ?? userInfo().username,
    hostName,
    user,
    port: portValue,
    alias,
    ...(hostKeyAlias ? { hostKeyAlias } : {}),
    ...(jumpRaw ? { proxyJump: jumpRaw } : {}),
    env,
  };
  const net = options.netSshOptions ?? {};
  const identityFiles = net.keys ? net.keys.split(',').map((k) => expandTokens(k, tokens)) : (s.get('identityfile') ?? []).map((f) => expandTokens(f, tokens));
  const knownHostsFiles = [...(s.get('userknownhostsfile') ?? []), ...(s.get('globalknownhostsfile') ?? [])].flatMap((v) => v.split(' ')).filter((f) => f && f !== 'none');
  const proxyCommand = one('proxycommand');
  const agent = agentFrom(one('identityagent'), env, tokens);
  return {
    alias,
    hostName,
    port: portValue,
    user,
    identityFiles,
    knownHostsFiles: knownHostsFiles.map((f) => f.replace(/^~(?=\/|$)/, home)),
    strictHostKeyChecking: strictness(one('stricthostkeychecking'), alias),
    connectTimeoutMs: timeoutMs(one('connecttimeout'), options.connectTimeoutMs ?? 5000, alias),
    proxyJump: jumpRaw && jumpRaw !== 'none' ? jumpRaw.split(',').map(parseJump) : [],
    ...(proxyCommand && proxyCommand !== 'none' && !(jumpRaw && jumpRaw !== 'none') ? { proxyCommand } : {}),
    ...(hostKeyAlias && hostKeyAlias !== 'none' ? { hostKeyAlias } : {}),
    ...(one('identitiesonly') === 'yes' ? { identitiesOnly: true } : {}),
    ...(agent ? { agent } : {}),
    resolvedBy: 'ssh -G',
  };
}

/** Resolves one host as OpenSSH would, with tpm's explicit options on top. */
export function resolveSshTarget(alias: string, options: SshResolveOptions = {}): SshTarget {
  const binary = options.ssh ?? 'ssh';
  const hasFile = options.configFile !== undefined || (options.config !== undefined && loadedFrom.has(options.config)) || options.config === undefined;
  if (binary !== false && hasFile && askOpenSsh(binary)) return fromOpenSsh(alias, openSshSettings(alias, options, binary), options);
  return resolveWithoutOpenSsh(alias, options);
}

/**
 * A ProxyJump hop, resolved as OpenSSH resolves it: on its own (its own User, Port, IdentityFile
 * from the config), with the user and port the spec names; tungsten.ini's user and tpm's
 * --net-ssh-option are for the cluster's hosts, not for the bastion.
 */
export function resolveJumpTarget(jump: JumpSpec, options: SshResolveOptions = {}): SshTarget {
  const { iniUser: _ini, netSshOptions: _net, user: _user, port: _port, ...rest } = options;
  return { ...resolveSshTarget(jump.host, { ...rest, ...(jump.user ? { user: jump.user } : {}), ...(jump.port ? { port: jump.port } : {}) }), proxyJump: [] };
}

// ---------------------------------------------------------------------------------------------
// The stand-in, for a machine without the OpenSSH client.

/** ssh_config(5) PATTERNS: `*` and `?` (exactly one character), `!` negates; host names without case. */
function patternMatch(pattern: string, text: string, ignoreCase: boolean): boolean {
  const re = new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`, ignoreCase ? 'i' : '');
  return re.test(text);
}

function listMatches(patterns: string[], text: string, ignoreCase = false): boolean {
  let matched = false;
  for (const p of patterns) {
    if (p.startsWith('!')) {
      if (patternMatch(p.slice(1), text, ignoreCase)) return false;
    } else if (patternMatch(p, text, ignoreCase)) matched = true;
  }
  return matched;
}

type Line = { param: string; value: string | Array<{ val: string; separator?: string; quoted?: boolean }>; config?: Line[]; criteria?: Record<string, unknown> };

const LIST_KEYWORDS = new Set(['userknownhostsfile', 'globalknownhostsfile', 'sendenv', 'setenv', 'canonicaldomains', 'host', 'match']);

function values(line: Line): string[] {
  if (Array.isArray(line.value) && /^(proxycommand|knownhostscommand|localcommand|remotecommand)$/i.test(line.param)) {
    return [line.value.map((v) => `${v.separator ?? ' '}${v.quoted ? `"${v.val}"` : v.val}`).join('').trim()];
  }
  if (Array.isArray(line.value)) return line.value.map((v) => v.val);
  return LIST_KEYWORDS.has(line.param.toLowerCase()) ? splitArgs(line.value) : [line.value];
}

/** The keywords OpenSSH 9.2's client accepts (ssh_config(5), plus the deprecated ones it still reads); any other is refused. */
const OPENSSH_KEYWORDS: ReadonlySet<string> = new Set([
  'addkeystoagent', 'addressfamily', 'afstokenpassing', 'batchmode', 'bindaddress',
  'bindinterface', 'canonicaldomains', 'canonicalizefallbacklocal', 'canonicalizehostname',
  'canonicalizemaxdots', 'canonicalizepermittedcnames', 'casignaturealgorithms', 'certificatefile',
  'challengeresponseauthentication', 'checkhostip', 'cipher', 'ciphers', 'clearallforwardings',
  'compression', 'compressionlevel', 'connectionattempts', 'connecttimeout', 'controlmaster',
  'controlpath', 'controlpersist', 'dsaauthentication', 'dynamicforward',
  'enableescapecommandline', 'enablesshkeysign', 'escapechar', 'exitonforwardfailure',
  'fallbacktorsh', 'fingerprinthash', 'forkafterauthentication', 'forwardagent', 'forwardx11',
  'forwardx11timeout', 'forwardx11trusted', 'gatewayports', 'globalknownhostsfile',
  'globalknownhostsfile2', 'gssapiauthentication', 'gssapiclientidentity',
  'gssapidelegatecredentials', 'gssapikexalgorithms', 'gssapikeyexchange',
  'gssapirenewalforcesrekey', 'gssapiserveridentity', 'gssapitrustdns', 'hashknownhosts', 'host',
  'hostbasedacceptedalgorithms', 'hostbasedauthentication', 'hostbasedkeytypes',
  'hostkeyalgorithms', 'hostkeyalias', 'hostname', 'identitiesonly', 'identityagent',
  'identityfile', 'ignoreunknown', 'include', 'kbdinteractiveauthentication',
  'kbdinteractivedevices', 'kerberosauthentication', 'kerberostgtpassing', 'kexalgorithms',
  'knownhostscommand', 'localcommand', 'localforward', 'loglevel', 'logverbose', 'match',
  'nohostauthenticationforlocalhost', 'numberofpasswordprompts', 'passwordauthentication',
  'permitlocalcommand', 'permitremoteopen', 'pkcs11provider', 'port', 'preferredauthentications',
  'protocol', 'proxycommand', 'proxyjump', 'proxyusefdpass', 'pubkeyacceptedalgorithms',
  'pubkeyacceptedkeytypes', 'pubkeyauthentication', 'rekeylimit', 'remotecommand', 'remoteforward',
  'requesttty', 'requiredrsasize', 'revokedhostkeys', 'rhostsrsaauthentication',
  'rsaauthentication', 'securitykeyprovider', 'sendenv', 'serveralivecountmax',
  'serveraliveinterval', 'sessiontype', 'setenv', 'skeyauthentication', 'smartcarddevice',
  'stdinnull', 'streamlocalbindmask', 'streamlocalbindunlink', 'stricthostkeychecking',
  'syslogfacility', 'tcpkeepalive', 'tisauthentication', 'tunnel', 'tunneldevice',
  'updatehostkeys', 'usebluetooth', 'useprivilegedport', 'user', 'userknownhostsfile',
  'userknownhostsfile2', 'useroaming', 'usersh', 'verifyhostkeydns', 'visualhostkey',
  'xauthlocation',
]);

const ACCUMULATING = new Set(['identityfile', 'certificatefile', 'localforward', 'remoteforward', 'dynamicforward', 'sendenv']);

function resolveWithoutOpenSsh(alias: string, options: SshResolveOptions): SshTarget {
  const home = options.home ?? homedir();
  const env = options.env ?? process.env;
  const net = options.netSshOptions ?? {};
  const localUser = env.USER ?? userInfo().username;
  const settings = new Map<string, string[]>();
  const set = (key: string, vals: string[]) => {
    const k = key.toLowerCase();
    if (ACCUMULATING.has(k)) settings.set(k, [...(settings.get(k) ?? []), ...vals]);
    else if (!settings.has(k)) settings.set(k, vals);
  };
  // The command line first (it wins): tpm's user and port, then the --net-ssh-options.
  const user0 = net.user ?? options.user ?? options.iniUser;
  if (user0) set('user', [user0]);
  const port0 = net.port ?? (options.port !== undefined ? String(options.port) : undefined);
  if (port0) set('port', [port0]);
  if (net.timeout) set('connecttimeout', [net.timeout]);
  if (net.user_known_hosts_file) set('userknownhostsfile', net.user_known_hosts_file.split(/\s+/));
  if (net.verify_host_key ?? net.paranoid) set('stricthostkeychecking', [netStrictness((net.verify_host_key ?? net.paranoid)!)]);
  if (net.proxy_jump) set('proxyjump', [net.proxy_jump]);
  if (net.host_name) set('hostname', [net.host_name]);
  const matchCriteria = (words: string[]): boolean => {
    for (let i = 0; i < words.length; i++) {
      let word = words[i]!.toLowerCase();
      const negate = word.startsWith('!');
      if (negate) word = word.slice(1);
      if (word === 'all') {
        if (negate) return false;
        continue;
      }
      const arg = words[++i] ?? '';
      const list = arg.split(',');
      const currentUser = settings.get('user')?.[0] ?? localUser;
      const currentHost = settings.get('hostname')?.[0] ?? alias;
      let ok: boolean;
      if (word === 'host') ok = listMatches(list, expandHostName(currentHost, alias), true);
      else if (word === 'originalhost') ok = listMatches(list, alias, true);
      else if (word === 'user') ok = listMatches(list, currentUser);
      else if (word === 'localuser') ok = listMatches(list, localUser);
      else if (word === 'exec') {
        const tokens: TokenContext = { home, localUser, hostName: expandHostName(currentHost, alias), user: currentUser, port: Number(settings.get('port')?.[0] ?? 22), alias, env };
        ok = spawnSync('/bin/sh', ['-c', expandTokens(arg, tokens, { tilde: false })], { stdio: 'ignore', timeout: 10_000 }).status === 0;
      } else ok = false; // canonical, final, tagged, localnetwork: not evaluated here
      if (ok === negate) return false;
    }
    return true;
  };
  const lines = (options.config ?? []) as unknown as Line[];
  refuseWhatOpenSshRefuses(lines);
  for (const line of lines) {
    if (!('param' in line) || !line.param) continue;
    const param = line.param.toLowerCase();
    if (param === 'host') {
      if (!listMatches(values(line), alias)) continue;
    } else if (param === 'match') {
      const words = Array.isArray(line.value) ? line.value.map((v) => v.val) : splitArgs(line.value);
      if (!matchCriteria(words)) continue;
    } else {
      set(param, values(line));
      continue;
    }
    for (const sub of line.config ?? []) if ('param' in sub && sub.param) set(sub.param, values(sub));
  }
  const one = (k: string) => settings.get(k)?.[0];
  // OpenSSH matches Host against the name as given, and connects to it in lower case.
  const hostName = expandHostName(one('hostname') ?? alias.toLowerCase(), alias);
  const user = one('user') ?? localUser;
  const portValue = port(one('port') ?? '22', alias);
  const jumpRaw = one('proxyjump');
  const hostKeyAlias = one('hostkeyalias');
  const tokens: TokenContext = { home, localUser, hostName, user, port: portValue, alias, ...(hostKeyAlias ? { hostKeyAlias } : {}), ...(jumpRaw ? { proxyJump: jumpRaw } : {}), env };
  let identityFiles = net.keys ? net.keys.split(',') : (settings.get('identityfile') ?? []);
  if (identityFiles.length === 0) identityFiles = ['id_rsa', 'id_ecdsa', 'id_ecdsa_sk', 'id_ed25519', 'id_ed25519_sk', 'id_xmss', 'id_dsa'].map((n) => `~/.ssh/${n}`);
  const userKnown = settings.get('userknownhostsfile') ?? ['~/.ssh/known_hosts', '~/.ssh/known_hosts2'];
  const globalKnown = settings.get('globalknownhostsfile') ?? ['/etc/ssh/ssh_known_hosts', '/etc/ssh/ssh_known_hosts2'];
  const proxyCommandLine = settings.get('proxycommand')?.join(' ');
  const agent = agentFrom(one('identityagent'), env, tokens);
  return {
    alias,
    hostName,
    port: portValue,
    user,
    identityFiles: identityFiles.map((f) => expandTokens(f, tokens)),
    knownHostsFiles: [...userKnown, ...globalKnown].filter((f) => f !== 'none').map((f) => expandTokens(f, tokens)),
    strictHostKeyChecking: strictness(one('stricthostkeychecking'), alias),
    connectTimeoutMs: timeoutMs(one('connecttimeout'), options.connectTimeoutMs ?? 5000, alias),
    proxyJump: jumpRaw && jumpRaw.toLowerCase() !== 'none' ? jumpRaw.split(',').map(parseJump) : [],
    ...(proxyCommandLine && proxyCommandLine.toLowerCase() !== 'none' && !(jumpRaw && jumpRaw.toLowerCase() !== 'none') ? { proxyCommand: proxyCommandLine } : {}),
    ...(hostKeyAlias && hostKeyAlias.toLowerCase() !== 'none' ? { hostKeyAlias } : {}),
    ...(one('identitiesonly')?.toLowerCase() === 'yes' ? { identitiesOnly: true } : {}),
    ...(agent ? { agent } : {}),
    resolvedBy: 'fallback',
  };
}

/** OpenSSH refuses the whole file for an unknown keyword (unless IgnoreUnknown names it) or an empty Match. */
function refuseWhatOpenSshRefuses(lines: Line[]): void {
  const all = lines.flatMap((l) => ('param' in l && l.param ? [l, ...(l.config ?? []).filter((x) => 'param' in x && x.param)] : []));
  const ignore = all.filter((l) => l.param.toLowerCase() === 'ignoreunknown').flatMap((l) => values(l).flatMap((v) => v.split(',')));
  for (const l of all) {
    const k = l.param.toLowerCase();
    if (!OPENSSH_KEYWORDS.has(k) && !listMatches(ignore, k, true)) {
      throw new ToolkitError('usage', `ssh config: Bad configuration option: ${k}`, 'OpenSSH refuses this file too: fix or remove the line');
    }
    if (k === 'match' && values(l).length === 0) throw new ToolkitError('usage', 'ssh config: Match with no criteria', 'OpenSSH refuses this file too: write Match all, or Match host ...');
  }
}

/** HostName may hold %h (the name given) and %%. */
function expandHostName(value: string, alias: string): string {
  return value.replace(/%([%h])/g, (_w, c: string) => (c === '%' ? '%' : alias));
}
