import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseTungstenIni } from '../../src/config/tungstenIni.js';
import { archiveBaseName, runDiag, type DiagRunOptions } from '../../src/diag/run.js';
import type { HostProgress } from '../../src/diag/types.js';
import type { FakeReply, FakeServer, FakeServerOptions } from '../ssh/fakeSshServer.js';
import { fakeHost, useFakeFleet } from './fakeDiagHost.js';

const fleet = useFakeFleet();
const host = (o: Partial<FakeServerOptions>) => fleet.host(o);
const options = (t: Record<string, FakeServer>, extra: Partial<DiagRunOptions> = {}) => fleet.options(t, extra);

const LOG = Buffer.from(Array.from({ length: 60_000 }, (_, i) => `line ${i}\n`).join(''));
const FILES = { 'service_logs/trepsvc.log': LOG, 'conf/static-alpha.properties': 'a=1\nreplicator.global.db.password=hunter2\n', 'conf/.my.alpha.cnf': 'password=x\n' };

describe('runDiag over in-process SSH hosts', () => {
  it('keeps the last --log-size of a log, redacts configuration and keeps credential files on the host', async () => {
    const db1 = await host({ handler: fakeHost(FILES) });
    const result = await runDiag(options({ db1 }, { logSizeMiB: 0.25 }));
    expect(result.exitCode).toBe(0);
    const h = result.manifest.hosts[0]!;
    expect(h.status).toBe('ok');
    expect(h.collected.find((f) => f.path === 'service_logs/trepsvc.log')).toMatchObject({ bytes: 262144, sourceBytes: LOG.length });
    expect(h.skipped).toContainEqual({ path: 'conf/opt/continuent/conf/.my.alpha.cnf', reason: 'credential file: never leaves the host' });
    expect(h.skipped).toContainEqual(expect.objectContaining({ path: 'cctrl_ls.txt', reason: expect.stringContaining('not installed') }));
    expect(db1.commands.some((c) => c.includes('.my.alpha.cnf'))).toBe(false);
    // One command for the OS facts and listing, one for the files (only the last --log-size of the log), one for cctrl.
    expect(db1.commands).toHaveLength(3);
    expect(db1.commands.find((c) => c.includes("f 262144 '/opt/continuent/service_logs/trepsvc.log'"))).toBeDefined();
    const x = join(fleet.dir, 'x');
    spawnSync('mkdir', ['-p', x]);
    expect(spawnSync('tar', ['-xzf', result.archivePath, '-C', x]).status).toBe(0);
    const top = join(x, readdirSync(x)[0]!);
    expect(readFileSync(join(top, 'db1/service_logs/trepsvc.log')).equals(LOG.subarray(LOG.length - 262144))).toBe(true);
    expect(readFileSync(join(top, 'db1/conf/opt/continuent/conf/static-alpha.properties'), 'utf8')).toBe('a=1\nreplicator.global.db.password=********\n');
    expect(readFileSync(join(top, 'SUMMARY.txt'), 'utf8')).toMatch(/Suggested severity: Normal \(P3\), because the cluster state at collection time is unknown/);
  });

  it("collects each host from its own install-directory (a service section's, else the defaults')", async () => {
    const db1 = await host({ handler: fakeHost(FILES) });
    const db2 = await host({ handler: fakeHost(FILES) });
    const config = parseTungstenIni('[defaults]\ninstall-directory=/opt/continuent\n[alpha]\nmembers=db1\n[beta]\nmembers=db2\ninstall-directory=/opt/beta\n', 'x.ini', { hostname: 'staging' });
    await runDiag(options({ db1, db2 }, { config }));
    expect(db1.commands.join('\n')).toContain("cd '/opt/continuent'");
    expect(db1.commands.join('\n')).not.toContain('/opt/beta');
    expect(db2.commands.join('\n')).toContain("cd '/opt/beta'");
    expect(db2.commands.join('\n')).not.toContain("cd '/opt/continuent'");
  });

  it('a connection dropped mid-log makes that host partial; the other host and the archive are intact', async () => {
    const db1 = await host({ handler: fakeHost(FILES) });
    const db2 = await host({ handler: fakeHost({ 'service_logs/trepsvc.log': Buffer.alloc(3 << 20, 0x61) }), dropAfterBytes: 1 << 20 });
    const progress: HostProgress[] = [];
    const result = await runDiag(options({ db1, db2 }, { logSizeMiB: 0, onProgress: (p) => progress.push(p) }));
    expect(result.exitCode).toBe(1);
    const [h1, h2] = result.manifest.hosts;
    expect(h1!.status).toBe('ok');
    expect(h2!.status).toBe('partial');
    expect(h2!.error).toMatch(/connection/);
    expect(h2!.collected.map((f) => f.path)).not.toContain('service_logs/trepsvc.log');
    // The log's half-written entry was cut off: the archive has no trace of it and reads whole.
    const list = spawnSync('tar', ['-tzf', result.archivePath], { encoding: 'utf8' });
    expect(list.status, list.stderr).toBe(0);
    expect(list.stdout).toContain('/db2/os_info/uname.txt');
    expect(list.stdout).not.toContain('/db2/service_logs/trepsvc.log');
    expect(spawnSync('gzip', ['-t', result.archivePath]).status).toBe(0);
    expect(progress.filter((p) => p.phase === 'done').map((p) => `${p.host}:${p.status}`).sort()).toEqual(['db1:ok', 'db2:partial']);
  });

  it('a file that shrinks or vanishes while it is read makes the host partial and stays out of the archive', async () => {
    const shrinking = (c: string): FakeReply | undefined =>
      /^f \d+ '/m.test(c)
        ? { stdout: Buffer.concat([Buffer.from('F 1000 1000\n'), Buffer.alloc(1000), Buffer.from('0 600 \nE sh: 1: cannot open conf: Permission denied\n')]) }
        : undefined;
    const db1 = await host({ handler: fakeHost({ 'service_logs/trepsvc.log': 'x'.repeat(1000), 'conf/static-alpha.properties': 'a=1\n' }, shrinking) });
    const result = await runDiag(options({ db1 }, { logSizeMiB: 0 }));
    const h = result.manifest.hosts[0]!;
    expect(h.status).toBe('partial');
    expect(h.skipped).toContainEqual({ path: 'service_logs/trepsvc.log', reason: 'the file shrank to 600 bytes while it was read (rotated?)' });
    expect(h.skipped).toContainEqual({ path: 'conf/opt/continuent/conf/static-alpha.properties', reason: 'cannot read: sh: 1: cannot open conf: Permission denied' });
    expect(h.error).toMatch(/^could not read: service_logs\/trepsvc\.log: the file shrank/);
    const list = spawnSync('tar', ['-tzf', result.archivePath], { encoding: 'utf8' });
    expect(list.status).toBe(0);
    expect(list.stdout).not.toMatch(/trepsvc\.log|static-alpha/);
    expect(list.stdout).toContain('/db1/tpm_reverse.txt');
  });

  it('a host whose commands hang ends as timeout while the others finish', async () => {
    const db1 = await host({ handler: fakeHost(FILES) });
    const db2 = await host({ handler: () => ({ hang: true }) });
    const started = Date.now();
    const result = await runDiag(options({ db1, db2 }));
    expect(result.manifest.hosts.map((h) => h.status)).toEqual(['ok', 'timeout']);
    expect(result.manifest.hosts[1]!.error).toMatch(/gave no output for 1 s/);
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it('the per-host limit stops a host that keeps talking too long', async () => {
    const big = 256 << 20;
    const slow = (c: string): FakeReply | undefined => (/^f \d+ '/m.test(c) ? { stdout: Buffer.concat([Buffer.from(`F ${big} ${big}\n`), Buffer.alloc(big)]) } : undefined);
    const db1 = await host({ handler: fakeHost(FILES, slow) });
    const result = await runDiag(options({ db1 }, { hostTimeoutMs: 300, logSizeMiB: 0 }));
    expect(result.manifest.hosts[0]!.status).toBe('timeout');
    expect(result.manifest.hosts[0]!.error).toMatch(/per-host limit of 0.3 s/);
    expect(result.exitCode).toBe(1);
  });

  it('nothing collected: exit 3, and the archive still says why', async () => {
    const db1 = await host({ handshakeDelayMs: Infinity });
    const result = await runDiag(options({ db1 }));
    expect(result.exitCode).toBe(3);
    expect(result.manifest.hosts[0]).toMatchObject({ host: 'db1', status: 'timeout', files: 0, collected: [], bytes: 0 });
    expect(spawnSync('tar', ['-xzOf', result.archivePath, `${archiveBaseName(new Date(result.manifest.createdAt))}/db1/ERROR.txt`]).stdout.toString()).toMatch(/^timeout: .*no SSH handshake/);
  });

  it('an abort leaves nothing in the output directory', async () => {
    const db1 = await host({ handler: () => ({ hang: true }) });
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 200);
    await expect(runDiag(options({ db1 }, { commandTimeoutMs: 10_000, signal: controller.signal }))).rejects.toMatchObject({ kind: 'interrupted' });
    expect(readdirSync(join(fleet.dir, 'out'))).toEqual([]);
  });
});

describe('archive naming', () => {
  it('waits for the next second when the name of this one is taken', async () => {
    const out = join(fleet.dir, 'out');
    const first = new Date(2026, 4, 6, 7, 8, 9);
    spawnSync('mkdir', ['-p', out]);
    writeFileSync(join(out, `${archiveBaseName(first)}.tgz`), 'earlier run');
    let calls = 0;
    const now = () => new Date(first.getTime() + (calls++ > 0 ? 1000 : 0));
    const result = await runDiag({ ...options({}), hosts: ['db1'], mode: 'local', config: parseTungstenIni(`[defaults]\ninstall-directory=${fleet.dir}/none\n[a]\nmembers=db1\n`, 'x.ini'), now });
    expect(result.archivePath).toBe(join(out, 'tungsten-diag-2026-05-06-07-08-10.tgz'));
    expect(readFileSync(join(out, `${archiveBaseName(first)}.tgz`), 'utf8')).toBe('earlier run');
  });
});

describe('archiveBaseName', () => {
  it('uses local time, zero padded', () => {
    expect(archiveBaseName(new Date(2026, 0, 2, 3, 4, 5))).toBe('tungsten-diag-2026-01-02-03-04-05');
  });
});
