import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { buildInstallTree } from '../helpers/fleet.js';
import { runTpm } from '../helpers/tpmBin.js';

const ini = fileURLToPath(new URL('../../fixtures/tpm/tungsten.ini', import.meta.url));
const work = mkdtempSync(join(tmpdir(), 'tpm-cli-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('tpm (the bin)', () => {
  it('reverse --public prints the configure commands without passwords', async () => {
    const r = await runTpm(['reverse', '--public', '--ini', ini]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('tools/tpm configure alpha \\\n--connectors=db1,db2,db3 \\\n');
    expect(r.stdout).not.toContain('s3cret');
  });

  it('query dataservices', async () => {
    const r = await runTpm(['query', 'dataservices', '--ini', ini]);
    expect(r.stdout).toBe(`${'alpha'.padEnd(30)}: PHYSICAL\n`);
  });

  it.each([
    [['diag', '--hosts=db9', '--ini', ini], /^tpm: --hosts: unknown host db9\n {2}known hosts in .*: db1, db2, db3\n$/],
    [['diag', '-a', '--ini', ini, '--log-size', 'lots'], /^tpm: --log-size "lots" is not a number of 0 or more\n/],
    [['diag', '-a', '--ini', ini, '--net-ssh-option=colour=blue'], /unknown key "colour"/],
    [['diag', '-a', '--ini', ini, '--max-host-size', '0'], /^tpm: --max-host-size "0" is not a number of at least 1\n/],
    [['diag', '--ini', '/nonexistent.ini'], /^tpm: cannot read \/nonexistent.ini: ENOENT\n/],
    [['query', 'colour', '--ini', ini], /^tpm: unknown query "colour"\n\s*use one of: /],
    [['diag', '--ini', ini, '--path', ini], /^tpm: --path .*tungsten\.ini: not a directory\n\s*--path takes the directory/],
    [['frobnicate'], /^tpm: unknown command 'frobnicate'/],
  ])('usage error %j: exit 2, one clear message, no stack trace', async (args, message) => {
    const r = await runTpm(args, { cwd: work });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(r.stderr).not.toMatch(/\bat .*\.js:\d+/);
    expect(r.stdout).toBe('');
  });

  it('query topology when the manager does not answer: the configured roles, labelled so, exit 3; query version with no release: exit 1', async () => {
    const local = join(work, 'norelease.ini');
    writeFileSync(local, `[defaults]\ninstall-directory=${join(work, 'nothing-here')}\n\n[alpha]\nmaster=db1\nmembers=db1,db2\n`);
    const topology = await runTpm(['query', 'topology', '--ini', local], { cwd: work });
    expect(topology.code).toBe(3);
    expect(JSON.parse(topology.stdout)).toEqual({ configured: { db1: 'master', db2: 'slave' } });
    expect(topology.stderr).toMatch(/^tpm: the manager did not answer \(.*cctrl\): this is the CONFIGURED topology from .*norelease\.ini, not the live one/);
    const version = await runTpm(['query', 'version', '--ini', local], { cwd: work });
    expect(version.code).toBe(1);
    expect(version.stdout).toBe('');
    expect(version.stderr).toMatch(/^tpm: no release installed in .*nothing-here: .*tungsten does not lead to a release \(tpm itself is [\d.]+\)\n\s*check install-directory= in /);
  });

  it('never prints a password from the command line', async () => {
    const r = await runTpm(['diag', '-a', '--ini', ini, '--net-ssh-option=password=hunter2', '--path', work], { cwd: work });
    expect(`${r.stdout}${r.stderr}`).not.toContain('hunter2');
  });

  it('plain progress lines on stderr when it is not a terminal, the archive path on stdout', async () => {
    const home = join(work, 'home');
    const local = join(work, 'local.ini');
    buildInstallTree(join(work, 'install'), join(work, 'install'));
    writeFileSync(local, `[defaults]\ninstall-directory=${join(work, 'install')}\n\n[alpha]\nmembers=thishost\n`);
    const r = await runTpm(['diag', '--ini', local, '--path', join(work, 'out')], { cwd: work, env: { HOME: home } });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/^\S+: connecting\n\S+: ok, \d+ files, [\d.]+ MiB, [\d.]+ s\n$/);
    expect(r.stderr).not.toContain('\u001b[');
    expect(r.stdout).toMatch(/^Diagnostic information written to .*\/out\/tungsten-diag-[\d-]+\.tgz\nsha256 [0-9a-f]{64}\n$/);
    expect(readdirSync(join(work, 'out')).length).toBe(2);
  });

  it('every host unreachable: stdout does not claim diagnostic information was written', async () => {
    const sshConfig = join(work, 'dead_ssh_config');
    // Port 1 on loopback: connection refused.
    writeFileSync(sshConfig, 'Host db9\n  HostName 127.0.0.1\n  Port 1\n  StrictHostKeyChecking yes\n');
    const dead = join(work, 'dead.ini');
    writeFileSync(dead, `[defaults]\ninstall-directory=${join(work, 'install')}\n\n[alpha]\nmembers=db9\n`);
    const r = await runTpm(['diag', '-a', '--ini', dead, '--ssh-config', sshConfig, '--path', join(work, 'out4')], { cwd: work, env: { HOME: join(work, 'home4') } });
    expect(r.code).not.toBe(0);
    expect(r.stdout).not.toContain('Diagnostic information written to');
    expect(r.stdout).toMatch(/^No diagnostic information from any host; an archive with only the manifest and SUMMARY\.txt written to .*\.tgz\n/);
    expect(r.stdout).toMatch(/\n {2}db9: unreachable: .+\n/);
  });

  it('a host without an installation is partial (exit 1) and says what is missing', async () => {
    const local = join(work, 'noinstall.ini');
    writeFileSync(local, `[defaults]\ninstall-directory=${join(work, 'nothing-here')}\n\n[alpha]\nmembers=thishost\n`);
    const r = await runTpm(['diag', '--ini', local, '--path', join(work, 'out2'), '--json'], { cwd: work });
    expect(r.code).toBe(1);
    const host = JSON.parse(r.stdout).hosts[0];
    expect(host.status).toBe('partial');
    expect(host.error).toContain(`no installation directory ${join(work, 'nothing-here')}`);
    // The terminal view gives each host's reason, not only the archive.
    const text = await runTpm(['diag', '--ini', local, '--path', join(work, 'out3')], { cwd: work });
    expect(text.code).toBe(1);
    expect(text.stdout).toMatch(/^Diagnostic information written to .*\nsha256 [0-9a-f]{64}\nIncomplete: 1 of 1 hosts; SUMMARY\.txt in the archive says what is missing\n {2}\S+: partial: .*no installation directory /);
  });
});
