import { hostname } from 'node:os';
import { existsSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { loadSshConfig, parseNetSshOptions, resolveJumpTarget, resolveSshTarget } from '../../src/config/sshConfig.js';
import { toolVersion } from '../../src/config/toolVersion.js';
import { loadTungstenConfig, type IniSearch, type TungstenConfig } from '../../src/config/tungstenIni.js';
import { DEFAULT_MAX_HOST_BYTES } from '../../src/diag/collect.js';
import { maskArgv } from '../../src/diag/redact.js';
import { runDiag, type DiagRunResult } from '../../src/diag/run.js';
import type { ProgressListener } from '../../src/diag/types.js';
import { ToolkitError } from '../../src/errors.js';

export const diagHelp = {
  name: 'diag',
  summary: 'Package diagnostic information (logs, configuration, status) from this host or every host into one .tgz',
  options: [
    ['-a, --allhosts', 'collect from every host of the configuration, over SSH'],
    ['--hosts <names>', 'only these hosts (comma separated, names as in the configuration); implies --allhosts'],
    ['--ini <files>', 'the tungsten.ini files to read, comma separated (default: every one of ~/tungsten.ini, /etc/tungsten/tungsten*.ini, /etc/tungsten.ini)'],
    ['--ssh-config <file>', 'OpenSSH client config, as ssh -F (default: the one ssh reads, ~/.ssh/config and /etc/ssh/ssh_config)'],
    ['--path <dir>', 'write the archive here (default: the current directory)'],
    ['--log-size <MiB>', 'keep the last MiB of each log; 0 keeps everything', '10'],
    ['--concurrency <n>', 'hosts collected at once', '8'],
    ['--connect-timeout <s>', 'SSH connect and handshake limit', '5'],
    ['--host-timeout <s>', 'limit for everything on one host', '300'],
    ['--command-timeout <s>', 'a remote command that prints nothing for this long is given up', '60'],
    ['--max-host-size <MiB>', 'read at most this much of one host\'s files; what would pass it is skipped and listed', String(DEFAULT_MAX_HOST_BYTES / 1048576)],
    ['--net-ssh-option <key=value>', 'SSH option (port, user, timeout, keys, user_known_hosts_file, verify_host_key, proxy_jump); repeatable'],
    ['--json', 'print the manifest as JSON on stdout'],
  ] as Array<[string, string, string?]>,
} as const;

export interface DiagOptions {
  allhosts?: boolean;
  hosts?: string;
  ini?: string;
  sshConfig?: string;
  path?: string;
  logSize?: string;
  concurrency?: string;
  connectTimeout?: string;
  hostTimeout?: string;
  commandTimeout?: string;
  maxHostSize?: string;
  netSshOption?: string[];
  json?: boolean;
}

export interface DiagContext {
  argv: string[];
  cwd: string;
  iniSearch?: IniSearch;
  home?: string;
  signal?: AbortSignal;
  onProgress?: ProgressListener;
}

function number(value: string | undefined, fallback: number, flag: string, min: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isFinite(n) || n < min) throw new ToolkitError('usage', `${flag} "${value}" is not a number ${min > 0 ? `of at least ${min}` : 'of 0 or more'}`);
  return n;
}

/** Picks the hosts to collect; an unknown name is a usage error listing the known ones. */
export function selectHosts(config: TungstenConfig, hostsOption: string | undefined): string[] {
  const known = config.hosts.map((h) => h.name);
  if (!hostsOption) return known;
  const wanted = hostsOption.split(',').map((s) => s.trim()).filter(Boolean);
  const unknown = wanted.filter((w) => !known.includes(w));
  if (unknown.length > 0 || wanted.length === 0) {
    throw new ToolkitError('usage', `--hosts: unknown host ${unknown.join(', ') || '(none given)'}`, `known hosts in ${config.file}: ${known.join(', ')}`);
  }
  return [...new Set(wanted)];
}

export function localHostName(config: TungstenConfig): string {
  const full = hostname();
  const short = full.split('.')[0]!;
  return config.hosts.find((h) => h.name === full || h.name === short || h.name.split('.')[0] === short)?.name ?? full;
}

export async function runDiagCommand(opts: DiagOptions, ctx: DiagContext): Promise<DiagRunResult> {
  const logSizeMiB = number(opts.logSize, 10, '--log-size', 0);
  const concurrency = Math.floor(number(opts.concurrency, 8, '--concurrency', 1));
  const connectTimeoutMs = number(opts.connectTimeout, 5, '--connect-timeout', 0.1) * 1000;
  const hostTimeoutMs = number(opts.hostTimeout, 300, '--host-timeout', 1) * 1000;
  const commandTimeoutMs = number(opts.commandTimeout, 60, '--command-timeout', 0.5) * 1000;
  const maxHostBytes = Math.floor(number(opts.maxHostSize, DEFAULT_MAX_HOST_BYTES / 1048576, '--max-host-size', 1) * 1048576);
  const netSshOptions = parseNetSshOptions(opts.netSshOption ?? []);
  const config = loadTungstenConfig(opts.ini, { cwd: ctx.cwd, ...ctx.iniSearch });
  const allHosts = opts.allhosts === true || opts.hosts !== undefined;
  const hosts = allHosts ? selectHosts(config, opts.hosts) : [localHostName(config)];
  // OpenSSH reads --ssh-config, else its own defaults (~/.ssh/config, /etc/ssh/ssh_config).
  const sshConfigFile = opts.sshConfig ? resolve(ctx.cwd, opts.sshConfig) : ctx.home ? join(ctx.home, '.ssh', 'config') : undefined;
  const sshConfig = allHosts ? loadSshConfig(opts.sshConfig ? sshConfigFile : undefined, ctx.home) : undefined;
  const common = {
    ...(sshConfig ? { config: sshConfig } : {}),
    ...(sshConfigFile && (opts.sshConfig || sshConfig) ? { configFile: sshConfigFile } : ctx.home ? { configFile: '/dev/null' } : {}),
    connectTimeoutMs,
    ...(ctx.home ? { home: ctx.home } : {}),
  };
  const outDir = resolve(ctx.cwd, opts.path ?? '.');
  // --path names a directory (made if missing); a file there is a usage error, not an EEXIST later.
  if (existsSync(outDir) && !statSync(outDir).isDirectory()) {
    throw new ToolkitError('usage', `--path ${opts.path}: not a directory`, '--path takes the directory to write the archive in (made if missing)');
  }
  const userOf = (h: string) => config.hosts.find((x) => x.name === h)?.user ?? config.user;
  const targets = new Map(
    allHosts
      ? hosts.map((h) => {
          const user = userOf(h);
          return [h, resolveSshTarget(h, { ...common, netSshOptions, ...(user ? { iniUser: user } : {}) })] as const;
        })
      : [],
  );
  return runDiag({
    config,
    hosts,
    mode: allHosts ? 'ssh' : 'local',
    outDir,
    logSizeMiB,
    concurrency,
    hostTimeoutMs,
    commandTimeoutMs,
    cctrlTimeoutS: 20,
    maxHostBytes,
    commandLine: ['tpm', ...maskArgv(ctx.argv)],
    version: toolVersion(),
    sshTarget: (h) => targets.get(h)!,
    resolveJump: (jump) => resolveJumpTarget(jump, common),
    ...(ctx.signal ? { signal: ctx.signal } : {}),
    ...(ctx.onProgress ? { onProgress: ctx.onProgress } : {}),
  });
}
