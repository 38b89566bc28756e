/**
 * The etcd client (src/manager/coordination/etcd-client.ts) against real etcd 3.4 members
 * (test/helpers/etcd.ts): key-value calls and compare-and-set, leases, watches, and what it does
 * when members crash, freeze or lose their quorum. The fault cases with hostile or broken servers
 * (stale raft term, a server that never answers, oversized answers) are in the fast tier,
 * test/manager/coordination/etcd-client.test.ts, on fake servers.
 *
 * One cluster serves the file; each test that kills or freezes a member brings it back before it
 * ends, and the quorum-loss test comes last. ETCD_TEST_TIMINGS=1 prints the failover times.
 */
import { titleOrSkipReason } from '../helpers/processes.js';
import { execFileSync } from 'node:child_process';
import http from 'node:http';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  EtcdAmbiguousError,
  EtcdClient,
  EtcdLeaseLostError,
  EtcdRequestError,
  EtcdUnavailableError,
  type EtcdClientOptions,
  type EtcdHeader,
  type EtcdWatchEvent,
} from '../../src/manager/coordination/etcd-client.js';
import { etcdctlAvailable, etcdSkipReason, skipWithoutEtcd, startEtcdCluster, type EtcdCluster } from '../helpers/etcd.js';

const timings: string[] = [];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function timed<T>(what: string, fn: () => Promise<T>): Promise<{ value: T; ms: number }> {
  const started = performance.now();
  const value = await fn();
  const ms = Math.round(performance.now() - started);
  timings.push(`${what}: ${ms} ms`);
  return { value, ms };
}

async function rejectionOf(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected the call to fail');
}

/** Collects watch events until `count` have arrived. */
function collect(client: EtcdClient, prefix: string, fromRevision: number) {
  const events: Array<EtcdWatchEvent & { revision: number }> = [];
  const errors: Error[] = [];
  let wake: (() => void) | null = null;
  const handle = client.watch(
    prefix,
    fromRevision,
    (batch: EtcdWatchEvent[], header: EtcdHeader) => {
      for (const e of batch) events.push({ ...e, revision: header.revision });
      wake?.();
    },
    (e) => {
      errors.push(e);
      wake?.();
    },
  );
  const until = async (done: () => boolean, timeoutMs = 5000) => {
    const deadline = Date.now() + timeoutMs;
    while (!done()) {
      if (Date.now() > deadline) throw new Error(`watch: timed out with ${events.length} events, errors: ${errors.map((e) => e.message).join('; ')}`);
      await new Promise<void>((r) => {
        wake = r;
        setTimeout(r, 50);
      });
    }
  };
  return { events, errors, handle, until };
}

function rawPost(endpoint: string, path: string, body: unknown, token?: string): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const req = http.request(`${endpoint}${path}`, { method: 'POST', headers: token ? { authorization: token } : {} }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>));
    });
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}

function compact(endpoint: string, revision: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = http.request(`${endpoint}/v3/kv/compaction`, { method: 'POST' }, (res) => {
      res.resume();
      res.on('end', () => (res.statusCode === 200 ? resolve() : reject(new Error(`compaction: HTTP ${res.statusCode}`))));
    });
    req.on('error', reject);
    req.end(JSON.stringify({ revision: String(revision), physical: true }));
  });
}

describe.skipIf(skipWithoutEtcd)(titleOrSkipReason('the etcd client on a real 3-member etcd cluster', skipWithoutEtcd ? etcdSkipReason : null), () => {
  let cluster: EtcdCluster;
  const clients: EtcdClient[] = [];
  const client = (opts: Partial<EtcdClientOptions> = {}) => {
    const c = new EtcdClient({ endpoints: cluster.endpoints, timeoutMs: 1500, ...opts });
    clients.push(c);
    return c;
  };
  /** The endpoints in an order that starts with a member that is not the leader. */
  const followerFirst = async () => {
    const leader = await cluster.leader();
    const follower = cluster.members.find((m) => m.name !== leader)!;
    const rest = cluster.members.filter((m) => m !== follower);
    return { member: follower, endpoints: [follower.clientUrl, ...rest.map((m) => m.clientUrl)] };
  };

  beforeAll(async () => {
    cluster = await startEtcdCluster();
  });
  afterEach(async () => {
    for (const c of clients.splice(0)) c.close();
    for (const m of cluster.members) cluster.cont(m.name);
    const down = cluster.members.filter((m) => m.pid() === null);
    for (const m of down) await cluster.start(m.name);
  });
  afterAll(async () => {
    await cluster?.destroy();
    if (process.env.ETCD_TEST_TIMINGS) console.log(`etcd client timings:\n  ${timings.join('\n  ')}`);
  });

  it('puts, gets and ranges keys (UTF-8, base64 on the wire), linearizably', async () => {
    const c = client();
    const h1 = await c.put('/t1/a', 'één ✓');
    const h2 = await c.put('/t1/b', '2');
    await c.put('/t1x', 'outside the prefix');
    expect(h2.revision).toBeGreaterThan(h1.revision);
    expect(h1.raftTerm).toBeGreaterThan(0);
    expect(h1.clusterId).toMatch(/^\d+$/);
    const got = await c.get('/t1/a');
    expect(got.kv).toMatchObject({ key: '/t1/a', value: 'één ✓', createRevision: h1.revision, modRevision: h1.revision, version: 1, lease: '0' });
    expect(got.header.revision).toBeGreaterThanOrEqual(h2.revision);
    expect((await c.get('/t1/none')).kv).toBeNull();
    const listed = await c.range('/t1/');
    expect(listed.kvs.map((kv) => [kv.key, kv.value])).toEqual([
      ['/t1/a', 'één ✓'],
      ['/t1/b', '2'],
    ]);
    // Every member sees the same (linearizable reads, each member asked directly).
    for (const endpoint of cluster.endpoints) {
      const one = new EtcdClient({ endpoints: [endpoint], timeoutMs: 1500 });
      clients.push(one);
      expect((await one.get('/t1/b')).kv?.value).toBe('2');
    }
  });

  it('compare-and-set with txn: create only if absent (CREATE == 0), update only at a known mod revision', async () => {
    const c = client();
    const create = () =>
      c.txn([{ key: '/t2/leader', target: 'CREATE', result: 'EQUAL', value: 0 }], [{ put: { key: '/t2/leader', value: 'me' } }], [{ range: { key: '/t2/leader' } }]);
    const first = await create();
    expect(first.succeeded).toBe(true);
    expect(first.ranges).toEqual([]);
    const second = await create();
    expect(second.succeeded).toBe(false);
    expect(second.ranges).toHaveLength(1);
    expect(second.ranges[0]![0]).toMatchObject({ key: '/t2/leader', value: 'me', modRevision: first.header.revision });

    const epoch = first.header.revision;
    const update = (at: number, value: string) =>
      c.txn([{ key: '/t2/leader', target: 'MOD', result: 'EQUAL', value: at }], [{ put: { key: '/t2/leader', value } }, { range: { key: '/t2/', prefix: true } }]);
    const won = await update(epoch, 'me again');
    expect(won.succeeded).toBe(true);
    expect(won.ranges[0]!.map((kv) => kv.value)).toEqual(['me again']);
    const lost = await update(epoch, 'stale writer');
    expect(lost.succeeded).toBe(false);
    expect((await c.get('/t2/leader')).kv?.value).toBe('me again');

    // VALUE and VERSION compares, and a delete in a branch.
    const byValue = await c.txn([{ key: '/t2/leader', target: 'VALUE', result: 'EQUAL', value: 'me again' }, { key: '/t2/leader', target: 'VERSION', result: 'EQUAL', value: 2 }], [{ delete: { key: '/t2/', prefix: true } }]);
    expect(byValue.succeeded).toBe(true);
    expect((await c.range('/t2/')).kvs).toEqual([]);
  });

  it('leases: grant, keepalive, revoke; a key on a lease goes when the lease is not kept alive, and keepalive then says the lease is lost', async () => {
    const c = client();
    const before = performance.now();
    const lease = await c.leaseGrant(2);
    expect(lease.id).toMatch(/^\d+$/);
    expect(lease.ttl).toBe(2);
    expect(lease.sentAt).toBeGreaterThanOrEqual(before);
    await c.put('/t3/held', 'x', lease.id);
    expect((await c.get('/t3/held')).kv?.lease).toBe(lease.id);
    const kept = await c.leaseKeepAlive(lease.id);
    expect(kept.ttl).toBe(2);
    expect(kept.sentAt).toBeGreaterThan(lease.sentAt);

    // No more keepalives: etcd expires the lease (at least TTL after the last one) and its key with it.
    const { ms } = await timed('lease of 2 s expiring, key gone after', async () => {
      const deadline = Date.now() + 8000;
      while ((await c.get('/t3/held')).kv !== null) {
        if (Date.now() > deadline) throw new Error('the key on an expired lease is still there');
        await sleep(100);
      }
    });
    expect(ms).toBeGreaterThanOrEqual(1500);
    await expect(c.leaseKeepAlive(lease.id)).rejects.toBeInstanceOf(EtcdLeaseLostError);

    const other = await c.leaseGrant(30);
    await c.put('/t3/revoked', 'y', other.id);
    await c.leaseRevoke(other.id);
    expect((await c.get('/t3/revoked')).kv).toBeNull();
    await expect(c.leaseKeepAlive(other.id)).rejects.toBeInstanceOf(EtcdLeaseLostError);
    await c.leaseRevoke(other.id); // revoking a lease already gone is not an error
    await expect(c.put('/t3/on-a-dead-lease', 'z', other.id)).rejects.toBeInstanceOf(EtcdRequestError);
  });

  it('watch delivers PUT and DELETE in revision order from a given revision, then live; a compacted start revision ends it with onError', async () => {
    const c = client();
    const start = await c.put('/t4/a', '1');
    await c.put('/t4/b', '2');
    await c.txn([], [{ delete: { key: '/t4/a' } }, { put: { key: '/t4/b', value: '3' } }]);
    await c.put('/t4x', 'not under the prefix');
    const w = collect(c, '/t4/', start.revision);
    await w.until(() => w.events.length >= 4);
    await c.put('/t4/c', 'live');
    await w.until(() => w.events.length >= 5);
    expect(w.events.map((e) => [e.type, e.kv.key, e.kv.value])).toEqual([
      ['PUT', '/t4/a', '1'],
      ['PUT', '/t4/b', '2'],
      ['DELETE', '/t4/a', ''],
      ['PUT', '/t4/b', '3'],
      ['PUT', '/t4/c', 'live'],
    ]);
    const revisions = w.events.map((e) => e.kv.modRevision);
    expect(revisions).toEqual([...revisions].sort((x, y) => x - y));
    expect(w.events[0]!.kv.modRevision).toBe(start.revision);
    expect(w.errors).toEqual([]);
    // After close() nothing more is delivered.
    w.handle.close();
    await c.put('/t4/d', 'after close');
    await sleep(300);
    expect(w.events).toHaveLength(5);

    // A start revision etcd has compacted away: the watch is canceled and says from where it could resume.
    const now = await c.put('/t4/e', 'x');
    await compact(cluster.endpoints[0]!, now.revision);
    const old = collect(c, '/t4/', start.revision);
    await old.until(() => old.errors.length > 0);
    expect(old.events).toEqual([]);
    expect(old.errors[0]).toBeInstanceOf(EtcdRequestError);
    expect((old.errors[0] as EtcdRequestError).compactRevision).toBe(now.revision);
  });

  it('a killed member: the next call goes to another member at once, a txn refused before sending is sent to the next, and its watch ends with onError', async () => {
    const { member, endpoints } = await followerFirst();
    const c = client({ endpoints });
    await c.put('/t5/k', 'v1');
    expect(c.currentEndpoint).toBe(member.clientUrl);
    const w = collect(c, '/t5/', 0);
    await sleep(200);
    await cluster.kill(member.name);
    await w.until(() => w.errors.length > 0);
    expect(w.errors[0]).toBeInstanceOf(EtcdUnavailableError);
    const { value, ms } = await timed('get after the member in use (a follower) was killed', () => c.get('/t5/k'));
    expect(value.kv?.value).toBe('v1');
    expect(ms).toBeLessThan(1500);
    expect(c.currentEndpoint).not.toBe(member.clientUrl);

    // A txn whose first endpoint refuses the connection is sent to the next one (it never reached a server).
    const fresh = client({ endpoints });
    const txn = await timed('txn to a killed member first, then another', () =>
      fresh.txn([{ key: '/t5/k', target: 'VALUE', result: 'EQUAL', value: 'v1' }], [{ put: { key: '/t5/k', value: 'v2' } }]),
    );
    expect(txn.value.succeeded).toBe(true);
    expect((await c.get('/t5/k')).kv?.value).toBe('v2');
    await cluster.start(member.name);
    const back = new EtcdClient({ endpoints: [member.clientUrl], timeoutMs: 1500 });
    clients.push(back);
    expect((await back.get('/t5/k')).kv?.value).toBe('v2');
  });

  it('the leader killed while in use: calls succeed through another member once one is elected', async () => {
    const leader = await cluster.leader();
    const lm = cluster.members.find((m) => m.name === leader)!;
    const c = client({ endpoints: [lm.clientUrl, ...cluster.members.filter((m) => m !== lm).map((m) => m.clientUrl)], timeoutMs: 4000 });
    await c.put('/t6/k', 'v1');
    const lease = await c.leaseGrant(10);
    await cluster.kill(lm.name);
    const got = await timed('get after the leader in use was killed (includes the election)', () => c.get('/t6/k'));
    expect(got.value.kv?.value).toBe('v1');
    const kept = await timed('keepalive after the leader was killed', () => c.leaseKeepAlive(lease.id));
    expect(kept.value.ttl).toBeGreaterThan(0);
    expect((await c.put('/t6/k', 'v2')).revision).toBeGreaterThan(got.value.header.revision);
  });

  it('a frozen member (SIGSTOP): a read to it times out and the client moves on; a txn sent to it is ambiguous, never resent', async () => {
    const { member, endpoints } = await followerFirst();
    const c = client({ endpoints, timeoutMs: 1000 });
    await c.put('/t7/k', 'v1');
    expect(c.currentEndpoint).toBe(member.clientUrl);
    await cluster.stop(member.name);
    const { value, ms } = await timed('get after the member in use was frozen (timeoutMs 1000)', () => c.get('/t7/k'));
    expect(value.kv?.value).toBe('v1');
    expect(ms).toBeGreaterThanOrEqual(950);
    expect(ms).toBeLessThan(2500);
    expect(c.currentEndpoint).not.toBe(member.clientUrl);
    // Next calls go straight to the member that answered.
    const next = await timed('the call after that', () => c.get('/t7/k'));
    expect(next.ms).toBeLessThan(500);

    // A txn that reached the frozen member: it may be applied when the member wakes up, so it is not resent.
    const w = client({ endpoints, timeoutMs: 1000 });
    const err = await rejectionOf(w.txn([], [{ put: { key: '/t7/k', value: 'from the txn' } }]));
    expect(err).toBeInstanceOf(EtcdAmbiguousError);
    expect(err.message).toContain(member.clientUrl);
    expect((await c.get('/t7/k')).kv?.value).toBe('v1');
    cluster.cont(member.name);
  });

  it('wrong etcd password: a clear error without the password; the right one works and an expired token is renewed', async () => {
    if (!etcdctlAvailable()) {
      if (process.env.CI === 'true') throw new Error('etcdctl is not installed (etcd-client)');
      return;
    }
    // Simple tokens last --auth-token-ttl seconds unused (etcd restores them after a restart, so a restart does not make one stale).
    const single = await startEtcdCluster({ size: 1, extraArgs: ['--auth-token-ttl=1'] });
    const secret = 'pw-Sup3rSecret!';
    const logged: string[] = [];
    const names = ['log', 'error', 'warn', 'info'] as const;
    const originals = names.map((n) => console[n]);
    try {
      const etcdctl = (...args: string[]) =>
        execFileSync('etcdctl', [`--endpoints=${single.endpoints[0]}`, ...args], { env: { ...process.env, ETCDCTL_API: '3' }, stdio: 'pipe' });
      etcdctl('user', 'add', `root:${secret}`);
      etcdctl('user', 'grant-role', 'root', 'root');
      etcdctl('auth', 'enable');
      names.forEach((name, i) => {
        console[name] = (...a: unknown[]) => {
          logged.push(a.map(String).join(' '));
          originals[i]!(...a);
        };
      });
      const wrong = new EtcdClient({ endpoints: single.endpoints, timeoutMs: 2000, auth: { user: 'root', password: `${secret}-typo` } });
      clients.push(wrong);
      const err = await rejectionOf(wrong.get('/t8/k'));
      expect(err).toBeInstanceOf(EtcdRequestError);
      expect((err as EtcdRequestError).kind).toBe('unauthorized');
      expect(err.message).toMatch(/authentication as user 'root' failed.*invalid user ID or password/);
      expect(`${err.message} ${err.stack} ${JSON.stringify(err)}`).not.toContain(secret);

      const none = new EtcdClient({ endpoints: single.endpoints, timeoutMs: 2000 });
      clients.push(none);
      expect((await rejectionOf(none.get('/t8/k'))).message).toContain('user name is empty');

      const right = new EtcdClient({ endpoints: single.endpoints, timeoutMs: 3000, auth: { user: 'root', password: secret } });
      clients.push(right);
      await right.put('/t8/k', 'v');
      expect((await right.get('/t8/k')).kv?.value).toBe('v');
      const lease = await right.leaseGrant(30);
      // A token of the same age as the client's, taken after its last call, expires: so does the client's.
      const probe = await rawPost(single.endpoints[0]!, '/v3/auth/authenticate', { name: 'root', password: secret });
      const token = String(probe.token);
      await sleep(2500);
      const expired = await rawPost(single.endpoints[0]!, '/v3/kv/range', { key: Buffer.from('/t8/k').toString('base64') }, token);
      expect(expired.message).toBe('etcdserver: invalid auth token');
      expect((await right.get('/t8/k')).kv?.value).toBe('v');
      expect((await right.leaseKeepAlive(lease.id)).ttl).toBeGreaterThan(0);
      // From the next revision: a watch from 'now' may be set up after the put, and see nothing.
      const from = (await right.get('/t8/k')).header.revision + 1;
      const w = collect(right, '/t8/', from);
      await right.put('/t8/k', 'w');
      await w.until(() => w.events.length > 0);
      expect(w.events[0]!.kv.value).toBe('w');
      for (const line of logged) expect(line).not.toContain(secret);
    } finally {
      names.forEach((name, i) => (console[name] = originals[i]!));
      await single.destroy();
    }
  });

  it('quorum lost: a member cut off answers linearizable reads with an error, not its stale data; 2 of 3 down, get and txn fail within a bounded time', async () => {
    const leader = await cluster.leader();
    const cutOff = cluster.members.find((m) => m.name !== leader)!;
    const others = cluster.members.filter((m) => m !== cutOff);
    const c = client({ endpoints: others.map((m) => m.clientUrl) });
    await c.put('/t9/k', 'old');
    // The cut-off member misses a write, then is the only one left.
    await cluster.stop(cutOff.name);
    await c.put('/t9/k', 'new');
    for (const m of others) await cluster.kill(m.name);
    cluster.cont(cutOff.name);
    const lonely = client({ endpoints: [cutOff.clientUrl], timeoutMs: 1500 });
    const stale = await timed('get from a member without quorum (timeoutMs 1500)', () => rejectionOf(lonely.get('/t9/k')));
    expect(stale.value).toBeInstanceOf(EtcdUnavailableError);
    expect(stale.value.message).not.toContain('old');

    const all = client({ timeoutMs: 1500 });
    const get = await timed('get with 2 of 3 members killed (timeoutMs 1500)', () => rejectionOf(all.get('/t9/k')));
    expect(get.value).toBeInstanceOf(EtcdUnavailableError);
    expect(get.ms).toBeLessThan(3 * 1500 + 1000);
    const txn = await timed('txn with 2 of 3 members killed', () => rejectionOf(all.txn([], [{ put: { key: '/t9/k', value: 'must not be written' } }])));
    expect(txn.value instanceof EtcdUnavailableError || txn.value instanceof EtcdAmbiguousError).toBe(true);
    expect(txn.ms).toBeLessThan(3 * 1500 + 1000);
    const health = await all.memberHealth();
    expect(health.map((h) => h.ok)).toEqual([false, false, false]);
    expect(health.find((h) => h.endpoint === cutOff.clientUrl)?.error).toMatch(/no leader/);

    for (const m of others) await cluster.start(m.name);
    await cluster.waitHealthy();
    const healed = client();
    expect((await healed.get('/t9/k')).kv?.value).toBe('new');
    expect((await healed.memberHealth()).filter((h) => h.ok)).toHaveLength(3);
  });
});
