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
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
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
  /** Private temporary directory: servers bootstrapping at once must not share /tmp names. */
  tmpdir: string;
  process: ChildProcess | null;
}

export interface MariaDbCluster {
  root: string;
  servers: MariaDbServer[];
  server(name: string): MariaDbServer;
  /** Run SQL as root over the unix socket (no password, the harness's own access). */
  rootQuery<T = mysql.RowDataPacket[]>(name: string, sql: string, values?: unknown[]): Promise<T>;
  /** A connection as root over the unix socket, held by the caller (end it). */
  rootConnection(name: string): Promise<mysql.Connection>;
  /** A connection as the application user over TCP. */
  appConnection(name: string): Promise<mysql.Connection>;
  /** SIGKILL the server (a crash: no shutdown, no flush beyond what InnoDB already made durable). */
  kill9(name: string): Promise<void>;
  /** Start a stopped or killed server again: read_only=1 (as a restarted server should come up), its replication restarting if it has any. */
  start(name: string): Promise<void>;
  /** Clean shutdown of one server. */
  shutdown(name: string): Promise<void>;
  /** Stop every server and remove the temporary root. */
  stop(): Promise<void>;
}

export interface StartClusterOptions {
  /** Loopback ports, one per server; the first is the master. Use ports 24061-24099. */
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

/**
 * The test ports lie below Linux's ephemeral range (32768-60999), so no client socket is given one
 * as its local port. While no server runs on a port the harness still holds it with a socket that is
 * bound but not listening, so that nothing else on the machine takes it between a stop and a start;
 * connecting to it is refused, exactly as with a stopped server.
 */
interface PortHold {
  release(): Promise<void>;
}

async function holdPort(port: number): Promise<PortHold | null> {
  const perl = spawn(
    'perl',
    ['-MSocket', '-e', 'socket(S, PF_INET, SOCK_STREAM, 0) or die; bind(S, pack_sockaddr_in($ARGV[0], inet_aton("127.0.0.1"))) or die; $| = 1; print "held\n"; <STDIN>;', String(port)],
    { stdio: ['pipe', 'pipe', 'ignore'] },
  );
  perl.on('error', () => {});
  const held = await new Promise<boolean>((resolve) => {
    perl.stdout!.once('data', () => resolve(true));
    perl.once('exit', () => resolve(false));
    perl.once('error', () => resolve(false));
  });
  if (!held) return null;
  running.add(perl);
  return {
    release: () =>
      new Promise<void>((resolve) => {
        if (perl.exitCode !== null || perl.signalCode !== null) return resolve();
        perl.once('exit', () => {
          running.delete(perl);
          resolve();
        });
        perl.kill('SIGKILL');
      }),
  };
}

function tailOf(file: string, lines = 15): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no error log)';
  }
}

export async function startMariaDbCluster(opts: StartClusterOptions): Promise<MariaDbCluster> {
  const missing = mariadbMissing();
  if (missing) throw new Error(`cannot start MariaDB for the system tests: ${missing}`);
  for (const port of opts.ports) {
    if (port < 24061 || port > 24099) throw new Error(`MariaDB test ports must be within 24061-24099, not ${port}`);
  }
  installExitHook();
  const root = mkdtempSync(path.join(tmpdir(), 'mariadb-test-'));
  // If this test process dies without stop() (a worker killed on timeout), the servers and their
  // files must not outlive it: a watchdog kills every server of this root and removes it.
  const watchdog = spawn(
    'sh',
    [
      '-c',
      `while kill -0 ${process.pid} 2>/dev/null; do sleep 1; done
       for f in "$0"/*/mariadb.pid; do
         p=$(cat "$f" 2>/dev/null) || continue
         grep -qF "$0" "/proc/$p/cmdline" 2>/dev/null && kill -9 "$p"
       done
       sleep 1; rm -rf "$0"`,
      root,
    ],
    { detached: true, stdio: 'ignore' },
  );
  watchdog.unref();
  const names = opts.names ?? opts.ports.map((_, i) => `db${i + 1}`);
  const servers: MariaDbServer[] = opts.ports.map((port, i) => ({
    name: names[i]!,
    port,
    serverId: i + 1,
    datadir: path.join(root, names[i]!, 'data'),
    socket: path.join(root, names[i]!, 'mariadb.sock'),
    pidFile: path.join(root, names[i]!, 'mariadb.pid'),
    errorLog: path.join(root, names[i]!, 'error.log'),
    tmpdir: path.join(root, names[i]!, 'tmp'),
    process: null,
  }));
  const reserved = new Map<string, PortHold | null>();
  await Promise.all(servers.map(async (s) => reserved.set(s.name, await holdPort(s.port))));
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
    if (s.process && s.process.exitCode === null && s.process.signalCode === null) throw new Error(`${name} is already running`);
    const args = [
      '--no-defaults',
      `--datadir=${s.datadir}`,
      `--port=${s.port}`,
      '--bind-address=127.0.0.1',
      `--socket=${s.socket}`,
      `--pid-file=${s.pidFile}`,
      `--log-error=${s.errorLog}`,
      `--tmpdir=${s.tmpdir}`,
      `--server-id=${s.serverId}`,
      '--log-bin=mariadb-bin',
      '--log-slave-updates',
      '--gtid-domain-id=0',
      '--gtid-strict-mode=1',
      '--binlog-format=ROW',
      '--read-only=1',
      '--skip-name-resolve',
      '--innodb-buffer-pool-size=32M',
      '--innodb-log-file-size=8M',
      '--performance-schema=0',
      '--max-connections=200',
    ];
    if (process.getuid?.() === 0) args.push('--user=root');
    // A port another program holds for a moment makes mariadbd exit at once: such a start is
    // retried; anything else is reported.
    for (let attempt = 1; ; attempt++) {
      await reserved.get(name)?.release();
      reserved.delete(name);
      const outcome = await launch(s, args);
      if (outcome === 'started') return;
      await new Promise((r) => setTimeout(r, 500));
      const tail = tailOf(s.errorLog, 25);
      const portBusy = tail.includes('Address already in use') || !tail.includes('[ERROR]');
      if (!portBusy || outcome.startsWith('no connection') || attempt === 20) {
        throw new Error(`${name} (mariadbd on port ${s.port}) did not start: ${outcome}\n${name}'s error log ends with:\n${tail}`);
      }
    }
  }

  /** Starts mariadbd; resolves once it accepts connections, or with why it did not. */
  async function launch(s: MariaDbServer, args: string[]): Promise<'started' | string> {
    const child = spawn(MARIADBD, args, { stdio: 'ignore' });
    s.process = child;
    running.add(child);
    child.once('exit', () => running.delete(child));
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline) {
      if (child.exitCode !== null || child.signalCode !== null) return `mariadbd exited with ${child.exitCode ?? child.signalCode}`;
      try {
        const conn = await rootConnection(s);
        await conn.end();
        return 'started';
      } catch {
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    child.kill('SIGKILL');
    return 'no connection within 60 s';
  }

  async function kill9(name: string): Promise<void> {
    const s = byName(name);
    const child = s.process;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await exited;
    reserved.set(name, await holdPort(s.port));
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
    reserved.set(name, await holdPort(s.port));
  }

  async function stop(): Promise<void> {
    await Promise.all(servers.map((s) => shutdown(s.name).catch(() => kill9(s.name))));
    await Promise.all([...reserved.values()].map((hold) => hold?.release()));
    reserved.clear();
    rmSync(root, { recursive: true, force: true });
    watchdog.kill('SIGKILL');
  }

  const cluster: MariaDbCluster = {
    root,
    servers,
    server: byName,
    rootQuery,
    rootConnection: (name) => rootConnection(byName(name)),
    appConnection: (name) =>
      mysql.createConnection({ host: '127.0.0.1', port: byName(name).port, user: APP_USER, password: APP_PASSWORD, database: 'app' }),
    kill9,
    start,
    shutdown,
    stop,
  };

  try {
    await Promise.all(
      servers.map((s) => {
        mkdirSync(s.tmpdir, { recursive: true });
        return execFileAsync('mariadb-install-db', [
          '--no-defaults',
          `--datadir=${s.datadir}`,
          `--tmpdir=${s.tmpdir}`,
          '--auth-root-authentication-method=normal',
          '--skip-test-db',
          ...(process.getuid?.() === 0 ? ['--user=root'] : []),
        ]);
      }),
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

/** Wait until the replicas (default: every other running server) have applied the master's binlog. */
export async function waitForReplicas(
  cluster: MariaDbCluster,
  masterName = cluster.servers[0]!.name,
  replicaNames?: string[],
  timeoutMs = 20_000,
): Promise<void> {
  const [row] = await cluster.rootQuery<Array<{ pos: string }>>(masterName, 'SELECT @@gtid_binlog_pos AS pos');
  const pos = row!.pos;
  const running = (s: MariaDbServer) => s.process !== null && s.process.exitCode === null && s.process.signalCode === null;
  const replicas = replicaNames ?? cluster.servers.filter((s) => s.name !== masterName && running(s)).map((s) => s.name);
  for (const name of replicas) {
    const [waited] = await cluster.rootQuery<Array<{ r: number | null }>>(name, 'SELECT MASTER_GTID_WAIT(?, ?) AS r', [pos, timeoutMs / 1000]);
    if (waited?.r !== 0) throw new Error(`${name} did not reach ${masterName}'s position ${pos} within ${timeoutMs} ms`);
  }
}

export interface WriterReport {
  /** Ids whose INSERT the server acknowledged (committed). */
  acknowledged: number[];
  /** When each of them was acknowledged (ms since epoch), in the same order. */
  acknowledgedAt: number[];
  /** Ids whose INSERT failed with the connection lost mid-statement: the outcome is unknown. */
  uncertain: number[];
  /** Ids refused outright (read-only, connection refused): certainly not written. */
  refused: number;
  /** The longest time between two acknowledged writes, with when it started (ms since epoch). */
  longestGapMs: number;
  longestGapStart: number;
  /** Which server acknowledged writes, in order of change, from which id and when (ms since epoch). */
  servers: Array<{ name: string; fromId: number; at: number }>;
}

/** Each writer of a test process writes its own id range, so a later one never collides. */
let nextWriterBase = 1_000_000;

/**
 * An application that writes continuously as the `app` user, as through a connector: it writes to
 * the server that accepts writes, and when that fails it tries the servers in turn (read-only ones
 * refuse it) until one accepts. Every acknowledged id is recorded.
 */
export function startWriter(cluster: MariaDbCluster, opts: { pauseMs?: number } = {}): { stop(): Promise<WriterReport> } {
  const report: WriterReport = { acknowledged: [], acknowledgedAt: [], uncertain: [], refused: 0, longestGapMs: 0, longestGapStart: 0, servers: [] };
  let stopping = false;
  let nextId = nextWriterBase;
  nextWriterBase += 100_000_000;
  let lastAck = Date.now();
  let current: { name: string; conn: mysql.Connection } | null = null;

  async function connectWritable(): Promise<void> {
    for (const s of cluster.servers) {
      let conn: mysql.Connection | null = null;
      try {
        conn = await mysql.createConnection({ host: '127.0.0.1', port: s.port, user: APP_USER, password: APP_PASSWORD, database: 'app', connectTimeout: 500 });
        const [rows] = await conn.query<mysql.RowDataPacket[]>('SELECT @@read_only AS ro');
        if (Number(rows[0]?.ro) === 0) {
          current = { name: s.name, conn };
          return;
        }
      } catch {
        // not this one
      }
      conn?.destroy();
    }
  }

  const loop = (async () => {
    while (!stopping) {
      if (!current) {
        await connectWritable();
        if (!current) {
          // Few connection attempts while no server takes writes: each one uses an ephemeral port.
          await new Promise((r) => setTimeout(r, 20));
          continue;
        }
      }
      const target = current as { name: string; conn: mysql.Connection };
      const id = nextId++;
      try {
        await target.conn.query('INSERT INTO writes (id) VALUES (?)', [id]);
        const now = Date.now();
        if (now - lastAck > report.longestGapMs) {
          report.longestGapMs = now - lastAck;
          report.longestGapStart = lastAck;
        }
        lastAck = now;
        report.acknowledged.push(id);
        report.acknowledgedAt.push(now);
        if (report.servers.at(-1)?.name !== target.name) report.servers.push({ name: target.name, fromId: id, at: now });
      } catch (e) {
        const code = (e as { code?: string }).code ?? '';
        if (/PROTOCOL_CONNECTION_LOST|ECONNRESET|EPIPE|ER_CONNECTION_KILLED|ER_SERVER_SHUTDOWN/.test(code)) report.uncertain.push(id);
        else report.refused++;
        target.conn.destroy();
        current = null;
      }
      if (opts.pauseMs) await new Promise((r) => setTimeout(r, opts.pauseMs));
    }
  })();

  return {
    async stop() {
      stopping = true;
      await loop;
      (current as { conn: mysql.Connection } | null)?.conn.destroy();
      return report;
    },
  };
}

/**
 * How long writes stopped when the application moved to `server`: from the last write
 * acknowledged elsewhere to the first one `server` acknowledged. Null if it never wrote there.
 */
export function outageBefore(report: WriterReport, server: string): number | null {
  const change = report.servers.find((s) => s.name === server);
  if (!change) return null;
  const index = report.acknowledged.indexOf(change.fromId);
  return index > 0 ? report.acknowledgedAt[index]! - report.acknowledgedAt[index - 1]! : null;
}

/** The ids in app.writes on one server. */
export async function writtenIds(cluster: MariaDbCluster, name: string): Promise<Set<number>> {
  const rows = await cluster.rootQuery<Array<{ id: number | string }>>(name, 'SELECT id FROM app.writes');
  return new Set(rows.map((r) => Number(r.id)));
}
