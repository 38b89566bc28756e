/**
 * A real fleet on one machine: one OpenSSH sshd per "host", each in its own mount, UTS and PID
 * namespace with its own /opt/continuent bind-mounted and its own loopback address (DESIGN.md).
 * Needs root, unshare and openssh-server. Every process is stopped by its pid file in stop().
 */
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, symlinkSync, writeFileSync, writeSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import ssh2 from 'ssh2';

export const SSHD = '/usr/sbin/sshd';
export const INSTALL = '/opt/continuent';
export const RELEASE = 'tungsten-clustering-7.1.4-10';

/** What a system test lacks to build a fleet; empty when it can run. */
export function fleetPrerequisites(): string[] {
  const missing: string[] = [];
  if (process.getuid?.() !== 0) missing.push('root');
  if (!existsSync(SSHD)) missing.push(`${SSHD} (Debian package openssh-server)`);
  for (const bin of ['ssh-keygen', 'unshare', 'tar']) {
    if (spawnSync('sh', ['-c', `command -v ${bin}`]).status !== 0) missing.push(bin);
  }
  return missing;
}

/**
 * Under CI=true a missing prerequisite is a failure, elsewhere a skip. Returns the reason to skip,
 * or undefined when the system test can run.
 */
export function systemTestSkipReason(): string | undefined {
  const missing = fleetPrerequisites();
  if (missing.length === 0) return undefined;
  const msg = `system test prerequisites missing: ${missing.join(', ')} (run .ci/system-deps.sh as root)`;
  if (process.env.CI === 'true') throw new Error(msg);
  return msg;
}

export interface InstallTreeSpec {
  /** Log name in service_logs -> size in bytes. Default: trepsvc.log, tmsvc.log and connector.log of a few KiB. */
  logs?: Record<string, number>;
  /** service_logs links whose target is not installed. */
  dangling?: string[];
  /** Content of <install>/tungsten/tungsten.ini on the host. */
  ini?: string;
  /** A cctrl script that prints this `ls` text; undefined = no cctrl installed. */
  cctrlLs?: string;
  /** More symlinks, by path relative to the installation (`service_logs/x.log`) -> target. */
  links?: Record<string, string>;
  /** More files, by path relative to the installation -> content. */
  files?: Record<string, string>;
}

const COMPONENT: Record<string, string> = {
  'trepsvc.log': 'tungsten-replicator',
  'xtrabackup.log': 'tungsten-replicator',
  'mysqldump.log': 'tungsten-replicator',
  'tmsvc.log': 'tungsten-manager',
  'connector.log': 'tungsten-connector',
};

/** Writes `size` bytes of numbered log lines quickly (a repeated 1 MiB block, not random data). */
export function writeLogFile(path: string, size: number): void {
  mkdirSync(dirname(path), { recursive: true });
  const fd = openSync(path, 'w');
  try {
    const lines: string[] = [];
    let length = 0;
    for (let i = 0; length < 1 << 20; i++) {
      const line = `2026-01-01 00:00:00,000 INFO  [block line ${String(i).padStart(6, '0')}] replicator heartbeat ok seqno=${i}\n`;
      lines.push(line);
      length += line.length;
    }
    const block = Buffer.from(lines.join('')).subarray(0, 1 << 20);
    let written = 0;
    let n = 0;
    while (written < size) {
      // A distinct first line per MiB makes every MiB of the file different.
      const stamp = Buffer.from(`MiB ${String(n++).padStart(8, '0')}\n`);
      const chunk = Buffer.concat([stamp, block.subarray(stamp.length)]).subarray(0, Math.min(block.length, size - written));
      writeSync(fd, chunk);
      written += chunk.length;
    }
  } finally {
    closeSync(fd);
  }
}

/**
 * Builds an installation as tpm leaves it: `tungsten -> releases/<ver>`, `service_logs/` holding
 * absolute symlinks through `installPath/tungsten`, credentials in share/, passwords in conf/.
 */
export function buildInstallTree(root: string, installPath: string, spec: InstallTreeSpec = {}): void {
  const logs = spec.logs ?? { 'trepsvc.log': 4096, 'tmsvc.log': 2048, 'connector.log': 1024 };
  const release = join(root, 'releases', RELEASE);
  mkdirSync(join(root, 'service_logs'), { recursive: true });
  mkdirSync(join(root, 'share'), { recursive: true });
  mkdirSync(join(root, 'conf'), { recursive: true });
  mkdirSync(join(release, 'tungsten-manager', 'bin'), { recursive: true });
  symlinkSync(`${installPath}/releases/${RELEASE}`, join(root, 'tungsten'));
  for (const [name, size] of Object.entries(logs)) {
    const rel = `${COMPONENT[name] ?? 'tungsten-replicator'}/log/${name}`;
    writeLogFile(join(release, rel), size);
    symlinkSync(`${installPath}/tungsten/${rel}`, join(root, 'service_logs', name));
  }
  for (const name of spec.dangling ?? []) {
    symlinkSync(`${installPath}/tungsten/${COMPONENT[name] ?? 'tungsten-replicator'}/log/${name}`, join(root, 'service_logs', name));
  }
  writeFileSync(join(root, 'share', '.my.alpha.cnf'), '[client]\nuser=tungsten\npassword=share-secret-pw\n');
  writeFileSync(join(root, 'conf', 'static-alpha.properties'), 'replicator.global.db.user=tungsten\nreplicator.global.db.password=conf-secret-pw\nreplicator.role=master\n');
  writeFileSync(join(root, 'conf', 'passwords.store'), 'tungsten=store-secret-pw\n');
  mkdirSync(join(release, 'tungsten-replicator', 'conf'), { recursive: true });
  writeFileSync(join(release, 'tungsten-replicator', 'conf', 'services.properties'), 'replicator.services=alpha\nreplicator.store.thl.password=conf-secret-pw\n');
  writeFileSync(join(release, 'tungsten-replicator', 'conf', 'tungsten_keystore.jks'), 'binary keystore\n');
  if (spec.ini !== undefined) writeFileSync(join(release, 'tungsten.ini'), spec.ini);
  for (const [path, target] of Object.entries(spec.links ?? {})) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    symlinkSync(target, join(root, path));
  }
  for (const [path, content] of Object.entries(spec.files ?? {})) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), content);
  }
  if (spec.cctrlLs !== undefined) {
    writeFileSync(join(release, 'tungsten-manager', 'ls.txt'), spec.cctrlLs);
    writeFileSync(join(release, 'tungsten-manager', 'bin', 'cctrl'), `#!/bin/sh\ncat > /dev/null\ncat "$(dirname "$0")/../ls.txt"\n`, { mode: 0o755 });
  }
}

export interface FleetHostSpec {
  name: string;
  /** Its own loopback address (tests take one from freeLoopbackAddress, so two suites at once never share it). */
  address: string;
  port: number;
  /** sshd (default); `hang`: sshd whose every command sleeps. */
  kind?: 'sshd' | 'hang';
  /** sshd's ForceCommand for every session (a hostile or broken host); the command asked for is in $SSH_ORIGINAL_COMMAND. */
  forceCommand?: string;
  /** Leave this host out of known_hosts (its key is then unknown). */
  unknownKey?: boolean;
  install?: InstallTreeSpec;
  /** Extra sshd_config lines (e.g. AllowUsers). */
  sshdConfig?: string[];
}

export interface FleetHost extends FleetHostSpec {
  /** What is bind-mounted as /opt/continuent inside the host. */
  root: string;
  pidFile: string;
}

export interface Fleet {
  dir: string;
  hosts: FleetHost[];
  identityFile: string;
  knownHostsFile: string;
  sshConfigFile: string;
  /** Adds a Host block to the ssh config (for hosts that are not sshd, e.g. a silent TCP server). */
  addSshConfigHost(name: string, address: string, port: number): void;
  stop(): Promise<void>;
}

/** An ed25519 key from ssh-keygen that ssh2 can read (the rare one its parser rejects is made again). */
function keygen(file: string): void {
  for (let attempt = 0; ; attempt++) {
    rmSync(file, { force: true });
    rmSync(`${file}.pub`, { force: true });
    const r = spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', file]);
    if (r.status !== 0) throw new Error(`ssh-keygen failed: ${r.stderr.toString()}`);
    if (!(ssh2.utils.parseKey(readFileSync(file)) instanceof Error) || attempt === 20) return;
  }
}

function waitForPort(address: string, port: number, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const attempt = () => {
      const s = connect({ host: address, port });
      s.once('data', () => {
        s.destroy();
        resolve();
      });
      s.once('error', () => {
        s.destroy();
        if (Date.now() > until) reject(new Error(`sshd on ${address}:${port} did not start`));
        else setTimeout(attempt, 50);
      });
    };
    attempt();
  });
}

function killPidFile(pidFile: string): void {
  try {
    const pid = Number(readFileSync(pidFile, 'utf8').trim());
    if (pid > 0) process.kill(pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

export async function startFleet(specs: FleetHostSpec[]): Promise<Fleet> {
  const dir = mkdtempSync(join(tmpdir(), 'tpm-fleet-'));
  mkdirSync('/run/sshd', { recursive: true });
  mkdirSync(INSTALL, { recursive: true });
  const identityFile = join(dir, 'id_ed25519');
  keygen(identityFile);
  const knownHostsFile = join(dir, 'known_hosts');
  const sshConfigFile = join(dir, 'ssh_config');
  writeFileSync(knownHostsFile, '');
  writeFileSync(sshConfigFile, '');
  const hosts: FleetHost[] = [];
  const addSshConfigHost = (name: string, address: string, port: number) => {
    writeFileSync(
      sshConfigFile,
      `Host ${name}\n  HostName ${address}\n  Port ${port}\n  User root\n  IdentityFile ${identityFile}\n  UserKnownHostsFile ${knownHostsFile}\n  StrictHostKeyChecking yes\n\n`,
      { flag: 'a' },
    );
  };
  const stop = async () => {
    for (const h of hosts) killPidFile(h.pidFile);
    await new Promise((r) => setTimeout(r, 100));
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    for (const spec of specs) {
      const hdir = join(dir, spec.name);
      const root = join(hdir, 'continuent');
      mkdirSync(root, { recursive: true });
      buildInstallTree(root, INSTALL, spec.install);
      keygen(join(hdir, 'host_key'));
      writeFileSync(join(hdir, 'authorized_keys'), readFileSync(`${identityFile}.pub`));
      const config = [
        `ListenAddress ${spec.address}:${spec.port}`,
        `HostKey ${join(hdir, 'host_key')}`,
        `AuthorizedKeysFile ${join(hdir, 'authorized_keys')}`,
        `PidFile ${join(hdir, 'sshd.pid')}`,
        'UsePAM no',
        'PasswordAuthentication no',
        'KbdInteractiveAuthentication no',
        'StrictModes no',
        'PermitRootLogin yes',
        'Subsystem sftp internal-sftp',
        'MaxStartups 100',
        'LogLevel ERROR',
        ...(spec.kind === 'hang' ? ['ForceCommand sleep 300'] : spec.forceCommand ? [`ForceCommand ${spec.forceCommand}`] : []),
        ...(spec.sshdConfig ?? []),
      ].join('\n');
      writeFileSync(join(hdir, 'sshd_config'), `${config}\n`);
      const pidFile = join(hdir, 'namespace.pid');
      // --kill-child plus a PID namespace: killing unshare takes every process of the host with it.
      const child = spawn(
        'unshare',
        ['-m', '-u', '-p', '--fork', '--kill-child', '--propagation', 'private', 'sh', '-c',
          `hostname ${spec.name} && mount --bind ${root} ${INSTALL} && exec ${SSHD} -D -f ${join(hdir, 'sshd_config')} -E ${join(hdir, 'sshd.log')}`],
        { stdio: 'ignore', detached: true },
      );
      child.unref();
      writeFileSync(pidFile, String(child.pid));
      const host: FleetHost = { ...spec, root, pidFile };
      hosts.push(host);
      await waitForPort(spec.address, spec.port, 10_000);
      addSshConfigHost(spec.name, spec.address, spec.port);
      if (!spec.unknownKey) {
        const pub = readFileSync(join(hdir, 'host_key.pub'), 'utf8').trim().split(/\s+/);
        writeFileSync(knownHostsFile, `[${spec.address}]:${spec.port} ${pub[0]} ${pub[1]}\n`, { flag: 'a' });
      }
    }
  } catch (e) {
    await stop();
    throw e;
  }
  return { dir, hosts, identityFile, knownHostsFile, sshConfigFile, addSshConfigHost, stop };
}

/** A tungsten.ini naming the given hosts as one dataservice (first = master). */
export function fleetIni(members: string[], extra: { connectors?: string[] } = {}): string {
  return [
    '[defaults]',
    `install-directory=${INSTALL}`,
    'replication-user=tungsten',
    'replication-password=ini-secret-pw',
    '',
    '[alpha]',
    `master=${members[0]}`,
    `members=${members.join(',')}`,
    `connectors=${(extra.connectors ?? members).join(',')}`,
    '',
  ].join('\n');
}
