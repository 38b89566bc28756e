/**
 * A member of a manager group on etcd.
 *
 * Keys, under PREFIX/SERVICE/:
 *   members/NAME  this member's MemberRecord, attached to its lease (gone when the lease ends)
 *   leader        the coordinator's name, attached to its lease; its creation revision is the term
 *   state         the service's PersistedState, written only by a transaction that compares the
 *                 leader key (creation revision == term, value == the coordinator's name)
 *   connectors/NAME  the last report of connector NAME, shared by the member it reports to, under
 *                 that member's lease (gone when the member is; another member that hears from the
 *                 connector writes it again). Read back with the rest by every round.
 *
 * Twice a second a round renews the lease, campaigns for the leader key when it is free and
 * reads the group back (one linearizable range). Between rounds a watch on the service's keys
 * starts one at once when the leader key, a member or (for a follower) the state changes: a freed
 * leader key is taken, and a commit shown, without waiting for the next round. The watch is only a
 * prompt; what a member believes still comes from the round's linearizable read. Validity is timed from when a renewal was *sent*:
 * etcd keeps a lease at least TTL after it receives a renewal, so the member's own deadline,
 * `sentAt + TTL`, is never later than etcd's. A member stops acting as coordinator, and reports that
 * it has lost the group, a third of a TTL before that deadline: early enough to fence its own
 * datasource before anyone else could be made coordinator.
 */
import type { PersistedState } from '../store.js';
import { persistedStateSchema } from '../store.js';
import type { Clock, TimerHandle } from '../clock.js';
import { isLeaseLost, type EtcdKv, type EtcdKeyValue, type EtcdWatchEvent } from './kv.js';
import {
  NotCoordinatorError,
  type Coordination,
  type CoordinationChange,
  type GroupView,
  type MemberRecord,
  type MemberView,
  type SharedConnector,
} from './coordination.js';

export interface EtcdCoordinationOptions {
  kv: EtcdKv;
  clock: Clock;
  service: string;
  memberName: string;
  ttlSeconds: number;
  prefix: string;
  /** Endpoints as shown to operators (no credentials). */
  location: string;
  logger: { info(m: string): void; warn(m: string): void; error(m: string): void };
}

interface Lease {
  id: string;
  ttl: number;
  /** Monotonic ms until which this member may act: a third of a TTL before etcd could expire the lease. */
  actUntil: number;
  /** Monotonic ms before which etcd cannot have expired it. */
  validUntil: number;
}

function messageOf(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

export class EtcdCoordination implements Coordination {
  readonly kind = 'etcd' as const;
  readonly location: string;
  readonly memberName: string;
  private readonly kv: EtcdKv;
  readonly clock: Clock;
  private readonly opts: EtcdCoordinationOptions;
  private readonly keys: { base: string; leader: string; state: string; members: string; member: string; connectors: string };
  private member: MemberRecord | null = null;
  private lease: Lease | null = null;
  private term: number | null = null;
  private leader: { name: string; term: number } | null = null;
  private members: MemberRecord[] = [];
  private stateRevision = 0;
  private lastOk = false;
  private lastError: string | null = null;
  private roundTimer: TimerHandle | null = null;
  private expiryTimer: TimerHandle | null = null;
  private round: Promise<void> | null = null;
  /** A change seen on the watch while a round ran: another round follows it. */
  private roundAgain = false;
  private watching: { close(): void } | null = null;
  private stopped = false;
  private readonly listeners = new Set<(change: CoordinationChange) => void>();
  private pending: { state: PersistedState; waiters: Array<{ resolve: () => void; reject: (e: Error) => void }> } | null = null;
  /** The commit loop while one runs (close() waits for it). */
  private flushing: Promise<void> | null = null;
  /** Connectors shared by the members, as of the last read-back, and a signature of their revisions. */
  private shared: SharedConnector[] = [];
  private sharedSignature = '';
  /** Reports to share (newest per name wins) and names to withdraw, written by one transaction at a time. */
  private readonly toShare = new Map<string, string>();
  private readonly toWithdraw = new Set<string>();
  private sharing = false;
  private shareWarned = false;

  constructor(opts: EtcdCoordinationOptions) {
    this.opts = opts;
    this.kv = opts.kv;
    this.clock = opts.clock;
    this.location = opts.location;
    this.memberName = opts.memberName;
    const base = `${opts.prefix.replace(/\/+$/, '')}/${opts.service}/`;
    this.keys = {
      base,
      leader: `${base}leader`,
      state: `${base}state`,
      members: `${base}members/`,
      member: `${base}members/${opts.memberName}`,
      connectors: `${base}connectors/`,
    };
  }

  private get ttlMs(): number {
    return this.opts.ttlSeconds * 1000;
  }

  /**
   * How often a round runs: at least three renewals per lease, and twice a second, so a leader key
   * freed by a lease that ran out is taken within half a second (etcd itself expires a lease up to
   * a few hundred ms after its TTL: takeover stays within TTL + 1 s of a coordinator's death) and
   * followers see each commit within half a second. Three members cost etcd about 20 requests a second.
   */
  private get periodMs(): number {
    return Math.max(200, Math.min(500, Math.floor(this.ttlMs / 3)));
  }

  async start(member: MemberRecord): Promise<void> {
    this.member = member;
    await this.waitForOldRegistration();
    await this.runRound();
    this.scheduleRound();
  }

  /**
   * A member restarted after a kill -9 finds its previous registration until that lease runs out:
   * it waits for it (at most a TTL and a second). One still there after that is another process
   * using the same name.
   */
  private async waitForOldRegistration(): Promise<void> {
    const deadline = this.clock.monotonic() + this.ttlMs + 1000;
    for (;;) {
      let existing: EtcdKeyValue | null;
      try {
        existing = (await this.kv.get(this.keys.member)).kv;
      } catch (e) {
        this.lastError = messageOf(e);
        return; // etcd unreachable: start without the group; rounds keep trying.
      }
      if (!existing) return;
      if (this.clock.monotonic() >= deadline) {
        throw new Error(
          `a member named '${this.memberName}' is already registered in the group (lease ${existing.lease}) and did not go away: ` +
            `give each manager its own manager.name`,
        );
      }
      this.opts.logger.warn(`member '${this.memberName}' is still registered from a previous run: waiting for its lease to end`);
      await new Promise<void>((resolve) => this.clock.setTimeout(resolve, Math.min(1000, this.periodMs)));
    }
  }

  private scheduleRound(): void {
    if (this.stopped) return;
    this.roundTimer = this.clock.setTimeout(() => {
      this.roundTimer = null;
      void this.runRound().finally(() => this.scheduleRound());
    }, this.periodMs);
  }

  /** One renewal, campaign and read-back; never rejects. Concurrent callers share one. */
  private runRound(): Promise<void> {
    if (!this.round) {
      this.round = this.doRound().finally(() => {
        this.round = null;
        if (this.roundAgain && !this.stopped) {
          this.roundAgain = false;
          void this.runRound();
        }
      });
    }
    return this.round;
  }

  /** Keeps a watch on the service's keys open from `fromRevision` (reopened by the next round after it ends). */
  private watchFrom(fromRevision: number): void {
    if (this.watching || this.stopped || !this.kv.watch) return;
    try {
      const handle = this.kv.watch(
        this.keys.base,
        fromRevision,
        (events) => {
          if (events.some((e) => this.prompts(e))) this.promptRound();
        },
        () => {
          if (this.watching === handle) this.watching = null;
        },
      );
      this.watching = handle;
    } catch {
      this.watching = null;
    }
  }

  /** Whether a change calls for a round now: the leader key, a member, or a commit another member made. */
  private prompts(e: EtcdWatchEvent): boolean {
    const key = e.kv.key;
    if (key === this.keys.leader || key.startsWith(this.keys.members)) return true;
    return key === this.keys.state && this.term === null;
  }

  private promptRound(): void {
    if (this.stopped) return;
    if (this.round) this.roundAgain = true;
    else void this.runRound();
  }

  private async doRound(): Promise<void> {
    if (this.stopped) return;
    const before = this.signature();
    try {
      await this.renew();
      await this.campaign();
      await this.readBack();
      this.lastOk = true;
      this.lastError = null;
    } catch (e) {
      if (this.stopped) return;
      this.lastOk = false;
      const message = messageOf(e);
      if (message !== this.lastError) this.opts.logger.warn(`etcd: ${message}`);
      this.lastError = message;
    }
    this.afterChange(before);
  }

  private async renew(): Promise<void> {
    if (this.lease) {
      try {
        const r = await this.kv.leaseKeepAlive(this.lease.id);
        this.extend(this.lease.id, Math.min(this.lease.ttl, r.ttl), r.sentAt);
        return;
      } catch (e) {
        if (!isLeaseLost(e)) throw e;
        this.opts.logger.warn(`etcd: lease ${this.lease.id} of member '${this.memberName}' has expired: joining again`);
        this.dropLease();
      }
    }
    const granted = await this.kv.leaseGrant(this.opts.ttlSeconds);
    if (this.stopped) {
      await this.kv.leaseRevoke(granted.id).catch(() => undefined);
      return;
    }
    this.extend(granted.id, Math.min(this.opts.ttlSeconds, granted.ttl), granted.sentAt);
    await this.register();
  }

  private async register(): Promise<void> {
    if (!this.lease || !this.member) return;
    await this.kv.txn([], [{ put: { key: this.keys.member, value: JSON.stringify(this.member), lease: this.lease.id } }]);
  }

  private extend(id: string, ttlSeconds: number, sentAt: number): void {
    const validUntil = sentAt + ttlSeconds * 1000;
    const actUntil = validUntil - this.ttlMs / 3;
    this.lease = { id, ttl: ttlSeconds, validUntil, actUntil };
    if (this.expiryTimer) this.clock.clearTimeout(this.expiryTimer);
    const wait = Math.max(0, actUntil - this.clock.monotonic());
    this.expiryTimer = this.clock.setTimeout(() => {
      this.expiryTimer = null;
      this.checkExpiry();
    }, wait);
  }

  /** Called at the acting deadline: if no renewal extended it, this member is out of the group. */
  private checkExpiry(): void {
    if (!this.lease || this.clock.monotonic() < this.lease.actUntil) return;
    const before = this.signature();
    const wasCoordinator = this.term !== null;
    this.opts.logger.error(
      `etcd: could not renew the lease of member '${this.memberName}' in time${this.lastError ? ` (${this.lastError})` : ''}: ` +
        (wasCoordinator ? 'no longer acting as coordinator' : 'out of the group until etcd answers'),
    );
    this.term = null;
    this.lastOk = false;
    this.afterChange(before);
  }

  private dropLease(): void {
    this.lease = null;
    this.term = null;
    if (this.expiryTimer) this.clock.clearTimeout(this.expiryTimer);
    this.expiryTimer = null;
  }

  private async campaign(): Promise<void> {
    if (!this.lease || !this.actingWindowOpen()) return;
    const r = await this.kv.txn(
      [{ key: this.keys.leader, target: 'CREATE', result: 'EQUAL', value: 0 }],
      [{ put: { key: this.keys.leader, value: this.memberName, lease: this.lease.id } }],
      [{ range: { key: this.keys.leader } }],
    );
    if (r.succeeded) {
      this.term = r.header.revision;
      this.leader = { name: this.memberName, term: this.term };
      this.opts.logger.info(`etcd: member '${this.memberName}' is now the coordinator (term ${this.term})`);
      return;
    }
    const kv = r.ranges[0]?.[0];
    if (kv && kv.value === this.memberName && kv.lease === this.lease.id) {
      this.term = kv.createRevision;
    } else {
      if (this.term !== null) this.opts.logger.warn(`etcd: the leader key is no longer this member's: no longer the coordinator`);
      this.term = null;
    }
    this.leader = kv ? { name: kv.value, term: kv.createRevision } : null;
  }

  private async readBack(): Promise<void> {
    const { header, kvs } = await this.kv.range(this.keys.base);
    const members: MemberRecord[] = [];
    let leaderKv: EtcdKeyValue | null = null;
    let stateKv: EtcdKeyValue | null = null;
    const shared: SharedConnector[] = [];
    const revisions: string[] = [];
    for (const kv of kvs) {
      if (kv.key === this.keys.leader) leaderKv = kv;
      else if (kv.key === this.keys.state) stateKv = kv;
      else if (kv.key.startsWith(this.keys.members)) {
        const m = parseMember(kv.value);
        if (m) members.push(m);
      } else if (kv.key.startsWith(this.keys.connectors)) {
        const value = parseJson(kv.value);
        if (value !== undefined) shared.push({ name: kv.key.slice(this.keys.connectors.length), value });
        revisions.push(`${kv.key}@${kv.modRevision}`);
      }
    }
    const signature = revisions.join(' ');
    if (signature !== this.sharedSignature) {
      this.sharedSignature = signature;
      this.shared = shared;
      this.emit({ type: 'connectors' });
    }
    this.members = members.sort((a, b) => a.name.localeCompare(b.name));
    this.leader = leaderKv ? { name: leaderKv.value, term: leaderKv.createRevision } : null;
    if (this.term !== null && (this.leader?.name !== this.memberName || this.leader.term !== this.term)) {
      this.opts.logger.warn(`etcd: the leader key moved to ${this.leader ? `'${this.leader.name}'` : 'nobody'}: no longer the coordinator`);
      this.term = null;
    }
    if (this.lease && !members.some((m) => m.name === this.memberName)) await this.register();
    if (stateKv && stateKv.modRevision > this.stateRevision) {
      this.stateRevision = stateKv.modRevision;
      const state = parseState(stateKv.value);
      if (state && this.term === null) this.emit({ type: 'state', state, revision: stateKv.modRevision });
    }
    this.watchFrom(header.revision + 1);
  }

  async load(): Promise<{ state: PersistedState | null; revision: number }> {
    const { header, kv } = await this.kv.get(this.keys.state);
    if (!kv) return { state: null, revision: header.revision };
    const state = parseState(kv.value);
    if (!state) throw new Error(`the state in etcd (${this.keys.state}) does not match the schema: refusing to act on it`);
    this.stateRevision = Math.max(this.stateRevision, kv.modRevision);
    return { state, revision: kv.modRevision };
  }

  commit(state: PersistedState): Promise<void> {
    if (!this.isCoordinator()) return Promise.reject(new NotCoordinatorError('a commit needs the leader key'));
    return new Promise<void>((resolve, reject) => {
      if (this.pending) {
        this.pending.state = state;
        this.pending.waiters.push({ resolve, reject });
      } else {
        this.pending = { state, waiters: [{ resolve, reject }] };
      }
      this.flushing ??= this.flush();
    });
  }

  /** One commit transaction in flight at a time; what changed meanwhile goes in the next (newest wins). */
  private async flush(): Promise<void> {
    // Entered with a commit pending, so the loop awaits before `flushing` is cleared: commit() has
    // stored this promise by then. It is cleared in the same turn the loop finds nothing left.
    while (this.pending) {
      const batch = this.pending;
      this.pending = null;
      try {
        await this.commitNow(batch.state);
        for (const w of batch.waiters) w.resolve();
      } catch (e) {
        for (const w of batch.waiters) w.reject(e instanceof Error ? e : new Error(String(e)));
      }
    }
    this.flushing = null;
  }

  private async commitNow(state: PersistedState): Promise<void> {
    const term = this.term;
    if (term === null || !this.isCoordinator()) throw new NotCoordinatorError('lost the leader key before the commit');
    const r = await this.kv.txn(
      [
        { key: this.keys.leader, target: 'CREATE', result: 'EQUAL', value: term },
        { key: this.keys.leader, target: 'VALUE', result: 'EQUAL', value: this.memberName },
      ],
      [{ put: { key: this.keys.state, value: JSON.stringify(state) } }],
    );
    if (!r.succeeded) {
      const before = this.signature();
      this.term = null;
      this.opts.logger.error(`etcd: commit refused: the leader key is no longer this member's (term ${term}): no longer the coordinator`);
      this.afterChange(before);
      throw new NotCoordinatorError(`the leader key is no longer this member's (term ${term})`);
    }
    this.stateRevision = Math.max(this.stateRevision, r.header.revision);
  }

  shareConnector(name: string, value: unknown): void {
    this.toWithdraw.delete(name);
    this.toShare.set(name, JSON.stringify(value));
    void this.flushShared();
  }

  withdrawConnector(name: string): void {
    this.toShare.delete(name);
    this.toWithdraw.add(name);
    void this.flushShared();
  }

  sharedConnectors(): SharedConnector[] {
    return this.shared;
  }

  /**
   * Writes what is to share under this member's lease and deletes what is withdrawn, if the key is
   * still under this lease (a member the connector moved to may have written it since). Best effort:
   * without a lease (out of the group) nothing is written, and what failed is not retried (the
   * connector's next report shares it again).
   */
  private async flushShared(): Promise<void> {
    if (this.sharing) return;
    this.sharing = true;
    try {
      while ((this.toShare.size > 0 || this.toWithdraw.size > 0) && !this.stopped) {
        const lease = this.lease;
        const puts = [...this.toShare];
        const withdrawals = [...this.toWithdraw];
        this.toShare.clear();
        this.toWithdraw.clear();
        if (!lease) return;
        try {
          if (puts.length > 0) {
            await this.kv.txn([], puts.map(([name, value]) => ({ put: { key: this.connectorKey(name), value, lease: lease.id } })));
          }
          for (const name of withdrawals) {
            const key = this.connectorKey(name);
            await this.kv.txn([{ key, target: 'LEASE', result: 'EQUAL', value: lease.id }], [{ delete: { key } }]);
          }
          this.shareWarned = false;
        } catch (e) {
          if (!this.shareWarned) this.opts.logger.warn(`etcd: could not share connector reports: ${messageOf(e)}`);
          this.shareWarned = true;
        }
      }
    } finally {
      this.sharing = false;
    }
  }

  private connectorKey(name: string): string {
    return `${this.keys.connectors}${name}`;
  }

  advertise(apiUrl: string): void {
    if (!this.member || this.member.apiUrl === apiUrl) return;
    this.member = { ...this.member, apiUrl };
    this.register().catch((e: unknown) => this.opts.logger.warn(`etcd: could not publish this member's API address yet: ${messageOf(e)}`));
  }

  private actingWindowOpen(): boolean {
    return this.lease !== null && this.clock.monotonic() < this.lease.actUntil;
  }

  isCoordinator(): boolean {
    return !this.stopped && this.term !== null && this.actingWindowOpen();
  }

  leaseValidForMs(): number {
    if (!this.isCoordinator()) return 0;
    return Math.max(0, this.lease!.actUntil - this.clock.monotonic());
  }

  async ensureLeadership(minMs: number): Promise<number> {
    if (this.term === null || this.stopped) return 0;
    if (this.leaseValidForMs() >= minMs) return this.leaseValidForMs();
    await this.runRound();
    return this.leaseValidForMs();
  }

  group(): GroupView {
    const coordinator = this.isCoordinator() ? this.memberName : this.lastOk ? (this.leader?.name ?? null) : null;
    const members: MemberView[] = this.members.map((m) => ({ ...m, state: 'ONLINE', coordinator: m.name === coordinator }));
    const remaining = this.lease ? Math.max(0, (this.lease.validUntil - this.clock.monotonic()) / 1000) : null;
    return {
      kind: 'etcd',
      self: this.memberName,
      // In the group as long as the lease lets it act: one failed round (an etcd leader election) is
      // not a lost group; the acting window ends a third of a TTL before etcd could expire the lease.
      quorum: this.actingWindowOpen(),
      coordinator,
      term: this.isCoordinator() ? this.term : (this.leader?.term ?? null),
      members,
      leaseTtlSeconds: this.opts.ttlSeconds,
      leaseRemainingSeconds: remaining === null ? null : Math.round(remaining * 10) / 10,
      store: `etcd ${this.location}`,
      lastError: this.lastError,
    };
  }

  subscribe(listener: (change: CoordinationChange) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private emit(change: CoordinationChange): void {
    for (const l of this.listeners) {
      try {
        l(change);
      } catch (e) {
        this.opts.logger.warn(`coordination listener failed: ${messageOf(e)}`);
      }
    }
  }

  private signature(): string {
    const g = this.group();
    return JSON.stringify([this.isCoordinator(), this.term, g.quorum, g.coordinator, g.members.map((m) => m.name)]);
  }

  private afterChange(before: string): void {
    const wasCoordinator = (JSON.parse(before) as [boolean])[0];
    if (wasCoordinator !== this.isCoordinator()) this.emit({ type: 'leadership', coordinator: this.isCoordinator(), term: this.term });
    if (before !== this.signature()) this.emit({ type: 'group' });
  }

  async close(): Promise<void> {
    if (this.stopped) return;
    await this.flushPendingQuietly();
    this.stopTimers();
    this.stopped = true;
    const lease = this.lease;
    this.dropLease();
    if (lease) await this.kv.leaseRevoke(lease.id).catch((e: unknown) => this.opts.logger.warn(`etcd: could not revoke lease ${lease.id}: ${messageOf(e)}`));
    this.kv.close();
  }

  /** What was committed before close() goes to etcd first (each waiter learns its outcome); a refusal is not close()'s failure. */
  private async flushPendingQuietly(): Promise<void> {
    while (this.flushing) await this.flushing.catch(() => undefined);
  }

  halt(): void {
    this.stopTimers();
    this.stopped = true;
    this.term = null;
    this.kv.close();
  }

  private stopTimers(): void {
    this.watching?.close();
    this.watching = null;
    if (this.roundTimer) this.clock.clearTimeout(this.roundTimer);
    if (this.expiryTimer) this.clock.clearTimeout(this.expiryTimer);
    this.roundTimer = null;
    this.expiryTimer = null;
  }
}

function parseMember(text: string): MemberRecord | null {
  try {
    const v = JSON.parse(text) as Partial<MemberRecord>;
    if (typeof v.name !== 'string' || typeof v.host !== 'string') return null;
    return {
      name: v.name,
      host: v.host,
      apiUrl: typeof v.apiUrl === 'string' && isHttpUrl(v.apiUrl) ? v.apiUrl : null,
      datasource: typeof v.datasource === 'string' ? v.datasource : null,
      startedAt: typeof v.startedAt === 'string' ? v.startedAt : '',
      version: typeof v.version === 'string' ? v.version : '',
    };
  } catch {
    return null;
  }
}

/** A member's API address must be an http(s) URL: anything else found in etcd is not followed. */
function isHttpUrl(text: string): boolean {
  try {
    const u = new URL(text);
    return (u.protocol === 'http:' || u.protocol === 'https:') && u.username === '' && u.password === '';
  } catch {
    return false;
  }
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

function parseState(text: string): PersistedState | null {
  try {
    const parsed = persistedStateSchema.safeParse(JSON.parse(text));
    return parsed.success ? parsed.data : null;
  } catch {
    return null;
  }
}
