/**
 * An in-process cluster for the demo and the fast test tier: hosts, database servers, replicators
 * whose seqno advances (the master the connectors route to takes writes on a clock timer, slaves
 * apply them after a small lag), connectors whose connection counts react to notifyRouters, and
 * fault injection. Everything runs on the injected Clock and a seeded generator, so a VirtualClock
 * run is exactly repeatable.
 */
import type { Clock, TimerHandle } from '../clock.js';
import type { FaultAction, Role } from '../model.js';
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
  /** Master write rate; 0 stops writes. */
  writesPerSecond?: number;
  seed?: number;
  /** Seqno every node starts at. */
  startSeqno?: number;
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
  hostUp: boolean;
  dataServerUp: boolean;
  replicatorRunning: boolean;
  isMaster: boolean;
  masterName: string | null;
  readOnly: boolean;
  appliedSeqno: number;
  activeSessions: number;
  createdSessions: number;
}

interface Epoch {
  epoch: number;
  /** First seqno written in this epoch. */
  start: number;
}

interface SimNode {
  cfg: DataSourceConfig;
  hostUp: boolean;
  dataServerUp: boolean;
  replicatorRunning: boolean;
  isMaster: boolean;
  masterName: string | null;
  readOnly: boolean;
  applied: number;
  /** When this node reached each seqno (recent ones), so downstream nodes can lag behind it. */
  reached: Array<{ seqno: number; at: number }>;
  /** Which master epochs the node's history is made of: detects divergence on rejoin. */
  lineage: Epoch[];
  lagMs: number;
  activeSessions: number;
  createdSessions: number;
}

interface SimConnector {
  host: string;
  pid: number;
  /** Sessions this connector keeps open to the master while routing is normal. */
  baseSessions: number;
  active: number;
  created: number;
}

const HISTORY_LIMIT = 5000;

/** mulberry32: small, fast, seeded. */
function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function epochOf(lineage: readonly Epoch[], seqno: number): number {
  let found = 0;
  for (const e of lineage) if (e.start <= seqno) found = e.epoch;
  return found;
}

export class SimulatedDriver implements ClusterDriver {
  readonly kind = 'simulated' as const;
  private readonly clock: Clock;
  private readonly random: () => number;
  private readonly nodes = new Map<string, SimNode>();
  private readonly connectors: SimConnector[] = [];
  private readonly stepDelayMs: number;
  private readonly writeIntervalMs: number;
  private writeTimer: TimerHandle | null = null;
  private epochCounter = 1;
  /**
   * The master the connectors route to, as the manager last told them: applications write only
   * there, so a failed-over master that comes back takes no writes (as behind real connectors).
   */
  private routedMaster: string | null;
  private readonly failures: Array<{ op: SimulatedOperation; ds: string | null; message: string }> = [];
  private closed = false;

  constructor(opts: SimulatedClusterOptions) {
    this.clock = opts.clock;
    this.random = seededRandom(opts.seed ?? 1);
    this.stepDelayMs = opts.stepDelayMs ?? 0;
    const wps = opts.writesPerSecond ?? 2;
    this.writeIntervalMs = wps > 0 ? 1000 / wps : 0;
    const masterName = opts.master ?? opts.datasources.find((d) => d.role === 'master')?.name ?? opts.datasources[0]?.name;
    this.routedMaster = masterName ?? null;
    const start = opts.startSeqno ?? 0;
    const now = this.clock.now();
    for (const cfg of opts.datasources) {
      const isMaster = cfg.name === masterName;
      this.nodes.set(cfg.name, {
        cfg,
        hostUp: true,
        dataServerUp: true,
        replicatorRunning: true,
        isMaster,
        masterName: isMaster ? null : masterName ?? null,
        readOnly: !isMaster,
        applied: start,
        reached: [{ seqno: start, at: now }],
        lineage: [{ epoch: 1, start: 0 }],
        lagMs: isMaster ? 0 : Math.round(200 + this.random() * 700),
        activeSessions: 0,
        createdSessions: 0,
      });
    }
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
      hostUp: n.hostUp,
      dataServerUp: n.dataServerUp,
      replicatorRunning: n.replicatorRunning,
      isMaster: n.isMaster,
      masterName: n.masterName,
      readOnly: n.readOnly,
      appliedSeqno: n.applied,
      activeSessions: n.activeSessions,
      createdSessions: n.createdSessions,
    };
  }

  // ---- ClusterDriver ---------------------------------------------------------------------------

  async observe(ds: DataSourceConfig): Promise<Observation> {
    this.catchUp();
    const n = this.require(ds.name);
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
    const role: Role = n.isMaster ? 'master' : 'slave';
    return {
      host: 'alive',
      dataServer: n.dataServerUp
        ? { state: 'ONLINE', reason: null }
        : { state: 'STOPPED', reason: `connection to ${ds.host}:${ds.port} refused` },
      managerUp: true,
      replicator: {
        state: n.replicatorRunning ? 'ONLINE' : 'STOPPED',
        role,
        masterHost: n.isMaster ? null : n.masterName,
        appliedSeqno: n.applied,
        storedSeqno: n.applied,
        appliedLatency: this.latencyOf(n, now),
      },
      readOnly: n.dataServerUp ? n.readOnly : null,
      connections: { active: n.activeSessions, created: n.createdSessions },
      gtidState: null,
      inconclusive: null,
    };
  }

  async routers(): Promise<RouterObservation[]> {
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
    this.catchUp();
    const n = this.reachable(ds.name, opts);
    return { seqno: n.applied };
  }

  async fenceWrites(ds: DataSourceConfig, opts: DriverCallOptions): Promise<number> {
    await this.step('fenceWrites', ds.name, opts);
    const n = this.reachable(ds.name, opts);
    n.readOnly = true;
    const purged = n.activeSessions;
    n.activeSessions = 0;
    for (const c of this.connectors) c.active = 0;
    return purged;
  }

  async allowWrites(ds: DataSourceConfig, opts: DriverCallOptions): Promise<void> {
    await this.step('allowWrites', ds.name, opts);
    this.reachable(ds.name, opts).readOnly = false;
  }

  async waitApplied(ds: DataSourceConfig, position: Position, opts: DriverCallOptions): Promise<void> {
    await this.step('waitApplied', ds.name, opts);
    for (;;) {
      this.catchUp();
      const n = this.require(ds.name);
      if (n.applied >= position.seqno) return;
      if (opts.signal?.aborted) throw new Error(`${ds.name} did not apply seqno ${position.seqno} (applied ${n.applied})`);
      await this.sleep(100, opts.signal);
    }
  }

  async promote(ds: DataSourceConfig, opts: DriverCallOptions): Promise<void> {
    await this.step('promote', ds.name, opts);
    this.catchUp();
    const n = this.reachable(ds.name, opts);
    if (n.isMaster && !n.readOnly) return;
    n.isMaster = true;
    n.masterName = null;
    n.readOnly = false;
    n.lagMs = 0;
    n.lineage = [...n.lineage, { epoch: ++this.epochCounter, start: n.applied + 1 }];
  }

  async replicateFrom(ds: DataSourceConfig, master: DataSourceConfig, opts: DriverCallOptions): Promise<void> {
    await this.step('replicateFrom', ds.name, opts);
    this.catchUp();
    const n = this.reachable(ds.name, opts);
    this.require(master.name);
    if (n.isMaster) n.lagMs = Math.round(200 + this.random() * 700);
    n.isMaster = false;
    n.masterName = master.name;
    n.readOnly = true;
    n.replicatorRunning = true;
    n.activeSessions = 0;
  }

  async checkRejoin(ds: DataSourceConfig, master: DataSourceConfig, opts: DriverCallOptions): Promise<{ ok: true } | { ok: false; reason: string }> {
    await this.step('checkRejoin', ds.name, opts);
    this.catchUp();
    const n = this.reachable(ds.name, opts);
    const m = this.reachable(master.name, opts);
    if (n.applied > m.applied) {
      return { ok: false, reason: `${ds.name} has ${n.applied - m.applied} transaction(s) (up to seqno ${n.applied}) that ${master.name} does not have` };
    }
    if (epochOf(n.lineage, n.applied) !== epochOf(m.lineage, n.applied)) {
      return { ok: false, reason: `${ds.name} diverged from ${master.name} at seqno ${n.applied}` };
    }
    return { ok: true };
  }

  async setReplicator(ds: DataSourceConfig, online: boolean, opts: DriverCallOptions): Promise<void> {
    await this.step('setReplicator', ds.name, opts);
    this.catchUp();
    const n = this.require(ds.name);
    if (!n.hostUp) throw new Error(`host ${ds.host} does not answer`);
    n.replicatorRunning = online;
  }

  async heartbeat(master: DataSourceConfig, opts: DriverCallOptions): Promise<Position> {
    await this.step('heartbeat', master.name, opts);
    this.catchUp();
    const n = this.reachable(master.name, opts);
    if (!n.isMaster || n.readOnly) throw new Error(`${master.name} does not accept writes`);
    this.write(n);
    return { seqno: n.applied };
  }

  async injectFault(ds: DataSourceConfig, fault: FaultAction): Promise<void> {
    this.catchUp();
    const n = this.require(ds.name);
    switch (fault) {
      case 'dataserver-stop':
        n.dataServerUp = false;
        n.activeSessions = 0;
        break;
      case 'dataserver-start':
        n.dataServerUp = true;
        break;
      case 'host-down':
        n.hostUp = false;
        n.activeSessions = 0;
        break;
      case 'host-up':
        n.hostUp = true;
        break;
      case 'replicator-stop':
        n.replicatorRunning = false;
        break;
      case 'replicator-start':
        n.replicatorRunning = true;
        break;
    }
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

  /** The node, when its host and database server answer; otherwise the call fails as a real one would. */
  private reachable(name: string, _opts: DriverCallOptions): SimNode {
    const n = this.require(name);
    if (!n.hostUp) throw new Error(`host ${n.cfg.host} does not answer`);
    if (!n.dataServerUp) throw new Error(`connection to ${n.cfg.host}:${n.cfg.port} refused`);
    return n;
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
      this.catchUp();
      const n = this.routedMaster ? this.nodes.get(this.routedMaster) : undefined;
      if (n && n.isMaster && !n.readOnly && n.hostUp && n.dataServerUp) this.write(n);
      this.scheduleWrite();
    }, this.writeIntervalMs);
  }

  private write(n: SimNode): void {
    n.applied += 1;
    this.remember(n, this.clock.now());
  }

  private remember(n: SimNode, at: number): void {
    n.reached.push({ seqno: n.applied, at });
    if (n.reached.length > HISTORY_LIMIT) n.reached.splice(0, n.reached.length - HISTORY_LIMIT);
  }

  /** Brings every slave up to what it would have applied by now, upstream first. */
  private catchUp(): void {
    const now = this.clock.now();
    for (let pass = 0; pass < this.nodes.size; pass++) {
      let changed = false;
      for (const n of this.nodes.values()) {
        if (n.isMaster || !n.masterName || !n.hostUp || !n.dataServerUp || !n.replicatorRunning) continue;
        const up = this.nodes.get(n.masterName);
        if (!up || !up.hostUp || !up.replicatorRunning) continue;
        let target = n.applied;
        for (let i = up.reached.length - 1; i >= 0; i--) {
          const r = up.reached[i]!;
          if (r.at <= now - n.lagMs) {
            target = Math.max(target, r.seqno);
            break;
          }
        }
        if (target > n.applied) {
          n.applied = target;
          n.lineage = up.lineage;
          this.remember(n, now);
          changed = true;
        }
      }
      if (!changed) break;
    }
  }

  /** Seconds: a node keeping up shows its lag; one falling behind shows the age of the oldest event it lacks. */
  private latencyOf(n: SimNode, now: number): number {
    const jitter = Math.round(this.random() * 50) / 1000;
    if (n.isMaster) return Math.round((0.5 + jitter) * 1000) / 1000;
    const up = n.masterName ? this.nodes.get(n.masterName) : undefined;
    const firstMissing = up?.reached.find((r) => r.seqno > n.applied);
    const behindMs = firstMissing ? now - firstMissing.at : 0;
    return Math.round((Math.max(behindMs, n.lagMs) / 1000 + jitter) * 1000) / 1000;
  }
}
