/**
 * Hostile and broken hosts over real OpenSSH, where the findings came from: real hosts running tpm
 * diag's own collection commands. db1's installation has links out of it (to /etc/shadow, to /,
 * into share/); db2 runs our scripts with a compromised `find` that lists names climbing out of the
 * host's folder; db3's account refuses every command, as a nologin shell does.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fleetIni, INSTALL, startFleet, systemTestSkipReason, type Fleet } from '../helpers/fleet.js';
import { freeLoopbackAddress, titleOrSkipReason } from '../helpers/processes.js';
import { runTpm } from '../helpers/tpmBin.js';

const skip = systemTestSkipReason();

describe.skipIf(skip !== undefined)(titleOrSkipReason('tpm diag -a against hostile real sshd hosts', skip), () => {
  let fleet: Fleet;
  let work: string;
  let common: string[];
  const pwned = `tpm-pwned-${process.pid}`;

  /** Each host's own loopback address, picked free for this run (two suites at once never share one). */
  const address = { db1: '', db2: '', db3: '' };
  beforeAll(async () => {
    for (const name of Object.keys(address) as Array<keyof typeof address>) address[name] = await freeLoopbackAddress([2222], 'the tpm fleet tests');
    work = mkdtempSync(join(tmpdir(), 'tpm-hostile-'));
    const bin = join(work, 'bin');
    mkdirSync(bin);
    // A compromised find: before doing the real job it lists names no honest find prints.
    writeFileSync(
      join(bin, 'find'),
      [
        '#!/bin/sh',
        `[ "$2" = service_logs ] && printf 'F\\t5\\tservice_logs/../../../../../../tmp/${pwned}\\t${INSTALL}/service_logs/trepsvc.log\\0F\\t5\\t/etc/passwd\\t/etc/passwd\\0'`,
        'exec /usr/bin/find "$@"',
        '',
      ].join('\n'),
    );
    chmodSync(join(bin, 'find'), 0o755);
    fleet = await startFleet([
      {
        name: 'db1',
        address: address.db1,
        port: 2222,
        install: {
          links: { 'service_logs/shadow.log': '/etc/shadow', 'service_logs/everything': '/', 'service_logs/cred.log': `${INSTALL}/share/.my.alpha.cnf`, 'conf/etc': '/etc' },
        },
      },
      { name: 'db2', address: address.db2, port: 2222, forceCommand: `PATH=${bin}:/usr/sbin:/usr/bin:/sbin:/bin exec sh -c "$SSH_ORIGINAL_COMMAND"`, install: { files: { 'conf/tab\tname.properties': 'a=1\n' } } },
      { name: 'db3', address: address.db3, port: 2222, forceCommand: `echo 'This account is currently not available.' >&2; exit 1` },
    ]);
    const ini = join(work, 'tungsten.ini');
    writeFileSync(ini, fleetIni(['db1', 'db2', 'db3']));
    common = ['--ini', ini, '--ssh-config', fleet.sshConfigFile, '--connect-timeout', '4', '--command-timeout', '10', '--host-timeout', '60', '--json'];
  }, 120_000);

  afterAll(async () => {
    await fleet?.stop();
    rmSync(work, { recursive: true, force: true });
  });

  it('skips links out of the installation, refuses names that leave the host folder, and says which host refused to run anything', async () => {
    const out = join(work, 'out');
    const started = Date.now();
    const r = await runTpm(['diag', '-a', ...common, '--path', out], { env: { SSH_AUTH_SOCK: '' } });
    expect(r.code, r.stderr).toBe(1);
    // A link to / is one record, not a walk of the whole host.
    expect(Date.now() - started).toBeLessThan(30_000);
    const manifest = JSON.parse(r.stdout);
    const [db1, db2, db3] = manifest.hosts;
    expect(manifest.hosts.map((h: { status: string }) => h.status)).toEqual(['ok', 'partial', 'partial']);

    expect(db1.skipped).toEqual(
      expect.arrayContaining([
        { path: 'service_logs/shadow.log', reason: `resolves to /etc/shadow, outside the installation ${INSTALL}: not collected` },
        { path: 'service_logs/everything', reason: 'resolves to /, outside the installation, not a regular file: not collected' },
        { path: 'service_logs/cred.log', reason: 'credential file: never leaves the host' },
        { path: 'conf/etc', reason: 'resolves to /etc, outside the installation, not a regular file: not collected' },
      ]),
    );
    expect(db1.collected.map((f: { path: string }) => f.path)).toContain('service_logs/trepsvc.log');

    expect(db2.skipped).toEqual(
      expect.arrayContaining([
        { path: `service_logs/../../../../../../tmp/${pwned}`, reason: expect.stringMatching(/^refused: .*climbs out of its folder/) },
        { path: '/etc/passwd', reason: expect.stringMatching(/^refused: /) },
        { path: expect.stringContaining('tab\\x09name.properties'), reason: expect.stringMatching(/^refused: /) },
      ]),
    );
    expect(db2.collected.map((f: { path: string }) => f.path)).toContain('service_logs/trepsvc.log');
    expect(db3.error).toBe('the host answered but did not run the file listing (exit 1): This account is currently not available.');

    const [name] = readdirSync(out).filter((f) => f.endsWith('.tgz'));
    const archive = join(out, name!);
    expect(statSync(archive).mode & 0o777).toBe(0o600);
    const list = spawnSync('tar', ['-tzf', archive], { encoding: 'utf8' });
    expect(list.status, list.stderr).toBe(0);
    const top = name!.replace(/\.tgz$/, '');
    for (const m of list.stdout.trim().split('\n')) {
      expect(m.startsWith(`${top}/`)).toBe(true);
      expect(m.split('/')).not.toContain('..');
      expect(m).not.toMatch(/shadow|everything|cred\.log|\.my\.|passwd/);
    }
    // Both GNU tar and Python's tarfile (with its safe filter) extract it whole, inside the target.
    const gnu = join(work, 'gnu');
    mkdirSync(gnu);
    expect(spawnSync('tar', ['-xzf', archive, '-C', gnu]).status).toBe(0);
    const py = join(work, 'py');
    mkdirSync(py);
    const p = spawnSync('python3', ['-c', "import tarfile,sys\ntarfile.open(sys.argv[1]).extractall(sys.argv[2], filter='data')", archive, py], { encoding: 'utf8' });
    expect(p.status, p.stderr).toBe(0);
    expect(readdirSync('/tmp').some((f) => f === pwned)).toBe(false);
  }, 90_000);
});
