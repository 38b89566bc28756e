/**
 * The store behind the manager: where the service's state lives and who may change it.
 *
 * Two implementations: `local` (one manager, its state in --state-dir or memory; it is always the
 * coordinator) and `etcd` (a member of a manager group: a lease, a leader key whose creation
 * revision is the coordinator's term, the state committed with compare-and-set under that term).
 *
 * Leadership is proven by writes, never by a read: `commit` is refused once the leader key is not
 * this member's, and `leaseValidForMs` is computed from when the last renewal was sent, so a
 * coordinator that cannot renew stops acting before etcd can let its lease expire.
 */
import type { Clock } from '../clock.js';
import type { MemberStatus } from '../model.js';
import type { PersistedState } from '../store.js';

/** What a member publishes about itself under its lease. */
export interface MemberRecord {
  name: string;
  host: string;
  /** Where other members (and cctrl) reach its API; null when it serves none. */
  apiUrl: string | null;
  /** The datasource it sits beside, if any. */
  datasource: string | null;
  /** ISO time it joined. */
  startedAt: string;
  version: string;
}

/**
 * A member with a live lease, as the store sees it: the one member type (MemberStatus, what the API,
 * the manager and the shell list) narrowed and extended, not a second declaration. It differs in
 * two ways, both true of the store only: a member is there only while its lease lives, so its state
 * is always ONLINE (MemberStatus can say STOPPED for a simulated cluster's member); and it carries
 * the record it published (when it joined, its version), which the API does not list.
 * `memberStatus()` is the one way from this to what the API lists.
 */
export interface MemberView extends MemberRecord, MemberStatus {
  state: Extract<MemberStatus['state'], 'ONLINE'>;
  datasource: MemberRecord['datasource'];
  apiUrl: MemberRecord['apiUrl'];
}

/** What the API lists of a member of the group (MemberStatus): the record's time and version stay in the store. */
export function memberStatus(m: MemberView): MemberStatus {
  return { name: m.name, host: m.host, state: m.state, coordinator: m.coordinator, datasource: m.datasource, apiUrl: m.apiUrl };
}

export interface GroupView {
  kind: 'local' | 'etcd';
  /** This member's name. */
  self: string;
  /** Whether this member reaches a majority of the store (always true for local). */
  quorum: boolean;
  coordinator: string | null;
  /** The coordinator's term (its leader key's creation revision); null when there is none. */
  term: number | null;
  /** The members registered now (live leases), by name. */
  members: MemberView[];
  /** Seconds a coordinator's lease lasts (null for local). */
  leaseTtlSeconds: number | null;
  /** Seconds this member's own lease is known to last still, from the last renewal sent (null: local or none). */
  leaseRemainingSeconds: number | null;
  /** One line on the store: file path or etcd endpoints, and its last error if any. */
  store: string;
  lastError: string | null;
}

export type CoordinationChange =
  /** This member became the coordinator (term given) or stopped being it. */
  | { type: 'leadership'; coordinator: boolean; term: number | null }
  /** The committed state changed (by the coordinator, seen by a follower). */
  | { type: 'state'; state: PersistedState; revision: number }
  /** Members joined or left, the coordinator changed, or quorum was lost or regained. */
  | { type: 'group' }
  /** What the members share of the connectors that report to them changed (sharedConnectors()). */
  | { type: 'connectors' };

/** A connector's report as one member shares it with the group (opaque here: the core validates it). */
export interface SharedConnector {
  name: string;
  value: unknown;
}

export interface Coordination {
  readonly kind: 'local' | 'etcd';
  /** A description for messages: the state file or the etcd endpoints (never credentials). */
  readonly location: string;
  readonly memberName: string;
  /** The clock its lease is timed on (etcd): the lease guard aborts an action with it when the lease leaves less than the action's timeout. */
  readonly clock?: Clock;
  /** Joins the group (registers the member, starts renewing and campaigning). */
  start(member: MemberRecord): Promise<void>;
  /** The latest committed state (a linearizable read for etcd). */
  load(): Promise<{ state: PersistedState | null; revision: number }>;
  /**
   * Commits the state under this member's term. Local: written before it returns (a thrown error
   * leaves the old file whole). Etcd: a transaction that compares the leader key; commits are
   * coalesced (the newest state wins) and the promise settles when this one is in etcd or refused.
   */
  commit(state: PersistedState): void | Promise<void>;
  /** Publishes where this member's API listens (known once its server is up). */
  advertise(apiUrl: string): void;
  isCoordinator(): boolean;
  /** Milliseconds this member may still act as coordinator (0 when it is not). */
  leaseValidForMs(): number;
  /** Renews now if less than `minMs` of leadership is left; resolves to what is left after. */
  ensureLeadership(minMs: number): Promise<number>;
  group(): GroupView;
  /**
   * Shares the last report of a connector that reports to this member, so that every member lists
   * it (etcd: a key under this member's lease, gone with it; newest wins). Absent: nothing to share
   * (a single manager sees every connector itself).
   */
  shareConnector?(name: string, value: unknown): void;
  /** Withdraws a connector this member shared, unless another member has shared it since. */
  withdrawConnector?(name: string): void;
  /** The connectors the members share, as of the last read-back. */
  sharedConnectors?(): SharedConnector[];
  subscribe(listener: (change: CoordinationChange) => void): () => void;
  /** Leaves the group: resigns the leader key and revokes the lease, so another takes over at once. */
  close(): Promise<void>;
  /** Stops everything without telling etcd (what a kill -9 leaves: the lease runs out). */
  halt(): void;
}

/** Raised when an action or commit needs the coordinator and this member is not it (any more). */
export class NotCoordinatorError extends Error {
  constructor(reason: string) {
    super(`this manager is not the coordinator: ${reason}`);
    this.name = 'NotCoordinatorError';
  }
}
