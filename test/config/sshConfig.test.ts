import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import SSHConfig from 'ssh-config';
import { afterAll, describe, expect, it } from 'vitest';
import { expandTokens, loadSshConfig, parseJump, parseNetSshOptions, resolveJumpTarget, resolveSshTarget } from '../../src/config/sshConfig.js';
import { ToolkitError } from '../../src/errors.js';
import { titleOrSkipReason } from '../helpers/processes.js';

const fixtureFile = fileURLToPath(new URL('../../fixtures/tpm/ssh_config', import.meta.url));
const config = SSHConfig.parse(readFileSync(fixtureFile, 'utf8'));
const base = { config, home: '/home/op', env: { USER: 'op' } };
const sshMissing = (() => {
  try {
    resolveSshTarget('x', { configFile: '/dev/null' });
    return false;
  } catch {
    return true;
  }
})();

describe('ssh config resolution without OpenSSH (the stand-in)', () => {
  it('applies Host, HostName, Port, User, IdentityFile, UserKnownHostsFile, StrictHostKeyChecking and ConnectTimeout', () => {
    expect(resolveSshTarget('db1', base)).toEqual({
      alias: 'db1',
      hostName: '10.0.0.11',
      port: 2201,
      user: 'admin',
      identityFiles: ['/home/op/.ssh/id_db1', '/home/op/.ssh/id_ed25519'],
      knownHostsFiles: ['/home/op/.ssh/known_hosts_cluster', '/etc/ssh/ssh_known_hosts', '/etc/ssh/ssh_known_hosts2'],
      strictHostKeyChecking: 'accept-new',
      connectTimeoutMs: 3000,
      proxyJump: [],
      resolvedBy: 'fallback',
    });
  });

  it('parses ProxyJump and falls back to OpenSSH defaults', () => {
    const t = resolveSshTarget('db2', base);
    expect(t).toMatchObject({ hostName: '10.0.0.12', port: 22, user: 'op', strictHostKeyChecking: 'yes', connectTimeoutMs: 5000 });
    expect(t.proxyJump).toEqual([{ host: 'jump.example.com', user: 'bastion', port: 2222 }]);
    expect(t.knownHostsFiles).toEqual(['/home/op/.ssh/known_hosts', '/home/op/.ssh/known_hosts2', '/etc/ssh/ssh_known_hosts', '/etc/ssh/ssh_known_hosts2']);
  });

  it('keywords in any case, the first value wins, Host db? needs one character, a comma does not split a Host line', () => {
    const c = SSHConfig.parse('host db?\n  port 2201\n  Port 2202\nHost a,db3\n  User comma\nHost *\n  PORT 9\n');
    expect(resolveSshTarget('db1', { config: c }).port).toBe(2201);
    expect(resolveSshTarget('db', { config: c }).port).toBe(9);
    expect(resolveSshTarget('db3', { config: c, env: { USER: 'op' } }).user).toBe('op');
  });

  it('HostName %h, ConnectTimeout 1m, Port ssh, a quoted path with a space, ProxyCommand', () => {
    const c = SSHConfig.parse('Host db1\n  HostName %h.example.com\n  ConnectTimeout 1m\n  Port ssh\n  IdentityFile "/k/with space/id"\n  ProxyCommand ssh -W %h:%p bastion\n');
    expect(resolveSshTarget('db1', { config: c })).toMatchObject({ hostName: 'db1.example.com', connectTimeoutMs: 60_000, port: 22, identityFiles: ['/k/with space/id'], proxyCommand: 'ssh -W %h:%p bastion' });
  });

  it('refuses a keyword OpenSSH refuses', () => {
    expect(() => resolveSshTarget('db1', { config: SSHConfig.parse('Host db1\n  Bogus yes\n') })).toThrow('ssh config: Bad configuration option: bogus');
    expect(resolveSshTarget('db1', { config: SSHConfig.parse('IgnoreUnknown Bogus\nHost db1\n  Bogus yes\n  Port 7\n') }).port).toBe(7);
  });

  it('Include is read where it stands, in the context of its block', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tpm-sshinc-'));
    writeFileSync(join(dir, 'a.conf'), 'Port 2301\n');
    writeFileSync(join(dir, 'config'), `Host db1\n  Include ${dir}/*.conf\nHost *\n  Port 2399\n`);
    const c = loadSshConfig(join(dir, 'config'))!;
    expect(resolveSshTarget('db1', { config: c, ssh: false }).port).toBe(2301);
    expect(resolveSshTarget('db2', { config: c, ssh: false }).port).toBe(2399);
    rmSync(dir, { recursive: true, force: true });
  });

  it("tungsten.ini's user and --net-ssh-option win, as in tpm", () => {
    expect(resolveSshTarget('db1', { ...base, iniUser: 'tungsten' }).user).toBe('tungsten');
    const t = resolveSshTarget('db1', { ...base, iniUser: 'tungsten', netSshOptions: parseNetSshOptions(['port=2299', 'user=root', 'timeout=1', 'verify_host_key=never', 'keys=/k1,/k2']) });
    expect(t).toMatchObject({ port: 2299, user: 'root', connectTimeoutMs: 1000, strictHostKeyChecking: 'no', identityFiles: ['/k1', '/k2'] });
  });

  it('uses the agent from SSH_AUTH_SOCK unless IdentityAgent none', () => {
    expect(resolveSshTarget('db1', { ...base, env: { USER: 'op', SSH_AUTH_SOCK: '/tmp/agent.sock' } }).agent).toBe('/tmp/agent.sock');
    const none = SSHConfig.parse('Host x\n  IdentityAgent none\n');
    expect(resolveSshTarget('x', { config: none, env: { SSH_AUTH_SOCK: '/tmp/a' } }).agent).toBeUndefined();
  });

  it('rejects bad options with a one-line message', () => {
    expect(() => parseNetSshOptions(['port'])).toThrow('--net-ssh-option "port" is not key=value');
    expect(() => parseNetSshOptions(['colour=blue'])).toThrow('--net-ssh-option: unknown key "colour"');
    expect(() => resolveSshTarget('db1', { ...base, netSshOptions: { port: '99999' } })).toThrow('db1: port "99999" is not a number from 1 to 65535');
    expect(() => resolveSshTarget('x', { config: SSHConfig.parse('Host x\n StrictHostKeyChecking maybe\n') })).toThrow(/StrictHostKeyChecking "maybe"/);
    expect(() => loadSshConfig('/nonexistent/ssh_config')).toThrow('cannot read ssh config /nonexistent/ssh_config: ENOENT');
    expect(loadSshConfig(undefined, '/nonexistent-home')).toBeUndefined();
  });

  it('parses jump specs and expands tokens', () => {
    expect(parseJump('j1')).toEqual({ host: 'j1' });
    expect(parseJump('u@[::1]:22')).toEqual({ host: '::1', user: 'u', port: 22 });
    const t = { home: '/h', localUser: 'me', hostName: '10.0.0.1', user: 'tungsten', port: 2200, alias: 'db1', env: { KEYS: '/srv' } };
    expect(expandTokens('~/%h/%r/%p/%n/%u/%k/%%/${KEYS}', t)).toBe('/h/10.0.0.1/tungsten/2200/db1/me/db1/%//srv');
  });
});

describe.skipIf(sshMissing && process.env.CI !== 'true')(titleOrSkipReason('ssh config resolution by OpenSSH (ssh -G)', sshMissing ? 'the OpenSSH client is not installed (openssh-client)' : null), () => {
  const dir = mkdtempSync(join(tmpdir(), 'tpm-sshg-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('asks ssh -G with the same -F, and tungsten.ini user as -l', () => {
    const t = resolveSshTarget('db1', { configFile: fixtureFile, iniUser: 'tungsten' });
    expect(t).toMatchObject({ resolvedBy: 'ssh -G', hostName: '10.0.0.11', port: 2201, user: 'tungsten', strictHostKeyChecking: 'accept-new', connectTimeoutMs: 3000 });
    expect(t.identityFiles.map((f) => f.replace(/^.*\/\.ssh\//, '~/.ssh/'))).toEqual(['~/.ssh/id_db1', '~/.ssh/id_ed25519']);
    // a config loaded from a file goes to OpenSSH too
    expect(resolveSshTarget('db1', { config: loadSshConfig(fixtureFile)! }).resolvedBy).toBe('ssh -G');
  });

  it("a config OpenSSH refuses is a usage error with OpenSSH's words", () => {
    const file = join(dir, 'bad');
    writeFileSync(file, 'Host db1\n  Bogus yes\n');
    let e: unknown;
    try {
      resolveSshTarget('db1', { configFile: file });
    } catch (err) {
      e = err;
    }
    expect(e).toBeInstanceOf(ToolkitError);
    expect((e as ToolkitError).message).toBe(`ssh config for db1: ${file}: line 2: Bad configuration option: bogus; ${file}: terminating, 1 bad configuration options`);
    expect((e as ToolkitError).exitCode).toBe(2);
  });

  it('a jump host gets its own User and Port, not tungsten.ini’s user; the spec’s user wins', () => {
    const file = join(dir, 'jump');
    writeFileSync(file, 'Host db1\n  ProxyJump bastion\nHost bastion\n  User jumper\n  Port 2022\n');
    const opts = { configFile: file, iniUser: 'tungsten', netSshOptions: { port: '2299' } };
    const db1 = resolveSshTarget('db1', opts);
    expect(db1).toMatchObject({ user: 'tungsten', port: 2299, proxyJump: [{ host: 'bastion' }] });
    expect(resolveJumpTarget(db1.proxyJump[0]!, opts)).toMatchObject({ hostName: 'bastion', user: 'jumper', port: 2022 });
    expect(resolveJumpTarget({ host: 'bastion', user: 'ops', port: 2200 }, opts)).toMatchObject({ user: 'ops', port: 2200 });
  });

  it('without ssh installed, the stand-in resolves', () => {
    expect(resolveSshTarget('db1', { configFile: fixtureFile, config: loadSshConfig(fixtureFile)!, ssh: '/nonexistent/ssh' }).resolvedBy).toBe('fallback');
  });
});
