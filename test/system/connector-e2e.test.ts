/**
 * The connector end to end, every piece real: three mariadbd (test/helpers/mariadb.ts), one
 * `tungsten-manager` process on the mysql driver (0.5 s sample period), one `tungsten-connector`
 * process following it, and the application through the connector: sysbench (oltp_read_write,
 * reconnecting on errors, as load) and a writer that opens a new connection for every write and
 * records every acknowledgement.
 *
 * Across `switch`, `switch to HOST` and an automatic failover (kill -9 of the master's mariadbd):
 * - a connection opened through the connector once the hold began never fails (it waits, then
 *   reaches the new master);
 * - every acknowledged write is on the new master (a failover: but what the task says may be lost);
 * - no write reaches a server that is not the master at that moment: each row carries the
 *   @@server_id of the server that took it (in the INSERT itself; the binlog is ROW, so a slave
 *   keeps the master's value) and its commit time, checked against the task's step times (the old
 *   master takes nothing after its fence; the new one nothing before its promotion);
 * - `cctrl -e ls` lists the connector under ROUTERS as connector@HOST[PID](ONLINE, created=N,
 *   active=M); the switch's steps show it holding and resuming.
 * Then: the connector killed and restarted (ONLINE again, routes to the master); the manager killed
 * (the connector goes ON-HOLD: new connections wait; OFFLINE after --offline-after: refused with
 * a MySQL error) and restarted from its state dir (ONLINE again).
 *
 * Skipped with the reason when mariadbd or sysbench is missing, failed under CI=true.
 */
import { titleOrSkipReason } from '../helpers/processes.js';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import path from 'node:path';
import mysql from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TaskStatus } from '../../src/manager/model.js';
import { spawnConnector, sysbenchMissing, sysbenchPrepare, sysbenchRun, type ConnectorProcess } from '../helpers/connector.js';
import { spawnManager, type ManagerProcess } from '../helpers/manager-process.js';
import { APP_PASSWORD, APP_USER, datasourceProperties, mariadbMissing, MANAGER_PASSWORD, startMariaDbCluster, waitForReplicas, type MariaDbCluster } from '../helpers/mariadb.js';

const SERVICE = 'alpha';
const API_USER = 'e2e-admin';
const API_PASSWORD = 'e2e-api-pw-3';
const OFFLINE_AFTER_S = 3;
const CCTRL = path.resolve(import.meta.dirname, '../../dist/src/cli/cctrl.js');

const missing = mariadbMissing() ?? sysbenchMissing();
if (missing && process.env.CI === 'true') throw new Error(`the connector end-to-end tests cannot run under CI: ${missing}`);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitUntil<T>(what: string, timeoutMs: number, probe: () => T | null | undefined | false | Promise<T | null | undefined | false>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown = null;
  for (;;) {
    try {
      const v = await probe();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? ` (last error: ${(last as Error).message})` : ''}`);
    await sleep(50);
  }
}

/** One write through the connector: a new connection, an INSERT that records the server's id. */
interface WriteAck {
  id: number;
  serverId: number;
  connectedAt: number;
  ackedAt: number;
}
interface WriteFailure {
  id: number;
  /** Where it failed: opening the connection, or the INSERT on an open one. */
  stage: 'connect' | 'insert';
  startedAt: number;
  connectedAt: number | null;
  at: number;
  code: string;
  message: string;
}

/** A writer opening a new connection through the connector for every write. */
function startWriter(port: number, firstId: number) {
  const acks: WriteAck[] = [];
  const failures: WriteFailure[] = [];
  let stopping = false;
  let nextId = firstId;
  const loop = (async () => {
    while (!stopping) {
      const id = nextId++;
      const startedAt = Date.now();
      let conn: mysql.Connection | null = null;
      let connectedAt: number | null = null;
      try {
        conn = await mysql.createConnection({ host: '127.0.0.1', port, user: APP_USER, password: APP_PASSWORD, database: 'app', connectTimeout: 20_000 });
        connectedAt = Date.now();
        const [rows] = await conn.query<mysql.RowDataPacket[]>({ sql: 'INSERT INTO sw (id, server_id) VALUES (?, @@server_id) RETURNING server_id', values: [id], timeout: 10_000 });
        acks.push({ id, serverId: Number(rows[0]!.server_id), connectedAt, ackedAt: Date.now() });
      } catch (e) {
        const err = e as { code?: string; message?: string };
        failures.push({ id, stage: connectedAt === null ? 'connect' : 'insert', startedAt, connectedAt, at: Date.now(), code: err.code ?? '', message: err.message ?? String(e) });
        await sleep(20);
      } finally {
        conn?.destroy();
      }
    }
  })();
  return {
    acks,
    failures,
    async stop() {
      stopping = true;
      await loop;
      return { acks, failures };
    },
  };
}

/** Deadlocks between sysbench's own threads are the application's business, not the connector's: ignored (and only they). */
const DEADLOCKS = '1213,1205';

/** sysbench runs of 1 s through the connector, one after another, until stopped: each opens its own connections. */
function sysbenchLoop(port: number) {
  const runs: Array<{ startedAt: number; code: number | null; tps: number; stderr: string }> = [];
  let stopping = false;
  const loop = (async () => {
    while (!stopping) {
      const startedAt = Date.now();
      const r = await sysbenchRun('oltp_read_write', { host: '127.0.0.1', port, user: APP_USER, password: APP_PASSWORD, db: 'app' }, { threads: 2, seconds: 1, tableSize: 2000, ignoreErrors: DEADLOCKS }).done.catch(
        (e: Error) => ({ code: -1, tps: Number.NaN, stderr: e.message, stdout: '' }),
      );
      runs.push({ startedAt, code: r.code, tps: r.tps, stderr: `${r.stderr}${r.code !== 0 ? r.stdout : ''}` });
    }
  })();
  return {
    /** The runs finished so far. */
    runs,
    async stop() {
      stopping = true;
      await loop;
      return runs;
    },
  };
}

describe.skipIf(missing !== null)(titleOrSkipReason('tungsten-connector end to end', missing), () => {
  let cluster: MariaDbCluster;
  let stateDir: string;
  let manager: ManagerProcess | null = null;
  let managerUrl = '';
  let managerPort = 0;
  let connector: ConnectorProcess | null = null;
  let port = 0;
  let nextWriterId = 1;

  const managerArgs = (p: number) => [
    '--bind', '127.0.0.1', '--port', String(p), '--state-dir', stateDir,
    ...[
      `service.name=${SERVICE}`,
      'manager.driver=mysql',
      ...datasourceProperties(cluster),
      'mysql.user=tungsten',
      `mysql.password=${MANAGER_PASSWORD}`,
      'policy.liveness.samplePeriod=0.5',
      'policy.liveness.dbping.timeout=2',
      'policy.liveness.hostPing.timeout=1',
      'manager.operation.step.timeout=6',
    ].map((x) => `--property=${x}`),
  ];
  const apiEnv = { TUNGSTEN_API_USER: API_USER, TUNGSTEN_API_PASSWORD: API_PASSWORD };

  async function startManagerProcess(p: number): Promise<void> {
    manager = spawnManager(managerArgs(p), apiEnv);
    managerUrl = await manager.ready;
    managerPort = Number(new URL(managerUrl).port);
  }

  async function startConnector(): Promise<void> {
    connector = spawnConnector(
      ['--manager', managerUrl, '--service', SERVICE, '--listen', `127.0.0.1:${port}`, '--offline-after', String(OFFLINE_AFTER_S), '--switch-grace', '1', '--hold-timeout', '20'],
      apiEnv,
    );
    port = await connector.ready;
  }

  async function api<T = any>(method: 'GET' | 'POST', p: string, body?: unknown): Promise<T> {
    const res = await fetch(`${managerUrl}${p}`, {
      method,
      headers: { authorization: `Basic ${Buffer.from(`${API_USER}:${API_PASSWORD}`).toString('base64')}`, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`${method} ${p}: HTTP ${res.status} ${text.slice(0, 300)}`);
    return (JSON.parse(text) as { payload: T }).payload;
  }

  const status = async () => {
    const p = await api<{ datasourceDetails: Array<{ name: string; role: string; state: string; replicator?: { masterHost?: string; state?: string } }>; routers?: Array<{ name: string; pid: number; state: string }> }>('GET', `/api/v2/manager/status/service/${SERVICE}`);
    return { ...p, datasources: p.datasourceDetails };
  };
  const masterName = async () => (await status()).datasources.find((d) => d.role === 'master' && d.state === 'ONLINE')?.name ?? null;

  function cctrl(command: string): Promise<string> {
    return new Promise((res, rej) =>
      execFile(process.execPath, [CCTRL, '--manager', managerUrl, '--user', API_USER, '--password', API_PASSWORD, '-e', command], { timeout: 30_000 }, (e, out, err) =>
        e ? rej(new Error(`cctrl -e '${command}': ${e.message}\n${out}\n${err}`)) : res(out),
      ),
    );
  }

  const routerLine = (ls: string) => /connector@(\S+)\[(\d+)\]\((ONLINE|ON-HOLD|OFFLINE), created=(\d+), active=(\d+)\)/.exec(ls);

  async function runTask(request: { op: 'switch'; target?: string }): Promise<TaskStatus> {
    const started = await api<TaskStatus>('POST', `/api/v2/manager/control/service/${SERVICE}/switch`, request.target ? { target: request.target } : {});
    return waitUntil(`task ${started.taskId}`, 60_000, async () => {
      const t = await api<TaskStatus>('GET', `/api/v2/manager/task/${encodeURIComponent(started.taskId)}`);
      return t.state !== 'in_progress' ? t : null;
    });
  }

  /** Rows of app.sw as one server has them: id, the server id the INSERT recorded, commit time (ms since epoch, fractional). */
  async function rowsOn(name: string): Promise<Map<number, { serverId: number; at: number }>> {
    const rows = await cluster.rootQuery<Array<{ id: number; server_id: number; t: string }>>(name, 'SELECT id, server_id, UNIX_TIMESTAMP(written_at) AS t FROM app.sw');
    return new Map(rows.map((r) => [Number(r.id), { serverId: Number(r.server_id), at: Number(r.t) * 1000 }]));
  }

  const serverIdOf = (name: string) => cluster.server(name).serverId;
  const stepAt = (task: TaskStatus, re: RegExp) => {
    const s = task.steps.find((x) => re.test(x.line));
    if (!s) throw new Error(`task ${task.operation} has no step matching ${re}:\n${task.steps.map((x) => x.line).join('\n')}`);
    return Date.parse(s.time);
  };

  /**
   * No row taken by a server that was not the master then: the old master nothing after its
   * fence was done, the new one nothing before its promotion was, nobody else anything, in the
   * window of the task. Rows are read on the new master (every server's writes replicate there).
   */
  function expectOnlyTheMasterWrote(rows: Map<number, { serverId: number; at: number }>, task: TaskStatus, oldMaster: string, newMaster: string, fencedAt: number, promotedAt: number, since: number): void {
    const bad: string[] = [];
    for (const [id, r] of rows) {
      if (r.at < since) continue;
      if (r.serverId === serverIdOf(oldMaster) && r.at > fencedAt) bad.push(`id ${id} on ${oldMaster} at ${new Date(r.at).toISOString()}, after its fence (${new Date(fencedAt).toISOString()})`);
      if (r.serverId === serverIdOf(newMaster) && r.at < promotedAt) bad.push(`id ${id} on ${newMaster} at ${new Date(r.at).toISOString()}, before its promotion (${new Date(promotedAt).toISOString()})`);
      if (r.serverId !== serverIdOf(oldMaster) && r.serverId !== serverIdOf(newMaster) && r.at >= Date.parse(task.startTime)) bad.push(`id ${id} on server_id ${r.serverId}, never the master`);
    }
    expect(bad, task.steps.map((s) => `${s.time} ${s.line}`).join('\n')).toEqual([]);
  }

  beforeAll(async () => {
    cluster = await startMariaDbCluster();
    stateDir = mkdtempSync(path.join(tmpdir(), 'connector-e2e-state-'));
    await cluster.rootQuery('db1', 'CREATE TABLE app.sw (id BIGINT PRIMARY KEY, server_id INT NOT NULL, written_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)) ENGINE=InnoDB');
    await sysbenchPrepare('oltp_read_write', { socket: cluster.server('db1').socket, user: 'root', db: 'app' }, { tableSize: 2000 });
    await waitForReplicas(cluster);
    await startManagerProcess(0);
    await waitUntil('the manager to see db1 master and db2, db3 replicating', 30_000, async () => {
      const s = await status();
      return s.datasources.every((d) => d.state === 'ONLINE') && s.datasources.filter((d) => d.role === 'slave').every((d) => d.replicator?.masterHost === 'db1' && d.replicator.state === 'ONLINE');
    });
    await startConnector();
  }, 120_000);

  afterAll(async () => {
    await connector?.kill9();
    manager?.kill();
    await manager?.exited;
    await cluster?.stop();
    if (stateDir) rmSync(stateDir, { recursive: true, force: true });
  }, 60_000);

  it('cctrl ls lists the connector under ROUTERS as connector@HOST[PID](ONLINE, created=N, active=M)', async () => {
    const conn = await mysql.createConnection({ host: '127.0.0.1', port, user: APP_USER, password: APP_PASSWORD, database: 'app' });
    const [rows] = await conn.query<mysql.RowDataPacket[]>('SELECT @@server_id AS id');
    expect(Number(rows[0]!.id)).toBe(serverIdOf('db1'));
    const ls = await waitUntil('ls to show the connector with one active connection', 10_000, async () => {
      const out = await cctrl('ls');
      const m = routerLine(out);
      return m && m[5] === '1' ? out : null;
    });
    await conn.end();
    expect(ls).toMatch(/^ROUTERS:$/m);
    const m = routerLine(ls)!;
    expect(m[1]).toBe(hostname());
    expect(Number(m[2])).toBe(connector!.pid);
    expect(m[3]).toBe('ONLINE');
    expect(Number(m[4])).toBeGreaterThanOrEqual(1);
    // The ROUTERS section comes before DATASOURCES, in a box row.
    expect(ls.indexOf('ROUTERS:')).toBeLessThan(ls.indexOf('DATASOURCES:'));
    expect(ls).toMatch(/^\|connector@\S+\[\d+\]\(ONLINE, created=\d+, active=\d+\)\s+\|$/m);
  }, 30_000);

  async function switchUnderLoad(target: string | undefined, from: string): Promise<string> {
    const windowStart = Date.now();
    const writer = startWriter(port, nextWriterId);
    nextWriterId += 1_000_000;
    // sysbench as the application, one short run after another, each opening its own connections.
    const bench = sysbenchLoop(port);
    await waitUntil('writes acknowledged on the master before the switch', 20_000, () => writer.acks.filter((a) => a.serverId === serverIdOf(from)).length >= 30);
    const task = await runTask({ op: 'switch', target });
    expect(task.state, task.steps.map((s) => s.line).join('\n')).toBe('complete');
    expect(task.taskResult).toMatchObject({ oldPrimary: from, ...(target ? { newPrimary: target } : {}) });
    const to = String(task.taskResult!.newPrimary);
    expect(to).not.toBe(from);
    await waitUntil('writes acknowledged on the new master', 20_000, () => writer.acks.filter((a) => a.serverId === serverIdOf(to)).length >= 30);
    // The run under way at the hold may still go on (a loaded machine): wait for one opened after it.
    const heldAt = stepAt(task, new RegExp(`^CONNECTOR 'connector@${hostname()}' IS HOLDING$`));
    await waitUntil('a sysbench run opened after the hold, finished', 30_000, () => bench.runs.some((r) => r.startedAt >= heldAt));
    const { acks, failures } = await writer.stop();
    const runs = await bench.stop();

    // The step log: the connector told to hold, holding, resumed to the new master.
    const lines = task.steps.map((s) => s.line);
    const name = `connector@${hostname()}`;
    const holdAt = stepAt(task, /^CONNECTORS TOLD TO HOLD NEW CONNECTIONS \(ROUTES EPOCH \d+\): /);
    expect(lines.find((l) => l.startsWith('CONNECTORS TOLD TO HOLD'))).toContain(name);
    const holdingAt = stepAt(task, new RegExp(`^CONNECTOR '${name}' IS HOLDING$`));
    const fencedAt = stepAt(task, /^PURGED A TOTAL OF \d+ ACTIVE SESSIONS ON MASTER/);
    const promotedAt = stepAt(task, /^PUT THE NEW MASTER '.*' ONLINE$/);
    const resumedAt = stepAt(task, new RegExp(`^CONNECTORS RESUME TO '${to}@${SERVICE}' \\(ROUTES EPOCH \\d+\\): ${name}$`));
    expect(holdAt).toBeLessThanOrEqual(holdingAt);
    expect(holdingAt).toBeLessThanOrEqual(fencedAt);
    expect(promotedAt).toBeLessThanOrEqual(resumedAt);
    expect(lines.some((l) => /DID NOT CONFIRM THE HOLD/.test(l))).toBe(false);

    // New connections never fail: no connection attempt failed at all, and the only failed writes
    // are INSERTs on connections opened to the old master before the hold (cut by its fence).
    expect(failures.filter((f) => f.stage === 'connect')).toEqual([]);
    expect(failures.filter((f) => f.connectedAt !== null && f.connectedAt >= holdingAt)).toEqual([]);
    // Every acknowledged write went to the master of its moment and is on the new master.
    await waitForReplicas(cluster, to);
    const rows = await rowsOn(to);
    const lost = acks.filter((a) => !rows.has(a.id)).map((a) => a.id);
    expect(lost).toEqual([]);
    for (const a of acks) expect(rows.get(a.id)!.serverId).toBe(a.serverId);
    expect(acks.every((a) => a.serverId === serverIdOf(from) || a.serverId === serverIdOf(to))).toBe(true);
    expectOnlyTheMasterWrote(rows, task, from, to, fencedAt, promotedAt, windowStart);
    // sysbench: every run whose connections were opened once the connector held succeeded.
    const lateRuns = runs.filter((r) => r.startedAt >= holdingAt);
    expect(lateRuns.filter((r) => r.code !== 0).map((r) => `${r.code}: ${r.stderr.trim().split('\n').slice(-3).join(' | ')}`)).toEqual([]);
    expect(lateRuns.length).toBeGreaterThan(0);
    const tps = runs.filter((r) => r.code === 0).map((r) => r.tps);
    // The longest time no write was acknowledged, for the record.
    let gap = 0;
    for (let i = 1; i < acks.length; i++) gap = Math.max(gap, acks[i]!.ackedAt - acks[i - 1]!.ackedAt);
    console.log(`[connector-e2e] switch ${from} -> ${to}: ${acks.length} writes acknowledged, ${failures.length} cut by the fence, longest gap ${gap} ms, hold to resume ${resumedAt - holdAt} ms; sysbench ${runs.length} runs (${lateRuns.length} opened after the hold, all ok; ${runs.filter((r) => r.code !== 0).length} cut by the fence), median ${tps.sort((a, b) => a - b)[tps.length >> 1]} tps`);
    return to;
  }

  it('switch: connections opened during the hold wait and reach the new master; every acknowledged write is on it; only the master of the moment took writes', async () => {
    const to = await switchUnderLoad(undefined, 'db1');
    expect(await masterName()).toBe(to);
  }, 60_000);

  it('switch to HOST: the same, back to db1', async () => {
    const from = (await masterName())!;
    await waitUntil(`db1 an ONLINE slave of ${from}`, 20_000, async () => (await status()).datasources.some((d) => d.name === 'db1' && d.state === 'ONLINE' && d.replicator?.masterHost === from));
    await switchUnderLoad('db1', from);
    expect(await masterName()).toBe('db1');
  }, 60_000);

  it('automatic failover (kill -9 of the master): writes go on on the new master through the connector; nothing acknowledged is lost beyond what the task says', async () => {
    await waitUntil('db2 and db3 ONLINE slaves of db1', 20_000, async () =>
      (await status()).datasources.filter((d) => d.name !== 'db1').every((d) => d.state === 'ONLINE' && d.replicator?.masterHost === 'db1' && d.replicator.state === 'ONLINE'),
    );
    const windowStart = Date.now();
    const writer = startWriter(port, nextWriterId);
    nextWriterId += 1_000_000;
    await waitUntil('writes on db1', 20_000, () => writer.acks.filter((a) => a.serverId === serverIdOf('db1')).length >= 30);
    const killedAt = Date.now();
    await cluster.kill9('db1');
    // Gone: nothing db1 committed can be later than this.
    const deadAt = Date.now();
    const task = await waitUntil('the automatic failover', 60_000, async () => {
      const tasks = (await api<{ tasks: TaskStatus[] }>('GET', `/api/v2/manager/service/${SERVICE}/history?limit=20`)).tasks;
      return tasks.find((t) => t.operation.startsWith('failover') && t.state !== 'in_progress' && Date.parse(t.startTime) >= killedAt - 1000);
    });
    expect(task.state, task.steps.map((s) => s.line).join('\n')).toBe('complete');
    const to = String(task.taskResult!.newPrimary);
    expect(['db2', 'db3']).toContain(to);
    await waitUntil('writes acknowledged on the new master', 20_000, () => writer.acks.filter((a) => a.serverId === serverIdOf(to)).length >= 30);
    const { acks, failures } = await writer.stop();
    const resumedAt = stepAt(task, new RegExp(`^CONNECTORS ROUTE TO '${to}@${SERVICE}' \\(ROUTES EPOCH \\d+\\): connector@`));
    const promotedAt = stepAt(task, /^PUT THE NEW MASTER '.*' ONLINE$/);
    expect(promotedAt).toBeLessThanOrEqual(resumedAt);
    await waitForReplicas(cluster, to, [to === 'db2' ? 'db3' : 'db2']);
    const rows = await rowsOn(to);
    // What db1 acknowledged and never shipped is what a failover may lose: no more than the task says.
    const lost = acks.filter((a) => !rows.has(a.id));
    expect(lost.every((a) => a.serverId === serverIdOf('db1'))).toBe(true);
    // The task counts what it saw on db1; it names the rest as "any it committed after" the time db1
    // was last seen (asynchronous replication's window). Only writes acknowledged before then count.
    const mayLose = task.taskResult!.mayLoseTransactions;
    const lastSeen = task.taskResult!.masterLastSeen as { time: string } | null | undefined;
    const seenAt = lastSeen ? Date.parse(lastSeen.time) : Number.NEGATIVE_INFINITY;
    if (typeof mayLose === 'number') expect(lost.filter((a) => a.ackedAt <= seenAt).length).toBeLessThanOrEqual(mayLose);
    // Writes on the new master only once it was promoted; after the kill, nowhere else.
    expectOnlyTheMasterWrote(rows, task, 'db1', to, deadAt, promotedAt, windowStart);
    expect(acks.filter((a) => a.serverId === serverIdOf('db1') && a.ackedAt > deadAt)).toEqual([]);
    // After the new master is routed, new connections succeed.
    expect(failures.filter((f) => f.startedAt > resumedAt + 100)).toEqual([]);
    console.log(`[connector-e2e] failover db1 -> ${to}: ${acks.length} writes acknowledged, ${failures.length} failed while there was no master, ${lost.length} lost (task: may lose ${mayLose}), kill to routed ${resumedAt - killedAt} ms`);
  }, 90_000);

  it('the connector killed and restarted: ONLINE again with its new pid, routing to the master', async () => {
    const master = (await masterName())!;
    const oldPid = connector!.pid;
    await connector!.kill9();
    await startConnector();
    const ls = await waitUntil('ls to show the new connector ONLINE', 15_000, async () => {
      const out = await cctrl('ls');
      return new RegExp(`connector@\\S+\\[${connector!.pid}\\]\\(ONLINE, created=\\d+, active=\\d+\\)`).test(out) ? out : null;
    });
    expect(ls).not.toContain(`[${oldPid}](ONLINE`);
    const conn = await mysql.createConnection({ host: '127.0.0.1', port, user: APP_USER, password: APP_PASSWORD, database: 'app' });
    const [rows] = await conn.query<mysql.RowDataPacket[]>('SELECT @@server_id AS id, @@read_only AS ro');
    expect(rows[0]).toEqual({ id: serverIdOf(master), ro: 0 });
    await conn.end();
  }, 30_000);

  it('the manager killed: the connector goes ON-HOLD (new connections wait), OFFLINE after --offline-after (refused with a MySQL error); the manager restarted: ONLINE again', async () => {
    const master = (await masterName())!;
    const killedAt = Date.now();
    manager!.kill();
    await manager!.exited;
    await waitUntil('the connector to say ON-HOLD', 5_000, () => connector!.lines.some((l) => l.at >= killedAt && /ON-HOLD: /.test(l.line)));
    // A new connection waits (it is not refused, and not bridged) while ON-HOLD ...
    const waitingSince = Date.now();
    const waiting = mysql.createConnection({ host: '127.0.0.1', port, user: APP_USER, password: APP_PASSWORD, database: 'app', connectTimeout: 30_000 }).then(
      (c) => ({ ok: true as const, at: Date.now(), c }),
      (e: { code?: string; errno?: number; message: string }) => ({ ok: false as const, at: Date.now(), e }),
    );
    const early = await Promise.race([waiting, sleep(800).then(() => null)]);
    expect(early).toBeNull();
    // ... and once OFFLINE, it and every new one are refused with the reason, as a MySQL error.
    const outcome = await waiting;
    expect(outcome.ok).toBe(false);
    if (outcome.ok) return;
    expect(outcome.at - killedAt).toBeGreaterThanOrEqual(OFFLINE_AFTER_S * 1000 - 500);
    expect(outcome.at - waitingSince).toBeLessThan(OFFLINE_AFTER_S * 1000 + 3000);
    expect(outcome.e.errno).toBe(1053);
    expect(connector!.lines.some((l) => /OFFLINE: /.test(l.line))).toBe(true);
    const refused = await mysql.createConnection({ host: '127.0.0.1', port, user: APP_USER, password: APP_PASSWORD, database: 'app', connectTimeout: 5_000 }).then(
      (c) => {
        c.destroy();
        return null;
      },
      (e: { errno?: number; message: string }) => e,
    );
    expect(refused?.errno).toBe(1053);
    expect(refused?.message).toMatch(/OFFLINE|manager/i);

    // The manager back, on the same port and state dir: the connector goes ONLINE and routes again.
    await startManagerProcess(managerPort);
    await waitUntil('the connector to say ONLINE again', 15_000, () => connector!.lines.some((l) => l.at >= killedAt && /ONLINE \(was (OFFLINE|ON-HOLD)\)/.test(l.line)));
    const ls = await waitUntil('ls to show the connector ONLINE', 15_000, async () => {
      const out = await cctrl('ls');
      return new RegExp(`connector@\\S+\\[${connector!.pid}\\]\\(ONLINE, `).test(out) ? out : null;
    });
    expect(ls).toContain('ROUTERS:');
    const conn = await mysql.createConnection({ host: '127.0.0.1', port, user: APP_USER, password: APP_PASSWORD, database: 'app' });
    const [rows] = await conn.query<mysql.RowDataPacket[]>('SELECT @@server_id AS id');
    expect(Number(rows[0]!.id)).toBe(serverIdOf(master));
    await conn.end();
  }, 60_000);
});
