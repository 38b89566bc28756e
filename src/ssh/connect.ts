import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { homedir, userInfo } from 'node:os';
import { connect as netConnect, type Socket } from 'node:net';
import { Duplex } from 'node:stream';
import ssh2, { type AuthMethod, type Client, type ConnectConfig } from 'ssh2';
import { expandTokens, type JumpSpec, type SshTarget } from '../config/sshConfig.js';
import { appendKnownHost, fingerprint, keyTypeOf, knownHostsName, verifyHostKey } from './knownHosts.js';

/** How one host can fail to give us a session; the diag manifest uses the same words. */
export type ConnectFailure = 'unreachable' | 'timeout' | 'auth_failed' | 'host_key_rejected';

export class HostConnectError extends Error {
  constructor(
    readonly status: ConnectFailure,
    message: string,
  ) {
    super(message);
    this.name = 'HostConnectError';
  }
}

export interface ConnectOptions {
  /** Resolves a ProxyJump hop (through the same ssh config) into a target. */
  resolveJump?: (jump: JumpSpec) => SshTarget;
  signal?: AbortSignal;
  keepaliveIntervalMs?: number;
}

/** Builds the key list once per target: identity files that parse without a passphrase, then the agent. */
export function authMethods(target: SshTarget): { methods: AuthMethod[]; notes: string[] } {
  const methods: AuthMethod[] = [];
  const notes: string[] = [];
  for (const file of target.identityFiles) {
    let data: Buffer;
    try {
      data = readFileSync(file);
    } catch {
      continue;
    }
    const parsed = ssh2.utils.parseKey(data);
    if (parsed instanceof Error) {
      notes.push(`${file}: ${/encrypted|passphrase/i.test(parsed.message) ? 'needs a passphrase (load it into ssh-agent)' : parsed.message}`);
      continue;
    }
    methods.push({ type: 'publickey', username: target.user, key: data } as AuthMethod);
  }
  if (target.agent && !(target.identitiesOnly && methods.length > 0)) methods.push({ type: 'agent', username: target.user, agent: target.agent } as AuthMethod);
  return { methods, notes };
}

function openTcp(host: string, port: number, timeoutMs: number, signal?: AbortSignal): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const sock = netConnect({ host, port });
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new HostConnectError('unreachable', `no TCP connection to ${host}:${port} within ${timeoutMs / 1000} s`));
    }, timeoutMs);
    const onAbort = () => {
      sock.destroy();
      reject(new HostConnectError('unreachable', 'interrupted'));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    sock.once('connect', () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      resolve(sock);
    });
    sock.once('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      const why = e.code === 'ECONNREFUSED' ? 'connection refused' : e.code === 'ENOTFOUND' || e.code === 'EAI_AGAIN' ? 'cannot resolve the name' : e.code ?? e.message;
      reject(new HostConnectError('unreachable', `cannot connect to ${host}:${port}: ${why}`));
    });
  });
}

function hostKeyMessage(target: SshTarget, name: string, key: Buffer, verdict: ReturnType<typeof verifyHostKey>): string {
  const fp = `${keyTypeOf(key)} ${fingerprint(key)}`;
  const scan = `ssh-keyscan -p ${target.port} ${target.hostName} >> ${target.knownHostsFiles[0]}`;
  if (verdict.kind === 'changed') {
    const where = verdict.entries.map((e) => `${e.file}:${e.line}`).join(', ');
    return (
      `host key for ${target.alias} (${name}) has CHANGED: it now offers ${fp}, known_hosts says otherwise (${where}). ` +
      `If the change is expected, remove the old key with: ssh-keygen -R '${name}' -f ${verdict.entries[0]!.file}, check the new fingerprint, then: ${scan}`
    );
  }
  if (verdict.kind === 'revoked') return `host key for ${target.alias} (${name}) ${fp} is marked @revoked in ${verdict.entry.file}:${verdict.entry.line}`;
  return (
    `host key for ${target.alias} (${name}) is not known: it offers ${fp}. ` +
    `If that fingerprint is right, accept it with: ${scan} (or set StrictHostKeyChecking accept-new for this host)`
  );
}

/**
 * Runs a ProxyCommand as OpenSSH does (`sh -c 'exec COMMAND'`, tokens expanded) and gives its
 * stdin/stdout as the connection. If it exits before the SSH handshake, its stderr says why.
 */
export function openProxyCommand(target: SshTarget, signal?: AbortSignal): Promise<Duplex> {
  const env = process.env;
  const command = expandTokens(target.proxyCommand!, {
    home: homedir(),
    localUser: env.USER ?? userInfo().username,
    hostName: target.hostName,
    user: target.user,
    port: target.port,
    alias: target.alias,
    ...(target.hostKeyAlias ? { hostKeyAlias: target.hostKeyAlias } : {}),
    env,
  }, { tilde: false });
  return new Promise((resolve, reject) => {
    const child = spawn('/bin/sh', ['-c', `exec ${command}`], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (c: Buffer) => (stderr = (stderr + c.toString('utf8')).slice(-2000)));
    const kill = () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    };
    const stream = new Duplex({
      read: () => void child.stdout!.resume(),
      // A write to a command that already died is not the error to report: its exit (below) is.
      write: (chunk: Buffer, _enc, cb) => void child.stdin!.write(chunk, () => cb()),
      final: (cb) => {
        child.stdin!.end();
        cb();
      },
      destroy: (err, cb) => {
        kill();
        cb(err);
      },
    });
    child.stdin!.on('error', () => undefined);
    child.stdout!.on('data', (d: Buffer) => {
      if (!stream.push(d)) child.stdout!.pause();
    });
    // The end of the connection is the end of the command: cleanly (exit 0) or with its last words.
    child.once('close', (code, sig) => {
      if (code === 0) return void stream.push(null);
      const why = stderr.trim().split('\n').at(-1) || (sig ? `killed by ${sig}` : `exit ${code}`);
      stream.destroy(new HostConnectError('unreachable', `ProxyCommand for ${target.alias} ended (${why}): ${command}`));
    });
    signal?.addEventListener('abort', kill, { once: true });
    child.once('error', (e) => reject(new HostConnectError('unreachable', `cannot run the ProxyCommand for ${target.alias}: ${e.message}`)));
    child.once('spawn', () => resolve(stream));
  });
}

/** A target's settings without what is its own route and identity (ProxyCommand, HostKeyAlias). */
function withoutProxy(target: SshTarget): SshTarget {
  const { proxyCommand: _command, hostKeyAlias: _alias, ...rest } = target;
  return rest;
}

/** Opens an authenticated session on one target, over its ProxyJump hops or its ProxyCommand. */
export async function connectSsh(target: SshTarget, options: ConnectOptions = {}): Promise<Client> {
  const hops: Client[] = [];
  try {
    let previous: Client | undefined;
    for (const jump of target.proxyJump) {
      // Without a resolver a hop is the bare spec: its own user (else the local one, as ssh), never the target's.
      const hopTarget = options.resolveJump
        ? options.resolveJump(jump)
        : { ...withoutProxy(target), alias: jump.host, hostName: jump.host, port: jump.port ?? 22, user: jump.user ?? process.env.USER ?? userInfo().username, proxyJump: [] };
      const hopSock: Duplex = previous
        ? await forward(previous, hopTarget)
        : hopTarget.proxyCommand
          ? await openProxyCommand(hopTarget, options.signal)
          : await openTcp(hopTarget.hostName, hopTarget.port, hopTarget.connectTimeoutMs, options.signal);
      previous = await handshake(hopTarget, hopSock, options);
      hops.push(previous);
    }
    const sock: Duplex = previous
      ? await forward(previous, target)
      : target.proxyCommand
        ? await openProxyCommand(target, options.signal)
        : await openTcp(target.hostName, target.port, target.connectTimeoutMs, options.signal);
    const client = await handshake(target, sock, options);
    if (hops.length > 0) client.once('close', () => hops.forEach((h) => h.end()));
    return client;
  } catch (e) {
    hops.forEach((h) => h.end());
    throw e;
  }
}

function forward(via: Client, target: SshTarget): Promise<Duplex> {
  return new Promise((resolve, reject) => {
    via.forwardOut('127.0.0.1', 0, target.hostName, target.port, (err, stream) => {
      if (err) reject(new HostConnectError('unreachable', `jump host cannot reach ${target.hostName}:${target.port}: ${err.message}`));
      else resolve(stream);
    });
  });
}

function handshake(target: SshTarget, sock: Duplex, options: ConnectOptions): Promise<Client> {
  // known_hosts is searched under HostKeyAlias when there is one, else the host name (and the alias).
  const name = knownHostsName(target.hostKeyAlias ?? target.hostName, target.port);
  const names = target.hostKeyAlias || target.hostName === target.alias ? [name] : [name, knownHostsName(target.alias, target.port)];
  const { methods, notes } = authMethods(target);
  return new Promise((resolve, reject) => {
    if (methods.length === 0) {
      sock.destroy();
      reject(new HostConnectError('auth_failed', `no key to offer ${target.user}@${target.alias}: no readable IdentityFile and no ssh-agent${notes.length ? ` (${notes.join('; ')})` : ''}`));
      return;
    }
    const client = new ssh2.Client();
    let hostKeyProblem: string | undefined;
    let settled = false;
    const onAbort = () => fail(new HostConnectError('unreachable', 'interrupted'));
    const fail = (e: HostConnectError) => {
      if (settled) return;
      settled = true;
      options.signal?.removeEventListener('abort', onAbort);
      client.end();
      sock.destroy();
      reject(e);
    };
    options.signal?.addEventListener('abort', onAbort, { once: true });
    const config: ConnectConfig = {
      sock: sock as ConnectConfig['sock'],
      username: target.user,
      readyTimeout: target.connectTimeoutMs,
      keepaliveInterval: options.keepaliveIntervalMs ?? 10_000,
      keepaliveCountMax: 3,
      authHandler: methods,
      hostVerifier: (key: Buffer) => {
        const verdict = verifyHostKey(target.knownHostsFiles, names, key);
        if (verdict.kind === 'match') return true;
        if (verdict.kind === 'unknown' && target.strictHostKeyChecking !== 'yes') {
          const file = target.knownHostsFiles[0];
          if (file) appendKnownHost(file, name, key);
          return true;
        }
        hostKeyProblem = hostKeyMessage(target, name, key, verdict);
        return false;
      },
    };
    client.once('ready', () => {
      if (settled) return;
      settled = true;
      options.signal?.removeEventListener('abort', onAbort);
      resolve(client);
    });
    client.on('error', (e: Error & { level?: string }) => {
      if (e instanceof HostConnectError) return fail(e);
      if (hostKeyProblem) return fail(new HostConnectError('host_key_rejected', hostKeyProblem));
      if (e.level === 'client-timeout') {
        return fail(new HostConnectError('timeout', `${target.alias} (${target.hostName}:${target.port}) accepted TCP but finished no SSH handshake within ${target.connectTimeoutMs / 1000} s`));
      }
      if (e.level === 'client-authentication') {
        return fail(new HostConnectError('auth_failed', `${target.user}@${target.alias} rejected every key we offered${notes.length ? ` (${notes.join('; ')})` : ''}; check authorized_keys on the host, the IdentityFile and ssh-agent`));
      }
      fail(new HostConnectError('unreachable', `${target.alias} (${target.hostName}:${target.port}): ${e.message}`));
    });
    client.on('close', () => {
      if (hostKeyProblem) fail(new HostConnectError('host_key_rejected', hostKeyProblem));
      else fail(new HostConnectError('unreachable', `${target.alias} (${target.hostName}:${target.port}) closed the connection during the handshake`));
    });
    client.connect(config);
  });
}
