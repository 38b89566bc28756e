/**
 * etcd's semantics on the virtual clock, for the fast tests and the simulated chaos checker: a
 * revision counter, keys with create/mod revisions, leases that expire TTL after the last renewal
 * *received*, transactions, and faults per client: cut off (every call fails after its timeout) or
 * slowed. The group code runs on it exactly as on real etcd (src/manager/coordination/etcd.ts).
 */
import type { Clock } from '../clock.js';
import type { EtcdCompare, EtcdHeader, EtcdKeyValue, EtcdKv, EtcdOp, EtcdTxnResult } from './kv.js';

class LeaseLost extends Error {
  constructor(id: string) {
    super(`etcd: lease ${id} not found`);
    this.name = 'EtcdLeaseLostError';
  }
}

class Unavailable extends Error {
  constructor(what: string) {
    super(`etcd unavailable: ${what}`);
    this.name = 'EtcdUnavailableError';
  }
}

interface StoredLease {
  ttl: number;
  expiresAt: number;
}

export class MemoryEtcd {
  private revision = 1;
  private nextLease = 100;
  private readonly data = new Map<string, EtcdKeyValue>();
  private readonly leases = new Map<string, StoredLease>();
  private readonly cutOff = new Set<string>();
  /** Whether a majority of the (simulated) etcd members is up: without it nothing answers. */
  private quorum = true;

  constructor(
    readonly clock: Clock,
    private readonly opts: { timeoutMs: number } = { timeoutMs: 500 },
  ) {}

  /** The client a member uses; `name` is the member it belongs to (for faults). */
  client(name: string): EtcdKv {
    return new MemoryEtcdClient(this, name);
  }

  /** The member's client stops reaching etcd (true) or reaches it again (false). */
  partition(name: string, cut: boolean): void {
    if (cut) this.cutOff.add(name);
    else this.cutOff.delete(name);
  }

  /** A majority of etcd members lost (false) or back (true). */
  setQuorum(up: boolean): void {
    this.quorum = up;
  }

  /** What a test may inspect: the live value of a key. */
  peek(key: string): EtcdKeyValue | null {
    this.expire();
    return this.data.get(key) ?? null;
  }

  /** Runs one request for `name`: a cut-off member or a lost quorum answers nothing within the timeout. */
  async request<T>(name: string, what: string, work: () => T): Promise<T> {
    if (this.cutOff.has(name) || !this.quorum) {
      await new Promise<void>((r) => this.clock.setTimeout(r, this.opts.timeoutMs));
      throw new Unavailable(`${what} timed out`);
    }
    // One event-loop turn, as a network round trip: other work interleaves.
    await Promise.resolve();
    if (this.cutOff.has(name) || !this.quorum) throw new Unavailable(`${what} timed out`);
    this.expire();
    return work();
  }

  header(): EtcdHeader {
    return { revision: this.revision, raftTerm: 1, memberId: '1', clusterId: '1' };
  }

  private expire(): void {
    const now = this.clock.monotonic();
    for (const [id, lease] of this.leases) {
      if (lease.expiresAt > now) continue;
      this.revoke(id);
    }
  }

  get(key: string): EtcdKeyValue | null {
    return this.data.get(key) ?? null;
  }

  range(prefix: string): EtcdKeyValue[] {
    return [...this.data.values()].filter((kv) => kv.key.startsWith(prefix)).sort((a, b) => a.key.localeCompare(b.key));
  }

  txn(compare: EtcdCompare[], success: EtcdOp[], failure: EtcdOp[]): EtcdTxnResult {
    const ok = compare.every((c) => this.holds(c));
    const ops = ok ? success : failure;
    const ranges: EtcdKeyValue[][] = [];
    let wrote = false;
    for (const op of ops) {
      if ('range' in op) {
        ranges.push(op.range.prefix ? this.range(op.range.key) : [this.data.get(op.range.key)].filter((x): x is EtcdKeyValue => !!x).map((x) => ({ ...x })));
      } else if ('put' in op) {
        const lease = op.put.lease ?? '0';
        if (lease !== '0' && !this.leases.has(lease)) throw new LeaseLost(lease);
        if (!wrote) this.revision++;
        wrote = true;
        const before = this.data.get(op.put.key);
        this.data.set(op.put.key, {
          key: op.put.key,
          value: op.put.value,
          createRevision: before?.createRevision ?? this.revision,
          modRevision: this.revision,
          version: (before?.version ?? 0) + 1,
          lease,
        });
      } else {
        const keys = op.delete.prefix ? this.range(op.delete.key).map((kv) => kv.key) : [op.delete.key];
        if (keys.some((k) => this.data.has(k))) {
          if (!wrote) this.revision++;
          wrote = true;
        }
        for (const k of keys) this.data.delete(k);
      }
    }
    return { header: this.header(), succeeded: ok, ranges };
  }

  private holds(c: EtcdCompare): boolean {
    const kv = this.data.get(c.key);
    const actual: number | string =
      c.target === 'CREATE' ? (kv?.createRevision ?? 0) : c.target === 'MOD' ? (kv?.modRevision ?? 0) : c.target === 'VERSION' ? (kv?.version ?? 0) : c.target === 'LEASE' ? (kv?.lease ?? '0') : (kv?.value ?? '');
    const a = actual;
    const b = typeof actual === 'number' ? Number(c.value) : String(c.value);
    switch (c.result) {
      case 'EQUAL':
        return a === b;
      case 'NOT_EQUAL':
        return a !== b;
      case 'GREATER':
        return a > b;
      case 'LESS':
        return a < b;
    }
  }

  grant(ttl: number): string {
    const id = String(this.nextLease++);
    this.leases.set(id, { ttl, expiresAt: this.clock.monotonic() + ttl * 1000 });
    return id;
  }

  keepAlive(id: string): number {
    const lease = this.leases.get(id);
    if (!lease) throw new LeaseLost(id);
    lease.expiresAt = this.clock.monotonic() + lease.ttl * 1000;
    return lease.ttl;
  }

  revoke(id: string): void {
    if (!this.leases.delete(id)) return;
    let changed = false;
    for (const [key, kv] of this.data) {
      if (kv.lease === id) {
        this.data.delete(key);
        changed = true;
      }
    }
    if (changed) this.revision++;
  }
}

class MemoryEtcdClient implements EtcdKv {
  private closed = false;
  constructor(
    private readonly etcd: MemoryEtcd,
    private readonly name: string,
  ) {}

  private run<T>(what: string, work: () => T): Promise<T> {
    if (this.closed) return Promise.reject(new Error('etcd client closed'));
    return this.etcd.request(this.name, what, work);
  }

  get(key: string) {
    return this.run('get', () => ({ header: this.etcd.header(), kv: this.etcd.get(key) }));
  }

  range(prefix: string) {
    return this.run('range', () => ({ header: this.etcd.header(), kvs: this.etcd.range(prefix) }));
  }

  txn(compare: EtcdCompare[], success: EtcdOp[], failure: EtcdOp[] = []) {
    return this.run('txn', () => this.etcd.txn(compare, success, failure));
  }

  async leaseGrant(ttlSeconds: number) {
    const sentAt = this.etcdNow();
    return this.run('lease grant', () => ({ id: this.etcd.grant(ttlSeconds), ttl: ttlSeconds, sentAt }));
  }

  async leaseKeepAlive(id: string) {
    const sentAt = this.etcdNow();
    return this.run('lease keepalive', () => ({ ttl: this.etcd.keepAlive(id), sentAt }));
  }

  leaseRevoke(id: string) {
    return this.run('lease revoke', () => this.etcd.revoke(id));
  }

  close(): void {
    this.closed = true;
  }

  private etcdNow(): number {
    return this.etcd.clock.monotonic();
  }
}
