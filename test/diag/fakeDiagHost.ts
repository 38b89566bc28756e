/**
 * An in-process host for the fast tier that answers tpm diag's three commands (the probe, the file
 * stream, cctrl) as the real scripts would, from files in memory; each answer can be replaced to
 * make the host hostile (a listing no honest host sends, a stream that lies about sizes).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach } from 'vitest';
import type { SshTarget } from '../../src/config/sshConfig.js';
import { parseTungstenIni } from '../../src/config/tungstenIni.js';
import type { DiagRunOptions } from '../../src/diag/run.js';
import { keyPair, startFakeServer, type FakeReply, type FakeServer, type FakeServerOptions } from '../ssh/fakeSshServer.js';

export const INSTALL = '/opt/continuent/';
export const OS = [['os_info/uname.txt', 'Linux db 6.1.0 x86_64 GNU/Linux\n'], ...['uptime', 'df', 'free', 'etc_hosts'].map((f) => [`os_info/${f}.txt`, `${f} output\n`])];

/** The file stream's frames for the files it asks for, as the script would send them. */
export function frames(command: string, files: Record<string, Buffer | string>): Buffer {
  const out: Buffer[] = [];
  for (const [, tail, quoted] of command.matchAll(/^f (\d+) '(.*)'$/gm)) {
    const data = files[quoted!.replace(/'\\''/g, "'").slice(INSTALL.length)];
    if (data === undefined) {
      out.push(Buffer.from(`E sh: 1: cannot open ${quoted}: No such file\n`));
      continue;
    }
    const d = Buffer.from(data);
    const keep = Number(tail) > 0 ? Math.min(Number(tail), d.length) : d.length;
    out.push(Buffer.from(`F ${d.length} ${keep}\n`), d.subarray(d.length - keep), Buffer.from(`0 ${keep} \n`));
  }
  return Buffer.concat(out);
}

/** The listing records an honest host sends for these files (each resolving to itself). */
export function listingRecords(files: Record<string, Buffer | string>): string {
  const records = Object.entries(files).map(([p, d]) => `F\t${Buffer.byteLength(d)}\t${p}\t${INSTALL}${p}\0`);
  return `R\t0\t${INSTALL.slice(0, -1)}\0` + records.join('') + 'D\t0\tservice_logs/xtrabackup.log\t/opt/continuent/tungsten/tungsten-replicator/log/xtrabackup.log\0';
}

export function probeReply(command: string, listing: string): FakeReply | undefined {
  const boundary = /^B=(\S+)$/m.exec(command)?.[1];
  if (!boundary) return undefined;
  const section = (name: string, text: string) => `--${boundary} ${name}\n${text}\n--${boundary}. 0 \n`;
  return { stdout: OS.map(([name, text]) => section(name!, text!)).join('') + section('listing', listing) };
}

export const isProbe = (c: string) => /^B=\S+$/m.test(c);
export const isStream = (c: string) => /^f \d+ '/m.test(c);
export const isCctrl = (c: string) => c.startsWith('c=');

/** Answers the collector's commands (probe, file stream, cctrl) from an in-memory host. */
export function fakeHost(files: Record<string, Buffer | string>, extra: (c: string) => FakeReply | undefined = () => undefined) {
  return (command: string): FakeReply => {
    const special = extra(command);
    if (special) return special;
    const probe = probeReply(command, listingRecords(files));
    if (probe) return probe;
    if (isStream(command)) return { stdout: frames(command, files) };
    if (isCctrl(command)) return { code: 127, stderr: '/opt/continuent/tungsten/tungsten-manager/bin/cctrl is not installed on this host\n' };
    return { code: 127, stderr: `unexpected ${command}` };
  };
}

export const INI = '[defaults]\nreplication-password=topsecret\n\n[alpha]\nmaster=db1\nmembers=db1,db2\nconnectors=db1\n';

export interface FakeFleet {
  /** This test's own directory (removed after it). */
  readonly dir: string;
  host(options: Partial<FakeServerOptions>): Promise<FakeServer>;
  /** runDiag's options for these hosts, every host key known, into dir/out. */
  options(targets: Record<string, FakeServer>, extra?: Partial<DiagRunOptions>): DiagRunOptions;
}

/** Per test: a directory, a client key, and in-process SSH hosts stopped after the test. */
export function useFakeFleet(): FakeFleet {
  const user = keyPair();
  let dir = '';
  let servers: FakeServer[] = [];
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'tpm-run-'));
    writeFileSync(join(dir, 'id'), user.private);
  });
  afterEach(async () => {
    await Promise.all(servers.map((s) => s.close()));
    servers = [];
    rmSync(dir, { recursive: true, force: true });
  });
  return {
    get dir() {
      return dir;
    },
    async host(options) {
      const s = await startFakeServer({ authorizedKeys: [user.public], ...options });
      servers.push(s);
      return s;
    },
    options(targets, extra = {}) {
      const knownHosts = join(dir, 'known_hosts');
      writeFileSync(knownHosts, Object.values(targets).map((s) => `[127.0.0.1]:${s.port} ${s.hostPublic}\n`).join(''));
      const target = (name: string): SshTarget => ({
        alias: name,
        hostName: '127.0.0.1',
        port: targets[name]!.port,
        user: 'tungsten',
        identityFiles: [join(dir, 'id')],
        knownHostsFiles: [knownHosts],
        strictHostKeyChecking: 'yes',
        connectTimeoutMs: 1000,
        proxyJump: [],
      });
      return {
        config: parseTungstenIni(INI, '/etc/tungsten/tungsten.ini'),
        hosts: Object.keys(targets),
        mode: 'ssh',
        outDir: join(dir, 'out'),
        logSizeMiB: 1,
        concurrency: 8,
        hostTimeoutMs: 10_000,
        commandTimeoutMs: 1000,
        cctrlTimeoutS: 1,
        commandLine: ['tpm', 'diag', '-a'],
        version: '0.1.0',
        sshTarget: target,
        ...extra,
      };
    },
  };
}
