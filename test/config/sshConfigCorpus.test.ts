import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadSshConfig, parseNetSshOptions, resolveSshTarget, type SshTarget } from '../../src/config/sshConfig.js';
import { titleOrSkipReason } from '../helpers/processes.js';

/**
 * A corpus of client configs, each resolved by OpenSSH itself (`ssh -G`, and `ssh -v` for the
 * identity files after token expansion, which -G prints unexpanded) and by us. tpm diag resolves
 * through `ssh -G` wherever `ssh` is installed: that must match on every config. The stand-in
 * resolver (for a machine without `ssh`) is counted too.
 */

const sshMissing = spawnSync('ssh', ['-V']).error ? 'the OpenSSH client is not installed (openssh-client)' : null;
const skip = sshMissing !== null && process.env.CI !== 'true';

interface Case {
  name: string;
  config: string;
  host: string;
  /** tungsten.ini's user (tpm passes it as ssh -l). */
  iniUser?: string;
  net?: string[];
  env?: Record<string, string>;
}

let dir = '';
const D = () => dir;

/** What a connection uses, in comparable form; `error` when the config is refused. */
type Resolved = Record<string, unknown>;

function view(t: SshTarget): Resolved {
  return {
    hostName: t.hostName,
    user: t.user,
    port: t.port,
    identityFiles: t.identityFiles,
    knownHostsFiles: t.knownHostsFiles,
    strictHostKeyChecking: t.strictHostKeyChecking,
    connectTimeoutMs: t.connectTimeoutMs,
    proxyCommand: t.proxyCommand ?? null,
    proxyJump: t.proxyJump.map((j) => `${j.user ? `${j.user}@` : ''}${j.host}${j.port ? `:${j.port}` : ''}`).join(',') || null,
    hostKeyAlias: t.hostKeyAlias ?? null,
    identitiesOnly: t.identitiesOnly === true,
  };
}

/** OpenSSH's own answer, read straight from its output. */
function openSsh(c: Case, file: string): Resolved {
  const net = parseNetSshOptions(c.net ?? []);
  const args = ['-F', file, ...(net.user ?? c.iniUser ? ['-l', (net.user ?? c.iniUser)!] : []), ...(net.port ? ['-p', net.port] : [])];
  if (net.host_name) args.push('-o', `HostName=${net.host_name}`);
  if (net.verify_host_key) args.push('-o', `StrictHostKeyChecking=${{ never: 'no', always: 'yes', accept_new: 'accept-new' }[net.verify_host_key] ?? net.verify_host_key}`);
  const env = { ...process.env, ...c.env };
  const g = spawnSync('ssh', ['-G', ...args, '--', c.host], { encoding: 'utf8', env });
  if (g.status !== 0) return { error: true };
  const all = (k: string) =>
    g.stdout
      .split('\n')
      .filter((l) => l.startsWith(`${k} `))
      .map((l) => l.slice(k.length + 1));
  const one = (k: string) => all(k)[0];
  // ssh -v loads the identity files (tokens expanded) before the handshake; ProxyCommand=true ends it at once.
  const v = spawnSync('ssh', ['-v', '-o', 'ProxyCommand=true', '-o', 'BatchMode=yes', ...args, '--', c.host], { encoding: 'utf8', env, timeout: 10_000 });
  const identityFiles = [...v.stderr.matchAll(/^debug1: identity file (.+) type -?\d+$/gm)].map((m) => m[1]!).filter((f) => !f.endsWith('-cert'));
  const strict = one('stricthostkeychecking')!;
  const jump = one('proxyjump');
  const timeout = one('connecttimeout')!;
  return {
    hostName: one('hostname'),
    user: one('user'),
    port: Number(one('port')),
    identityFiles,
    knownHostsFiles: [...all('userknownhostsfile'), ...all('globalknownhostsfile')].flatMap((x) => x.split(' ')).filter((x) => x !== 'none'),
    strictHostKeyChecking: strict === 'true' || strict === 'ask' ? 'yes' : strict === 'false' ? 'no' : strict,
    connectTimeoutMs: timeout === 'none' ? 5000 : Number(timeout) * 1000,
    proxyCommand: jump ? null : (one('proxycommand') ?? null),
    proxyJump: jump ?? null,
    hostKeyAlias: one('hostkeyalias') ?? null,
    identitiesOnly: one('identitiesonly') === 'yes',
  };
}

function ours(c: Case, file: string, fallback: boolean): Resolved {
  const net = parseNetSshOptions(c.net ?? []);
  const env = { ...process.env, ...c.env };
  try {
    const common = { netSshOptions: net, ...(c.iniUser ? { iniUser: c.iniUser } : {}), env };
    const t = fallback ? resolveSshTarget(c.host, { ...common, config: loadSshConfig(file)!, ssh: false }) : resolveSshTarget(c.host, { ...common, configFile: file });
    return view(t);
  } catch {
    return { error: true };
  }
}

const cases: Case[] = [
  { name: 'plain block', config: 'Host db1\n  HostName 10.0.0.1\n  Port 2222\n  User admin\n', host: 'db1' },
  { name: 'lower-case keywords', config: 'host db1\n  hostname 10.0.0.2\n  port 2200\n  user lower\n', host: 'db1' },
  { name: 'mixed-case keywords', config: 'HOST db1\n  HOSTNAME 10.0.0.3\n  pOrT 2300\n', host: 'db1' },
  { name: 'first value wins in a block', config: 'Host db1\n  Port 2201\n  Port 2202\n', host: 'db1' },
  { name: 'first value wins across blocks', config: 'Host *\n  Port 2000\nHost db1\n  Port 3000\n', host: 'db1' },
  { name: 'port then Port', config: 'Host db1\n  port 2401\nHost db1\n  Port 2402\n', host: 'db1' },
  { name: 'Host db? matches db1', config: 'Host db?\n  Port 2500\n', host: 'db1' },
  { name: 'Host db? does not match db', config: 'Host db?\n  Port 2500\n', host: 'db' },
  { name: 'negated pattern', config: 'Host db* !db3\n  User pat\n', host: 'db3' },
  { name: 'negated pattern, other host', config: 'Host db* !db3\n  User pat\n', host: 'db2' },
  { name: 'quoted Host pattern', config: 'Host "db1"\n  Port 2600\n', host: 'db1' },
  { name: 'several patterns', config: 'Host web db1 app\n  Port 2700\n', host: 'db1' },
  { name: 'a comma in a Host line does not split it', config: 'Host a,db1\n  Port 2800\n', host: 'db1' },
  { name: 'Host pattern case', config: 'Host DB1\n  Port 2900\n', host: 'db1' },
  { name: 'upper-case name given', config: 'Host DB1\n  Port 2901\n', host: 'DB1' },
  { name: 'HostName %h.example.com', config: 'Host db*\n  HostName %h.example.com\n', host: 'db1' },
  { name: 'HostName %%', config: 'Host db1\n  HostName 100%%.example\n', host: 'db1' },
  { name: 'Include absolute', config: `Include ${'$DIR'}/inc/one.conf\n`, host: 'db1' },
  { name: 'Include glob', config: `Include ${'$DIR'}/inc/*.conf\n`, host: 'db2' },
  { name: 'Include inside Host', config: `Host db1\n  Include ${'$DIR'}/inc/port.conf\n`, host: 'db1' },
  { name: 'Include of a missing file', config: `Include ${'$DIR'}/inc/missing.conf\nHost db1\n  Port 3100\n`, host: 'db1' },
  { name: 'Include nested', config: `Include ${'$DIR'}/inc/nested.conf\n`, host: 'db3' },
  { name: 'Include before Host * defaults', config: `Include ${'$DIR'}/inc/one.conf\nHost *\n  User fallback\n`, host: 'db1' },
  { name: 'Match host', config: 'Match host db1\n  User matched\n', host: 'db1' },
  { name: 'Match host after HostName', config: 'Host db1\n  HostName 10.1.1.1\nMatch host 10.1.1.1\n  Port 3200\n', host: 'db1' },
  { name: 'Match host list', config: 'Match host db2,db1\n  Port 3300\n', host: 'db1' },
  { name: 'Match !host', config: 'Match !host db2\n  Port 3400\n', host: 'db1' },
  { name: 'Match !host, excluded', config: 'Match !host db1\n  Port 3400\n', host: 'db1' },
  { name: 'Match originalhost', config: 'Host db1\n  HostName 10.1.1.2\nMatch originalhost db1\n  Port 3500\n', host: 'db1' },
  { name: 'Match user from the config', config: 'Host db1\n  User admin\nMatch user admin\n  Port 3600\n', host: 'db1' },
  { name: 'Match user from tungsten.ini', config: 'Match user tungsten\n  Port 3700\n', host: 'db1', iniUser: 'tungsten' },
  { name: 'Match user not matching', config: 'Match user nobody\n  Port 3700\n', host: 'db1', iniUser: 'tungsten' },
  { name: 'Match localuser', config: `Match localuser ${userInfo().username}\n  Port 3800\n`, host: 'db1' },
  { name: 'Match exec true', config: 'Match exec true\n  Port 3900\n', host: 'db1' },
  { name: 'Match exec false', config: 'Match exec false\n  Port 3900\n', host: 'db1' },
  { name: 'Match exec with %h', config: 'Match exec "test %h = db1"\n  Port 4000\n', host: 'db1' },
  { name: 'Match exec with %h, other host', config: 'Match exec "test %h = db1"\n  Port 4000\n', host: 'db2' },
  { name: 'Match all', config: 'Match all\n  User everyone\n', host: 'db1' },
  { name: 'Match host and user', config: 'Match host db1 user admin\n  Port 4100\n', host: 'db1', iniUser: 'admin' },
  { name: 'IdentityFile %d %u %h %r %p', config: 'Host db1\n  IdentityFile %d/.ssh/id_%h_%r_%p_%u\n', host: 'db1', iniUser: 'tungsten' },
  { name: 'IdentityFile %l %L', config: 'Host db1\n  IdentityFile /keys/%l/%L\n', host: 'db1' },
  { name: 'IdentityFile %i %k', config: 'Host db1\n  IdentityFile /keys/%i/%k\n', host: 'db1' },
  { name: 'IdentityFile %k with HostKeyAlias', config: 'Host db1\n  HostKeyAlias cluster-db1\n  IdentityFile /keys/%k\n', host: 'db1' },
  { name: 'IdentityFile %C', config: 'Host db1\n  IdentityFile /keys/%C\n', host: 'db1' },
  { name: 'IdentityFile %n with HostName', config: 'Host db1\n  HostName 10.2.2.2\n  IdentityFile /keys/%n-%h\n', host: 'db1' },
  { name: 'IdentityFile %%', config: 'Host db1\n  IdentityFile /keys/100%%\n', host: 'db1' },
  { name: 'IdentityFile ${HOME}', config: 'Host db1\n  IdentityFile ${HOME}/.ssh/env_key\n', host: 'db1' },
  { name: 'IdentityFile ${VAR}', config: 'Host db1\n  IdentityFile ${TPM_KEYS}/k\n', host: 'db1', env: { TPM_KEYS: '/srv/keys' } },
  { name: 'IdentityFile ~', config: 'Host db1\n  IdentityFile ~/.ssh/id_db1\n', host: 'db1' },
  { name: 'quoted IdentityFile with a space', config: 'Host db1\n  IdentityFile "/keys/with space/id"\n', host: 'db1' },
  { name: 'IdentityFile accumulates', config: 'Host db1\n  IdentityFile /k/one\nHost *\n  IdentityFile /k/two\n', host: 'db1' },
  { name: 'default identity files', config: 'Host db1\n  Port 22\n', host: 'db1' },
  { name: 'IdentitiesOnly', config: 'Host db1\n  IdentitiesOnly yes\n  IdentityFile /k/only\n', host: 'db1' },
  { name: 'UserKnownHostsFile two files and tokens', config: 'Host db1\n  UserKnownHostsFile ~/.ssh/kh_%h /etc/kh_all\n', host: 'db1' },
  { name: 'UserKnownHostsFile none... default global', config: 'Host db1\n  UserKnownHostsFile /tmp/kh_only\n', host: 'db1' },
  { name: 'GlobalKnownHostsFile', config: 'Host db1\n  GlobalKnownHostsFile /etc/cluster_known_hosts\n', host: 'db1' },
  { name: 'default known hosts', config: '', host: 'db1' },
  { name: 'ConnectTimeout 1m', config: 'Host db1\n  ConnectTimeout 1m\n', host: 'db1' },
  { name: 'ConnectTimeout 90', config: 'Host db1\n  ConnectTimeout 90\n', host: 'db1' },
  { name: 'ConnectTimeout 1m30s', config: 'Host db1\n  ConnectTimeout 1m30s\n', host: 'db1' },
  { name: 'Port ssh', config: 'Host db1\n  Port ssh\n', host: 'db1' },
  { name: 'StrictHostKeyChecking yes', config: 'Host db1\n  StrictHostKeyChecking yes\n', host: 'db1' },
  { name: 'StrictHostKeyChecking no', config: 'Host db1\n  StrictHostKeyChecking no\n', host: 'db1' },
  { name: 'StrictHostKeyChecking accept-new', config: 'Host db1\n  StrictHostKeyChecking accept-new\n', host: 'db1' },
  { name: 'StrictHostKeyChecking off', config: 'Host db1\n  StrictHostKeyChecking off\n', host: 'db1' },
  { name: 'ProxyCommand', config: 'Host db1\n  ProxyCommand ssh -W %h:%p bastion\n', host: 'db1' },
  { name: 'ProxyCommand with quotes', config: 'Host db1\n  ProxyCommand sh -c "exec nc %h %p"\n', host: 'db1' },
  { name: 'ProxyCommand none', config: 'Host db1\n  ProxyCommand none\nHost *\n  ProxyCommand ssh -W %h:%p bastion\n', host: 'db1' },
  { name: 'ProxyJump list', config: 'Host db1\n  ProxyJump bob@j1:2200,j2\n', host: 'db1' },
  { name: 'ProxyJump none', config: 'Host db1\n  ProxyJump none\nHost *\n  ProxyJump j1\n', host: 'db1' },
  { name: 'ProxyJump before ProxyCommand', config: 'Host db1\n  ProxyJump j1\n  ProxyCommand ssh -W %h:%p j2\n', host: 'db1' },
  { name: 'HostKeyAlias', config: 'Host db1\n  HostName 10.3.3.3\n  HostKeyAlias db1-key\n', host: 'db1' },
  { name: 'keyword=value', config: 'Host db1\n  Port=4200\n  User = eq\n', host: 'db1' },
  { name: 'tabs', config: 'Host\tdb1\n\tPort\t4300\n', host: 'db1' },
  { name: 'comment lines', config: '# cluster hosts\nHost db1\n  # the port\n  Port 4400\n', host: 'db1' },
  { name: 'tungsten.ini user wins over User', config: 'Host db1\n  User admin\n', host: 'db1', iniUser: 'tungsten' },
  { name: '--net-ssh-option port and user', config: 'Host db1\n  Port 2222\n  User admin\n', host: 'db1', iniUser: 'tungsten', net: ['port=2299', 'user=root'] },
  { name: '--net-ssh-option host_name and verify_host_key', config: 'Host db1\n  HostName 10.0.0.1\n', host: 'db1', net: ['host_name=10.9.9.9', 'verify_host_key=never'] },
  { name: 'empty config', config: '', host: 'db1' },
  { name: 'Host * defaults after', config: 'Host db1\n  HostName 10.4.4.4\nHost *\n  User dflt\n  Port 4500\n', host: 'db1' },
  { name: 'rejected: unknown keyword', config: 'Host db1\n  Bogus yes\n', host: 'db1' },
  { name: 'rejected: Port abc', config: 'Host db1\n  Port abc\n', host: 'db1' },
  { name: 'rejected: ConnectTimeout 1x', config: 'Host db1\n  ConnectTimeout 1x\n', host: 'db1' },
  { name: 'rejected: StrictHostKeyChecking maybe', config: 'Host db1\n  StrictHostKeyChecking maybe\n', host: 'db1' },
  { name: 'rejected: Match with no criteria', config: 'Match\n  Port 22\n', host: 'db1' },
  { name: 'rejected: unknown keyword in a block not matching', config: 'Host other\n  Frobnicate 1\n', host: 'db1' },
];

describe.skipIf(skip)(titleOrSkipReason('ssh config: tpm resolves as OpenSSH does (ssh -G on this machine)', sshMissing), () => {
  const files = new Map<string, string>();
  const truths = new Map<string, Resolved>();
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'tpm-sshcorpus-'));
    mkdirSync(join(dir, 'inc'));
    writeFileSync(join(dir, 'inc', 'one.conf'), 'Host db1\n  Port 5001\n  User inc\n');
    writeFileSync(join(dir, 'inc', 'two.conf'), 'Host db2\n  Port 5002\n');
    writeFileSync(join(dir, 'inc', 'port.txt'), '');
    writeFileSync(join(dir, 'inc', 'port.conf'), '  Port 5003\n');
    writeFileSync(join(dir, 'inc', 'nested.conf'), `Include ${join(dir, 'inc', 'deeper.cfg')}\n`);
    writeFileSync(join(dir, 'inc', 'deeper.cfg'), 'Host db3\n  User deep\n');
    cases.forEach((c, i) => {
      const file = join(dir, `config-${i}`);
      writeFileSync(file, c.config.replaceAll('$DIR', D()));
      files.set(c.name, file);
      truths.set(c.name, openSsh(c, file));
    });
  }, 300_000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it(`the corpus has ${cases.length} configs, with distinct names`, () => {
    expect(cases.length).toBeGreaterThanOrEqual(75);
    expect(new Set(cases.map((c) => c.name)).size).toBe(cases.length);
    expect(homedir()).toBe(userInfo().homedir);
  });

  it('tpm diag (through ssh -G) resolves every config exactly as OpenSSH does', () => {
    const mismatched: Array<{ name: string; openssh: Resolved; ours: Resolved }> = [];
    for (const c of cases) {
      const file = files.get(c.name)!;
      const truth = truths.get(c.name)!;
      const mine = ours(c, file, false);
      if (JSON.stringify(truth) !== JSON.stringify(mine)) mismatched.push({ name: c.name, openssh: truth, ours: mine });
    }
    console.log(`ssh config corpus: ${cases.length - mismatched.length} of ${cases.length} configs resolve as ssh -G does`);
    expect(mismatched).toEqual([]);
  }, 300_000);

  it('the stand-in resolver (no ssh installed) agrees with OpenSSH on every config too', () => {
    const mismatched: string[] = [];
    for (const c of cases) {
      const file = files.get(c.name)!;
      const truth = truths.get(c.name)!;
      if (JSON.stringify(truth) !== JSON.stringify(ours(c, file, true))) mismatched.push(c.name);
    }
    console.log(`ssh config corpus, stand-in resolver: ${cases.length - mismatched.length} of ${cases.length} match ssh -G; differ: ${mismatched.join('; ')}`);
    expect(mismatched).toEqual([]);
  }, 120_000);
});
