/**
 * Real MariaDB servers for system tests: N `mariadbd` processes, each with its own data directory
 * under a temporary root (no system service, no /etc/mysql config), GTID replication from the first
 * to the others. Always call `stop()` (afterAll); a process exit hook and a watchdog kill any server
 * a crashed test left behind.
 *
 * Addresses: every cluster listens on its own loopback address, 127.A.B.C picked at random (Linux
 * routes all of 127.0.0.0/8 to lo) and checked free, with ports picked at random on it (consecutive,
 * one per server). Two clusters, two test files, two whole suites or a suite and a benchmark therefore
 * never share an address and port, and a server that restarts finds its port as it left it. The
 * manager's datasource host is that address (`cluster.host`; `datasourceProperties()` writes the
 * lines). Clients still connect from 127.0.0.1, so the accounts are for that host.
 *
 * Accounts created on every server (through replication):
 * - the manager's account (`tungsten`, all privileges) that the mysql driver uses, also for replication;
 * - an application account (`app`) with only DML rights on the `app` schema, so `read_only` stops it.
 *
 * What a test (or a chaos schedule) can do to a server: `freeze`/`thaw` (SIGSTOP/SIGCONT),
 * `kill9`, `shutdown` (clean), `start`, and read `read_only` of each (`readOnly`, `readOnlyProbe`).
 * A server always (re)starts read-only: the harness never makes a restarted server writable, and
 * neither should a test assume the manager does. `reset()` puts the cluster back in a known state
 * (the first server the writable master, the others read-only slaves replicating from it with
 * GTIDs, all caught up, every server holding the same rows) whatever an earlier test left.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { commandExists, freeLoopbackEndpoint, killOnExit, sleep, tailOf, watchdog } from './processes.js';

import { promisify } from 'node:util';
import mysql from 'mysql2/promise';
import type { MysqlDriverOptions } from '../../src/manager/drivers/mysql-config.js';

const execFileAsync = promisify(execFile);

export const MARIADBD = ['/usr/sbin/mariadbd', '/usr/bin/mariadbd'].find((p) => existsSync(p)) ?? 'mariadbd';

/** Why MariaDB system tests cannot run here, or null when they can. */
export function mariadbMissing(): string | null {
  const hint = '(install mariadb-server and mariadb-client; .ci/system-deps.sh does)';
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

/** The mysql driver's options for the manager's account on these servers (short liveness timeouts). */
export function managerDriverOptions(overrides: Partial<MysqlDriverOptions> = {}): MysqlDriverOptions {
  return {
    user: MANAGER_USER,
    password: MANAGER_PASSWORD,
    replicationUser: MANAGER_USER,
    replicationPassword: MANAGER_PASSWORD,
    hostCheck: { method: 'echo', timeoutMs: 1000 },
    dbPingTimeoutMs: 3000,
    ...overrides,
  };
}

export type ServerState = 'running' | 'frozen' | 'stopped';

export interface MariaDbServer {
  name: string;
  /** The loopback address the server listens on (the cluster's). */
  host: string;
  port: number;
  serverId: number;
  datadir: string;
  socket: string;
  pidFile: string;
  errorLog: string;
  /** Private temporary directory: servers bootstrapping at once must not share /tmp names. */
  tmpdir: string;
  process: ChildProcess | null;
  /** Stopped with SIGSTOP by freeze() and not yet thawed. */
  frozen: boolean;
  /** When the running process was launched (ms since epoch): what was read of it before is of another process. */
  startedAt: number;
}

export interface ResetReport {
  /** Servers rebuilt from the master (a logical copy) because their history had diverged. */
  rebuilt: string[];
  /** Servers that were frozen or stopped and were thawed or started. */
  revived: string[];
  ms: number;
}

export interface ReadOnlySample {
  /** true/false as the server answered; null: it did not answer within the timeout. */
  readOnly: boolean | null;
  /** The server its replication is configured to follow (SHOW SLAVE STATUS), by name; null: none, or no answer. */
  following: string | null;
  /** When the query was sent and when its answer (or the timeout) came, ms since epoch. */
  sentAt: number;
  doneAt: number;
}

/** Persistent root connections that read every server's read_only; reconnects after any failure. */
export interface ReadOnlyProbe {
  sample(timeoutMs?: number): Promise<Record<string, ReadOnlySample>>;
  /** One server only (pollers that must not wait for a frozen neighbour). */
  sampleOne(name: string, timeoutMs?: number): Promise<ReadOnlySample>;
  close(): void;
}

export interface MariaDbCluster {
  root: string;
  /** The loopback address every server of this cluster listens on. */
  host: string;
  servers: MariaDbServer[];
  server(name: string): MariaDbServer;
  /** Run SQL as root over the unix socket (no password, the harness's own access). */
  rootQuery<T = mysql.RowDataPacket[]>(name: string, sql: string, values?: unknown[]): Promise<T>;
  /**
   * Write row `id` of app.writes on `name` as root (past read_only: a transaction only that server
   * has). An insert whose connection is cut (a manager fencing that server ends client sessions)
   * is asked again unless the row is there, so it is written exactly once.
   */
  rootWriteRow(name: string, id: number): Promise<void>;
  /** A connection as root over the unix socket, held by the caller (end it). */
  rootConnection(name: string): Promise<mysql.Connection>;
  /** A connection as the application user over TCP. */
  appConnection(name: string): Promise<mysql.Connection>;
  /** SIGKILL the server (a crash: no shutdown, no flush beyond what InnoDB already made durable). Works on a frozen server too. */
  kill9(name: string): Promise<void>;
  /**
   * Start a stopped or killed server again. It comes up with read_only=1, as a restarted server
   * should: nothing here (and nothing a test may assume of the manager) makes it writable again.
   * Its replication, if it had a master configured, restarts from where it stood. Resolves once it
   * accepts connections.
   */
  start(name: string): Promise<void>;
  /** Clean shutdown (SIGTERM; SIGKILL after 30 s). A frozen server is thawed first, or it could not shut down. */
  shutdown(name: string): Promise<void>;
  /** SIGSTOP: the process stays, its sockets stay open, nothing answers (a hung server or host). */
  freeze(name: string): Promise<void>;
  /** SIGCONT after freeze(). */
  thaw(name: string): Promise<void>;
  state(name: string): ServerState;
  /** read_only of one server; null if it does not answer within timeoutMs (frozen, stopped). */
  readOnly(name: string, timeoutMs?: number): Promise<boolean | null>;
  /** read_only of every server, read at the same time. */
  readOnlyAll(timeoutMs?: number): Promise<Record<string, boolean | null>>;
  readOnlyProbe(): ReadOnlyProbe;
  /**
   * Back to a known state after anything a test did: every server running (thawed, started), the
   * master (default the first server) writable with no replication of its own, the others
   * read-only, replicating from it with GTIDs (no delay), caught up and holding the same app rows
   * as it. A server whose history diverged (transactions the master lacks) is rebuilt from the
   * master. `clearWrites` empties app.writes (through replication). Stop the manager and any
   * writer first: reset writes to the servers directly.
   */
  reset(opts?: { master?: string; clearWrites?: boolean; timeoutMs?: number }): Promise<ResetReport>;
  /** Stop every server and remove the temporary root. */
  stop(): Promise<void>;
}

export interface StartClusterOptions {
  /** How many servers (default 3, or the number of names or ports given). */
  count?: number;
  names?: string[];
  /** The loopback address to listen on; default a random free one in 127.0.0.0/8. */
  host?: string;
  /**
   * Ports, one per server; the first is the master. Default: consecutive ports picked at random on
   * the cluster's own address. Given without `host` (the benchmark's older call), the servers listen on
   * 127.0.0.1 instead, as before; then the caller owns those ports on the whole machine.
   */
  ports?: number[];
  /** Set up replication from the first server to the others (default true). */
  replicate?: boolean;
}

/** A GTID list `0-1-5,1-2-7` as entries. */
interface Gtid {
  domain: number;
  server: number;
  seq: number;
}
function parseGtids(list: string | null | undefined): Gtid[] {
  return (list ?? '')
    .split(',')
    .map((g) => g.trim())
    .filter(Boolean)
    .map((g) => {
      const [domain, server, seq] = g.split('-').map(Number);
      return { domain: domain!, server: server!, seq: seq! };
    });
}
const formatGtids = (gtids: Gtid[]) => gtids.map((g) => `${g.domain}-${g.server}-${g.seq}`).join(',');

/** Per domain, the newer of the two positions. */
function newestPerDomain(a: Gtid[], b: Gtid[]): Gtid[] {
  const byDomain = new Map<number, Gtid>();
  for (const g of [...a, ...b]) {
    const known = byDomain.get(g.domain);
    if (!known || g.seq > known.seq) byDomain.set(g.domain, g);
  }
  return [...byDomain.values()].sort((x, y) => x.domain - y.domain);
}

/** Entries of `mine` (a gtid_binlog_state) that `theirs` does not cover: the transactions it lacks. */
function notCoveredBy(mine: Gtid[], theirs: Gtid[]): Gtid[] {
  return mine.filter((g) => !theirs.some((t) => t.domain === g.domain && t.server === g.server && t.seq >= g.seq));
}

const SYSTEM_SCHEMAS = ['mysql', 'information_schema', 'performance_schema', 'sys'];

export async function startMariaDbCluster(opts: StartClusterOptions = {}): Promise<MariaDbCluster> {
  const missing = mariadbMissing();
  if (missing) throw new Error(`cannot start MariaDB for the system tests: ${missing}`);
  const count = opts.count ?? opts.names?.length ?? opts.ports?.length ?? 3;
  const own = opts.ports ? null : await freeLoopbackEndpoint(count, 'the MariaDB tests');
  const ports = opts.ports ?? own!.ports;
  if (ports.length !== count) throw new Error(`${count} servers need ${count} ports, not ${ports.length}`);
  const host = opts.host ?? own?.host ?? '127.0.0.1';
  const root = mkdtempSync(path.join(tmpdir(), 'mariadb-test-'));
  // If this test process dies without stop() (a worker killed on timeout), the servers and their
  // files must not outlive it.
  const guard = watchdog(root, 'mariadb.pid');
  const names = opts.names ?? ports.map((_, i) => `db${i + 1}`);
  const servers: MariaDbServer[] = ports.map((port, i) => ({
    name: names[i]!,
    host,
    port,
    serverId: i + 1,
    datadir: path.join(root, names[i]!, 'data'),
    socket: path.join(root, names[i]!, 'mariadb.sock'),
    pidFile: path.join(root, names[i]!, 'mariadb.pid'),
    errorLog: path.join(root, names[i]!, 'error.log'),
    tmpdir: path.join(root, names[i]!, 'tmp'),
    process: null,
    frozen: false,
    startedAt: 0,
  }));
  const byName = (name: string) => {
    const found = servers.find((s) => s.name === name);
    if (!found) throw new Error(`no MariaDB test server named ${name}`);
    return found;
  };
  const isRunning = (s: MariaDbServer) => s.process !== null && s.process.exitCode === null && s.process.signalCode === null;

  const rootConnection = (s: MariaDbServer, connectTimeout = 10_000) =>
    mysql.createConnection({ socketPath: s.socket, user: 'root', password: '', multipleStatements: true, connectTimeout });

  /**
   * The manager ends client sessions when it fences a server (KILL CONNECTION), the harness's
   * own included: a connection cut while it is being made is made again, and a read (SELECT,
   * SHOW) cut mid-way is asked again. Anything else cut mid-way is reported: it may have run.
   */
  const CUT = /EPIPE|ECONNRESET|PROTOCOL_CONNECTION_LOST|ER_CONNECTION_KILLED|ER_QUERY_INTERRUPTED/;
  const isCut = (e: unknown) => CUT.test(String((e as { code?: string }).code ?? ''));
  async function rootQuery<T>(name: string, sql: string, values?: unknown[]): Promise<T> {
    const read = /^\s*(SELECT|SHOW)\b/i.test(sql) && !sql.includes(';');
    for (let attempt = 1; ; attempt++) {
      let conn: mysql.Connection;
      try {
        conn = await rootConnection(byName(name));
      } catch (e) {
        if (attempt < 5 && isCut(e)) {
          await sleep(50);
          continue;
        }
        throw e;
      }
      try {
        const [rows] = await conn.query(sql, values);
        return rows as T;
      } catch (e) {
        if (read && attempt < 5 && isCut(e)) continue;
        throw e;
      } finally {
        await conn.end().catch(() => conn.destroy());
      }
    }
  }

  async function rootWriteRow(name: string, id: number): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await rootQuery(name, 'INSERT INTO app.writes (id) VALUES (?)', [id]);
        return;
      } catch (e) {
        if (attempt >= 5 || !isCut(e)) throw e;
        const rows = await rootQuery<mysql.RowDataPacket[]>(name, 'SELECT id FROM app.writes WHERE id = ?', [id]);
        if (rows.length > 0) return;
      }
    }
  }

  async function start(name: string): Promise<void> {
    const s = byName(name);
    if (isRunning(s)) throw new Error(`${name} is already running`);
    const args = [
      '--no-defaults',
      `--datadir=${s.datadir}`,
      `--port=${s.port}`,
      `--bind-address=${s.host}`,
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
    // The address is this cluster's own, so its port is free; should it still be taken for a
    // moment (a previous instance's socket not yet released), the start is retried.
    for (let attempt = 1; ; attempt++) {
      const outcome = await launch(s, args);
      if (outcome === 'started') return;
      await sleep(300);
      const tail = tailOf(s.errorLog, 25, '(no error log)');
      const portBusy = tail.includes('Address already in use');
      if (!portBusy || attempt === 10) {
        throw new Error(`${name} (mariadbd on ${s.host}:${s.port}) did not start: ${outcome}\n${name}'s error log ends with:\n${tail}`);
      }
    }
  }

  /** Starts mariadbd; resolves once it accepts connections, or with why it did not. */
  async function launch(s: MariaDbServer, args: string[]): Promise<'started' | string> {
    const child = spawn(MARIADBD, args, { stdio: 'ignore' });
    s.process = child;
    s.frozen = false;
    s.startedAt = Date.now();
    killOnExit(child);
    const deadline = Date.now() + 90_000;
    while (Date.now() < deadline) {
      if (child.exitCode !== null || child.signalCode !== null) return `mariadbd exited with ${child.exitCode ?? child.signalCode}`;
      try {
        const conn = await rootConnection(s, 2000);
        await conn.end();
        return 'started';
      } catch {
        await sleep(100);
      }
    }
    child.kill('SIGKILL');
    return 'no connection within 90 s';
  }

  async function kill9(name: string): Promise<void> {
    const s = byName(name);
    const child = s.process;
    if (!child || !isRunning(s)) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await exited;
    s.frozen = false;
  }

  async function shutdown(name: string): Promise<void> {
    const s = byName(name);
    const child = s.process;
    if (!child || !isRunning(s)) return;
    if (s.frozen) await thaw(name);
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    await exited;
    clearTimeout(timer);
  }

  /** The process state letter from /proc (R, S, T for stopped, ...), or null. */
  function procState(pid: number): string | null {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    } catch {
      return null;
    }
  }

  async function freeze(name: string): Promise<void> {
    const s = byName(name);
    if (!isRunning(s)) throw new Error(`cannot freeze ${name}: it is not running`);
    s.process!.kill('SIGSTOP');
    s.frozen = true;
    // SIGSTOP is delivered asynchronously: wait until the kernel shows the process stopped.
    const deadline = Date.now() + 5000;
    while (procState(s.process!.pid!) !== 'T' && Date.now() < deadline) await sleep(10);
  }

  async function thaw(name: string): Promise<void> {
    const s = byName(name);
    if (!isRunning(s)) {
      s.frozen = false;
      return;
    }
    s.process!.kill('SIGCONT');
    s.frozen = false;
    const deadline = Date.now() + 5000;
    while (procState(s.process!.pid!) === 'T' && Date.now() < deadline) await sleep(10);
  }

  function state(name: string): ServerState {
    const s = byName(name);
    if (!isRunning(s)) return 'stopped';
    return s.frozen ? 'frozen' : 'running';
  }

  /** One query with a hard deadline: a frozen server accepts the socket and never answers. */
  async function withDeadline<T>(timeoutMs: number, work: (track: (c: mysql.Connection) => void) => Promise<T>): Promise<T | null> {
    let conn: mysql.Connection | null = null;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<null>((resolve) => {
      timer = setTimeout(() => {
        conn?.destroy();
        resolve(null);
      }, timeoutMs);
    });
    try {
      return await Promise.race([work((c) => (conn = c)).catch(() => null), timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  async function readOnly(name: string, timeoutMs = 1000): Promise<boolean | null> {
    const s = byName(name);
    if (!isRunning(s)) return null;
    return withDeadline(timeoutMs, async (track) => {
      const conn = await rootConnection(s, timeoutMs);
      track(conn);
      try {
        const [rows] = await conn.query<mysql.RowDataPacket[]>('SELECT @@read_only AS ro');
        return Number(rows[0]!.ro) === 1;
      } finally {
        conn.destroy();
      }
    });
  }

  async function readOnlyAll(timeoutMs = 1000): Promise<Record<string, boolean | null>> {
    const values = await Promise.all(servers.map((s) => readOnly(s.name, timeoutMs)));
    return Object.fromEntries(servers.map((s, i) => [s.name, values[i]!]));
  }

  /** The server name for a replication source address, as SHOW SLAVE STATUS gives it. */
  const serverAt = (host: unknown, port: unknown) => servers.find((x) => x.host === host && x.port === Number(port))?.name ?? `${String(host)}:${String(port)}`;

  function readOnlyProbe(): ReadOnlyProbe {
    const conns = new Map<string, mysql.Connection>();
    let closed = false;
    async function one(s: MariaDbServer, timeoutMs: number): Promise<ReadOnlySample> {
      const sentAt = Date.now();
      let following: string | null = null;
      const value = isRunning(s)
        ? await withDeadline(timeoutMs, async (track) => {
            let conn = conns.get(s.name);
            if (!conn) {
              conn = await rootConnection(s, timeoutMs);
              if (closed) {
                conn.destroy();
                return null;
              }
              conns.set(s.name, conn);
            }
            track(conn);
            try {
              const [results] = await conn.query<mysql.RowDataPacket[][]>('SELECT @@read_only AS ro; SHOW SLAVE STATUS');
              const status = results[1]?.[0];
              following = status ? serverAt(status.Master_Host, status.Master_Port) : null;
              return Number(results[0]![0]!.ro) === 1;
            } catch (e) {
              conns.get(s.name)?.destroy();
              conns.delete(s.name);
              throw e;
            }
          })
        : null;
      if (value === null) {
        conns.get(s.name)?.destroy();
        conns.delete(s.name);
      }
      return { readOnly: value, following: value === null ? null : following, sentAt, doneAt: Date.now() };
    }
    return {
      async sample(timeoutMs = 1000) {
        const values = await Promise.all(servers.map((s) => one(s, timeoutMs)));
        return Object.fromEntries(servers.map((s, i) => [s.name, values[i]!]));
      },
      sampleOne: (name, timeoutMs = 1000) => one(byName(name), timeoutMs),
      close() {
        closed = true;
        for (const c of conns.values()) c.destroy();
        conns.clear();
      },
    };
  }

  async function gtidState(name: string): Promise<{ binlogState: Gtid[]; binlogPos: Gtid[]; slavePos: Gtid[] }> {
    const [row] = await rootQuery<Array<{ state: string; pos: string; slave: string }>>(
      name,
      'SELECT @@gtid_binlog_state AS state, @@gtid_binlog_pos AS pos, @@gtid_slave_pos AS slave',
    );
    return { binlogState: parseGtids(row!.state), binlogPos: parseGtids(row!.pos), slavePos: parseGtids(row!.slave) };
  }

  async function replicateFrom(slave: MariaDbServer, master: MariaDbServer, startPos: string): Promise<void> {
    await rootQuery(slave.name, 'STOP SLAVE; SET GLOBAL read_only = 1');
    await rootQuery(slave.name, 'SET GLOBAL gtid_slave_pos = ?', [startPos]);
    await rootQuery(
      slave.name,
      `CHANGE MASTER TO MASTER_HOST = ?, MASTER_PORT = ?, MASTER_USER = ?, MASTER_PASSWORD = ?,
         MASTER_USE_GTID = slave_pos, MASTER_CONNECT_RETRY = 1, MASTER_DELAY = 0;
       START SLAVE`,
      [master.host, master.port, MANAGER_USER, MANAGER_PASSWORD],
    );
  }

  async function userSchemas(name: string): Promise<string[]> {
    const rows = await rootQuery<Array<{ s: string }>>(name, 'SELECT SCHEMA_NAME AS s FROM information_schema.SCHEMATA');
    return rows.map((r) => r.s).filter((s) => !SYSTEM_SCHEMAS.includes(s));
  }

  /** A logical copy of the master's schemas (consistent with its GTID position) replaces the slave's. */
  async function rebuild(slave: MariaDbServer, master: MariaDbServer): Promise<void> {
    await rootQuery(slave.name, 'SET GLOBAL read_only = 1; STOP SLAVE; RESET SLAVE ALL');
    const schemas = await userSchemas(master.name);
    const { stdout: dump } = await execFileAsync(
      'mariadb-dump',
      ['--no-defaults', `--socket=${master.socket}`, '--user=root', '--single-transaction', '--gtid', '--master-data=2', '--databases', ...schemas],
      { maxBuffer: 512 * 1024 * 1024 },
    );
    const pos = /SET GLOBAL gtid_slave_pos='([^']*)'/.exec(dump)?.[1];
    if (pos === undefined) throw new Error(`the dump of ${master.name} has no GTID position`);
    // The copy takes the master's whole GTID history too, not only its last position: the
    // manager compares histories server by server, and a copy without it would look diverged.
    const history = await gtidState(master.name);
    if (formatGtids(history.binlogPos) !== pos) throw new Error(`${master.name} was written to during the reset (at ${formatGtids(history.binlogPos)}, dumped at ${pos})`);
    const conn = await rootConnection(slave);
    try {
      await conn.query('SET SESSION sql_log_bin = 0');
      for (const schema of await userSchemas(slave.name)) await conn.query(`DROP DATABASE \`${schema}\``);
      await conn.query('RESET MASTER');
      await conn.query('SET GLOBAL gtid_binlog_state = ?', [formatGtids(history.binlogState)]);
    } finally {
      await conn.end().catch(() => conn.destroy());
    }
    await new Promise<void>((resolve, reject) => {
      const client = spawn('mariadb', ['--no-defaults', `--socket=${slave.socket}`, '--user=root', '--init-command=SET SESSION sql_log_bin = 0'], {
        stdio: ['pipe', 'ignore', 'pipe'],
      });
      let err = '';
      client.stderr!.on('data', (d: Buffer) => (err += d.toString()));
      client.once('error', reject);
      client.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`loading ${master.name}'s dump into ${slave.name} failed: ${err.trim()}`))));
      client.stdin!.end(dump);
    });
    await replicateFrom(slave, master, pos);
  }

  /** Has `slave` applied everything `master` has, with both replication threads running? */
  async function caughtUp(slave: MariaDbServer, master: MariaDbServer, timeoutMs: number): Promise<string | null> {
    const [pos] = await rootQuery<Array<{ pos: string }>>(master.name, 'SELECT @@gtid_binlog_pos AS pos');
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const [status] = await rootQuery<Array<Record<string, unknown>>>(slave.name, 'SHOW SLAVE STATUS');
      const [waited] = await rootQuery<Array<{ r: number | null }>>(slave.name, 'SELECT MASTER_GTID_WAIT(?, 0.5) AS r', [pos!.pos]);
      const threads = status?.Slave_IO_Running === 'Yes' && status?.Slave_SQL_Running === 'Yes';
      if (waited?.r === 0 && threads) return null;
      const why = status
        ? `IO ${String(status.Slave_IO_Running)} (${String(status.Last_IO_Error) || 'no error'}), SQL ${String(status.Slave_SQL_Running)} (${String(status.Last_SQL_Error) || 'no error'}), at ${String(status.Gtid_IO_Pos)} for ${pos!.pos}`
        : 'no replication configured';
      // A thread that stopped on an error will not recover by itself.
      if (status && (status.Slave_SQL_Running === 'No' || (status.Slave_IO_Running === 'No' && String(status.Last_IO_Error) !== ''))) return why;
      if (Date.now() > deadline) return `not caught up within ${timeoutMs} ms: ${why}`;
    }
  }

  async function checksum(name: string): Promise<string> {
    const rows = await rootQuery<Array<{ Checksum: number | string | null }>>(name, 'CHECKSUM TABLE app.writes');
    return String(rows[0]?.Checksum);
  }

  async function reset(resetOpts: { master?: string; clearWrites?: boolean; timeoutMs?: number } = {}): Promise<ResetReport> {
    const started = Date.now();
    const master = byName(resetOpts.master ?? servers[0]!.name);
    const slaves = servers.filter((s) => s !== master);
    const timeoutMs = resetOpts.timeoutMs ?? 60_000;
    const report: ResetReport = { rebuilt: [], revived: [], ms: 0 };
    await Promise.all(
      servers.map(async (s) => {
        if (s.frozen) {
          await thaw(s.name);
          report.revived.push(s.name);
        }
        if (!isRunning(s)) {
          await start(s.name);
          report.revived.push(s.name);
        }
      }),
    );
    // Fence everyone else before the master takes writes: never two writable servers, even here.
    await Promise.all(slaves.map((s) => rootQuery(s.name, 'SET GLOBAL read_only = 1; STOP SLAVE')));
    await rootQuery(master.name, 'STOP SLAVE; RESET SLAVE ALL; SET GLOBAL read_only = 0');
    const masterState = await gtidState(master.name);
    const masterKnows = [...masterState.binlogState, ...masterState.slavePos];
    await Promise.all(
      slaves.map(async (s) => {
        const mine = await gtidState(s.name);
        if (notCoveredBy(mine.binlogState, masterKnows).length > 0) {
          report.rebuilt.push(s.name);
          await rebuild(s, master);
        } else {
          await replicateFrom(s, master, formatGtids(newestPerDomain(mine.binlogPos, mine.slavePos)));
        }
      }),
    );
    const settle = async (s: MariaDbServer) => {
      let why = await caughtUp(s, master, timeoutMs);
      if (why === null && (await checksum(s.name)) !== (await checksum(master.name))) why = `its app.writes differ from ${master.name}'s`;
      if (why !== null) {
        if (report.rebuilt.includes(s.name)) throw new Error(`reset: ${s.name} was rebuilt from ${master.name} and still ${why}`);
        report.rebuilt.push(s.name);
        await rebuild(s, master);
        await settle(s);
      }
    };
    await Promise.all(slaves.map(settle));
    if (resetOpts.clearWrites) {
      await rootQuery(master.name, 'TRUNCATE TABLE app.writes');
      await Promise.all(slaves.map(async (s) => {
        const why = await caughtUp(s, master, timeoutMs);
        if (why) throw new Error(`reset: ${s.name} ${why}`);
      }));
    }
    report.ms = Date.now() - started;
    return report;
  }

  async function stop(): Promise<void> {
    await Promise.all(servers.map((s) => shutdown(s.name).catch(() => kill9(s.name))));
    rmSync(root, { recursive: true, force: true });
    guard.kill('SIGKILL');
  }

  const cluster: MariaDbCluster = {
    root,
    host,
    servers,
    server: byName,
    rootQuery,
    rootWriteRow,
    rootConnection: (name) => rootConnection(byName(name)),
    appConnection: (name) =>
      mysql.createConnection({ host: byName(name).host, port: byName(name).port, user: APP_USER, password: APP_PASSWORD, database: 'app' }),
    kill9,
    start,
    shutdown,
    freeze,
    thaw,
    state,
    readOnly,
    readOnlyAll,
    readOnlyProbe,
    reset,
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
      for (const slave of servers.slice(1)) await replicateFrom(slave, master, '');
      await waitForReplicas(cluster);
    }
  } catch (e) {
    await stop().catch(() => {});
    throw e;
  }
  return cluster;
}

/**
 * The manager's datasource properties for this cluster: host (the cluster's address), port, role
 * (the first server master) and, when given, precedence, one line each.
 */
export function datasourceProperties(cluster: MariaDbCluster, opts: { precedence?: number[] } = {}): string[] {
  return [
    `service.datasources=${cluster.servers.map((s) => s.name).join(',')}`,
    ...cluster.servers.flatMap((s, i) => [
      `datasource.${s.name}.host=${s.host}`,
      `datasource.${s.name}.port=${s.port}`,
      `datasource.${s.name}.role=${i === 0 ? 'master' : 'slave'}`,
      ...(opts.precedence ? [`datasource.${s.name}.precedence=${opts.precedence[i]}`] : []),
    ]),
  ];
}

/** Wait until the replicas (default: every other running server) have applied the master's binlog. */
export async function waitForReplicas(
  cluster: MariaDbCluster,
  masterName = cluster.servers[0]!.name,
  replicaNames?: string[],
  timeoutMs = 30_000,
): Promise<void> {
  const [row] = await cluster.rootQuery<Array<{ pos: string }>>(masterName, 'SELECT @@gtid_binlog_pos AS pos');
  const pos = row!.pos;
  const replicas = replicaNames ?? cluster.servers.filter((s) => s.name !== masterName && cluster.state(s.name) === 'running').map((s) => s.name);
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
  /** Which server acknowledged each of them, in the same order. */
  acknowledgedBy: string[];
  /** Ids whose INSERT failed with the connection lost mid-statement or timed out: the outcome is unknown. */
  uncertain: number[];
  /** Ids refused outright (read-only, connection refused): certainly not written. */
  refused: number;
  /** The longest time between two acknowledged writes, with when it started (ms since epoch). */
  longestGapMs: number;
  longestGapStart: number;
  /** Which server acknowledged writes, in order of change, from which id and when (ms since epoch). */
  servers: Array<{ name: string; fromId: number; at: number }>;
}

export interface WriterOptions {
  pauseMs?: number;
  /**
   * Where the application writes, asked before every write: a server name, or null while it knows
   * none (it waits). It writes there whether or not the server is read-only, as an application
   * that was told where the master is (or remembers an old one) would. Without it the writer looks
   * for a server that accepts writes itself, trying each in turn.
   */
  route?: () => string | null;
  /** An INSERT without an answer within this is abandoned, its outcome unknown (default 3000 ms). */
  statementTimeoutMs?: number;
  /** Called for each acknowledged write, with the GTID the server gave it (read in the same round trip). */
  onAck?: (ack: Ack) => void;
}

/** One acknowledged write. */
export interface Ack {
  id: number;
  server: string;
  /** The GTID of its transaction (`0-1-57`) and that GTID's sequence number. */
  gtid: string;
  seqno: number;
  sentAt: number;
  ackedAt: number;
}

/** `0-1-57` -> 57; NaN when there is none. */
export const seqnoOf = (gtid: string) => Number(gtid.split('-')[2]);

/**
 * One INSERT of `id` into app.writes on `name` as the application user, as an application that
 * writes to that server directly would: the acknowledgement with its GTID, or why not (`refused`:
 * certainly not written; `uncertain`: the outcome is unknown).
 */
export async function writeOnce(cluster: MariaDbCluster, name: string, id: number, timeoutMs = 3000): Promise<Ack | { failed: 'refused' | 'uncertain'; code: string }> {
  const s = cluster.server(name);
  let conn: mysql.Connection | null = null;
  try {
    conn = await mysql.createConnection({ host: s.host, port: s.port, user: APP_USER, password: APP_PASSWORD, database: 'app', connectTimeout: timeoutMs, multipleStatements: true });
  } catch (e) {
    return { failed: 'refused', code: (e as { code?: string }).code ?? String(e) };
  }
  try {
    const sentAt = Date.now();
    const gtid = await insertWithGtid(conn, id, timeoutMs);
    return { id, server: name, gtid, seqno: seqnoOf(gtid), sentAt, ackedAt: Date.now() };
  } catch (e) {
    const code = (e as { code?: string }).code ?? '';
    return { failed: UNCERTAIN_CODES.test(code) ? 'uncertain' : 'refused', code };
  } finally {
    conn.destroy();
  }
}

async function insertWithGtid(conn: mysql.Connection, id: number, timeoutMs: number): Promise<string> {
  const [results] = await conn.query<mysql.RowDataPacket[][]>({ sql: 'INSERT INTO writes (id) VALUES (?); SELECT @@last_gtid AS gtid', values: [id], timeout: timeoutMs });
  return String(results[1]?.[0]?.gtid ?? '');
}

export interface Writer {
  /** Acknowledged so far, and by whom last. */
  progress(): { acknowledged: number; lastServer: string | null };
  stop(): Promise<WriterReport>;
}

/** Each writer of a test process writes its own id range, so a later one never collides. */
let nextWriterBase = 1_000_000;

const UNCERTAIN_CODES = /PROTOCOL_CONNECTION_LOST|PROTOCOL_SEQUENCE_TIMEOUT|ECONNRESET|EPIPE|ETIMEDOUT|ER_CONNECTION_KILLED|ER_SERVER_SHUTDOWN|ER_QUERY_INTERRUPTED/;

/**
 * An application that writes continuously as the `app` user, as through a connector: by default it
 * writes to the server that accepts writes, and when that fails it tries the servers in turn
 * (read-only ones refuse it) until one accepts; with `route` it writes where that says. Every
 * acknowledged id is recorded.
 */
export function startWriter(cluster: MariaDbCluster, opts: WriterOptions = {}): Writer {
  const report: WriterReport = { acknowledged: [], acknowledgedAt: [], acknowledgedBy: [], uncertain: [], refused: 0, longestGapMs: 0, longestGapStart: 0, servers: [] };
  let stopping = false;
  let nextId = nextWriterBase;
  nextWriterBase += 100_000_000;
  let lastAck = Date.now();
  let current: { name: string; conn: mysql.Connection } | null = null;
  const timeout = opts.statementTimeoutMs ?? 3000;

  const connect = (name: string) => {
    const s = cluster.server(name);
    return mysql.createConnection({ host: s.host, port: s.port, user: APP_USER, password: APP_PASSWORD, database: 'app', connectTimeout: timeout, multipleStatements: true });
  };

  async function connectWritable(): Promise<void> {
    for (const s of cluster.servers) {
      let conn: mysql.Connection | null = null;
      try {
        conn = await connect(s.name);
        const [rows] = await conn.query<mysql.RowDataPacket[]>({ sql: 'SELECT @@read_only AS ro', timeout });
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

  async function connectRouted(name: string): Promise<void> {
    try {
      current = { name, conn: await connect(name) };
    } catch {
      report.refused++;
    }
  }

  const loop = (async () => {
    while (!stopping) {
      const routed = opts.route?.();
      const held = current as { name: string; conn: mysql.Connection } | null;
      if (opts.route && held && held.name !== routed) {
        held.conn.destroy();
        current = null;
      }
      if (!current) {
        if (!opts.route) await connectWritable();
        else if (routed) await connectRouted(routed);
        if (!current) {
          // Few connection attempts while no server takes writes: each one uses an ephemeral port.
          await sleep(20);
          continue;
        }
      }
      const target = current as { name: string; conn: mysql.Connection };
      const id = nextId++;
      try {
        const sentAt = Date.now();
        const gtid = await insertWithGtid(target.conn, id, timeout);
        const now = Date.now();
        opts.onAck?.({ id, server: target.name, gtid, seqno: seqnoOf(gtid), sentAt, ackedAt: now });
        if (now - lastAck > report.longestGapMs) {
          report.longestGapMs = now - lastAck;
          report.longestGapStart = lastAck;
        }
        lastAck = now;
        report.acknowledged.push(id);
        report.acknowledgedAt.push(now);
        report.acknowledgedBy.push(target.name);
        if (report.servers.at(-1)?.name !== target.name) report.servers.push({ name: target.name, fromId: id, at: now });
      } catch (e) {
        const code = (e as { code?: string }).code ?? '';
        if (UNCERTAIN_CODES.test(code)) report.uncertain.push(id);
        else report.refused++;
        target.conn.destroy();
        current = null;
        // A refusing server (read-only) is retried at a modest rate.
        if (opts.route) await sleep(20);
      }
      if (opts.pauseMs) await sleep(opts.pauseMs);
    }
  })();

  return {
    progress: () => ({ acknowledged: report.acknowledged.length, lastServer: report.acknowledgedBy.at(-1) ?? null }),
    async stop() {
      stopping = true;
      await loop;
      (current as { conn: mysql.Connection } | null)?.conn.destroy();
      current = null;
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
