/**
 * The part of etcd's v3 API the manager group uses: linearizable reads, transactions, leases. The
 * real client (etcd-client.ts, over etcd's JSON gateway) and the simulated store of the fast tests
 * (memory-etcd.ts, on the virtual clock) both implement it, so the group's code is the same on both.
 */
export interface EtcdHeader {
  revision: number;
  raftTerm: number;
  memberId: string;
  clusterId: string;
}

export interface EtcdKeyValue {
  key: string;
  value: string;
  createRevision: number;
  modRevision: number;
  version: number;
  /** '0' when the key has no lease. */
  lease: string;
}

export type EtcdCompare = {
  key: string;
  target: 'CREATE' | 'MOD' | 'VERSION' | 'VALUE' | 'LEASE';
  result: 'EQUAL' | 'NOT_EQUAL' | 'GREATER' | 'LESS';
  value: number | string;
};

export type EtcdOp =
  | { put: { key: string; value: string; lease?: string } }
  | { delete: { key: string; prefix?: boolean } }
  | { range: { key: string; prefix?: boolean } };

export interface EtcdTxnResult {
  header: EtcdHeader;
  succeeded: boolean;
  /** One entry per range op of the branch taken, in order. */
  ranges: EtcdKeyValue[][];
}

export interface EtcdWatchEvent {
  type: 'PUT' | 'DELETE';
  kv: EtcdKeyValue;
}

export interface EtcdKv {
  get(key: string): Promise<{ header: EtcdHeader; kv: EtcdKeyValue | null }>;
  range(prefix: string): Promise<{ header: EtcdHeader; kvs: EtcdKeyValue[] }>;
  /** Never retried once the request may have reached a server. */
  txn(compare: EtcdCompare[], success: EtcdOp[], failure?: EtcdOp[]): Promise<EtcdTxnResult>;
  /** `sentAt`: the caller's monotonic clock just before the request was sent. */
  leaseGrant(ttlSeconds: number): Promise<{ id: string; ttl: number; sentAt: number }>;
  /** Throws EtcdLeaseLostError-like errors (name 'EtcdLeaseLostError') when the lease is gone. */
  leaseKeepAlive(id: string): Promise<{ ttl: number; sentAt: number }>;
  leaseRevoke(id: string): Promise<void>;
  /**
   * Changes under `prefix` from `fromRevision` on, as they happen; `onError` once when the watch
   * ends (etcd gone, compacted, closed by etcd). Optional: a store without it is only polled.
   */
  watch?(prefix: string, fromRevision: number, onEvents: (events: EtcdWatchEvent[], header: EtcdHeader) => void, onError: (e: Error) => void): { close(): void };
  close(): void;
}

/** Whether an error says the lease no longer exists (as opposed to etcd not answering). */
export function isLeaseLost(e: unknown): boolean {
  return e instanceof Error && e.name === 'EtcdLeaseLostError';
}
