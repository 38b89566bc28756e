/**
 * Real MariaDB servers for system tests: N `mariadbd` processes on loopback ports, each with its own
 * data directory under a temporary root (no system service, no /etc/mysql config), GTID replication
 * from the first to the others. Always call `stop()` (afterAll); a process exit hook kills any server
 * a crashed test left behind.
 *
 * Accounts created on every server (through replication):
 * - the manager's account (`tungsten`, all privileges) that the mysql driver uses, also for replication;
 * - an application account (`app`) with only DML rights on the `app` schema, so `read_only` stops it.
 */
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import mysql from 'mysql2/promise';

const execFileAsync = promisify(execFile);

export const MARIADBD = ['/usr/sbin/mariadbd', '/usr/bin/mariadbd'].find((p) => existsSync(p)) ?? 'mariadbd';

function commandExists(command: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Why MariaDB system tests cannot run here, or null when they can. */
export function mariadbMissing(): string | null {
  const hint = '(install mariadb-server; .ci/system-deps.sh does)';
  if (!existsSync(MARIADBD) && !commandExists('mariadbd')) return `mariadbd is not installed ${hint}`;
  if (!commandExists('mariadb-install-db')) return `mariadb-install-db is not installed ${hint}`;
  return null;
}

/**
 * True when the MariaDB tests should be skipped: prerequisites missing outside CI. Under CI=true a
 * missing prerequisite is not skipped: `startMariaDbCluster` then fails with the reason.
 */
export const skipWithoutMariaDb = mariadbMissing() !== null && process.env.CI !== 'true';

export const MANAGER_USER = 'tungsten';
export const MANAGER_PASSWORD = 'S3cret-manager-pw!';
export const APP_USER = 'app';
export const APP_PASSWORD = 'app-pw-42';

export interface MariaDbServer {
  name: string;
  port: number;
  serverId: number;
  datadir: string;
  socket: string;
  pidFile: string;
  errorLog: string;
  process: ChildProcess | null;
}

export interface MariaDbCluster {
  root: string;
  servers: MariaDbServer[];
  server(name: string): MariaDbServer;
  /** Run SQL as root over the unix socket (no password, the harness's own access). */
  rootQuery<T = mysql.RowDataPacket[]>(name: string, sql: string, values?: unknown[]): Promise<T>;
  /** A connection as the application user over TCP. */
  appConnection(name: string): Promise<mysql.Connection>;
  /** SIGKILL the server (a crash: no shutdown, no flush beyond what InnoDB already made durable). */
  kill9(name: string): Promise<void>;
  /** Start a stopped or killed server again (read_only=1, as a restarted server should come up). */
  start(name: string): Promise<void>;
  /** Clean shutdown of one server. */
  shutdown(name: string): Promise<void>;
  /** Stop every server and remove the temporary root. */
  stop(): Promise<void>;
}

export interface StartClusterOptions {
  /** Loopback ports, one per server; the first is the master. Use ports 33061-33099. */
  ports: number[];
  names?: string[];
  /** Set up replication from the first server to the others (default true). */
  replicate?: boolean;
}

const running = new Set<ChildProcess>();
let exitHookInstalled = false;
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const child of running) child.kill('SIGKILL');
  });
}

function tailOf(file: string, lines = 15): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no error log)';
  }
}

async function waitFor(what: string, timeoutMs: number, probe: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      if (await probe()) return;
    } catch (e) {
      lastError = e;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${what} did not happen within ${timeoutMs} ms${lastError ? `: ${(lastError as Error).message}` : ''}`);
}

export async function startMariaDbCluster(opts: StartClusterOptions): Promise<MariaDbCluster> {
  const missing = mariadbMissing();
  if (missing) throw new Error(`cannot start MariaDB for the system tests: ${missing}`);
  for (const port of opts.ports) {
    if (port < 33061 || port > 33099) throw new Error(`MariaDB test ports must be within 33061-33099, not ${port}`);
  }
  installExitHook();
  const root = mkdtempSync(path.join(tmpdir(), 'mariadb-test-'));
  const names = opts.names ?? opts.ports.map((_, i) => `db${i + 1}`);
  const servers: MariaDbServer[] = opts.ports.map((port, i) => ({
    name: names[i]!,
    port,
    serverId: i + 1,
    datadir: path.join(root, names[i]!, 'data'),
    socket: path.join(root, names[i]!, 'mariadb.sock'),
    pidFile: path.join(root, names[i]!, 'mariadb.pid'),
    errorLog: path.join(root, names[i]!, 'error.log'),
    process: null,
  }));
  const byName = (name: string) => {
    const found = servers.find((s) => s.name === name);
    if (!found) throw new Error(`no MariaDB test server named ${name}`);
    return found;
  };

  const rootConnection = (s: MariaDbServer) =>
    mysql.createConnection({ socketPath: s.socket, user: 'root', password: '', multipleStatements: true });

  async function rootQuery<T>(name: string, sql: string, values?: unknown[]): Promise<T> {
    const conn = await rootConnection(byName(name));
    try {
      const [rows] = await conn.query(sql, values);
      return rows as T;
    } finally {
      await conn.end().catch(() => conn.destroy());
    }
  }

  async function start(name: string): Promise<void> {
    const s = byName(name);
    if (s.process && s.process.exitCode === null) throw new Error(`${name} is already running`);
    const args = [
      '--no-defaults',
      `--datadir=${s.datadir}`,
      `--port=${s.port}`,
      '--bind-address=127.0.0.1',
      `--socket=${s.socket}`,
      `--pid-file=${s.pidFile}`,
      `--log-error=${s.errorLog}`,
      `--server-id=${s.serverId}`,
      '--log-bin=mariadb-bin',
      '--log-slave-updates',
      '--gtid-domain-id=0',
      '--gtid-strict-mode=1',
      '--binlog-format=ROW',
      '--read-only=1',
      '--skip-name-resolve',
      '--skip-slave-start',
      '--innodb-buffer-pool-size=32M',
      '--innodb-log-file-size=8M',
      '--performance-schema=0',
      '--max-connections=200',
    ];
    if (process.getuid?.() === 0) args.push('--user=root');
    const child = spawn(MARIADBD, args, { stdio: 'ignore' });
    s.process = child;
    running.add(child);
    child.once('exit', () => running.delete(child));
    try {
      await waitFor(`${name} (mariadbd on port ${s.port}) accepting connections`, 60_000, async () => {
        if (child.exitCode !== null) throw new Error(`mariadbd exited with ${child.exitCode}`);
        const conn = await rootConnection(s);
        await conn.end();
        return true;
      });
    } catch (e) {
      child.kill('SIGKILL');
      throw new Error(`${(e as Error).message}\n${name}'s error log ends with:\n${tailOf(s.errorLog)}`);
    }
  }

  async function kill9(name: string): Promise<void> {
    const s = byName(name);
    const child = s.process;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await exited;
  }

  async function shutdown(name: string): Promise<void> {
    const s = byName(name);
    const child = s.process;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    await exited;
    clearTimeout(timer);
  }

  async function stop(): Promise<void> {
    await Promise.all(servers.map((s) => shutdown(s.name).catch(() => kill9(s.name))));
    rmSync(root, { recursive: true, force: true });
  }

  const cluster: MariaDbCluster = {
    root,
    servers,
    server: byName,
    rootQuery,
    appConnection: (name) =>
      mysql.createConnection({ host: '127.0.0.1', port: byName(name).port, user: APP_USER, password: APP_PASSWORD, database: 'app' }),
    kill9,
    start,
    shutdown,
    stop,
  };

  try {
    await Promise.all(
      servers.map((s) =>
        execFileAsync('mariadb-install-db', [
          '--no-defaults',
          `--datadir=${s.datadir}`,
          '--auth-root-authentication-method=normal',
          '--skip-test-db',
          ...(process.getuid?.() === 0 ? ['--user=root'] : []),
        ]),
      ),
    );
    await Promise.all(servers.map((s) => start(s.name)));
    const master = servers[0]!;
    // Written on the master only, so that replication carries the accounts and schema to the slaves.
    await rootQuery(master.name, `
      SET GLOBAL read_only = 0;
      CREATE USER '${MANAGER_USER}'@'127.0.0.1' IDENTIFIED BY '${MANAGER_PASSWORD}';
      GRANT ALL PRIVILEGES ON *.* TO '${MANAGER_USER}'@'127.0.0.1' WITH GRANT OPTION;
      CREATE USER '${APP_USER}'@'127.0.0.1' IDENTIFIED BY '${APP_PASSWORD}';
      CREATE DATABASE app;
      CREATE TABLE app.writes (id BIGINT PRIMARY KEY, written_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)) ENGINE=InnoDB;
      GRANT SELECT, INSERT, UPDATE, DELETE ON app.* TO '${APP_USER}'@'127.0.0.1';
    `);
    if (opts.replicate !== false) {
      for (const slave of servers.slice(1)) {
        await rootQuery(slave.name, `
          CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT=${master.port}, MASTER_USER='${MANAGER_USER}',
            MASTER_PASSWORD='${MANAGER_PASSWORD}', MASTER_USE_GTID=slave_pos, MASTER_CONNECT_RETRY=1;
          START SLAVE;
        `);
      }
      await waitForReplicas(cluster);
    }
  } catch (e) {
    await stop().catch(() => {});
    throw e;
  }
  return cluster;
}

/** Wait until every running server other than `masterName` has applied the master's binlog. */
export async function waitForReplicas(cluster: MariaDbCluster, masterName = cluster.servers[0]!.name, timeoutMs = 20_000): Promise<void> {
  const [row] = await cluster.rootQuery<Array<{ pos: string }>>(masterName, 'SELECT @@gtid_binlog_pos AS pos');
  const pos = row!.pos;
  for (const s of cluster.servers) {
    if (s.name === masterName || !s.process || s.process.exitCode !== null || s.process.signalCode !== null) continue;
    const [waited] = await cluster.rootQuery<Array<{ r: number | null }>>(s.name, 'SELECT MASTER_GTID_WAIT(?, ?) AS r', [pos, timeoutMs / 1000]);
    if (waited?.r !== 0) throw new Error(`${s.name} did not reach ${masterName}'s position ${pos} within ${timeoutMs} ms`);
  }
}
