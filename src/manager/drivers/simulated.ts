/**
 * An in-process cluster for the demo and the fast test tier, modelled on MariaDB with GTIDs
 * (domain 0, gtid_strict_mode, server_id = the datasource's index + 1):
 *
 * - Every server keeps its own binlog: a run of transactions, each with its GTID `0-<server>-<seqno>`
 *   (the seqno grows by one along the history; a server writing continues from its last one).
 *   `Observation.gtidState` lists the last GTID of every server id the history holds
 *   (`gtid_binlog_state`), so a fork (errant transaction, lost writes of a failed master) shows.
 * - Slaves follow the master named by replicateFrom (`masterName`) and nobody else. The IO thread
 *   asks the master for the slave's position: a master that lacks it answers error 1236 (replicator
 *   FAILED at once); a master that later sends a seqno the slave already used (it has an errant
 *   transaction) stops the SQL thread with error 1950 (FAILED). A master that is stopped shows its
 *   slaves SYNCHRONIZING with latency -1 (MariaDB's NULL Seconds_Behind_Master); one that is frozen
 *   or cut off shows them ONLINE until `slaveNetTimeoutMs` has passed, then SYNCHRONIZING.
 * - read_only per server. A server restarted after a stop or a crash comes up with the read_only of
 *   its configuration (`restartReadOnly`, default false: writable, as MariaDB without read_only in
 *   my.cnf) and restarts its slave threads.
 * - Faults (injectFault): dataserver-stop (a clean shutdown: connected slaves receive the whole
 *   binlog first), dataserver-kill (kill -9: slaves keep only what reached them), dataserver-start,
 *   dataserver-freeze / dataserver-thaw (SIGSTOP / SIGCONT: every call on the server, observe
 *   included, hangs until its AbortSignal aborts, without effect; writes sent to it hang and commit
 *   when it resumes), host-down / host-up (the host cut off: nothing reaches it, it keeps its state),
 *   replicator-stop / replicator-start, errant-write (a transaction written directly on the server,
 *   as a SUPER user can despite read_only).
 * - Applications: `appWrite(name)` writes one transaction to a server as an application would,
 *   `routedWrite()` writes to the master the connectors route to (what the `writesPerSecond` timer
 *   does); `holdsWrite(name, write)` says whether a server holds an acknowledged write.
 *
 * Everything runs on the injected Clock and a seeded generator, so a VirtualClock run is exactly
 * repeatable.
 */
import type { ConnectorFleet } from '../routing.js';
import type { Clock, TimerHandle } from '../clock.js';
import { seededRandom } from '../random.js';
import type { FaultAction, ResourceState, Role } from '../model.js';
import type {
  ClusterDriver,
  DataSourceConfig,
  DriverCallOptions,
  Observation,
  Position,
  RouterObservation,
} from './driver.js';

export interface SimulatedClusterOptions {
  clock: Clock;
  datasources: readonly DataSourceConfig[];
  /** Datasource names whose host runs a connector. */
  connectors: readonly string[];
  /** Which datasource is the master at start (default: the one configured as master). */
  master?: string;
  /** Delay of every operation step (fence, promote, replicateFrom, ...), so progress is visible. */
  stepDelayMs?: number;
  /** Application write rate on the routed master; 0 stops these writes (a checker then writes itself). */
  writesPerSecond?: number;
  seed?: number;
  /** Seqno every node starts at (a history every server shares, written by the first master). */
  startSeqno?: number;
  /**
   * The read_only a restarted server comes up with (`read_only` in its my.cnf). Default false: it
   * comes back writable, as MariaDB does without it, which is the case a manager must fence.
   */
  restartReadOnly?: boolean;
  /**
   * MariaDB's slave_net_timeout: how long a slave's IO thread waits on a master that went silent
   * (frozen, host cut off) before it reconnects and shows SYNCHRONIZING. Default 60 s.
   */
  slaveNetTimeoutMs?: number;
}

/** Driver operations a test can make fail once with `failNext`. */
export type SimulatedOperation =
  | 'fenceWrites'
  | 'allowWrites'
  | 'waitApplied'
  | 'promote'
  | 'replicateFrom'
  | 'checkRejoin'
  | 'setReplicator'
  | 'heartbeat'
  | 'position';

/** What a simulated node looks like from inside, for tests and the demo. */
export interface SimulatedNodeState {
  name: string;
  /** MariaDB server_id: the datasource's index in the configuration + 1. */
  serverId: number;
  hostUp: boolean;
  dataServerUp: boolean;
  /** SIGSTOPped: answers nothing, accepts nothing, keeps its state. */
  frozen: boolean;
  replicatorRunning: boolean;
  /** The replicator state observe() reports (what SHOW SLAVE STATUS shows); null when the server is down. */
  replicatorState: ResourceState | null;
  /** The error that stopped replication (1236, 1950), null when none. */
  replicatorError: string | null;
  isMaster: boolean;
  masterName: string | null;
  readOnly: boolean;
  appliedSeqno: number;
  /** `gtid_binlog_state`: `0-1-42,0-3-7`. */
  gtidState: string;
  /** Up, not frozen, read_only off: an application's write would commit. */
  acceptsWrites: boolean;
  activeSessions: number;
  createdSessions: number;
}

/** One application write and what became of it. */
export type AppWriteResult =
  | {
      ok: true;
      /** The server that committed it. */
      server: string;
      /** Unique id of the transaction (two servers may commit different transactions with one seqno). */
      id: number;
      gtid: string;
      seqno: number;
      /** Clock time of the commit. */
      at: number;
    }
  | {
      ok: false;
      server: string | null;
      /** true: the outcome is unknown (the server hangs; the write may commit when it resumes). */
      unknown: boolean;
      reason: string;
    };

/** A write acknowledged by appWrite/routedWrite, as holdsWrite takes it. */
export interface WriteRef {
  id: number;
  seqno: number;
}

interface Txn {
  /** Unique per transaction in the simulation (0: the history every node starts with). */
  uid: number;
  seqno: number;
  /** server_id of the server that wrote it. */
  server: number;
}

interface LogEntry {
  txn: Txn;
  /** When this node got it (wrote it or applied it). */
  at: number;
}

interface SimNode {
  cfg: DataSourceConfig;
  serverId: number;
  hostUp: boolean;
  dataServerUp: boolean;
  frozen: boolean;
  /** Since when the server is silent to its slaves (frozen or host cut off); null when it answers. */
  silentSince: number | null;
  /** Slave threads started (START SLAVE); on a master, the legacy "master replicator" switch. */
  replicatorRunning: boolean;
  /** Stopped on purpose (`replicator HOST offline`), not by a crash: observed OFFLINE, not STOPPED. */
  replicatorOffline: boolean;
  /** Error that stopped a slave thread; null when none. */
  replError: string | null;
  /** When the slave's IO thread last (re)connected: a link made after its master went silent never worked. */
  linkSince: number;
  isMaster: boolean;
  masterName: string | null;
  readOnly: boolean;
  /** Seqno of the transaction before log[0] (history trimmed away, or shared at start). */
  base: number;
  baseUid: number;
  log: LogEntry[];
  /** server_id -> last seqno written by it that this node holds. */
  gtid: Map<number, number>;
  /** gtid_slave_pos: the last transaction received from a master (set to the whole binlog by replicateFrom). */
  slavePos: { seqno: number; uid: number };
  lagMs: number;
  activeSessions: number;
  createdSessions: number;
  /** Calls waiting for the server to resume. */
  waiters: Set<() => void>;
  /** Writes sent while frozen: they commit when it resumes. */
  pendingWrites: number;
}

interface SimConnector {
  host: string;
  pid: number;
  /** Sessions this connector keeps open to the master while routing is normal. */
  baseSessions: number;
  active: number;
  created: number;
}

const HISTORY_LIMIT = 20_000;
/** Connections a frozen server piles up before new ones are refused (its max_connections). */
const PENDING_LIMIT = 150;
const DOMAIN = 0;


function gtidOf(t: { server: number; seqno: number }): string {
  return `${DOMAIN}-${t.server}-${t.seqno}`;
}

function lastOf(n: SimNode): { seqno: number; uid: number; server: number | null } {
  const e = n.log[n.log.length - 1];
  return e ? { seqno: e.txn.seqno, uid: e.txn.uid, server: e.txn.server } : { seqno: n.base, uid: n.baseUid, server: null };
}

function entryAt(n: SimNode, seqno: number): LogEntry | undefined {
  return n.log[seqno - n.base - 1];
}

/**
 * Does `n` hold transaction (seqno, uid)? Beyond the retained history (trimmed long ago) it is
 * taken as held: the simulation keeps HISTORY_LIMIT transactions per server.
 */
function holdsTxn(n: SimNode, seqno: number, uid: number): boolean {
  if (seqno < n.base) return true;
  if (seqno === n.base) return n.baseUid === uid || uid === 0 || n.baseUid === 0;
  return entryAt(n, seqno)?.txn.uid === uid;
}

function gtidStateText(n: SimNode): string {
  return [...n.gtid.entries()]
    .sort((a, b) => a[0] - b[0])
    .map(([server, seqno]) => gtidOf({ server, seqno }))
    .join(',');
}

export class SimulatedDriver implements ClusterDriver, ConnectorFleet {
  readonly kind = 'simulated' as const;
  private readonly clock: Clock;
  private readonly random: () => number;
  private readonly nodes = new Map<string, SimNode>();
  private readonly connectors: SimConnector[] = [];
  private readonly stepDelayMs: number;
  private writeIntervalMs: number;
  private readonly restartReadOnly: boolean;
  private readonly slaveNetTimeoutMs: number;
  private writeTimer: TimerHandle | null = null;
  private uidCounter = 0;
  /**
   * The master the connectors route to, as the manager last told them: applications write only
   * there, so a failed-over master that comes back takes no writes (as behind real connectors).
   */
  private routedMaster: string | null;
  private readonly failures: Array<{ op: SimulatedOperation; ds: string | null; message: string }> = [];
  private readonly changeListeners = new Set<() => void>();
  private closed = false;

  constructor(opts: SimulatedClusterOptions) {
    this.clock = opts.clock;
    this.random = seededRandom(opts.seed ?? 1);
    this.stepDelayMs = opts.stepDelayMs ?? 0;
    const wps = opts.writesPerSecond ?? 2;
    this.writeIntervalMs = wps > 0 ? 1000 / wps : 0;
    this.restartReadOnly = opts.restartReadOnly ?? false;
    this.slaveNetTimeoutMs = opts.slaveNetTimeoutMs ?? 60_000;
    const masterName = opts.master ?? opts.datasources.find((d) => d.role === 'master')?.name ?? opts.datasources[0]?.name;
    this.routedMaster = masterName ?? null;
    const start = opts.startSeqno ?? 0;
    const masterId = Math.max(1, opts.datasources.findIndex((d) => d.name === masterName) + 1);
    const now = this.clock.now();
    opts.datasources.forEach((cfg, i) => {
      const isMaster = cfg.name === masterName;
      this.nodes.set(cfg.name, {
        cfg,
        serverId: i + 1,
        hostUp: true,
        dataServerUp: true,
        frozen: false,
        silentSince: null,
        replicatorRunning: true,
        replicatorOffline: false,
        replError: null,
        linkSince: now,
        isMaster,
        masterName: isMaster ? null : masterName ?? null,
        readOnly: !isMaster,
        base: start,
        baseUid: 0,
        log: [],
        gtid: start > 0 ? new Map([[masterId, start]]) : new Map(),
        slavePos: { seqno: start, uid: 0 },
        lagMs: isMaster ? 0 : Math.round(200 + this.random() * 700),
        activeSessions: 0,
        createdSessions: 0,
        waiters: new Set(),
        pendingWrites: 0,
      });
    });
    for (const host of opts.connectors) {
      const baseSessions = Math.floor(this.random() * 3);
      this.connectors.push({ host, pid: 1000 + Math.floor(this.random() * 30000), baseSessions, active: baseSessions, created: baseSessions });
    }
    const master = masterName ? this.nodes.get(masterName) : undefined;
    if (master) {
      master.activeSessions = this.connectors.reduce((n, c) => n + c.active, 0);
      master.createdSessions = master.activeSessions;
    }
    this.scheduleWrite();
  }

  // ---- test and demo hooks -------------------------------------------------------------------

  /** Makes the next call of `op` (on datasource `ds`, or any) fail with `message`. */
  failNext(op: SimulatedOperation, ds: string | null, message: string): void {
    this.failures.push({ op, ds, message });
  }

  node(name: string): SimulatedNodeState {
    this.catchUp();
    const n = this.require(name);
    return {
      name,
      serverId: n.serverId,
      hostUp: n.hostUp,
      dataServerUp: n.dataServerUp,
      frozen: n.frozen,
      replicatorRunning: n.replicatorRunning,
      replicatorState: n.dataServerUp ? this.replicatorStateOf(n, this.clock.now()) : null,
      replicatorError: n.replError,
      isMaster: n.isMaster,
      masterName: n.masterName,
      readOnly: n.readOnly,
      appliedSeqno: lastOf(n).seqno,
      gtidState: gtidStateText(n),
      acceptsWrites: this.acceptsWrites(n),
      activeSessions: n.activeSessions,
      createdSessions: n.createdSessions,
    };
  }

  /**
   * Calls `listener` after every change that can alter which servers accept writes (read_only,
   * promotion, faults), at the clock time it happens, so a checker misses no moment. Returns the
   * unsubscribe function.
   */
  onChange(listener: () => void): () => void {
    this.changeListeners.add(listener);
    return () => this.changeListeners.delete(listener);
  }

  /** Names of the servers, in configuration order. */
  names(): string[] {
    return [...this.nodes.keys()];
  }

  /** The master the connectors route applications to, as last notified. */
  routedTo(): string | null {
    return this.routedMaster;
  }

  /** Changes the timer write rate (0 stops the timer writes; a checker then does its own). */
  setWritesPerSecond(wps: number): void {
    this.writeIntervalMs = wps > 0 ? 1000 / wps : 0;
    if (this.writeTimer) this.clock.clearTimeout(this.writeTimer);
    this.writeTimer = null;
    this.scheduleWrite();
  }

  /**
   * One application transaction written directly to server `name`: committed only when its host
   * answers, its server runs, is not frozen and is not read_only. Sent to a frozen server, the
   * outcome is unknown (`unknown: true`) and the write commits when the server resumes.
   */
  appWrite(name: string): AppWriteResult {
    this.catchUp();
    const n = this.require(name);
    if (!n.hostUp) return { ok: false, server: name, unknown: false, reason: `host ${n.cfg.host} does not answer` };
    if (!n.dataServerUp) return { ok: false, server: name, unknown: false, reason: `connection to ${n.cfg.host}:${n.cfg.port} refused` };
    if (n.frozen) {
      if (n.pendingWrites >= PENDING_LIMIT) return { ok: false, server: name, unknown: false, reason: 'Too many connections' };
      if (!n.readOnly) n.pendingWrites += 1;
      return { ok: false, server: name, unknown: true, reason: `${name} does not answer (the write may commit when it resumes)` };
    }
    if (n.readOnly) {
      return { ok: false, server: name, unknown: false, reason: 'ERROR 1290: The MariaDB server is running with the --read-only option so it cannot execute this statement' };
    }
    const txn = this.write(n);
    return { ok: true, server: name, id: txn.uid, gtid: gtidOf(txn), seqno: txn.seqno, at: this.clock.now() };
  }

  /** One application transaction through the connectors: to the master they route to. */
  routedWrite(): AppWriteResult {
    if (!this.routedMaster) return { ok: false, server: null, unknown: false, reason: 'the connectors route to no master' };
    return this.appWrite(this.routedMaster);
  }

  /** Does server `name` hold the acknowledged write `w` (by its id at its seqno)? */
  holdsWrite(name: string, w: WriteRef): boolean {
    this.catchUp();
    const n = this.require(name);
    return w.seqno <= lastOf(n).seqno && holdsTxn(n, w.seqno, w.id);
  }

  /** `gtid_binlog_state` of a server: `0-1-42,0-2-50`. */
  gtidStateOf(name: string): string {
    this.catchUp();
    return gtidStateText(this.require(name));
  }

  // ---- ClusterDriver ---------------------------------------------------------------------------

  async observe(ds: DataSourceConfig, opts?: DriverCallOptions): Promise<Observation> {
    this.catchUp();
    const n = this.require(ds.name);
    await this.responsive(n, opts?.signal, 'observe');
    this.catchUp();
    const now = this.clock.now();
    if (!n.hostUp) {
      return {
        host: 'unreachable',
        dataServer: { state: 'UNREACHABLE', reason: `host ${ds.host} does not answer` },
        managerUp: false,
        replicator: null,
        readOnly: null,
        connections: { active: 0, created: n.createdSessions },
        gtidState: null,
        inconclusive: null,
      };
    }
    if (!n.dataServerUp) {
      return {
        host: 'alive',
        dataServer: { state: 'STOPPED', reason: `connection to ${ds.host}:${ds.port} refused` },
        managerUp: true,
        replicator: null,
        readOnly: null,
        connections: { active: n.activeSessions, created: n.createdSessions },
        gtidState: null,
        inconclusive: null,
      };
    }
    const role: Role = n.isMaster ? 'master' : 'slave';
    const state = this.replicatorStateOf(n, now);
    const applied = lastOf(n).seqno;
    return {
      host: 'alive',
      dataServer: { state: 'ONLINE', reason: null },
      managerUp: true,
      replicator: {
        state,
        role,
        masterHost: n.isMaster ? null : n.masterName,
        appliedSeqno: applied,
        storedSeqno: applied,
        appliedLatency: this.latencyOf(n, state, now),
      },
      readOnly: n.readOnly,
      connections: { active: n.activeSessions, created: n.createdSessions },
      gtidState: gtidStateText(n),
      serverId: n.serverId,
      inconclusive: null,
    };
  }

  async routers(_opts?: DriverCallOptions): Promise<RouterObservation[]> {
    return this.connectors
      .filter((c) => this.nodes.get(c.host)?.hostUp !== false)
      .map((c) => ({ host: c.host, pid: c.pid, state: 'ONLINE' as const, connections: { active: c.active, created: c.created } }));
  }

  async notifyRouters(masterName: string | null, _readable?: string[], _opts?: DriverCallOptions): Promise<void> {
    for (const n of this.nodes.values()) n.activeSessions = 0;
    this.routedMaster = masterName;
    const master = masterName ? this.nodes.get(masterName) : undefined;
    for (const c of this.connectors) {
      if (this.nodes.get(c.host)?.hostUp === false) continue;
      const reopened = master ? c.baseSessions : 0;
      c.active = reopened;
      c.created += reopened;
      if (master) {
        master.activeSessions += reopened;
        master.createdSessions += reopened;
      }
    }
  }

  async position(ds: DataSourceConfig, opts: DriverCallOptions): Promise<Position> {
    this.takeFailure('position', ds.name);
    const n = await this.answering(ds.name, opts, 'position');
    const last = lastOf(n);
    return { seqno: last.seqno, exact: last.server === null ? undefined : gtidOf({ server: last.server, seqno: last.seqno }) };
  }

  async fenceWrites(ds: DataSourceConfig, opts: DriverCallOptions): Promise<number> {
    await this.step('fenceWrites', ds.name, opts);
    const n = await this.answering(ds.name, opts, 'fenceWrites');
    n.readOnly = true;
    const purged = n.activeSessions;
    n.activeSessions = 0;
    for (const c of this.connectors) c.active = 0;
    this.changedState();
    return purged;
  }

  async readOnly(ds: DataSourceConfig, opts: DriverCallOptions): Promise<boolean> {
    return (await this.answering(ds.name, opts, 'readOnly')).readOnly;
  }

  async allowWrites(ds: DataSourceConfig, opts: DriverCallOptions): Promise<void> {
    await this.step('allowWrites', ds.name, opts);
    (await this.answering(ds.name, opts, 'allowWrites')).readOnly = false;
    this.changedState();
  }

  async waitApplied(ds: DataSourceConfig, position: Position, opts: DriverCallOptions): Promise<void> {
    await this.step('waitApplied', ds.name, opts);
    for (;;) {
      this.catchUp();
      const n = this.require(ds.name);
      await this.responsive(n, opts.signal, 'waitApplied');
      this.catchUp();
      const applied = lastOf(n).seqno;
      if (applied >= position.seqno) {
        // As MASTER_GTID_WAIT: the master's own transaction must be there, not just as many of them
        // (an errant one of the slave's at that seqno is not it).
        const wanted = position.exact ? /^\d+-(\d+)-(\d+)$/.exec(position.exact) : null;
        const held = wanted ? entryAt(n, Number(wanted[2])) : undefined;
        if (!wanted || Number(wanted[2]) <= n.base || held?.txn.server === Number(wanted[1])) return;
        throw new Error(`${ds.name} holds ${held ? gtidOf(held.txn) : 'another transaction'} where the master has ${position.exact}: it cannot apply it`);
      }
      if (opts.signal?.aborted) throw new Error(`${ds.name} did not apply seqno ${position.seqno} (applied ${applied})`);
      await this.sleep(100, opts.signal).catch(() => {
        throw new Error(`${ds.name} did not apply seqno ${position.seqno} (applied ${applied})`);
      });
    }
  }

  async promote(ds: DataSourceConfig, opts: DriverCallOptions): Promise<void> {
    await this.step('promote', ds.name, opts);
    const n = await this.answering(ds.name, opts, 'promote');
    if (n.isMaster && !n.readOnly) return;
    n.isMaster = true;
    n.masterName = null;
    n.readOnly = false;
    n.lagMs = 0;
    n.replError = null;
    this.changedState();
  }

  async replicateFrom(ds: DataSourceConfig, master: DataSourceConfig, opts: DriverCallOptions): Promise<void> {
    await this.step('replicateFrom', ds.name, opts);
    const n = await this.answering(ds.name, opts, 'replicateFrom');
    this.require(master.name);
    if (n.isMaster) n.lagMs = Math.round(200 + this.random() * 700);
    n.isMaster = false;
    n.masterName = master.name;
    n.readOnly = true;
    n.replicatorRunning = true;
    n.replicatorOffline = false;
    n.replError = null;
    n.linkSince = this.clock.now();
    // CHANGE MASTER ... MASTER_USE_GTID=slave_pos after gtid_slave_pos := the server's binlog: the
    // IO thread asks for everything after what the server holds, its own transactions included.
    const last = lastOf(n);
    n.slavePos = { seqno: last.seqno, uid: last.uid };
    n.activeSessions = 0;
    this.catchUp();
    this.changedState();
  }

  async checkRejoin(ds: DataSourceConfig, master: DataSourceConfig, opts: DriverCallOptions): Promise<{ ok: true } | { ok: false; reason: string }> {
    await this.step('checkRejoin', ds.name, opts);
    const n = await this.answering(ds.name, opts, 'checkRejoin');
    const m = await this.answering(master.name, opts, 'checkRejoin');
    const mine = lastOf(n);
    if (holdsTxn(m, mine.seqno, mine.uid) && mine.seqno <= lastOf(m).seqno) return { ok: true };
    // The last seqno both histories share.
    let fork = Math.min(mine.seqno, lastOf(m).seqno);
    while (fork > n.base && fork > m.base && entryAt(n, fork)?.txn.uid !== entryAt(m, fork)?.txn.uid) fork--;
    const extra = n.log.filter((e) => e.txn.seqno > fork).map((e) => e.txn);
    const gtids = describeGtids(extra);
    if (fork === lastOf(m).seqno) {
      return { ok: false, reason: `${ds.name} has ${extra.length} transaction(s) (up to seqno ${mine.seqno}) that ${master.name} does not have: ${gtids}` };
    }
    return { ok: false, reason: `${ds.name} diverged from ${master.name} at seqno ${fork + 1}: ${ds.name} holds ${gtids} that ${master.name} lacks` };
  }

  async setReplicator(ds: DataSourceConfig, online: boolean, opts: DriverCallOptions): Promise<void> {
    await this.step('setReplicator', ds.name, opts);
    const n = await this.answering(ds.name, opts, 'setReplicator');
    if (online && !n.replicatorRunning) n.linkSince = this.clock.now();
    if (online) n.replError = null;
    n.replicatorRunning = online;
    n.replicatorOffline = !online;
    this.catchUp();
  }

  async heartbeat(master: DataSourceConfig, opts: DriverCallOptions): Promise<Position> {
    await this.step('heartbeat', master.name, opts);
    const n = await this.answering(master.name, opts, 'heartbeat');
    if (!n.isMaster || n.readOnly) throw new Error(`${master.name} does not accept writes`);
    const txn = this.write(n);
    return { seqno: txn.seqno, exact: gtidOf(txn) };
  }

  async injectFault(ds: DataSourceConfig, fault: FaultAction): Promise<void> {
    this.catchUp();
    const n = this.require(ds.name);
    const now = this.clock.now();
    switch (fault) {
      case 'dataserver-stop':
        if (!n.dataServerUp) break;
        // A clean shutdown waits for the connected slaves to receive the binlog (a frozen server cannot shut down cleanly).
        if (!n.frozen && n.hostUp) this.flushToSlaves(n, now);
        this.stopServer(n);
        break;
      case 'dataserver-kill':
        if (n.dataServerUp) this.stopServer(n);
        break;
      case 'dataserver-start':
        if (n.dataServerUp) break;
        n.dataServerUp = true;
        n.readOnly = this.restartReadOnly;
        n.replicatorRunning = true;
        n.replicatorOffline = false;
        n.replError = null;
        n.linkSince = now;
        break;
      case 'dataserver-freeze':
        if (!n.dataServerUp || n.frozen) break;
        n.frozen = true;
        n.silentSince ??= now;
        break;
      case 'dataserver-thaw':
        if (n.frozen) this.thaw(n);
        break;
      case 'host-down':
        n.hostUp = false;
        n.activeSessions = 0;
        n.silentSince ??= now;
        break;
      case 'host-up':
        n.hostUp = true;
        if (!n.frozen) n.silentSince = null;
        break;
      case 'replicator-stop':
        n.replicatorRunning = false;
        n.replicatorOffline = false;
        break;
      case 'replicator-start':
        if (!n.replicatorRunning) n.linkSince = now;
        n.replicatorRunning = true;
        n.replicatorOffline = false;
        n.replError = null;
        break;
      case 'errant-write': {
        if (!n.hostUp) throw new Error(`host ${ds.host} does not answer`);
        if (!n.dataServerUp) throw new Error(`connection to ${ds.host}:${ds.port} refused`);
        if (n.frozen) throw new Error(`${ds.name} does not answer (frozen)`);
        this.write(n);
        break;
      }
    }
    this.catchUp();
    this.changedState();
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.writeTimer) this.clock.clearTimeout(this.writeTimer);
    this.writeTimer = null;
  }

  // ---- internals -------------------------------------------------------------------------------

  private require(name: string): SimNode {
    const n = this.nodes.get(name);
    if (!n) throw new Error(`unknown datasource ${name}`);
    return n;
  }

  private changedState(): void {
    for (const listener of [...this.changeListeners]) listener();
  }

  private acceptsWrites(n: SimNode): boolean {
    return n.hostUp && n.dataServerUp && !n.frozen && !n.readOnly;
  }

  /** Waits while the server is frozen (its host up): resolves when it resumes, rejects when `signal` aborts. */
  private async responsive(n: SimNode, signal: AbortSignal | undefined, what: string): Promise<void> {
    while (n.frozen && n.hostUp && n.dataServerUp) {
      await new Promise<void>((resolve, reject) => {
        if (signal?.aborted) {
          reject(new Error(`${what} on ${n.cfg.name}: no answer from ${n.cfg.host}:${n.cfg.port}`));
          return;
        }
        const wake = () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        };
        const onAbort = () => {
          n.waiters.delete(wake);
          reject(new Error(`${what} on ${n.cfg.name}: no answer from ${n.cfg.host}:${n.cfg.port}`));
        };
        n.waiters.add(wake);
        signal?.addEventListener('abort', onAbort, { once: true });
      });
    }
  }

  /** The node once it answers (not frozen), when its host and database server answer; otherwise the call fails as a real one would. */
  private async answering(name: string, opts: DriverCallOptions, what: string): Promise<SimNode> {
    const n = this.require(name);
    await this.responsive(n, opts.signal, what);
    this.catchUp();
    if (!n.hostUp) throw new Error(`host ${n.cfg.host} does not answer`);
    if (!n.dataServerUp) throw new Error(`connection to ${n.cfg.host}:${n.cfg.port} refused`);
    return n;
  }

  private stopServer(n: SimNode): void {
    n.dataServerUp = false;
    n.frozen = false;
    n.pendingWrites = 0;
    if (n.hostUp) n.silentSince = null;
    n.activeSessions = 0;
    this.wake(n);
  }

  private thaw(n: SimNode): void {
    n.frozen = false;
    if (n.hostUp) n.silentSince = null;
    this.catchUp();
    const pending = n.pendingWrites;
    n.pendingWrites = 0;
    if (n.dataServerUp && !n.readOnly) for (let i = 0; i < pending; i++) this.write(n);
    this.wake(n);
  }

  private wake(n: SimNode): void {
    const waiters = [...n.waiters];
    n.waiters.clear();
    for (const w of waiters) w();
  }

  private takeFailure(op: SimulatedOperation, ds: string): void {
    const i = this.failures.findIndex((f) => f.op === op && (f.ds === null || f.ds === ds));
    if (i < 0) return;
    const [failure] = this.failures.splice(i, 1);
    throw new Error(failure!.message);
  }

  private async step(op: SimulatedOperation, ds: string, opts: DriverCallOptions): Promise<void> {
    if (this.stepDelayMs > 0) await this.sleep(this.stepDelayMs, opts.signal);
    if (opts.signal?.aborted) throw new Error(`${op} on ${ds} aborted`);
    this.takeFailure(op, ds);
  }

  private sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      if (signal?.aborted) {
        reject(new Error('aborted'));
        return;
      }
      const handle = this.clock.setTimeout(() => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      }, ms);
      const onAbort = () => {
        this.clock.clearTimeout(handle);
        reject(new Error('aborted'));
      };
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  private scheduleWrite(): void {
    if (this.writeIntervalMs <= 0 || this.closed) return;
    this.writeTimer = this.clock.setTimeout(() => {
      this.writeTimer = null;
      const target = this.routedMaster ? this.nodes.get(this.routedMaster) : undefined;
      if (target?.isMaster) this.routedWrite();
      this.scheduleWrite();
    }, this.writeIntervalMs);
  }

  /** Commits one transaction written on `n` itself (GTID 0-<its server id>-<next seqno>). */
  private write(n: SimNode): Txn {
    const txn: Txn = { uid: ++this.uidCounter, seqno: lastOf(n).seqno + 1, server: n.serverId };
    this.append(n, txn, this.clock.now());
    return txn;
  }

  private append(n: SimNode, txn: Txn, at: number): void {
    n.log.push({ txn, at });
    n.gtid.set(txn.server, txn.seqno);
    if (n.log.length > HISTORY_LIMIT) {
      const dropped = n.log.splice(0, n.log.length - HISTORY_LIMIT / 2);
      const lastDropped = dropped[dropped.length - 1]!.txn;
      n.base = lastDropped.seqno;
      n.baseUid = lastDropped.uid;
    }
  }

  /** Can data flow from `up` to its slaves right now? */
  private flowing(up: SimNode): boolean {
    return up.hostUp && up.dataServerUp && !up.frozen;
  }

  /** What SHOW SLAVE STATUS would make of `n`'s replication (or the legacy master replicator switch). */
  private replicatorStateOf(n: SimNode, now: number): ResourceState {
    const stopped = n.replicatorOffline ? 'OFFLINE' : 'STOPPED';
    if (n.isMaster || !n.masterName) return n.replicatorRunning ? 'ONLINE' : stopped;
    if (!n.replicatorRunning) return stopped;
    if (n.replError) return 'FAILED';
    const up = this.nodes.get(n.masterName);
    if (!up) return 'SYNCHRONIZING';
    if (this.flowing(up)) return 'ONLINE';
    // A master that went silent (frozen, cut off) looks connected until slave_net_timeout.
    if (up.dataServerUp && up.silentSince !== null && n.linkSince <= up.silentSince && now < up.silentSince + this.slaveNetTimeoutMs) return 'ONLINE';
    return 'SYNCHRONIZING';
  }

  /** Sends every transaction `m` has to its connected slaves at once (a clean shutdown). */
  private flushToSlaves(m: SimNode, now: number): void {
    for (const s of this.nodes.values()) {
      if (s.masterName !== m.cfg.name || s.isMaster) continue;
      this.transfer(s, m, now, true);
    }
  }

  /**
   * Moves what `n` would have received from `up` by now (all of it when `ignoreLag`): checks the
   * IO thread's position first (error 1236), then applies in order (error 1950 on a seqno `n`
   * already used). Returns whether anything changed.
   */
  private transfer(n: SimNode, up: SimNode, now: number, ignoreLag: boolean): boolean {
    if (n.isMaster || !n.hostUp || !n.dataServerUp || n.frozen || !n.replicatorRunning || n.replError) return false;
    if (!this.flowing(up)) return false;
    if (n.slavePos.seqno < up.base) {
      n.replError = `Got fatal error 1236 from master when reading data from binary log: 'Could not find GTID state requested by slave in any binlog files. Probably the slave state is too old and required binlog files have been purged.'`;
      return true;
    }
    if (!holdsTxn(up, n.slavePos.seqno, n.slavePos.uid) || n.slavePos.seqno > lastOf(up).seqno) {
      const asked = entryAt(n, n.slavePos.seqno)?.txn;
      const gtid = asked ? gtidOf(asked) : `${DOMAIN}-?-${n.slavePos.seqno}`;
      n.replError = `Got fatal error 1236 from master when reading data from binary log: 'Error: connecting slave requested to start from GTID ${gtid}, which is not in the master's binlog'`;
      return true;
    }
    if (up.isMaster && !up.replicatorRunning) return false; // legacy: a stopped master replicator ships nothing
    let changed = false;
    for (let seqno = n.slavePos.seqno + 1; ; seqno++) {
      const e = entryAt(up, seqno);
      if (!e) break;
      const arrives = ignoreLag ? Math.max(now, e.at) : e.at + n.lagMs;
      if (arrives > now) break;
      const mine = lastOf(n);
      if (e.txn.seqno <= mine.seqno) {
        const existing = entryAt(n, mine.seqno)?.txn;
        n.replError = `Error 1950: An attempt was made to binlog GTID ${gtidOf(e.txn)} which would create an out-of-order sequence number with existing GTID ${existing ? gtidOf(existing) : mine.seqno}, and gtid strict mode is enabled`;
        return true;
      }
      this.append(n, e.txn, arrives);
      n.slavePos = { seqno: e.txn.seqno, uid: e.txn.uid };
      changed = true;
    }
    return changed;
  }

  /** Brings every slave up to what it would have applied by now, upstream first. */
  private catchUp(): void {
    const now = this.clock.now();
    for (let pass = 0; pass < this.nodes.size; pass++) {
      let changed = false;
      for (const n of this.nodes.values()) {
        if (n.isMaster || !n.masterName) continue;
        const up = this.nodes.get(n.masterName);
        if (!up || up === n) continue;
        if (this.transfer(n, up, now, false)) changed = true;
      }
      if (!changed) break;
    }
  }

  /**
   * Seconds: a node keeping up shows its lag; one falling behind shows the age of the oldest event
   * it lacks; a slave whose master is gone or whose replication failed shows -1 (MariaDB's NULL).
   */
  private latencyOf(n: SimNode, state: ResourceState, now: number): number {
    const jitter = Math.round(this.random() * 50) / 1000;
    if (n.isMaster) return Math.round((0.5 + jitter) * 1000) / 1000;
    if (state === 'SYNCHRONIZING' || state === 'FAILED') return -1;
    const up = n.masterName ? this.nodes.get(n.masterName) : undefined;
    const firstMissing = up ? entryAt(up, n.slavePos.seqno + 1) : undefined;
    const behindMs = firstMissing ? Math.max(0, now - firstMissing.at) : 0;
    return Math.round((Math.max(behindMs, n.lagMs) / 1000 + jitter) * 1000) / 1000;
  }
}

/** `0-1-51..0-1-53, 0-3-54`: transactions grouped by the server that wrote them. */
function describeGtids(txns: readonly Txn[]): string {
  const byServer = new Map<number, { first: number; last: number }>();
  for (const t of txns) {
    const r = byServer.get(t.server);
    if (r) r.last = t.seqno;
    else byServer.set(t.server, { first: t.seqno, last: t.seqno });
  }
  return [...byServer.entries()]
    .map(([server, r]) => (r.first === r.last ? gtidOf({ server, seqno: r.first }) : `${gtidOf({ server, seqno: r.first })}..${gtidOf({ server, seqno: r.last })}`))
    .join(', ');
}
