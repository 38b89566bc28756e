/**
 * The manager group with every piece real: three etcd members, three mariadbd (db1 master, db2 and
 * db3 slaves) and three `tungsten-manager` processes on the mysql driver, one beside each server,
 * each reaching etcd through its own TCP proxy (test/helpers/manager-group.ts). Lease 3 s, samples
 * every 0.5 s. What is checked is what an operator and the databases see: each member's REST API
 * over HTTP, `@@read_only` and replication on the servers, and the leader key and state in etcd.
 *
 * Faults: election and a control call taken by a follower; kill -9 of the coordinator; the
 * coordinator frozen past its lease while the master dies, then thawed; one etcd member killed;
 * etcd's majority lost (then the master's server stopped too); the master's manager cut off from
 * etcd but not from the servers; a rolling restart. Throughout, one poller per server checks that
 * at most one server accepts writes at any moment.
 *
 * One set-up for the file (etcd, MariaDB, the proxies); every test starts from a group that has
 * never seen anything (env.reset(): managers killed, etcd whole, servers reset, a new etcd prefix,
 * managers started with db2 the coordinator unless a test says otherwise).
 */
import { titleOrSkipReason } from '../helpers/processes.js';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startWriter, waitForReplicas, writtenIds, type Writer } from '../helpers/mariadb.js';
import { watchServers } from '../helpers/mariadb-chaos.js';
import {
  API_PASSWORD,
  API_USER,
  groupPrerequisitesMissing,
  MEMBER_NAMES,
  SERVICE,
  skipWithoutGroup,
  startManagerGroup,
  waitUntil,
  type GroupEnv,
} from '../helpers/manager-group.js';

const CCTRL_BIN = path.resolve(import.meta.dirname, '../../dist/src/cli/cctrl.js');
const TTL_MS = 3000;
/** Each test's own deadline (its reset runs in beforeEach, under the hook timeout). */
const TEST_TIMEOUT_MS = 90_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function measured(what: string, figures: Record<string, unknown>): void {
  console.log(`[measured] ${JSON.stringify({ what, ...figures })}`);
}

const title = titleOrSkipReason('manager group on real etcd, MariaDB and tungsten-manager processes', skipWithoutGroup ? groupPrerequisitesMissing() : null);

describe.skipIf(skipWithoutGroup)(title, () => {
  let env: GroupEnv;
  const writers: Writer[] = [];
  const watchers: Array<{ stop(): Promise<unknown> }> = [];

  /** A writer that the test's end stops even when the test fails. */
  function writer(): Writer {
    const w = startWriter(env.db, { statementTimeoutMs: 1500 });
    writers.push(w);
    return w;
  }

  /**
   * One poller per server (test/helpers/mariadb-chaos.ts): every 100 ms, the servers that accept
   * writes (running, and their last two answers both read_only=0). Any moment with two is kept.
   */
  function splitBrainWatch() {
    const servers = watchServers(env.db);
    const moments: Array<{ at: string; writers: string[] }> = [];
    const writersSeen = new Set<string>();
    let watching = true;
    const loop = (async () => {
      while (watching) {
        const writable = servers.snapshot().filter((s) => s.acceptsWrites).map((s) => s.name);
        for (const w of writable) writersSeen.add(w);
        if (writable.length > 1) moments.push({ at: new Date().toISOString(), writers: writable });
        await sleep(100);
      }
    })();
    const handle = {
      async stop() {
        if (!watching) return { moments, writersSeen: [...writersSeen] };
        watching = false;
        await loop;
        await servers.stop();
        return { moments, writersSeen: [...writersSeen] };
      },
    };
    watchers.push(handle);
    return handle;
  }

  const readOnly = (name: string) => env.db.readOnly(name, 1500);

  async function history(name: string): Promise<Array<{ taskId: string; operation: string; state: string; requestedBy: string; taskResult: any; startTime: string; endTime: string | null; steps: Array<{ time: string; line: string }> }>> {
    const r = await env.api(name, `/api/v2/manager/service/${SERVICE}/history?limit=100`);
    expect(r.status).toBe(200);
    return r.json.payload.tasks;
  }

  async function failoversOn(name: string) {
    return (await history(name)).filter((t) => t.operation.startsWith('failover'));
  }

  /** Lines of a member's log (since `from`) matching `re`. */
  function logLines(name: string, re: RegExp, from?: number): string[] {
    return env.manager(name).log(from).split('\n').filter((l) => re.test(l));
  }

  /** Every answering member names `coordinator` and lists the three members; every status shows `master`. */
  async function everyoneAgrees(coordinator: string, master: string, names: readonly string[] = MEMBER_NAMES): Promise<void> {
    let seen: Record<string, unknown> = {};
    await waitUntil(`every member to name ${coordinator} coordinator and ${master} master`, 20_000, async () => {
      seen = {};
      for (const n of names) {
        const s = await env.status(n);
        const m = s ? await env.masterOf(n) : null;
        seen[n] = s ? { isCoordinator: s.isCoordinator, coordinator: s.group?.coordinator, quorum: s.group?.quorum, master: m, lastError: s.group?.lastError } : 'no answer';
      }
      return names.every((n) => {
        const v = seen[n] as { isCoordinator: boolean; coordinator: string; master: string } | string;
        return typeof v !== 'string' && v.coordinator === coordinator && v.isCoordinator === (n === coordinator) && v.master === master;
      });
    }, 100).catch((e: Error) => {
      throw new Error(`${e.message}: ${JSON.stringify(seen)}`);
    });
  }

  beforeAll(async () => {
    env = await startManagerGroup({ ttlSeconds: TTL_MS / 1000, samplePeriodSeconds: 0.5 });
  });
  beforeEach(async () => {
    await env.reset();
  });
  afterEach(async (ctx) => {
    await Promise.all(writers.splice(0).map((w) => w.stop()));
    await Promise.all(watchers.splice(0).map((w) => w.stop()));
    if (ctx.task.result?.state === 'fail') console.log(env.logTails(60));
  });
  afterAll(async () => {
    await env?.destroy();
  }, TEST_TIMEOUT_MS);

  it('elects exactly one coordinator that every member names; a switch sent to a follower is carried out by the coordinator', async () => {
    // This test starts the three at once: a real race for the leader key.
    await env.reset({ first: null });
    const coordinator = await env.waitForOneCoordinator();
    const statuses = await Promise.all(MEMBER_NAMES.map((n) => env.status(n)));
    expect(statuses.filter((s) => s.isCoordinator).map((s) => s.group.self)).toEqual([coordinator]);
    for (const s of statuses) {
      expect(s.coordinator).toBe(coordinator);
      expect(s.group).toMatchObject({ kind: 'etcd', quorum: true, coordinator, leaseTtlSeconds: 3 });
    }
    for (const n of MEMBER_NAMES) {
      const r = await env.api(n, `/api/v2/manager/service/${SERVICE}/members`);
      const members = r.json.payload.members as Array<{ name: string; coordinator: boolean; datasource: string; apiUrl: string }>;
      expect(members.map((m) => m.name)).toEqual(['db1', 'db2', 'db3']);
      expect(members.filter((m) => m.coordinator).map((m) => m.name)).toEqual([coordinator]);
      expect(members.map((m) => m.apiUrl)).toEqual(env.managers.map((m) => m.url));
      expect(members.map((m) => m.datasource)).toEqual(['db1', 'db2', 'db3']);
    }
    const view = await env.etcdView();
    expect(view.leader?.name).toBe(coordinator);
    expect(view.members).toEqual(['db1', 'db2', 'db3']);
    expect(statuses.every((s) => s.group.term === view.leader!.createRevision)).toBe(true);

    const follower = MEMBER_NAMES.find((n) => n !== coordinator)!;
    const target = coordinator === 'db2' ? 'db3' : 'db2';
    const started = await env.control(follower, 'switch', { target });
    expect(started.state).toBe('in_progress');
    const task = await env.waitTask(follower, started.taskId);
    expect(task.state, JSON.stringify(task.steps)).toBe('complete');
    expect(task.taskResult).toEqual({ newPrimary: target, oldPrimary: 'db1' });
    const audit = env.manager(coordinator).audit().find((a) => a.taskId === started.taskId);
    expect(audit).toMatchObject({ operation: `switch to ${target}`, via: follower, user: API_USER });
    // The follower only passed it on: its own audit log has no record of it.
    expect(env.manager(follower).audit().filter((a) => a.taskId === started.taskId)).toEqual([]);
    expect(await readOnly(target)).toBe(false);
    expect(await readOnly('db1')).toBe(true);
    await everyoneAgrees(coordinator, target);
    expect((await env.etcdView()).state?.master).toBe(target);
  }, TEST_TIMEOUT_MS);

  it('kill -9 of the coordinator: another takes over within TTL + 1 s, nothing fails over, and a switch then works', async () => {
    const watch = splitBrainWatch();
    const w = writer();
    await waitUntil('writes on db1', 10_000, () => w.progress().acknowledged > 20);
    const before = await env.etcdView();
    expect(before.leader?.name).toBe('db2');
    const killedAt = Date.now();
    await env.manager('db2').kill9();
    const successor = await waitUntil('another member to act as coordinator', 15_000, async () => {
      const { acting } = await env.coordinators(['db1', 'db3']);
      return acting.length === 1 ? acting[0] : null;
    }, 25);
    const takeoverMs = Date.now() - killedAt;
    const after = await env.etcdView();
    measured('group-takeover-after-kill9', { ttlMs: TTL_MS, takeoverMs, successor });
    expect(after.leader?.name).toBe(successor);
    expect(after.leader!.createRevision).toBeGreaterThan(before.leader!.createRevision);
    expect(takeoverMs).toBeLessThanOrEqual(TTL_MS + 1000);
    await everyoneAgrees(successor, 'db1', ['db1', 'db3']);
    // Longer than a failover of the master would take ((threshold + 1) x period), had anything looked failed.
    await sleep((env.failThreshold + 1) * env.samplePeriodSeconds * 1000 + 1000);
    expect(await failoversOn(successor)).toEqual([]);
    expect(await readOnly('db1')).toBe(false);
    expect(await readOnly('db2')).toBe(true);
    expect(await readOnly('db3')).toBe(true);
    const members = (await env.api(successor, `/api/v2/manager/service/${SERVICE}/members`)).json.payload.members;
    expect(members.map((m: { name: string }) => m.name)).toEqual(['db1', 'db3']);

    const started = await env.control(successor === 'db1' ? 'db3' : 'db1', 'switch', { target: 'db3' });
    const task = await env.waitTask(successor, started.taskId);
    expect(task.state, JSON.stringify(task.steps)).toBe('complete');
    expect(task.taskResult).toEqual({ newPrimary: 'db3', oldPrimary: 'db1' });
    await waitUntil('writes on db3', 10_000, () => w.progress().lastServer === 'db3');
    const report = await w.stop();
    const { moments } = await watch.stop();
    expect(moments).toEqual([]);
    expect(report.servers.map((s) => s.name)).toEqual(['db1', 'db3']);
  }, TEST_TIMEOUT_MS);

  it('a member started again at once after a kill -9 waits for its old lease to end, then joins (it does not exit)', async () => {
    const m = env.manager('db3');
    await m.kill9();
    const from = m.fullLog().length;
    await m.start();
    expect(m.log(from)).toMatch(/member 'db3' is still registered from a previous run: waiting for its lease to end/);
    await waitUntil('db3 listed again by the coordinator, with its API', 10_000, async () => {
      const members = (await env.api('db2', `/api/v2/manager/service/${SERVICE}/members`)).json?.payload?.members as Array<{ name: string; apiUrl: string | null }> | undefined;
      return members?.some((x) => x.name === 'db3' && x.apiUrl === m.url) ?? false;
    });
    expect(m.running()).toBe(true);
    expect((await env.status('db3'))?.group?.coordinator).toBe('db2');
  }, TEST_TIMEOUT_MS);

  it('the coordinator frozen past its lease while the master dies: the new coordinator fails over; thawed, the old one neither promotes, commits nor fences', async () => {
    const watch = splitBrainWatch();
    const old = env.manager('db2');
    const before = await env.etcdView();
    expect(before.leader?.name).toBe('db2');
    const frozenAt = Date.now();
    old.freeze();
    await env.db.kill9('db1');
    const successor = await env.waitForOneCoordinator(15_000, ['db1', 'db3']);
    const electedMs = Date.now() - frozenAt;
    const failover = await waitUntil('the failover by the new coordinator', 30_000, async () =>
      (await failoversOn(successor)).find((t) => t.state !== 'in_progress'),
    100);
    const failoverMs = Date.now() - frozenAt;
    expect(failover.state, JSON.stringify(failover)).toBe('complete');
    // db2 by precedence: the server beside the frozen manager, which must not fence it when it wakes.
    expect(failover.taskResult).toMatchObject({ newPrimary: 'db2', oldPrimary: 'db1' });
    expect(failover.requestedBy).toBe('manager');
    expect(await readOnly('db2')).toBe(false);
    measured('group-failover-with-coordinator-frozen', { ttlMs: TTL_MS, electedMs, killToFailoverDoneMs: failoverMs, successor });

    const settledView = await env.etcdView();
    expect(settledView.leader).toMatchObject({ name: successor });
    expect(settledView.state?.master).toBe('db2');
    // Every change to the group's keys from the thaw on.
    const events: Array<{ type: string; key: string; createRevision: number; modRevision: number; value: string }> = [];
    const base = `${env.prefix()}/${SERVICE}/`;
    const watcher = env.etcdClient().watch(base, settledView.revision + 1, (evs) => {
      for (const e of evs) events.push({ type: e.type, key: e.kv.key.slice(base.length), createRevision: e.kv.createRevision, modRevision: e.kv.modRevision, value: e.kv.value });
    }, () => undefined);
    await sleep(200);
    const logFrom = old.fullLog().length;
    const thawedAt = Date.now();
    old.thaw();
    // For 6 s after the thaw, the new master stays writable and the other slave read-only.
    const samples: Array<{ db2: boolean | null; db3: boolean | null }> = [];
    while (Date.now() - thawedAt < 6000) {
      samples.push({ db2: await readOnly('db2'), db3: await readOnly('db3') });
      await sleep(100);
    }
    watcher.close();
    // A sample a loaded machine left unanswered (null) proves nothing either way; most must answer.
    expect(samples.filter((s) => s.db2 === true)).toEqual([]);
    expect(samples.filter((s) => s.db3 === false)).toEqual([]);
    expect(samples.filter((s) => s.db2 !== null && s.db3 !== null).length).toBeGreaterThan(samples.length / 2);

    const woke = old.log(logFrom);
    expect(woke.split('\n').filter((l) => /is now the coordinator|PROMOT|SPLIT-BRAIN GUARD: made|FAILSAFE: made|allowing writes|FAILING OVER/.test(l))).toEqual([]);
    const refused = woke.split('\n').filter((l) => /commit refused/.test(l));
    measured('group-thawed-coordinator', { refusedCommits: refused.length, etcdEventsAfterThaw: events.map((e) => `${e.type} ${e.key}@${e.modRevision}`) });
    // The leader key is the new coordinator's, with its term, from before the thaw to now.
    expect(events.filter((e) => e.key === 'leader')).toEqual([]);
    const now = await env.etcdView();
    expect(now.leader).toEqual(settledView.leader);
    expect(now.state?.master).toBe('db2');
    expect(now.state?.tasks.filter((t) => t.operation.startsWith('failover')).map((t) => t.taskId)).toEqual([failover.taskId]);
    // The thawed member follows: it names the new coordinator and shows db2 the master.
    await everyoneAgrees(successor, 'db2');
    expect(await failoversOn(successor)).toHaveLength(1);
    const { moments, writersSeen } = await watch.stop();
    expect(moments).toEqual([]);
    // db1 may have died before the poller saw it writable twice.
    expect(writersSeen).toContain('db2');
    expect(writersSeen.filter((n) => n !== 'db1' && n !== 'db2')).toEqual([]);
  }, TEST_TIMEOUT_MS);

  it('one etcd member killed, a follower then the raft leader: no failover, one coordinator, writes keep working', async () => {
    const watch = splitBrainWatch();
    const w = writer();
    await waitUntil('writes on db1', 10_000, () => w.progress().acknowledged > 20);

    /** Kills one etcd member and watches the group for two TTLs: who acts, what the managers logged. */
    async function killAndWatch(member: string) {
      const logFrom = Object.fromEntries(MEMBER_NAMES.map((n) => [n, env.manager(n).fullLog().length]));
      const from = Date.now();
      await env.etcd.kill(member);
      const acting: string[][] = [];
      while (Date.now() - from < 2 * TTL_MS) {
        const now = (await env.coordinators()).acting;
        if (acting.length === 0 || acting.at(-1)!.join() !== now.join()) acting.push(now);
        await sleep(100);
      }
      const coordinator = await env.waitForOneCoordinator();
      const to = Date.now();
      const lines = MEMBER_NAMES.flatMap((n) => logLines(n, /FAILSAFE|no longer the coordinator|could not renew|is now the coordinator/, logFrom[n]).map((l) => `${n}: ${l}`));
      return { member, from, to, acting, coordinator, lines };
    }
    /** The longest time without an acknowledged write between two moments. */
    const longestGap = (acks: number[], from: number, to: number) => {
      const inside = [from, ...acks.filter((t) => t > from && t < to), to];
      return Math.max(...inside.slice(1).map((t, i) => t - inside[i]!));
    };

    const leader = (await env.etcd.leader())!;
    expect(leader).not.toBeNull();
    const follower = env.etcd.members.map((m) => m.name).find((n) => n !== leader)!;
    const a = await killAndWatch(follower);
    await env.etcd.start(follower);
    const newLeader = (await env.etcd.leader())!;
    const b = await killAndWatch(newLeader);
    const report = await w.stop();
    const { moments, writersSeen } = await watch.stop();
    const gapA = longestGap(report.acknowledgedAt, a.from, a.to);
    const gapB = longestGap(report.acknowledgedAt, b.from, b.to);
    measured('group-etcd-member-killed', {
      follower: { killed: a.member, coordinatorsSeen: a.acting, longestWriteGapMs: gapA, lines: a.lines },
      raftLeader: { killed: b.member, coordinatorsSeen: b.acting, longestWriteGapMs: gapB, lines: b.lines },
    });
    expect(moments).toEqual([]);
    expect(writersSeen).toEqual(['db1']);
    expect(report.servers.map((s) => s.name)).toEqual(['db1']);
    for (const n of MEMBER_NAMES) expect(await failoversOn(n)).toEqual([]);
    // A follower of etcd dies: nothing at all changes.
    expect(a.acting).toEqual([['db2']]);
    expect(a.lines).toEqual([]);
    expect(gapA).toBeLessThan(1000);
    // The raft leader dies: etcd elects another (its election timeout is 1 s) and the group goes on,
    // the same coordinator or one elected again, with no failover; writes stop at most briefly.
    expect(b.coordinator).toBe('db2');
    // One failed round (etcd electing a leader) is not a lost group. With this file's 3 s lease the
    // acting window (2 s) only just covers etcd's election (1 s) plus a client timeout: on a loaded
    // machine the master may be fenced briefly (docs/group.md: a TTL of 10 s has room). Measured, not asserted.
    const fencedBriefly = b.lines.some((l) => /FAILSAFE/.test(l));
    measured('group-etcd-leader-killed-failsafe', { fencedBriefly });
    // A fenced master gets its writes back once it has been read-only for longer than a lease.
    expect(gapB).toBeLessThan(fencedBriefly ? 4 * TTL_MS : TTL_MS);
    await everyoneAgrees('db2', 'db1');
    await waitUntil('db1 writable', 4 * TTL_MS, async () => !(await readOnly('db1')));
  }, TEST_TIMEOUT_MS);

  it('etcd majority lost: nobody acts, the master’s own manager fences it (FAILSAFE-SHUN) within its lease, nothing is promoted even when the master stops; etcd back: one coordinator, AUTOMATIC fails over', async () => {
    const watch = splitBrainWatch();
    const [a, b] = [env.etcd.members[0]!.name, env.etcd.members[1]!.name];
    const lostAt = Date.now();
    await Promise.all([env.etcd.kill(a), env.etcd.kill(b)]);
    await waitUntil('db1 read-only', TTL_MS + 3000, async () => (await readOnly('db1')) === true, 25);
    const fencedMs = Date.now() - lostAt;
    await waitUntil('no member acting', TTL_MS + 2000, async () => (await env.coordinators()).acting.length === 0, 100);
    const noneActingMs = Date.now() - lostAt;
    measured('group-majority-lost', { ttlMs: TTL_MS, lossToFailsafeFenceMs: fencedMs, lossToNoCoordinatorMs: noneActingMs });
    // The member fences at two thirds of its lease (2 s here); what is measured also holds the kills and the
    // probe's own round trips, which took 1.4 s more with two suites on the machine at once. What safety needs
    // is that nothing is promoted meanwhile, checked below.
    expect(fencedMs).toBeLessThan(TTL_MS + 1000);
    const own = (await env.api('db1', `/api/v2/manager/status/service/${SERVICE}/datasource/db1`)).json.payload;
    expect(own).toMatchObject({ state: 'SHUNNED', lastShunReason: 'FAILSAFE-SHUN' });
    expect(logLines('db1', /FAILSAFE: made 'db1@alpha' read-only|FAILSAFE: made db1@alpha read-only/).length).toBeGreaterThan(0);
    const ls = spawnSync(process.execPath, [CCTRL_BIN, '--manager', env.manager('db1').url, '--user', API_USER, '--password', API_PASSWORD, '-e', 'ls'], { encoding: 'utf8', timeout: 20_000 });
    expect(ls.stdout, ls.stderr).toMatch(/db1\(master:SHUNNED\(FAILSAFE-SHUN/);
    for (const n of MEMBER_NAMES) expect((await env.status(n)).group.quorum).toBe(false);
    // The coordinator stops acting at the moment its manager's failsafe fence comes (the same acting
    // window): it never gives the fenced master its writes back.
    expect(logLines('db2', /master db1@alpha answers read-only: allowing writes/).filter((l) => Date.parse(l.slice(0, 24)) > lostAt)).toEqual([]);

    // The master's server stops too: with no majority, nobody may promote anything.
    await env.db.shutdown('db1');
    await sleep(3 * TTL_MS);
    expect((await env.coordinators()).acting).toEqual([]);
    expect(await readOnly('db2')).toBe(true);
    expect(await readOnly('db3')).toBe(true);
    for (const n of MEMBER_NAMES) {
      expect(logLines(n, /PROMOT|is now the coordinator of|FAILOVER TO/, 0).filter((l) => Date.parse(l.slice(0, 24)) > lostAt)).toEqual([]);
    }

    // etcd back: one coordinator, and AUTOMATIC fails the stopped master over to db2.
    const backAt = Date.now();
    await Promise.all([env.etcd.start(a), env.etcd.start(b)]);
    const coordinator = await env.waitForOneCoordinator(20_000);
    const regainedMs = Date.now() - backAt;
    const failover = await waitUntil('a failover once the group is back', 30_000, async () => (await failoversOn(coordinator)).find((t) => t.state !== 'in_progress'), 100);
    expect(failover.state, JSON.stringify(failover.steps)).toBe('complete');
    expect(failover.taskResult).toMatchObject({ newPrimary: 'db2', oldPrimary: 'db1' });
    const failedOverMs = Date.now() - backAt;
    measured('group-majority-back', { etcdBackToOneCoordinatorMs: regainedMs, etcdBackToFailoverDoneMs: failedOverMs, coordinator });
    expect(await readOnly('db2')).toBe(false);
    await everyoneAgrees(coordinator, 'db2');
    expect((await env.etcdView()).state?.master).toBe('db2');
    const { moments } = await watch.stop();
    expect(moments).toEqual([]);
  }, TEST_TIMEOUT_MS);

  it('the master’s manager cut off from etcd (not from the servers): it fences its master, the coordinator fails over, never two writable servers; healed, everyone agrees', async () => {
    const watch = splitBrainWatch();
    const w = writer();
    await waitUntil('writes on db1', 10_000, () => w.progress().acknowledged > 20);
    const cutAt = Date.now();
    await env.manager('db1').proxy.cut();
    await waitUntil('db1 read-only', TTL_MS + 3000, async () => (await readOnly('db1')) === true, 25);
    const fencedMs = Date.now() - cutAt;
    // The member fences at two thirds of its lease (2 s here); what is measured also holds the kills and the
    // probe's own round trips, which took 1.4 s more with two suites on the machine at once. What safety needs
    // is that nothing is promoted meanwhile, checked below.
    expect(fencedMs).toBeLessThan(TTL_MS + 1000);
    const own = (await env.api('db1', `/api/v2/manager/status/service/${SERVICE}/datasource/db1`)).json.payload;
    expect(own).toMatchObject({ state: 'SHUNNED', lastShunReason: 'FAILSAFE-SHUN' });
    expect((await env.status('db1')).group.quorum).toBe(false);
    const failover = await waitUntil('the failover on the other side', 30_000, async () => (await failoversOn('db2')).find((t) => t.state !== 'in_progress'), 100);
    const failoverMs = Date.now() - cutAt;
    expect(failover.state, JSON.stringify(failover.steps)).toBe('complete');
    expect(failover.taskResult).toMatchObject({ newPrimary: 'db2', oldPrimary: 'db1' });
    await waitUntil('writes on db2', 10_000, () => w.progress().lastServer === 'db2');
    const fencedAt = cutAt + fencedMs;
    measured('group-master-manager-partitioned', {
      ttlMs: TTL_MS,
      cutToFailsafeFenceMs: fencedMs,
      cutToFailoverDoneMs: failoverMs,
      mayLoseTransactions: failover.taskResult.mayLoseTransactions,
    });
    // Between the failsafe fence and the failover the coordinator still sees db1's member registered
    // (its lease has not ended in etcd): it must not give the fenced master its writes back.
    expect(logLines('db2', /master db1@alpha answers read-only: allowing writes/).filter((l) => Date.parse(l.slice(0, 24)) > fencedAt)).toEqual([]);
    // The cut member never acted meanwhile.
    expect(logLines('db1', /is now the coordinator/).filter((l) => Date.parse(l.slice(0, 24)) > cutAt)).toEqual([]);

    const healedAt = Date.now();
    await env.manager('db1').proxy.heal();
    await everyoneAgrees('db2', 'db2');
    measured('group-heal', { healToAgreementMs: Date.now() - healedAt });
    // The old master stays read-only once its manager is back.
    for (let i = 0; i < 10; i++) {
      expect(await readOnly('db1')).toBe(true);
      await sleep(200);
    }
    const report = await w.stop();
    const { moments } = await watch.stop();
    expect(report.acknowledgedAt.filter((t, i) => t > fencedAt && report.acknowledgedBy[i] === 'db1')).toEqual([]);
    expect(moments).toEqual([]);
    expect(report.servers.map((s) => s.name)).toEqual(['db1', 'db2']);
    // db1 was fenced before db2 was promoted: db2 has every write db1 acknowledged.
    await waitForReplicas(env.db, 'db2', ['db3']);
    const onDb2 = await writtenIds(env.db, 'db2');
    expect(report.acknowledged.filter((id) => !onDb2.has(id))).toEqual([]);
  }, TEST_TIMEOUT_MS);

  it('a rolling restart (SIGTERM, start, one member at a time): no failover, a control call works after each step', async () => {
    const watch = splitBrainWatch();
    const w = writer();
    await waitUntil('writes on db1', 10_000, () => w.progress().acknowledged > 20);
    const steps: Array<Record<string, unknown>> = [];
    for (const name of MEMBER_NAMES) {
      const m = env.manager(name);
      const stoppedAt = Date.now();
      const exit = await m.stop();
      expect(exit).toEqual({ code: 0, signal: null });
      const others = MEMBER_NAMES.filter((n) => n !== name);
      const during = await env.waitForOneCoordinator(15_000, others);
      await m.start();
      const coordinator = await env.waitForOneCoordinator(15_000);
      const task = await env.waitTask(name, (await env.control(name, 'heartbeat')).taskId, 20_000);
      expect(task.state, JSON.stringify(task.steps)).toBe('complete');
      steps.push({ restarted: name, coordinatorWhileDown: during, coordinatorAfter: coordinator, stepMs: Date.now() - stoppedAt });
      expect(await readOnly('db1')).toBe(false);
    }
    measured('group-rolling-restart', { steps });
    const coordinator = await env.waitForOneCoordinator();
    for (const n of MEMBER_NAMES) expect(await failoversOn(n)).toEqual([]);
    await everyoneAgrees(coordinator, 'db1');
    const report = await w.stop();
    const { moments } = await watch.stop();
    expect(moments).toEqual([]);
    expect(report.servers.map((s) => s.name)).toEqual(['db1']);
    expect(MEMBER_NAMES.flatMap((n) => logLines(n, /FAILSAFE: made/))).toEqual([]);
  }, TEST_TIMEOUT_MS);
});
