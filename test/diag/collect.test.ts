import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Writable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import pLimit from 'p-limit';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseTungstenIni } from '../../src/config/tungstenIni.js';
import { HostPart } from '../../src/diag/archive.js';
import { HostCollector, MAX_CONF_BYTES, type CollectOptions } from '../../src/diag/collect.js';
import { TAR_END } from '../../src/diag/tarFormat.js';
import { LocalTransport, type ExecOptions, type ExecResult, type HostTransport } from '../../src/ssh/transport.js';

let dir: string;
let install: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'tpm-collect-'));
  install = join(dir, 'opt', 'continuent');
  const release = join(install, 'tungsten');
  mkdirSync(join(install, 'service_logs'), { recursive: true });
  mkdirSync(join(install, 'conf'));
  mkdirSync(join(install, 'share'));
  mkdirSync(join(release, 'tungsten-replicator', 'log'), { recursive: true });
  writeFileSync(join(release, 'tungsten-replicator', 'log', 'trepsvc.log'), Buffer.from(Array.from({ length: 50_000 }, (_, i) => `line ${i}\n`).join('')));
  symlinkSync(join(release, 'tungsten-replicator', 'log', 'trepsvc.log'), join(install, 'service_logs', 'trepsvc.log'));
  symlinkSync(join(release, 'tungsten-connector', 'log', 'connector.log'), join(install, 'service_logs', 'connector.log'));
  writeFileSync(join(install, 'conf', 'static-alpha.properties'), 'replicator.global.db.password=conf-secret\nreplicator.role=master\n');
  writeFileSync(join(install, 'share', '.my.alpha.cnf'), '[client]\npassword=share-secret\n');
  writeFileSync(join(install, 'conf', 'passwords.store'), 'tungsten=store-secret\n');
  writeFileSync(join(release, 'tungsten.ini'), '[defaults]\nreplication-password=ini-secret\n\n[alpha]\nmaster=db1\nmembers=db1,db2\n');
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function options(extra: Partial<CollectOptions> = {}): CollectOptions {
  return {
    installDirectory: install,
    logSizeBytes: 0,
    idleTimeoutMs: 5000,
    cctrlTimeoutS: 1,
    stagingConfig: parseTungstenIni('[alpha]\nmembers=db1\n', 'staging.ini'),
    ...extra,
  };
}

/** Runs a collector into a part file and extracts it with the system tar. */
async function collect(transport: HostTransport, extra: Partial<CollectOptions> = {}, name = 'db1') {
  const part = await HostPart.create(join(dir, `${name}.part`), `top/${name}`, new Date());
  const outcome = await new HostCollector(transport, part, options(extra)).run();
  await part.close();
  const tgz = join(dir, `${name}.tgz`);
  writeFileSync(tgz, Buffer.concat([readFileSync(join(dir, `${name}.part`)), gzipSync(TAR_END)]));
  const x = join(dir, `x-${name}`);
  mkdirSync(x);
  const r = spawnSync('tar', ['-xzf', tgz, '-C', x], { encoding: 'utf8' });
  expect(r.status, r.stderr).toBe(0);
  return { outcome, root: join(x, 'top', name) };
}

describe('HostCollector with the real scripts (sh on this host)', () => {
  it('collects the tail of a log, redacted configuration and OS facts; keeps credentials and skips dangling links', async () => {
    const log = readFileSync(join(install, 'service_logs', 'trepsvc.log'));
    const { outcome, root } = await collect(new LocalTransport(), { logSizeBytes: 4096 });
    expect(outcome.failures).toEqual([]);
    expect(readFileSync(join(root, 'service_logs', 'trepsvc.log')).equals(log.subarray(log.length - 4096))).toBe(true);
    expect(outcome.files.find((f) => f.path === 'service_logs/trepsvc.log')).toMatchObject({ bytes: 4096, sourceBytes: log.length });
    expect(readFileSync(join(root, 'conf', ...install.split('/').filter(Boolean), 'conf', 'static-alpha.properties'), 'utf8')).toBe('replicator.global.db.password=********\nreplicator.role=master\n');
    expect(readFileSync(join(root, 'tpm_reverse.txt'), 'utf8')).toContain('--replication-password=@@@@@@@@');
    expect(readFileSync(join(root, 'os_info', 'uname.txt'), 'utf8')).toBe(spawnSync('uname', ['-a'], { encoding: 'utf8' }).stdout);
    expect(outcome.skipped).toContainEqual({ path: `conf${install}/conf/passwords.store`, reason: 'credential file: never leaves the host' });
    expect(outcome.skipped).toContainEqual(expect.objectContaining({ path: 'service_logs/connector.log', reason: expect.stringMatching(/^dangling symlink/) }));
    expect(spawnSync('grep', ['-rlE', 'conf-secret|share-secret|store-secret|ini-secret', root], { encoding: 'utf8' }).stdout).toBe('');
  });

  it('does not read a configuration file larger than a configuration file can be', async () => {
    writeFileSync(join(install, 'conf', 'huge.properties'), Buffer.alloc(MAX_CONF_BYTES + 1, 0x61));
    const commands: string[] = [];
    const local = new LocalTransport();
    const recording: HostTransport = {
      exec: (command: string, stdout: Writable, o: ExecOptions) => (commands.push(command), local.exec(command, stdout, o)),
      close: () => local.close(),
    };
    const { outcome } = await collect(recording);
    expect(outcome.skipped).toContainEqual({ path: `conf${install}/conf/huge.properties`, reason: `${MAX_CONF_BYTES + 1} bytes: larger than a configuration file can be (16 MiB), not read` });
    expect(commands.some((c) => c.includes('huge.properties'))).toBe(false);
  });

  it('hosts take turns for the file stream when the slot allows one at a time', async () => {
    let streaming = 0;
    let most = 0;
    const local = new LocalTransport();
    const counting: HostTransport = {
      async exec(command: string, stdout: Writable, o: ExecOptions): Promise<ExecResult> {
        const stream = command.includes('\nf() {');
        if (stream) most = Math.max(most, ++streaming);
        try {
          return await local.exec(command, stdout, o);
        } finally {
          if (stream) streaming--;
        }
      },
      close: () => local.close(),
    };
    const slot = pLimit(1);
    const results = await Promise.all(['db1', 'db2', 'db3'].map((name) => collect(counting, { streamSlot: slot }, name)));
    expect(results.every((r) => r.outcome.files.some((f) => f.path === 'service_logs/trepsvc.log'))).toBe(true);
    expect(most).toBe(1);
  });

  it('a host still waiting for its stream slot gives it up when stopped (per-host limit)', async () => {
    const held = pLimit(1);
    void held(() => new Promise(() => undefined));
    const part = await HostPart.create(join(dir, 'db1.part'), 'top/db1', new Date());
    const stop = new AbortController();
    const collector = new HostCollector(new LocalTransport(), part, options({ streamSlot: held, signal: stop.signal }));
    setTimeout(() => stop.abort(), 200);
    const started = Date.now();
    await expect(collector.run()).rejects.toThrow(/collection stopped/);
    expect(Date.now() - started).toBeLessThan(2000);
    expect(collector.files.map((f) => f.path)).toContain('os_info/uname.txt');
    await part.close();
    const tgz = join(dir, 'db1.tgz');
    writeFileSync(tgz, Buffer.concat([readFileSync(join(dir, 'db1.part')), gzipSync(TAR_END)]));
    expect(spawnSync('tar', ['-tzf', tgz], { encoding: 'utf8' }).stdout).toContain('top/db1/os_info/uname.txt');
  });
});
