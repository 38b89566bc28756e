/**
 * What the README tells an operator to do with an existing replication setup, end to end: start
 * `tungsten-manager --config fixtures/mysql/manager.properties` (hosts, ports and the password file
 * overridden for three local mariadbd servers), then drive it with `cctrl`. The password never
 * appears in the manager's output, the API or cctrl's output.
 */
import { titleOrSkipReason } from '../helpers/processes.js';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MANAGER_PASSWORD, mariadbMissing, skipWithoutMariaDb, startMariaDbCluster, type MariaDbCluster } from '../helpers/mariadb.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
const MANAGER_BIN = path.join(ROOT, 'dist/src/cli/manager.js');
const CCTRL_BIN = path.join(ROOT, 'dist/src/cli/cctrl.js');
const FIXTURE = path.join(ROOT, 'fixtures/mysql/manager.properties');
const API_USER = 'admin';
const API_PASSWORD = 'api-pw-9';

function requireBuild(): void {
  if (!existsSync(MANAGER_BIN) || !existsSync(CCTRL_BIN)) {
    throw new Error('the bins are not built: run `npx tsc -p tsconfig.build.json` (npm test does it first)');
  }
}

/** The fixture's datasources moved to the test cluster's own loopback address and ports. */
function localOverrides(cluster: MariaDbCluster, passwordFile: string): string[] {
  return [
    ...cluster.servers.flatMap((s) => [`--property=datasource.${s.name}.host=${s.host}`, `--property=datasource.${s.name}.port=${s.port}`]),
    `--property=mysql.passwordFile=${passwordFile}`,
    '--property=policy.liveness.samplePeriod=0.5',
  ];
}

function cctrl(url: string, commands: string) {
  const result = spawnSync(process.execPath, [CCTRL_BIN, '--manager', url, '--user', API_USER, '-e', commands], {
    env: { ...process.env, TUNGSTEN_API_PASSWORD: API_PASSWORD },
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { code: result.status, out: result.stdout, err: result.stderr };
}

describe.skipIf(skipWithoutMariaDb)(titleOrSkipReason('tungsten-manager and cctrl on an existing MariaDB replication setup', skipWithoutMariaDb ? mariadbMissing() : null), () => {
  let cluster: MariaDbCluster;
  let work: string;
  let manager: ChildProcess | null = null;
  let managerOutput = '';
  let url: string;

  beforeAll(async () => {
    requireBuild();
    cluster = await startMariaDbCluster();
    work = mkdtempSync(path.join(tmpdir(), 'mariadb-bin-'));
    const passwordFile = path.join(work, 'mysql.password');
    writeFileSync(passwordFile, `${MANAGER_PASSWORD}\n`, { mode: 0o600 });
    manager = spawn(process.execPath, [MANAGER_BIN, '--config', FIXTURE, ...localOverrides(cluster, passwordFile), '--port', '0', '--api-user', API_USER], {
      env: { ...process.env, TUNGSTEN_API_PASSWORD: API_PASSWORD },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    manager.stdout!.on('data', (d: Buffer) => (managerOutput += d.toString()));
    manager.stderr!.on('data', (d: Buffer) => (managerOutput += d.toString()));
    url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`tungsten-manager did not start:\n${managerOutput}`)), 30_000);
      const check = () => {
        const m = /REST API on (\S+)\/api\/v2/.exec(managerOutput);
        if (m) {
          clearTimeout(timer);
          resolve(m[1]!);
        }
      };
      manager!.stdout!.on('data', check);
      manager!.once('exit', (code) => reject(new Error(`tungsten-manager exited with ${code}:\n${managerOutput}`)));
    });
  });

  afterAll(async () => {
    if (manager && manager.exitCode === null) {
      const exited = new Promise((r) => manager!.once('exit', r));
      manager.kill('SIGTERM');
      await exited;
    }
    await cluster?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('starts from the example configuration and says which driver and datasources it manages', () => {
    expect(managerOutput).toContain('tungsten-manager: service alpha, mysql driver, datasources db1 (master), db2 (slave), db3 (slave)');
  });

  it('shows the real servers in cctrl ls', () => {
    const { code, out } = cctrl(url, 'ls');
    expect(code).toBe(0);
    expect(out).toMatch(/\|db1\(master:ONLINE, progress=\d+/);
    expect(out).toMatch(/\|db2\(slave:ONLINE, progress=\d+/);
    expect(out).toMatch(/REPLICATOR\(role=slave, master=db1, state=ONLINE\)/);
  });

  it('switches with cctrl and the servers follow: db2 takes writes, db1 replicates from it', async () => {
    const { code, out } = cctrl(url, 'switch to db2');
    expect(code, out).toBe(0);
    const [db2] = await cluster.rootQuery<Array<{ ro: number }>>('db2', 'SELECT @@read_only AS ro');
    expect(db2!.ro).toBe(0);
    const [status] = await cluster.rootQuery<Array<{ Master_Port: number; Slave_SQL_Running: string }>>('db1', 'SHOW SLAVE STATUS');
    expect(status).toMatchObject({ Master_Host: cluster.host, Master_Port: cluster.server('db2').port, Slave_SQL_Running: 'Yes' });
    const after = cctrl(url, 'ls');
    expect(after.out).toMatch(/\|db2\(master:ONLINE/);
  });

  it('never shows the MariaDB password: not in the API, not in cctrl, not in the manager output', async () => {
    const response = await fetch(`${url}/api/v2/manager/status/service/alpha`, {
      headers: { authorization: `Basic ${Buffer.from(`${API_USER}:${API_PASSWORD}`).toString('base64')}` },
    });
    expect(response.status).toBe(200);
    const body = await response.text();
    const { out } = cctrl(url, 'ls; history');
    for (const text of [body, out, managerOutput]) expect(text).not.toContain(MANAGER_PASSWORD);
  });

  it('refuses to start with an unreadable password file: one line, exit 2', () => {
    const result = spawnSync(process.execPath, [MANAGER_BIN, '--config', FIXTURE, '--port', '0', '--api-user', API_USER], {
      env: { ...process.env, TUNGSTEN_API_PASSWORD: API_PASSWORD },
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(result.status).toBe(2);
    expect(result.stderr).toMatch(/^tungsten-manager: mysql\.passwordFile \/etc\/tungsten\/mysql\.password cannot be read \(ENOENT\)\n/);
    expect(result.stderr).not.toMatch(/\n\s+at /);
  });
});
