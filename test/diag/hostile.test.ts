/**
 * Hostile hosts in the fast tier: in-process SSH hosts that answer tpm diag's commands with what
 * no honest host sends (a stream that claims an 8 GB file, names that climb out of the host's
 * folder, links outside the installation, commands that all fail, control characters, endless
 * output). The same findings over real sshd are in test/system/fleet-hostile.test.ts.
 */
import { spawnSync } from 'node:child_process';
import { lstatSync, mkdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseTungstenIni } from '../../src/config/tungstenIni.js';
import { archiveBaseName, runDiag } from '../../src/diag/run.js';
import type { HostProgress } from '../../src/diag/types.js';
import { plainProgressLine } from '../../src/cli/tpm.js';
import type { Writable } from 'node:stream';
import { HostPart } from '../../src/diag/archive.js';
import { HostCollector } from '../../src/diag/collect.js';
import { LocalTransport, type ExecOptions, type HostTransport } from '../../src/ssh/transport.js';
import { fakeHost, INSTALL, isCctrl, isProbe, isStream, listingRecords, probeReply, useFakeFleet } from './fakeDiagHost.js';

const fleet = useFakeFleet();
const CONF = { 'service_logs/trepsvc.log': 'x'.repeat(1000), 'conf/static-alpha.properties': 'a=1\n', 'conf/z-after.properties': 'b=2\n' };

function members(archive: string): string[] {
  const list = spawnSync('tar', ['-tzf', archive], { encoding: 'utf8' });
  expect(list.status, list.stderr).toBe(0);
  return list.stdout.trim().split('\n');
}

describe('a host that lies about sizes', () => {
  it('a configuration file claimed at 8 GB is refused at its header, streamed through bounded memory, and the stream stopped', async () => {
    const reply = { stdout: Buffer.concat([Buffer.from(`F 1000 1000\n`), Buffer.alloc(1000, 0x78), Buffer.from('0 1000 \n'), Buffer.from(`F 8589934592 8589934592\n`), Buffer.alloc(96 << 20, 0x61)]) };
    const liar = (c: string) => (isStream(c) ? reply : undefined);
    const db1 = await fleet.host({ handler: fakeHost(CONF, liar) });
    const baseline = process.memoryUsage().arrayBuffers;
    let peak = baseline;
    const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().arrayBuffers)), 5);
    const started = Date.now();
    const result = await runDiag(fleet.options({ db1 }, { logSizeMiB: 0 })).finally(() => clearInterval(sampler));
    const h = result.manifest.hosts[0]!;
    expect(h.status).toBe('partial');
    expect(h.skipped).toContainEqual({ path: 'conf/opt/continuent/conf/static-alpha.properties', reason: 'not read: the host announced 8589934592 bytes for it, over its cap of 16 MiB (a configuration file)' });
    expect(h.skipped).toContainEqual({ path: 'conf/opt/continuent/conf/z-after.properties', reason: 'not read: the file stream was stopped at conf/opt/continuent/conf/static-alpha.properties, which passed a cap' });
    expect(h.collected.map((f) => f.path)).toContain('service_logs/trepsvc.log');
    // The 96 MiB the host sent after its header were never held: tpm stopped reading at the header.
    expect(peak - baseline).toBeLessThan(48 << 20);
    expect(Date.now() - started).toBeLessThan(15_000);
    expect(members(result.archivePath).some((m) => m.includes('static-alpha'))).toBe(false);
  });

  it('a log that sends more than --log-size asked for is refused; the host cap stops a host whose files add up past it', async () => {
    const liar = (c: string) => (isStream(c) ? { stdout: Buffer.concat([Buffer.from(`F 5000000 5000000\n`), Buffer.alloc(5_000_000)]) } : undefined);
    const db1 = await fleet.host({ handler: fakeHost(CONF, liar) });
    const big = { 'service_logs/a.log': 'a'.repeat(600_000), 'service_logs/b.log': 'b'.repeat(600_000) };
    const db2 = await fleet.host({ handler: fakeHost(big) });
    const result = await runDiag(fleet.options({ db1, db2 }, { logSizeMiB: 1, maxHostBytes: 1 << 20 }));
    const [h1, h2] = result.manifest.hosts;
    expect(h1!.status).toBe('partial');
    expect(h1!.skipped).toContainEqual({ path: 'service_logs/trepsvc.log', reason: 'not read: the host announced 5000000 bytes for it, over its cap of 1 MiB (--log-size)' });
    expect(h2!.collected.map((f) => f.path)).toContain('service_logs/a.log');
    expect(h2!.skipped).toContainEqual({ path: 'service_logs/b.log', reason: 'not read: 600000 bytes would pass the cap of 1 MiB for one host (--max-host-size)' });
  });
});

describe('a host that names files outside its folder', () => {
  it('every hostile name is refused and listed with its reason; the host is partial and no member leaves its folder', async () => {
    const hostile = [
      `F\t5\tservice_logs/../../../../tmp/pwned\t${INSTALL}service_logs/x\0`,
      `F\t5\t/etc/passwd\t/etc/passwd\0`,
      `F\t5\tservice_logs/\x1b]0;pwned\x07.log\t${INSTALL}x\0`,
      `F\t5\tservice_logs/${'a'.repeat(300)}\t${INSTALL}x\0`,
      `F\t5\tservice_logs/a\0b\t${INSTALL}x\0`,
      `F\t5\tservice_logs/tab\tname\t${INSTALL}x\0`,
      `F\t5\tshare/.my.alpha.cnf\t${INSTALL}share/.my.alpha.cnf\0`,
      `F\t5\tservice_logs/./x.log\t${INSTALL}x\0`,
      `F\t99999999999999999999\tservice_logs/size.log\t${INSTALL}x\0`,
    ].join('');
    const probe = (c: string) => (isProbe(c) ? probeReply(c, listingRecords(CONF) + hostile) : undefined);
    const db1 = await fleet.host({ handler: fakeHost(CONF, probe) });
    const result = await runDiag(fleet.options({ db1 }, { logSizeMiB: 0 }));
    const h = result.manifest.hosts[0]!;
    expect(h.status).toBe('partial');
    const refused = h.skipped.filter((s) => s.reason.startsWith('refused'));
    expect(refused.map((r) => r.path)).toEqual([
      'service_logs/../../../../tmp/pwned',
      '/etc/passwd',
      'service_logs/\\x1b]0;pwned\\x07.log',
      `service_logs/${'a'.repeat(187)}…`,
      'F\t5\tservice_logs/a',
      'b\t/opt/continuent/x',
      'F\t5\tservice_logs/tab\tname\t/opt/continuent/x',
      'share/.my.alpha.cnf',
      'service_logs/./x.log',
      'service_logs/size.log',
    ].map((p) => p.replace(/\t/g, '\\x09')));
    expect(refused[0]!.reason).toMatch(/climbs out of its folder/);
    expect(h.error).toMatch(/refused/);
    // None of them was asked for.
    const stream = db1.commands.find(isStream)!;
    expect(stream).not.toMatch(/pwned|passwd|\.my\.alpha|size\.log/);
    const top = archiveBaseName(new Date(result.manifest.createdAt));
    for (const m of members(result.archivePath)) {
      expect(m.startsWith(`${top}/`)).toBe(true);
      expect(m.split('/')).not.toContain('..');
    }
    // Python's tarfile with the safe 'data' filter extracts it whole.
    const x = join(fleet.dir, 'x');
    mkdirSync(x);
    const py = spawnSync('python3', ['-c', `import tarfile,sys\nt=tarfile.open(sys.argv[1])\nt.extractall(sys.argv[2], filter='data')`, result.archivePath, x], { encoding: 'utf8' });
    expect(py.status, py.stderr).toBe(0);
  });

  it('a link outside the installation is skipped with where it leads, without making the host partial', async () => {
    const links = [`F\t1234\tservice_logs/shadow\t/etc/shadow\0`, `N\t0\tservice_logs/root\t/\0`, `O\t0\tconf\t/etc\0`, `F\t40\tservice_logs/cred.log\t${INSTALL}share/.my.alpha.cnf\0`].join('');
    const probe = (c: string) => (isProbe(c) ? probeReply(c, listingRecords(CONF) + links) : undefined);
    const db1 = await fleet.host({ handler: fakeHost(CONF, probe) });
    const result = await runDiag(fleet.options({ db1 }));
    const h = result.manifest.hosts[0]!;
    expect(h.status).toBe('ok');
    expect(h.skipped).toEqual(
      expect.arrayContaining([
        { path: 'service_logs/shadow', reason: 'resolves to /etc/shadow, outside the installation /opt/continuent: not collected' },
        { path: 'service_logs/root', reason: 'resolves to /, outside the installation, not a regular file: not collected' },
        { path: 'conf/', reason: 'resolves to /etc, outside the installation /opt/continuent: not listed' },
        { path: 'service_logs/cred.log', reason: 'credential file: never leaves the host' },
      ]),
    );
    expect(db1.commands.find(isStream)).not.toMatch(/shadow|\.my\.alpha/);
  });
});

describe('honest statuses', () => {
  it('a host that answers but whose every command fails is partial, with what it said, not unreachable', async () => {
    const db1 = await fleet.host({ handler: () => ({ code: 1, stderr: 'This account is currently not available.\n' }) });
    const result = await runDiag(fleet.options({ db1 }));
    const h = result.manifest.hosts[0]!;
    expect(h.status).toBe('partial');
    expect(h.error).toBe('the host answered but did not run the file listing (exit 1): This account is currently not available.');
  });
});

describe('what a host prints reaches no terminal raw, and has a size', () => {
  it('control characters (C0 and C1) in what a host says are neutralised in the manifest and the progress lines', async () => {
    const evil = '\x1b]0;pwned\x07\x9b31m\x1b[2J';
    const hostile = (c: string) =>
      isStream(c) ? { stdout: `E cannot open: ${evil}\nE x\nE y\n` } : isCctrl(c) ? { code: 1, stderr: `cctrl: ${evil}\n` } : undefined;
    const db1 = await fleet.host({ handler: fakeHost(CONF, hostile) });
    const progress: HostProgress[] = [];
    const result = await runDiag(fleet.options({ db1 }, { onProgress: (p) => progress.push(p) }));
    const h = result.manifest.hosts[0]!;
    const shown = JSON.stringify(h) + plainProgressLine(progress.find((p) => p.phase === 'done')!);
    expect(['\u001b', '\u0007', '\u009b'].some((c) => shown.includes(c))).toBe(false);
    expect(h.skipped).toContainEqual({ path: 'cctrl_ls.txt', reason: 'cctrl exited with 1: cctrl: \\x1b]0;pwned\\x07\\x9b31m\\x1b[2J' });
    expect(h.error).toContain('cannot read: cannot open: \\x1b]0;pwned');
  });

  it('a listing that never ends is cut at its cap with a clear reason (the command stopped, nothing held whole)', async () => {
    // The probe answered by a local command that prints 1 GiB: the real pump, the real kill.
    const local = new LocalTransport();
    const endless: HostTransport = {
      exec: (command: string, stdout: Writable, o: ExecOptions) => local.exec(isProbe(command) ? 'head -c 1073741824 /dev/zero' : 'exit 127', stdout, o),
      close: () => local.close(),
    };
    const part = await HostPart.create(join(fleet.dir, 'db1.part'), 'top/db1', new Date());
    const started = Date.now();
    const collector = new HostCollector(endless, part, { installDirectory: INSTALL, logSizeBytes: 0, idleTimeoutMs: 10_000, cctrlTimeoutS: 1, stagingConfig: parseTungstenIni('[a]\nmembers=db1\n', 'x.ini') });
    await expect(collector.run()).rejects.toThrow('the OS facts and file listing printed over 64 MiB; no real installation lists that much, nothing of it was kept');
    await part.close();
    expect(Date.now() - started).toBeLessThan(15_000);
  });

  it('a cctrl that never ends is cut at its cap with a clear reason; the host is otherwise collected', async () => {
    const db1 = await fleet.host({ handler: fakeHost(CONF, (c) => (isCctrl(c) ? { stdout: Buffer.alloc(5 << 20, 0x42) } : undefined)) });
    const result = await runDiag(fleet.options({ db1 }, { commandTimeoutMs: 10_000, hostTimeoutMs: 60_000 }));
    const h = result.manifest.hosts[0]!;
    expect(h.status).toBe('ok');
    expect(h.skipped).toContainEqual({ path: 'cctrl_ls.txt', reason: 'cctrl ls printed over 4 MiB: not kept' });
  });
});

describe('the files tpm writes', () => {
  it('the archive and its .sha256 are 0600, and a link planted where a temporary file goes is an error, never followed', async () => {
    const db1 = await fleet.host({ handler: fakeHost(CONF) });
    const first = await runDiag(fleet.options({ db1 }));
    expect(statSync(first.archivePath).mode & 0o777).toBe(0o600);
    expect(statSync(`${first.archivePath}.sha256`).mode & 0o777).toBe(0o600);

    const victim = join(fleet.dir, 'victim');
    writeFileSync(victim, 'root-owned file\n');
    const when = new Date(2030, 0, 2, 3, 4, 5);
    const name = archiveBaseName(when);
    const out = join(fleet.dir, 'out');
    for (const planted of [`.${name}.tgz.sha256.partial-${process.pid}`, `.${name}.tgz.partial-${process.pid}`]) {
      symlinkSync(victim, join(out, planted));
      await expect(runDiag(fleet.options({ db1 }, { now: () => when }))).rejects.toMatchObject({
        message: `cannot write ${join(out, planted)}: a file or a link is already there (tpm never writes over one, nor through a link)`,
        hint: expect.stringMatching(/remove what is in the way/),
      });
      expect(readFileSync(victim, 'utf8')).toBe('root-owned file\n');
      expect(lstatSync(join(out, planted)).isSymbolicLink()).toBe(true);
      expect(() => lstatSync(join(out, `${name}.tgz`))).toThrow();
      spawnSync('rm', ['-f', join(out, planted)]);
    }
  });
  it('a file or link put at the final name while the run goes on is an error at the end, left as it was, and no archive is placed', async () => {
    const db1 = await fleet.host({ handler: fakeHost(CONF) });
    const victim = join(fleet.dir, 'victim');
    writeFileSync(victim, 'root-owned file\n');
    const when = new Date(2030, 0, 2, 3, 4, 6);
    const name = archiveBaseName(when);
    const out = join(fleet.dir, 'out');
    for (const planted of [`${name}.tgz`, `${name}.tgz.sha256`]) {
      let done = false;
      const plant = (p: HostProgress) => {
        if (p.phase === 'collecting' && !done) {
          done = true;
          symlinkSync(victim, join(out, planted));
        }
      };
      await expect(runDiag(fleet.options({ db1 }, { now: () => when, onProgress: plant }))).rejects.toMatchObject({ message: `cannot write ${join(out, planted)}: a file or a link is already there (tpm never writes over one, nor through a link)` });
      expect(readFileSync(victim, 'utf8')).toBe('root-owned file\n');
      expect(lstatSync(join(out, planted)).isSymbolicLink()).toBe(true);
      expect(spawnSync('ls', ['-A', out], { encoding: 'utf8' }).stdout.trim().split('\n')).toEqual([planted]);
      spawnSync('rm', ['-f', join(out, planted)]);
    }
  });
});

describe('the final scan for known passwords', () => {
  it('a password from tungsten.ini found anywhere in the archive fails the run, and no archive is left', async () => {
    const leaky = { ...CONF, 'service_logs/trepsvc.log': 'INFO connecting with password topsecret\n' };
    const db1 = await fleet.host({ handler: fakeHost(leaky) });
    await expect(runDiag(fleet.options({ db1 }))).rejects.toMatchObject({
      kind: 'refused',
      message: expect.stringMatching(/^the archive would contain a password \(replication-password in \/etc\/tungsten\/tungsten\.ini\) in tungsten-diag-[\d-]+\/db1\/service_logs\/trepsvc\.log; it was not written$/),
    });
    expect(spawnSync('ls', ['-A', join(fleet.dir, 'out')], { encoding: 'utf8' }).stdout).toBe('');
  });

  it('a password a host configuration revealed (masked in one file) fails the run when another file holds it raw', async () => {
    const leaky = { ...CONF, 'conf/static-alpha.properties': 'replicator.global.db.password=hunter2-db\n', 'service_logs/trepsvc.log': 'jdbc hunter2-db\n' };
    const db1 = await fleet.host({ handler: fakeHost(leaky) });
    await expect(runDiag(fleet.options({ db1, }, { config: parseTungstenIni('[alpha]\nmembers=db1\n', 'x.ini') }))).rejects.toMatchObject({
      message: expect.stringMatching(/replicator\.global\.db\.password in conf\/opt\/continuent\/conf\/static-alpha\.properties of this host\) in .*\/db1\/service_logs\/trepsvc\.log/),
    });
  });
});
