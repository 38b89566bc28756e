/**
 * The monitor's decision after each sample: a pure function of what it observed and the stored
 * records, returning what to do. Nothing here acts or commits: the coordinator carries the actions
 * out (core.ts: verdicts are committed; repairs and failovers run as driver calls and tasks).
 *
 * Rules, in the order they apply (a later rule sees the verdicts of an earlier one):
 *   failsafeRule      a read-only master with no group member beside it: its manager fenced it
 *   datasourceRules   a fault that lasted its interval fails a datasource; a healthy one comes back
 *   failoverRule      AUTOMATIC: a FAILED master is due to be replaced
 *   topologyRule      the ONLINE master takes writes, every ONLINE slave follows it
 */
import type { Observation } from './drivers/driver.js';
import type { PolicyMode } from './model.js';
import type { ManagerProperties } from './properties.js';
import { actionDelayMs, type Fault, type FaultKind } from './rules.js';
import type { DataSourceRecord } from './store.js';
import { errantTransactions } from './errant.js';

/**
 * Another server (not shunned) acting as a master that holds transactions written by neither the
 * recorded master nor its history: one promoted by a coordinator that could not commit it, say. A read-only master is not
 * given its writes back while one exists; what it holds is the operator's to reconcile.
 */
export function serverAheadOfMaster(master: string, records: readonly DataSourceRecord[], obsOf: (name: string) => Observation | null): { name: string; transactions: string[] } | null {
  const m = obsOf(master);
  if (!m?.gtidState) return null;
  for (const r of records) {
    const o = obsOf(r.name);
    // A slave with a write of its own (errant) is flagged, not this: a server that acts as a master
    // (promoted, replicating from nobody) and holds what the recorded master lacks.
    if (r.name === master || r.state === 'SHUNNED' || !o?.gtidState || o.inconclusive || o.replicator?.role !== 'master') continue;
    const transactions = errantTransactions({ slave: o.gtidState, slaveServerId: o.serverId ?? null, master: m.gtidState, masterServerId: m.serverId ?? null, peers: [] });
    if (transactions.length > 0) return { name: r.name, transactions };
  }
  return null;
}

/** What the monitor knows of one datasource now. */
export interface Seen {
  obs: Observation | null;
  faults: readonly Fault[];
  /** First detection time of each fault still present. */
  faultSince: ReadonlyMap<FaultKind, number>;
  /** Since when its server has been seen refusing writes without a break; null when it is not. */
  readOnlySince: number | null;
}

export interface MonitorView {
  now: number;
  policy: PolicyMode;
  props: ManagerProperties;
  service: string;
  records: readonly DataSourceRecord[];
  seen(name: string): Seen;
  /** An operation runs: the monitor repairs nothing meanwhile. */
  operationRunning: boolean;
  /** Datasources with a repair of the monitor's own in flight. */
  repairing: ReadonlySet<string>;
  /** In a group on etcd: the members with a live lease; null for a manager alone. */
  groupMembers: ReadonlyArray<{ name: string; datasource: string | null }> | null;
  /** In a group: the members' lease TTL; null for a manager alone. */
  leaseTtlMs: number | null;
}

export type LogLevel = 'info' | 'warn' | 'error';

export type MonitorAction =
  /** The record takes these fields now. */
  | { kind: 'verdict'; name: string; set: Partial<Pick<DataSourceRecord, 'state' | 'lastError' | 'fencedByMonitor'>>; log: { level: LogLevel; message: string } | null; audit: string | null }
  /** Make `name` follow `master` (after the driver confirms it can); `thenOnline`: a failed slave comes back after. */
  | { kind: 'repoint'; name: string; master: string; thenOnline: boolean; log: string | null }
  /** Give `name` its writes back; then either bring the failed master ONLINE, or just note it writable. */
  | { kind: 'allow-writes'; name: string; then: 'master-online' | 'noted'; log: string | null }
  /** Start the automatic failover of the FAILED master. */
  | { kind: 'failover'; master: string };

export function decide(view: MonitorView): MonitorAction[] {
  const d = new Decision(view);
  d.failsafeRule();
  const policy = view.policy;
  if (policy !== 'MAINTENANCE') {
    for (const r of d.records) d.datasourceRules(r, policy);
    if (policy === 'AUTOMATIC') d.failoverRule();
    d.topologyRule();
  }
  return d.actions;
}

class Decision {
  readonly actions: MonitorAction[] = [];
  /** The records as the verdicts so far leave them. */
  readonly records: DataSourceRecord[];
  private running: boolean;
  private readonly repairing: Set<string>;

  constructor(private readonly view: MonitorView) {
    this.records = view.records.map((r) => ({ ...r }));
    this.running = view.operationRunning;
    this.repairing = new Set(view.repairing);
  }

  private q(name: string): string {
    return `${name}@${this.view.service}`;
  }

  private master(): DataSourceRecord | null {
    return this.records.find((d) => d.role === 'master' && d.state !== 'SHUNNED') ?? null;
  }

  private verdict(r: DataSourceRecord, set: Partial<Pick<DataSourceRecord, 'state' | 'lastError' | 'fencedByMonitor'>>, log: { level: LogLevel; message: string } | null, audit: string | null = null): void {
    Object.assign(r, set);
    this.actions.push({ kind: 'verdict', name: r.name, set, log, audit });
  }

  private repair(action: Extract<MonitorAction, { kind: 'repoint' | 'allow-writes' }>): void {
    if (this.repairing.has(action.name)) return;
    this.repairing.add(action.name);
    this.actions.push(action);
  }

  /** Its last observation is a real answer of a healthy server, not a guess. */
  private answersConclusively(name: string): boolean {
    const obs = this.view.seen(name).obs;
    return obs !== null && !obs.inconclusive && obs.host === 'alive' && obs.dataServer.state === 'ONLINE';
  }

  private aheadOf(master: DataSourceRecord): boolean {
    return serverAheadOfMaster(master.name, this.records, (n) => this.view.seen(n).obs) !== null;
  }

  private otherWriter(r: DataSourceRecord): DataSourceRecord | undefined {
    return this.records.find((d) => d.name !== r.name && this.view.seen(d.name).obs?.readOnly === false);
  }

  /** The fault that has lasted long enough for the policy to act on, if any. */
  confirmedFault(r: DataSourceRecord): Fault | null {
    const seen = this.view.seen(r.name);
    for (const fault of seen.faults) {
      const delay = actionDelayMs(fault.kind, r.role, this.view.props);
      const since = seen.faultSince.get(fault.kind);
      if (delay !== null && since !== undefined && this.view.now - since >= delay) return fault;
    }
    return null;
  }

  /**
   * In a group whose managers sit beside datasources: a master seen read-only while no member sits
   * beside it was fenced by its own manager when that manager lost the group (or has no manager to
   * serve it): it is FAILED with that reason, and AUTOMATIC fails it over. Giving it its writes back
   * would fight that manager's fence. When its manager is back, it is ONLINE again.
   */
  failsafeRule(): void {
    const members = this.view.groupMembers;
    const master = this.master();
    if (!members || !master || !members.some((m) => m.datasource !== null)) return;
    const beside = members.find((m) => m.datasource === master.name);
    const failsafe = master.state === 'FAILED' && master.lastError?.startsWith('FAILSAFE-SHUN') === true;
    if (beside && failsafe) {
      this.verdict(master, { state: 'ONLINE', lastError: null }, { level: 'warn', message: `master ${this.q(master.name)}: its manager '${beside.name}' is back in the group: ONLINE` });
      return;
    }
    if (beside || master.state !== 'ONLINE' || !this.answersConclusively(master.name) || this.view.seen(master.name).obs?.readOnly !== true) return;
    const lastError = 'FAILSAFE-SHUN: NO MANAGER OF THE GROUP SITS BESIDE IT AND IT IS READ-ONLY (ITS MANAGER LOST THE GROUP AND FENCED IT)';
    this.verdict(master, { state: 'FAILED', fencedByMonitor: false, lastError }, { level: 'error', message: `master ${this.q(master.name)}: ${lastError}` });
  }

  datasourceRules(r: DataSourceRecord, policy: PolicyMode): void {
    const seen = this.view.seen(r.name);
    const fault = this.confirmedFault(r);
    if (r.state === 'ONLINE' && fault) {
      const fenceSlaveOffline = fault.kind === 'replicator' && r.role !== 'master';
      const state = fenceSlaveOffline ? 'OFFLINE' : 'FAILED';
      this.verdict(r, { state, lastError: fault.error, fencedByMonitor: true }, { level: 'warn', message: `${this.q(r.name)} is now ${state}: ${fault.error}` });
      return;
    }
    if (r.fencedByMonitor && r.state === 'FAILED' && seen.faults.length > 0) {
      // Keep the reason current: a server first seen closing connections is next seen STOPPED.
      const lastError = (fault ?? seen.faults[0]!).error;
      if (lastError !== r.lastError) this.verdict(r, { lastError }, null);
    }
    if (!r.fencedByMonitor || seen.faults.length > 0 || !this.answersConclusively(r.name)) return;
    if (r.name === this.master()?.name) {
      // MANUAL leaves every verdict to the operator, as it does for slaves.
      if (r.state === 'FAILED' && policy === 'AUTOMATIC') this.masterComesBack(r);
      return;
    }
    // A shunned old master comes back with 'recover' only: it may hold what the new master lacks.
    if (r.role === 'master') return;
    const slaveReplicatorFenceCleared = r.state === 'OFFLINE';
    if ((r.state === 'FAILED' && policy === 'AUTOMATIC') || slaveReplicatorFenceCleared) this.slaveComesBack(r);
  }

  /** A slave the rules failed comes back once healthy, repointed at the current master if needed. */
  private slaveComesBack(r: DataSourceRecord): void {
    if (this.running || this.repairing.has(r.name)) return;
    const master = this.master();
    const pointsAt = this.view.seen(r.name).obs?.replicator?.masterHost ?? null;
    if (!master || pointsAt === master.name) {
      this.verdict(r, { state: 'ONLINE', lastError: null, fencedByMonitor: false }, { level: 'info', message: `${this.q(r.name)} is healthy again: ONLINE` });
      return;
    }
    // It follows another server and the master cannot be followed now: it stays FAILED until it can.
    if (master.state !== 'ONLINE') return;
    this.repair({ kind: 'repoint', name: r.name, master: master.name, thenOnline: true, log: null });
  }

  /**
   * A master the rules failed but nobody replaced answers again: the verdict was wrong or the fault
   * passed. It takes writes again (if it was left read-only and no other server takes them).
   */
  private masterComesBack(r: DataSourceRecord): void {
    if (this.running || this.repairing.has(r.name)) return;
    if (this.view.seen(r.name).obs?.readOnly === false) {
      this.verdict(
        r,
        { state: 'ONLINE', lastError: null, fencedByMonitor: false },
        { level: 'warn', message: `master ${this.q(r.name)} is healthy again: ONLINE (it still accepts writes)` },
        `datasource ${r.name} online`,
      );
      return;
    }
    const otherWriter = this.otherWriter(r);
    if (otherWriter) {
      this.actions.push({
        kind: 'verdict',
        name: r.name,
        set: {},
        log: { level: 'error', message: `master ${this.q(r.name)} answers again read-only while ${this.q(otherWriter.name)} accepts writes: left FAILED for the operator` },
        audit: null,
      });
      return;
    }
    if (this.mayBeFailsafeFenced(r) || this.aheadOf(r)) return;
    this.repair({ kind: 'allow-writes', name: r.name, then: 'master-online', log: null });
  }

  /**
   * In a group, a master that turned read-only may have been fenced by its own manager, cut off
   * from etcd, whose registration lasts until its lease runs out: its writes are not given back
   * until it has been read-only for longer than a lease (by then a cut-off manager has left the
   * group, and the failsafe rule applies instead).
   */
  private mayBeFailsafeFenced(r: DataSourceRecord): boolean {
    const ttl = this.view.leaseTtlMs;
    const members = this.view.groupMembers;
    if (ttl === null || !members?.some((m) => m.datasource === r.name)) return false;
    const since = this.view.seen(r.name).readOnlySince;
    return since === null || this.view.now - since <= ttl;
  }

  /** AUTOMATIC: a FAILED master is replaced, unless an operation runs or the verdict is not this monitor's own. */
  failoverRule(): void {
    const master = this.master();
    if (!master || master.state !== 'FAILED' || this.running) return;
    // A verdict this process has not confirmed itself (one restored from the stored state) never acts.
    if (master.fencedByMonitor && !this.confirmedFault(master)) return;
    this.actions.push({ kind: 'failover', master: master.name });
    this.running = true;
  }

  /**
   * The cluster as the records say, once the master answers: the ONLINE master takes writes (a
   * master that restarted read-only, as my.cnf should make it, gets them back when no other server
   * takes them), and every ONLINE slave follows it (one left on another server, say a slave that
   * was down during a failover, is repointed, or FAILED with the reason when it cannot follow).
   */
  topologyRule(): void {
    if (this.running) return;
    const master = this.master();
    if (!master || master.state !== 'ONLINE' || !this.answersConclusively(master.name)) return;
    if (this.view.seen(master.name).obs?.readOnly === true && !this.otherWriter(master) && !this.mayBeFailsafeFenced(master) && !this.aheadOf(master)) {
      this.repair({ kind: 'allow-writes', name: master.name, then: 'noted', log: `master ${this.q(master.name)} answers read-only: allowing writes` });
    }
    for (const r of this.records) {
      if (r.name === master.name || r.role === 'master' || r.state !== 'ONLINE' || !this.answersConclusively(r.name)) continue;
      const rep = this.view.seen(r.name).obs?.replicator;
      if (rep && rep.role === 'slave' && rep.masterHost === master.name) continue;
      const log = `${this.q(r.name)} ${rep?.masterHost ? `replicates from ${rep.masterHost}` : 'does not replicate'}, not from the master ${this.q(master.name)}: repointing it`;
      this.repair({ kind: 'repoint', name: r.name, master: master.name, thenOnline: false, log });
    }
  }
}
