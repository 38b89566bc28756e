/**
 * The mysql driver on a real MariaDB server (issue 9, item 3): what the server holds is in
 * `gtidState`, and a probe that fails for a cause that is not the server (the server at
 * max_connections, which proves it alive; the manager out of descriptors) is `inconclusive`, not a
 * failing state. And the whole manager under a flood of API connections at a low descriptor
 * limit keeps monitoring its server.
 *
 * The descriptor cases run in child processes under `ulimit -n` and need the build (dist/).
 */
import { titleOrSkipReason } from '../../helpers/processes.js';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import type mysql from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DataSourceConfig } from '../../../src/manager/drivers/driver.js';
import { MysqlDriver } from '../../../src/manager/drivers/mysql.js';
import { MANAGER_BIN } from '../../helpers/manager-process.js';
import { rawRequest } from '../../helpers/http.js';
import {
  MANAGER_PASSWORD,
  MANAGER_USER,
  datasourceProperties,
  managerDriverOptions,
  mariadbMissing, skipWithoutMariaDb,
  startMariaDbCluster,
  type MariaDbCluster,
} from '../../helpers/mariadb.js';

const execFileAsync = promisify(execFile);
const DIST_MYSQL_DRIVER = resolve(import.meta.dirname, '../../../dist/src/manager/drivers/mysql.js');
const call = { timeoutMs: 5000 };

const options = () => managerDriverOptions();

describe.skipIf(skipWithoutMariaDb)(titleOrSkipReason('mysql driver: evidence, not noise (one real MariaDB server)', skipWithoutMariaDb ? mariadbMissing() : null), () => {
  let cluster: MariaDbCluster;
  let driver: MysqlDriver;
  let db1: DataSourceConfig;

  beforeAll(async () => {
    cluster = await startMariaDbCluster({ count: 1, replicate: false });
    const s = cluster.servers[0]!;
    db1 = { name: 'db1', host: s.host, port: s.port, role: 'master', precedence: 1 };
    driver = new MysqlDriver(options(), [db1]);
    await cluster.rootQuery('db1', 'SET GLOBAL read_only = 0');
  }, 120_000);
  afterAll(async () => {
    await driver?.close();
    await cluster?.stop();
  });

  /** The server notices closed connections a moment later: retry until it takes the new limit. */
  async function restoreMaxConnections(): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        await cluster.rootQuery('db1', 'SET GLOBAL max_connections = 200');
        return;
      } catch (e) {
        if (attempt === 50) throw e;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }

  it('a read whose connection the server ends (another member fencing its master) is asked again once on a new connection', async () => {
    // A proxy that ends the first connection the moment its client asks for the GTID position.
    let cuts = 0;
    const proxy = net.createServer((client) => {
      const server = net.connect({ host: db1.host, port: db1.port });
      let cut = false;
      client.on('data', (chunk: Buffer) => {
        if (cuts === 0 && chunk.includes('gtid_binlog_pos')) {
          cuts++;
          cut = true;
          client.destroy();
          server.destroy();
          return;
        }
        if (!cut) server.write(chunk);
      });
      server.on('data', (chunk: Buffer) => client.write(chunk));
      for (const s of [client, server]) s.on('error', () => undefined);
      client.on('close', () => server.destroy());
      server.on('close', () => client.destroy());
    });
    await new Promise<void>((r) => proxy.listen(0, db1.host, r));
    const viaProxy: DataSourceConfig = { ...db1, port: (proxy.address() as net.AddressInfo).port };
    const proxied = new MysqlDriver(options(), [viaProxy]);
    try {
      const position = await proxied.position(viaProxy, call);
      expect(cuts).toBe(1);
      expect(position).toEqual(await driver.position(db1, call));
    } finally {
      await proxied.close();
      await new Promise((r) => proxy.close(r));
    }
  });

  it('reports the server\'s GTID state: gtid_binlog_state merged with gtid_slave_pos, one entry per (domain, server)', async () => {
    const conn = await cluster.appConnection('db1');
    await conn.query('INSERT INTO writes (id) VALUES (?)', [Date.now()]);
    await conn.end();
    // A GTID of another server in another domain, as if received from a master: in gtid_slave_pos only.
    const [{ pos, slavePos }] = await cluster.rootQuery<[{ pos: string; slavePos: string }]>('db1', 'SELECT @@gtid_binlog_pos AS pos, @@gtid_slave_pos AS slavePos');
    await cluster.rootQuery('db1', 'SET GLOBAL gtid_slave_pos = ?', [`${pos},1-7-3`]);
    try {
      const [row] = await cluster.rootQuery<Array<{ state: string }>>('db1', 'SELECT @@gtid_binlog_state AS state');
      const seen = await driver.observe(db1, call);
      expect(seen.inconclusive).toBeNull();
      expect(seen.dataServer.state).toBe('ONLINE');
      expect(row!.state).toMatch(/^0-1-\d+$/);
      expect(seen.gtidState).toBe(`${row!.state},1-7-3`);
    } finally {
      await cluster.rootQuery('db1', 'SET GLOBAL gtid_slave_pos = ?', [slavePos || pos]);
    }
  });

  it('a server at max_connections ("Too many connections", error 1040) is inconclusive, not a failing state', async () => {
    const held: mysql.Connection[] = [];
    // MariaDB's smallest max_connections is 10.
    await cluster.rootQuery('db1', 'SET GLOBAL max_connections = 10');
    try {
      // Fill every slot: the application's, then the one MariaDB keeps for a privileged account.
      const fill = async (open: () => Promise<mysql.Connection>) => {
        for (let i = 0; i < 30; i++) {
          try {
            held.push(await open());
          } catch (e) {
            expect((e as { errno?: number }).errno).toBe(1040);
            return;
          }
        }
        throw new Error('max_connections never reached');
      };
      await fill(() => cluster.appConnection('db1'));
      await fill(() => cluster.rootConnection('db1'));

      const seen = await driver.observe(db1, call);
      expect(seen.inconclusive).toBe('the server is alive but refuses more connections (max_connections reached)');
      expect(seen.dataServer.state).toBe('UNKNOWN');
      expect(seen.dataServer.reason).toMatch(/Too many connections/i);
      expect(seen.host).toBe('alive');
      expect(seen.gtidState).toBeNull();
    } finally {
      for (const c of held) c.destroy();
      await restoreMaxConnections();
    }
    const after = await driver.observe(db1, call);
    expect(after).toMatchObject({ dataServer: { state: 'ONLINE' }, inconclusive: null });
  });

  it('the manager out of file descriptors: the host check and the probe are inconclusive, the host not UNREACHABLE', async () => {
    // A child process at a low descriptor limit opens files until none is left, then observes.
    const script = `
      import { openSync } from 'node:fs';
      const { MysqlDriver } = await import(${JSON.stringify(DIST_MYSQL_DRIVER)});
      const { checkHost } = await import(${JSON.stringify(resolve(import.meta.dirname, '../../../dist/src/manager/hostcheck.js'))});
      const ds = ${JSON.stringify(db1)};
      const driver = new MysqlDriver(${JSON.stringify(options())}, [ds]);
      const fds = [];
      try { for (;;) fds.push(openSync('/dev/null', 'r')); } catch (e) { if (e.code !== 'EMFILE') throw e; }
      const echo = await checkHost(ds.host, { method: 'echo', timeoutMs: 1000 });
      const ping = await checkHost(ds.host, { method: 'ping', timeoutMs: 1000 });
      const obs = await driver.observe(ds, { timeoutMs: 5000 });
      process.stdout.write(JSON.stringify({ echo, ping, obs }));
      process.exit(0);
    `;
    const { stdout } = await execFileAsync('sh', ['-c', 'ulimit -n 64 && exec "$0" --input-type=module -e "$1"', process.execPath, script], { timeout: 30_000 });
    const { echo, ping, obs } = JSON.parse(stdout) as { echo: any; ping: any; obs: any };
    expect(echo).toMatchObject({ alive: false, inconclusive: 'the manager is out of file descriptors (EMFILE)' });
    expect(ping).toMatchObject({ alive: false, inconclusive: 'the manager is out of file descriptors (EMFILE)' });
    expect(obs.inconclusive).toBe('the manager is out of file descriptors (EMFILE)');
    expect(obs.dataServer.state).toBe('UNKNOWN');
  });

  describe('the manager on this server, under a flood of idle API connections at ulimit -n 400', () => {
    let child: ChildProcess | undefined;
    let stateDir: string;
    afterAll(() => {
      child?.kill('SIGKILL');
      if (stateDir) rmSync(stateDir, { recursive: true, force: true });
    });

    it('keeps monitoring: the master stays ONLINE, no host is called unreachable, nothing fails to save', async () => {
      stateDir = mkdtempSync(join(tmpdir(), 'mgr-mysql-flood-'));
      const config = join(stateDir, 'manager.properties');
      writeFileSync(
        config,
        [
          'service.name=alpha',
          'manager.driver=mysql',
          `mysql.user=${MANAGER_USER}`,
          `mysql.password=${MANAGER_PASSWORD}`,
          'policy.liveness.samplePeriod=1',
          ...datasourceProperties(cluster),
        ].join('\n'),
      );
      const auth = { user: 'ops', password: 'flood-test-pw' };
      child = spawn(
        'sh',
        ['-c', 'ulimit -n 400 && exec "$0" "$@"', process.execPath, MANAGER_BIN, '--config', config, '--state-dir', join(stateDir, 'state'), '--port', '0', '--api-user', auth.user, '--api-password', auth.password],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      );
      let out = '';
      child.stdout!.setEncoding('utf8').on('data', (c: string) => (out += c));
      child.stderr!.setEncoding('utf8').on('data', (c: string) => (out += c));
      const deadline = Date.now() + 20_000;
      let url: string | undefined;
      while (!url && Date.now() < deadline) {
        url = /REST API on (\S+)\/api\/v2/.exec(out)?.[1];
        await new Promise((r) => setTimeout(r, 50));
      }
      expect(url, out).toBeDefined();
      const port = Number(new URL(url!).port);

      // 3000 idle connections, reopened as the server closes them, for 6 samples.
      const open = new Set<net.Socket>();
      let stopping = false;
      const connect = () => {
        if (stopping) return;
        const s = net.connect({ host: '127.0.0.1', port });
        open.add(s);
        s.on('error', () => undefined);
        s.once('close', () => {
          open.delete(s);
          if (!stopping) setTimeout(connect, 20);
        });
      };
      const topUp = setInterval(() => {
        for (let i = open.size; i < 3000 && i < open.size + 500; i++) connect();
      }, 50);
      const seen: string[] = [];
      try {
        const until = Date.now() + 6000;
        while (Date.now() < until) {
          for (let attempt = 0; attempt < 10; attempt++) {
            const reply = await rawRequest(`${url}/api/v2/manager/status/service/alpha`, auth).catch(() => null);
            if (reply) {
              expect(reply.status).toBe(200);
              const d = reply.json.payload.datasourceDetails[0];
              seen.push(`${d.state}/${d.alertStatus}`);
              break;
            }
            await new Promise((r) => setTimeout(r, 50));
          }
          await new Promise((r) => setTimeout(r, 250));
        }
      } finally {
        stopping = true;
        clearInterval(topUp);
        for (const s of open) s.destroy();
      }
      expect(seen.length).toBeGreaterThan(5);
      expect([...new Set(seen)]).toEqual(['ONLINE/OK']);
      expect(out).not.toMatch(/EMFILE|UNREACHABLE|cannot save manager state|is now FAILED/);
    }, 60_000);
  });
});
