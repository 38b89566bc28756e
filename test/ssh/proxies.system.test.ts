import { appendFileSync, chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fleetIni, startFleet, systemTestSkipReason, type Fleet } from '../helpers/fleet.js';
import { freeLoopbackAddress, titleOrSkipReason } from '../helpers/processes.js';
import { runTpm } from '../helpers/tpmBin.js';

const skip = systemTestSkipReason();

/**
 * tpm diag -a against real sshd hosts reached the ways operators' ssh configs reach them: a
 * ProxyCommand (db1's HostName does not resolve; only the command reaches it) and a ProxyJump
 * bastion that admits only its own User (tungsten.ini's user is refused there).
 */
describe.skipIf(skip !== undefined)(titleOrSkipReason('tpm diag -a through ProxyCommand and ProxyJump, on real sshd', skip), () => {
  let fleet: Fleet;
  let work: string;
  let marker: string;

  /** Each host's own loopback address, picked free for this run (two suites at once never share one). */
  const address = { db1: '', db2: '', bastion: '' };
  beforeAll(async () => {
    for (const name of Object.keys(address) as Array<keyof typeof address>) address[name] = await freeLoopbackAddress([2222], 'the tpm fleet tests');
    work = mkdtempSync(join(tmpdir(), 'tpm-proxy-'));
    fleet = await startFleet([
      { name: 'db1', address: address.db1, port: 2222, install: { ini: fleetIni(['db1', 'db2']) } },
      { name: 'db2', address: address.db2, port: 2222 },
      { name: 'bastion', address: address.bastion, port: 2222, sshdConfig: ['AllowUsers nobody'] },
    ]);
    // sshd reads authorized_keys as the user logging in: let nobody reach the bastion's.
    for (const p of [fleet.dir, join(fleet.dir, 'bastion'), join(fleet.dir, 'bastion', 'authorized_keys')]) chmodSync(p, 0o755);
    marker = join(work, 'relayed');
    const relay = join(work, 'relay.mjs');
    writeFileSync(
      relay,
      "import net from 'node:net';\nimport { appendFileSync } from 'node:fs';\n" +
        'appendFileSync(process.argv[4], `${process.argv[2]}:${process.argv[3]}\\n`);\n' +
        'const s = net.connect(Number(process.argv[3]), process.argv[2]);\nprocess.stdin.pipe(s);\ns.pipe(process.stdout);\n' +
        "s.on('close', () => process.exit(0));\ns.on('error', () => process.exit(1));\n",
    );
    // db1 only through its ProxyCommand: its HostName does not resolve.
    const known = readFileSync(fleet.knownHostsFile, 'utf8').split('\n');
    const db1Key = known.find((l) => l.startsWith(`[${address.db1}]:2222 `))!.split(' ').slice(1).join(' ');
    appendFileSync(fleet.knownHostsFile, `[db1.invalid]:2222 ${db1Key}\n`);
    writeFileSync(
      fleet.sshConfigFile,
      readFileSync(fleet.sshConfigFile, 'utf8')
        .replace(`Host db1\n  HostName ${address.db1}\n`, `Host db1\n  HostName db1.invalid\n  ProxyCommand ${process.execPath} ${relay} ${address.db1} %p ${marker}\n`)
        .replace('Host db2\n', 'Host db2\n  ProxyJump bastion\n')
        .replace(`Host bastion\n  HostName ${address.bastion}\n  Port 2222\n  User root\n`, `Host bastion\n  HostName ${address.bastion}\n  Port 2222\n  User nobody\n`),
    );
  }, 120_000);

  afterAll(async () => {
    await fleet?.stop();
    rmSync(work, { recursive: true, force: true });
  });

  it('collects db1 over its ProxyCommand and db2 over a bastion that knows its own user', async () => {
    const ini = join(work, 'tungsten.ini');
    writeFileSync(ini, fleetIni(['db1', 'db2']).replace('[defaults]\n', '[defaults]\nuser=root\n'));
    const r = await runTpm(['diag', '-a', '--ini', ini, '--ssh-config', fleet.sshConfigFile, '--connect-timeout', '15', '--path', work, '--json'], { env: { SSH_AUTH_SOCK: '' } });
    const manifest = JSON.parse(r.stdout || '{"hosts":[]}');
    const status = Object.fromEntries(manifest.hosts.map((h: { host: string; status: string; error: string | null }) => [h.host, h.error ? `${h.status}: ${h.error}` : h.status]));
    expect(status, r.stderr).toEqual({ db1: 'ok', db2: 'ok' });
    expect(existsSync(marker) && readFileSync(marker, 'utf8')).toBe(`${address.db1}:2222\n`);
  }, 120_000);
});
