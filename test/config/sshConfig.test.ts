import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import SSHConfig from 'ssh-config';
import { describe, expect, it } from 'vitest';
import { loadSshConfig, parseJump, parseNetSshOptions, resolveSshTarget } from '../../src/config/sshConfig.js';

const config = SSHConfig.parse(readFileSync(fileURLToPath(new URL('../../fixtures/tpm/ssh_config', import.meta.url)), 'utf8'));
const base = { config, home: '/home/op', env: { USER: 'op' } };

describe('ssh config resolution', () => {
  it('applies Host, HostName, Port, User, IdentityFile, UserKnownHostsFile, StrictHostKeyChecking and ConnectTimeout', () => {
    expect(resolveSshTarget('db1', base)).toEqual({
      alias: 'db1',
      hostName: '10.0.0.11',
      port: 2201,
      user: 'admin',
      identityFiles: ['/home/op/.ssh/id_db1', '/home/op/.ssh/id_ed25519'],
      knownHostsFiles: ['/home/op/.ssh/known_hosts_cluster', '/etc/ssh/ssh_known_hosts'],
      strictHostKeyChecking: 'accept-new',
      connectTimeoutMs: 3000,
      proxyJump: [],
    });
  });

  it('parses ProxyJump and falls back to OpenSSH defaults', () => {
    const t = resolveSshTarget('db2', base);
    expect(t).toMatchObject({ hostName: '10.0.0.12', port: 22, user: 'op', strictHostKeyChecking: 'yes', connectTimeoutMs: 5000 });
    expect(t.proxyJump).toEqual([{ host: 'jump.example.com', user: 'bastion', port: 2222 }]);
    expect(t.knownHostsFiles).toEqual(['/home/op/.ssh/known_hosts', '/home/op/.ssh/known_hosts2', '/etc/ssh/ssh_known_hosts']);
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

  it('parses jump specs', () => {
    expect(parseJump('j1')).toEqual({ host: 'j1' });
    expect(parseJump('u@[::1]:22')).toEqual({ host: '::1', user: 'u', port: 22 });
  });
});
