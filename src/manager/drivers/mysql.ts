/**
 * The `mysql` driver: the manager's datasources are real MariaDB servers replicating with GTIDs.
 *
 * Each call opens its own short connection (with the call's deadline as connect timeout) and closes
 * it, so a hung server costs one call, never the next. The driver remembers the thread ids of its
 * open connections so that fencing a master never ends the manager's own sessions.
 *
 * Credentials come from MysqlDriverOptions and never appear in a message: errors are rebuilt from
 * the server's error code and text, and any occurrence of a password is masked as a last resort.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import mysql from 'mysql2/promise';
import type { ResourceState } from '../model.js';
import { checkHost, localResourceShortage } from '../hostcheck.js';
import { systemClock } from '../clock.js';
import { withClockTimeout, type ClusterDriver, type DataSourceConfig, type DriverCallOptions, type Observation, type Position } from './driver.js';
import { mysqlDriverOptionsFromProperties, type MysqlDriverOptions, type MysqlDriverProperties } from './mysql-config.js';
import {
  formatGtid,
  formatGtidList,
  formatGtidState,
  gtidSeqno,
  gtidsMissingFrom,
  mergeNewest,
  parseGtidList,
  parseGtidState,
  type GtidList,
  type GtidState,
} from './mysql-gtid.js';

type Row = mysql.RowDataPacket;

/** SHOW SLAVE STATUS, the columns the driver reads (MariaDB names). */
interface SlaveStatus {
  ioRunning: string;
  sqlRunning: string;
  masterHost: string;
  masterPort: number;
  secondsBehind: number | null;
  ioPos: string;
  lastIoError: string;
  lastSqlError: string;
  /** What the applier is doing: `Slave has read all relay log; waiting for more updates`, ... */
  sqlState: string;
}

/** Server-side threads that are not client sessions: fencing must leave replication running. */
const NON_CLIENT_COMMANDS = new Set(['Binlog Dump', 'Binlog Dump GTID', 'Daemon', 'Slave_IO', 'Slave_SQL', 'Slave_worker']);
const NON_CLIENT_USERS = new Set(['system user', 'event_scheduler']);

const HEARTBEAT_SCHEMA = 'tungsten';

/** A server answered but is not where the operation needs it; the message is the whole reason. */
class ServerStateError extends Error {
  override name = 'ServerStateError';
}

export class MysqlDriver implements ClusterDriver {
  readonly kind = 'mysql' as const;
  private readonly ownThreads = new Set<number>();
  private readonly heartbeatReady = new Set<string>();
  /** host:port of servers already found to be MariaDB. */
  private readonly mariadbConfirmed = new Set<string>();
  /** host:port of every datasource seen, so that a slave's master is reported by datasource name. */
  private readonly names = new Map<string, string>();

  constructor(private readonly options: MysqlDriverOptions, datasources: DataSourceConfig[] = []) {
    for (const ds of datasources) this.remember(ds);
  }

  /**
   * Host check and database probe at once. A probe that failed for a cause that is not the
   * server's (the manager out of descriptors, the server refusing more connections) is
   * `inconclusive`, and so is a failed host check the manager could not even start when the
   * database gives no answer of its own to go by.
   */
  async observe(ds: DataSourceConfig, opts: DriverCallOptions): Promise<Observation> {
    this.remember(ds);
    const hostCheck = checkHost(ds.host, { ...this.options.hostCheck, timeoutMs: Math.min(this.options.hostCheck.timeoutMs, opts.timeoutMs) });
    const database = this.probe(ds, opts);
    const [host, db] = await Promise.all([hostCheck, database]);
    const state = db.dataServer.state;
    // The server (or the host's kernel) answered: the host is up whatever the host check says.
    const answered = state === 'ONLINE' || db.serverAnswered;
    const alive = host.alive || answered;
    let inconclusive = db.inconclusive;
    if (inconclusive === null && host.inconclusive !== undefined && !answered) {
      inconclusive = `the host check could not be made: ${host.inconclusive}`;
    }
    return {
      host: alive ? 'alive' : 'unreachable',
      dataServer: db.dataServer,
      managerUp: alive,
      replicator: db.replicator,
      readOnly: db.readOnly,
      connections: db.connections,
      gtidState: db.gtidState,
      inconclusive,
    };
  }

  async position(ds: DataSourceConfig, opts: DriverCallOptions): Promise<Position> {
    return this.read(ds, 'read the replication position', opts, async (conn) => positionOf(await this.gtidState(conn)));
  }

  async fenceWrites(ds: DataSourceConfig, opts: DriverCallOptions): Promise<number> {
    return this.call(ds, 'fence writes', opts, async (conn) => {
      await conn.query('SET GLOBAL read_only = 1');
      const [rows] = await conn.query<Row[]>('SELECT ID AS id, USER AS user, COMMAND AS command FROM information_schema.PROCESSLIST WHERE ID <> CONNECTION_ID()');
      let ended = 0;
      for (const row of rows) {
        if (this.ownThreads.has(Number(row.id)) || NON_CLIENT_USERS.has(String(row.user)) || NON_CLIENT_COMMANDS.has(String(row.command))) continue;
        try {
          await conn.query(`KILL CONNECTION ${Number(row.id)}`);
          ended++;
        } catch (e) {
          // The session ended on its own between the listing and the kill.
          if ((e as { errno?: number }).errno !== 1094) throw e;
        }
      }
      return ended;
    });
  }

  async readOnly(ds: DataSourceConfig, opts: DriverCallOptions): Promise<boolean> {
    return this.read(ds, 'read read_only', opts, async (conn) => {
      const [rows] = await conn.query<Row[]>('SELECT @@read_only AS ro');
      return Number(rows[0]?.ro) === 1;
    });
  }

  async allowWrites(ds: DataSourceConfig, opts: DriverCallOptions): Promise<void> {
    await this.call(ds, 'allow writes', opts, (conn) => conn.query('SET GLOBAL read_only = 0'));
  }

  async waitApplied(ds: DataSourceConfig, position: Position, opts: DriverCallOptions): Promise<void> {
    const started = Date.now();
    await this.call(ds, `wait until ${position.exact ?? `seqno ${position.seqno}`} is applied`, opts, async (conn) => {
      if (position.exact !== undefined) {
        // Leave the server's own timeout a little room before the call's deadline, so a slow
        // replica is reported as such rather than as a driver timeout.
        const seconds = Math.max(0, opts.timeoutMs - (Date.now() - started) - 250) / 1000;
        const [rows] = await conn.query<Row[]>('SELECT MASTER_GTID_WAIT(?, ?) AS waited', [position.exact, seconds]);
        if (rows[0]?.waited === 0) return;
        const now = positionOf(await this.gtidState(conn));
        throw new ServerStateError(`${ds.name} has applied ${now.exact || 'nothing'}, not yet ${position.exact} (waited ${Math.round(seconds * 1000)} ms)`);
      }
      // A seqno alone comes from a stored (received) position, which can count a transaction whose
      // end never arrived before the master died: once the link is down and the relay log is
      // applied, the replica has applied everything it will ever get.
      for (;;) {
        const now = positionOf(await this.gtidState(conn));
        if (now.seqno >= position.seqno) return;
        const status = await slaveStatus(conn);
        if (!status) throw new ServerStateError(`${ds.name} is not replicating and has applied ${now.exact || 'nothing'} (seqno ${now.seqno}), not seqno ${position.seqno}`);
        if (status.ioRunning !== 'Yes') {
          await relayLogApplied(conn, ds, Infinity);
          return;
        }
        await sleep(50);
      }
    });
  }

  async promote(ds: DataSourceConfig, opts: DriverCallOptions): Promise<void> {
    const started = Date.now();
    await this.call(ds, 'promote', opts, async (conn) => {
      const status = await slaveStatus(conn);
      if (status) {
        // Apply what the slave already received before cutting it loose: those transactions exist
        // nowhere else once the old master is gone.
        await conn.query('STOP SLAVE IO_THREAD');
        await relayLogApplied(conn, ds, started + opts.timeoutMs - 500);
        await conn.query('STOP SLAVE');
        await conn.query('RESET SLAVE ALL');
      }
      await conn.query('SET GLOBAL read_only = 0');
    });
  }

  async replicateFrom(ds: DataSourceConfig, master: DataSourceConfig, opts: DriverCallOptions): Promise<void> {
    this.remember(master);
    await this.call(ds, `replicate from ${master.name}`, opts, async (conn) => {
      await conn.query('SET GLOBAL read_only = 1');
      await conn.query('STOP SLAVE');
      // A server that was a master wrote transactions that are in its binlog but not in its
      // gtid_slave_pos; without this it would ask the new master to send them again.
      const state = await this.gtidState(conn);
      const start = mergeNewest(state.slave, state.binlog);
      if (formatGtidList(start) !== formatGtidList(state.slave)) {
        await conn.query('SET GLOBAL gtid_slave_pos = ?', [formatGtidList(start)]);
      }
      await conn.query(
        'CHANGE MASTER TO MASTER_HOST = ?, MASTER_PORT = ?, MASTER_USER = ?, MASTER_PASSWORD = ?, MASTER_USE_GTID = slave_pos, MASTER_CONNECT_RETRY = 1',
        [master.host, master.port, this.options.replicationUser, this.options.replicationPassword],
      );
      await conn.query('START SLAVE');
    });
  }

  async checkRejoin(ds: DataSourceConfig, master: DataSourceConfig, opts: DriverCallOptions): Promise<{ ok: true } | { ok: false; reason: string }> {
    const historyOf = (target: DataSourceConfig) =>
      this.call(target, 'read the GTID history', opts, async (conn) => {
        const [rows] = await conn.query<Row[]>('SELECT @@gtid_binlog_state AS binlog, @@gtid_slave_pos AS slave');
        return parseGtidState(rows[0]!.binlog, rows[0]!.slave);
      });
    // A server that does not answer is no verdict: the call fails, and callers say it could not ask.
    const [mine, theirs] = await Promise.all([historyOf(ds), historyOf(master)]);
    const missing = gtidsMissingFrom(mine, theirs);
    if (missing.length === 0) return { ok: true };
    const described = missing.map(({ mine: g, theirs: t }) =>
      t ? `${formatGtid(g)} beyond ${master.name}'s ${formatGtid(t)}` : `${formatGtid(g)}, and ${master.name} has nothing from server ${g.server} in domain ${g.domain}`,
    );
    return {
      ok: false,
      reason: `${ds.name} has transactions that ${master.name} lacks (${described.join('; ')}); rejoining would lose or diverge them: reconcile them, or rebuild ${ds.name} from ${master.name}`,
    };
  }

  async setReplicator(ds: DataSourceConfig, online: boolean, opts: DriverCallOptions): Promise<void> {
    await this.call(ds, online ? 'start replication' : 'stop replication', opts, async (conn) => {
      if (online && !(await slaveStatus(conn))) throw new ServerStateError(`${ds.name} has no master configured: it is a master or was never made a slave`);
      await conn.query(online ? 'START SLAVE' : 'STOP SLAVE');
    });
  }

  async heartbeat(master: DataSourceConfig, opts: DriverCallOptions): Promise<Position> {
    return this.call(master, 'write a heartbeat', opts, async (conn) => {
      const key = `${master.host}:${master.port}`;
      if (!this.heartbeatReady.has(key)) {
        await conn.query(`CREATE DATABASE IF NOT EXISTS ${HEARTBEAT_SCHEMA}`);
        await conn.query(
          `CREATE TABLE IF NOT EXISTS ${HEARTBEAT_SCHEMA}.heartbeat (id TINYINT PRIMARY KEY, beats BIGINT NOT NULL, source VARCHAR(128) NOT NULL, beat_time TIMESTAMP(6) NOT NULL) ENGINE=InnoDB`,
        );
        this.heartbeatReady.add(key);
      }
      await conn.query(
        `INSERT INTO ${HEARTBEAT_SCHEMA}.heartbeat (id, beats, source, beat_time) VALUES (1, 1, ?, NOW(6))
         ON DUPLICATE KEY UPDATE beats = beats + 1, source = VALUES(source), beat_time = VALUES(beat_time)`,
        [master.name],
      );
      return positionOf(await this.gtidState(conn));
    });
  }

  async close(): Promise<void> {
    this.ownThreads.clear();
  }

  private remember(ds: DataSourceConfig): void {
    this.names.set(`${ds.host}:${ds.port}`, ds.name);
  }

  /**
   * Database ping and, when it answers, replication state, read_only and GTID state. Never
   * rejects: a failure is a state with its reason, `inconclusive` when it says nothing about the
   * server's health, and `serverAnswered` when the server (or its host) sent the failure itself.
   */
  private async probe(ds: DataSourceConfig, opts: DriverCallOptions): Promise<ProbeResult> {
    const timeoutMs = Math.min(this.options.dbPingTimeoutMs, opts.timeoutMs);
    const started = Date.now();
    try {
      return await this.call(ds, 'ping', { ...opts, timeoutMs }, async (conn) => {
        await conn.query('SELECT 1');
        const state = await this.gtidState(conn);
        const status = await slaveStatus(conn);
        const [statusRows] = await conn.query<Row[]>("SHOW GLOBAL STATUS WHERE Variable_name IN ('Threads_connected', 'Connections')");
        const counters = new Map(statusRows.map((r) => [String(r.Variable_name), Number(r.Value)]));
        return {
          dataServer: { state: 'ONLINE' as const, reason: null },
          replicator: this.replicatorOf(state, status),
          readOnly: state.readOnly,
          connections: { active: counters.get('Threads_connected') ?? 0, created: counters.get('Connections') ?? 0 },
          gtidState: formatGtidState(state.history),
          serverId: state.serverId,
          inconclusive: null,
          serverAnswered: true,
        };
      });
    } catch (e) {
      const reason = (e as Error).message;
      const inconclusive = inconclusiveCause(e, Date.now() - started, timeoutMs);
      return {
        // Not a verdict on the server: shown as UNKNOWN with the reason, never counted as a fault.
        dataServer: { state: inconclusive ? 'UNKNOWN' : dataServerStateOf(e), reason },
        replicator: null,
        readOnly: null,
        connections: { active: 0, created: 0 },
        gtidState: null,
        inconclusive,
        serverAnswered: serverAnswered(e),
      };
    }
  }

  private replicatorOf(state: ServerGtids, status: SlaveStatus | null): Observation['replicator'] {
    if (!status) {
      const seqno = gtidSeqno(mergeNewest(state.binlog, state.slave));
      return { state: 'ONLINE', role: 'master', masterHost: null, appliedSeqno: seqno, storedSeqno: seqno, appliedLatency: 0 };
    }
    const applied = gtidSeqno(state.slave);
    const stored = Math.max(applied, gtidSeqno(parseGtidList(status.ioPos)));
    return {
      state: replicatorStateOf(status),
      role: 'slave',
      masterHost: this.names.get(`${status.masterHost}:${status.masterPort}`) ?? status.masterHost,
      appliedSeqno: applied,
      storedSeqno: stored,
      appliedLatency: status.secondsBehind ?? -1,
    };
  }

  private async gtidState(conn: mysql.Connection): Promise<ServerGtids> {
    const [rows] = await conn.query<Row[]>(
      'SELECT @@gtid_binlog_pos AS binlog, @@gtid_slave_pos AS slave, @@gtid_binlog_state AS binlogState, @@read_only AS readOnly, @@server_id AS serverId',
    );
    const row = rows[0]!;
    return {
      serverId: Number(row.serverId),
      binlog: parseGtidList(row.binlog),
      slave: parseGtidList(row.slave),
      history: parseGtidState(row.binlogState, row.slave),
      readOnly: Number(row.readOnly) === 1,
    };
  }

  /**
   * A read that changes nothing, asked again once on a new connection when the server ended the
   * first one: another member fencing its own master (failsafe) ends every session of the manager
   * account it does not own, ours included, and a switch should not be reverted for that.
   */
  private async read<T>(ds: DataSourceConfig, what: string, opts: DriverCallOptions, work: (conn: mysql.Connection) => Promise<T>): Promise<T> {
    try {
      return await this.call(ds, what, opts, work);
    } catch (e) {
      const code = (e as { code?: string }).code;
      if ((code !== 'PROTOCOL_CONNECTION_LOST' && code !== 'ECONNRESET') || opts.signal?.aborted) throw e;
      return this.call(ds, what, opts, work);
    }
  }

  /** One connection, one deadline; any failure becomes an Error whose message is the reason. */
  private async call<T>(ds: DataSourceConfig, what: string, opts: DriverCallOptions, work: (conn: mysql.Connection) => Promise<T>): Promise<T> {
    const where = `${ds.name} (${ds.host}:${ds.port})`;
    try {
      return await withClockTimeout(systemClock, `${what} on ${where}`, opts.timeoutMs, opts.signal, async ({ signal }) => {
        let conn: mysql.Connection | null = null;
        const onAbort = () => conn?.destroy();
        signal.addEventListener('abort', onAbort, { once: true });
        try {
          conn = await mysql.createConnection({
            host: ds.host,
            port: ds.port,
            user: this.options.user,
            password: this.options.password,
            connectTimeout: Math.max(1, opts.timeoutMs),
            supportBigNumbers: true,
          });
          if (signal.aborted) throw new Error('aborted');
          this.ownThreads.add(conn.threadId);
          await this.requireMariaDb(conn, ds);
          return await work(conn);
        } finally {
          signal.removeEventListener('abort', onAbort);
          if (conn) {
            this.ownThreads.delete(conn.threadId);
            const closing = conn;
            await closing.end().catch(() => closing.destroy());
          }
        }
      });
    } catch (e) {
      throw this.describe(e, what, where);
    }
  }

  /** The SQL this driver speaks (gtid_binlog_pos, MASTER_GTID_WAIT, MASTER_USE_GTID) is MariaDB's. */
  private async requireMariaDb(conn: mysql.Connection, ds: DataSourceConfig): Promise<void> {
    const key = `${ds.host}:${ds.port}`;
    if (this.mariadbConfirmed.has(key)) return;
    const [rows] = await conn.query<Row[]>('SELECT @@version AS version');
    const version = String(rows[0]?.version ?? '');
    if (!/mariadb/i.test(version)) {
      throw new ServerStateError(
        `${ds.name} (${key}) runs MySQL ${version}: the mysql driver drives MariaDB GTID replication (MariaDB 10.5 or newer); MySQL's own GTIDs are not supported yet`,
      );
    }
    this.mariadbConfirmed.add(key);
  }

  private describe(e: unknown, what: string, where: string): Error {
    const err = e as { code?: string; errno?: number; message?: string; name?: string };
    if (err.name === 'DriverTimeoutError' || e instanceof ServerStateError) return this.mask(e as Error);
    let reason: string;
    switch (err.code) {
      case 'ER_ACCESS_DENIED_ERROR':
      case 'ER_DBACCESS_DENIED_ERROR':
        reason = `access denied for user '${this.options.user}': check mysql.user and mysql.password (or mysql.passwordFile)`;
        break;
      case 'ECONNREFUSED':
        reason = 'connection refused: the database server is not running';
        break;
      case 'ETIMEDOUT':
        reason = 'no answer from the database server in time';
        break;
      case 'EHOSTUNREACH':
      case 'ENETUNREACH':
        reason = 'host unreachable';
        break;
      case 'ER_SERVER_SHUTDOWN':
        reason = 'the database server is shutting down';
        break;
      case 'PROTOCOL_CONNECTION_LOST':
      case 'ECONNRESET':
        reason = 'the server closed the connection';
        break;
      default:
        reason = err.message ?? String(e);
    }
    const wrapped = new Error(`cannot ${what} on ${where}: ${reason}`) as Error & { code?: string; errno?: number };
    if (err.code) wrapped.code = err.code;
    if (typeof err.errno === 'number') wrapped.errno = err.errno;
    return this.mask(wrapped);
  }

  private mask<E extends Error>(error: E): E {
    for (const secret of [this.options.password, this.options.replicationPassword]) {
      if (secret && error.message.includes(secret)) error.message = error.message.split(secret).join('***');
    }
    return error;
  }
}

interface ServerGtids {
  binlog: GtidList;
  slave: GtidList;
  /** `gtid_binlog_state` merged with `gtid_slave_pos`: the last GTID of every (domain, server) pair. */
  history: GtidState;
  readOnly: boolean;
  serverId: number;
}

type ProbeResult = Pick<Observation, 'dataServer' | 'replicator' | 'readOnly' | 'connections' | 'gtidState' | 'inconclusive'> & {
  /** The failure came from the server or its host (an error packet, a refusal): the host is up. */
  serverAnswered: boolean;
};

/** A master's position is what it wrote; a slave's what it applied (both are in the merge). */
function positionOf(state: ServerGtids): Position {
  const list = mergeNewest(state.slave, state.binlog);
  return { seqno: gtidSeqno(list), exact: formatGtidList(list) };
}


/**
 * Waits until the applier has executed everything in the relay log. Throws when the deadline passes
 * first, or when its applier was stopped by an error (nothing more will be applied).
 */
async function relayLogApplied(conn: mysql.Connection, ds: DataSourceConfig, deadline: number): Promise<void> {
  for (;;) {
    const s = await slaveStatus(conn);
    if (!s) return;
    if (s.sqlRunning !== 'Yes') {
      if (s.lastSqlError) throw new ServerStateError(`${ds.name}'s applier stopped with an error: ${s.lastSqlError}`);
      return;
    }
    if (/has read all relay log/i.test(s.sqlState)) return;
    if (Date.now() >= deadline) {
      throw new ServerStateError(`${ds.name} did not finish applying its relay log in time (${s.sqlState || 'no applier state'})`);
    }
    await sleep(50);
  }
}

async function slaveStatus(conn: mysql.Connection): Promise<SlaveStatus | null> {
  const [rows] = await conn.query<Row[]>('SHOW SLAVE STATUS');
  const row = rows[0];
  if (!row || !row.Master_Host) return null;
  const behind = row.Seconds_Behind_Master;
  return {
    ioRunning: String(row.Slave_IO_Running ?? 'No'),
    sqlRunning: String(row.Slave_SQL_Running ?? 'No'),
    masterHost: String(row.Master_Host),
    masterPort: Number(row.Master_Port),
    secondsBehind: behind === null || behind === undefined ? null : Number(behind),
    ioPos: String(row.Gtid_IO_Pos ?? ''),
    lastIoError: String(row.Last_IO_Error ?? ''),
    lastSqlError: String(row.Last_SQL_Error ?? ''),
    sqlState: String(row.Slave_SQL_Running_State ?? ''),
  };
}

/**
 * Both threads running: ONLINE. Applying but still (re)connecting to its master: SYNCHRONIZING.
 * A thread stopped by an error: FAILED. Stopped on purpose: OFFLINE.
 */
function replicatorStateOf(s: SlaveStatus): ResourceState {
  if (s.ioRunning === 'Yes' && s.sqlRunning === 'Yes') return 'ONLINE';
  if (s.sqlRunning === 'Yes' && s.ioRunning === 'Connecting') return 'SYNCHRONIZING';
  if (s.lastSqlError || (s.lastIoError && s.ioRunning !== 'Connecting')) return 'FAILED';
  return 'OFFLINE';
}

/** MariaDB errors that prove the server is alive and only refuses one more connection. */
const SERVER_BUSY_ERRNOS = new Map<number, string>([
  [1040, 'ER_CON_COUNT_ERROR'],
  [1203, 'ER_TOO_MANY_USER_CONNECTIONS'],
]);

/**
 * Why a failed probe is no evidence about the server, or null when it is: the server is alive but
 * at max_connections, the manager is out of descriptors or memory, or the deadline passed only
 * because the manager's own event loop was stalled (the call took over twice its deadline).
 */
function inconclusiveCause(e: unknown, elapsedMs: number, timeoutMs: number): string | null {
  const err = e as { code?: string; errno?: number; message?: string; name?: string };
  const busy = (err.code !== undefined && [...SERVER_BUSY_ERRNOS.values()].includes(err.code)) || SERVER_BUSY_ERRNOS.has(err.errno ?? -1);
  if (busy || /too many connections/i.test(err.message ?? '')) {
    return 'the server is alive but refuses more connections (max_connections reached)';
  }
  const shortage = localResourceShortage(e);
  if (shortage) return shortage;
  if (err.name === 'DriverTimeoutError' && elapsedMs > 2 * timeoutMs) {
    return `the manager was stalled: a ${timeoutMs} ms deadline fired after ${elapsedMs} ms`;
  }
  return null;
}

/** The failure was sent by the server or by its host's kernel, so the host is up. */
function serverAnswered(e: unknown): boolean {
  if (e instanceof ServerStateError) return true;
  const code = (e as { code?: unknown }).code;
  // mysql2 gives an ER_ code only to an error packet the server sent.
  return typeof code === 'string' && (code === 'ECONNREFUSED' || code === 'ECONNRESET' || code.startsWith('ER_'));
}

function dataServerStateOf(e: unknown): ResourceState {
  const err = e as { code?: string; name?: string };
  if (err.name === 'DriverTimeoutError') return 'TIMEOUT';
  switch (err.code) {
    case 'ECONNREFUSED':
    case 'ER_SERVER_SHUTDOWN':
      return 'STOPPED';
    case 'ETIMEDOUT':
      return 'TIMEOUT';
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return 'UNREACHABLE';
    default:
      // The server answered but would not serve us (bad credentials, too many connections...):
      // it is not stopped, and it is not known to be healthy.
      return 'UNKNOWN';
  }
}

/** The driver for `manager.driver=mysql`: credentials and liveness timeouts from the properties. */
export function mysqlDriverFromProperties(props: MysqlDriverProperties): MysqlDriver {
  return new MysqlDriver(mysqlDriverOptionsFromProperties(props), props.datasources);
}
