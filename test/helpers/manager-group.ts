/**
 * A manager group on one machine, every piece real: three etcd members (test/helpers/etcd.ts), three
 * mariadbd (test/helpers/mariadb.ts: db1 master, db2 and db3 slaves) and three `tungsten-manager`
 * processes (the built dist/src/cli/manager.js) on the mysql driver, one beside each datasource
 * (manager.name=dbN, manager.datasource=dbN).
 *
 * - Each manager's REST API listens on its own loopback address (127.A.B.C) and port, both picked at
 *   random and checked free, and kept: a restarted manager is found where it was, as on a real host.
 * - Each manager reaches etcd only through its own TCP proxy in this process (one listener per etcd
 *   member): `proxy.cut()` partitions that manager from etcd, and from etcd only (its database
 *   connections go straight to the servers); `proxy.heal()` ends the partition.
 * - Each manager's stdout and stderr go, line by line with the time they arrived, to
 *   `<root>/<name>/manager.log`; its audit log is `<root>/<name>/audit.log`.
 * - `reset()` gives a test a group that has never seen anything: the managers killed, every etcd
 *   member running, proxies healed, the servers reset (db1 the writable master), a new etcd key
 *   prefix (so nothing an earlier test's managers left in etcd is seen), then the managers started,
 *   the one named first alone until it is the coordinator.
 *
 * `destroy()` (afterAll) stops everything; a process exit hook and a watchdog kill any manager a
 * crashed test process left behind (the etcd and MariaDB helpers have their own).
 */
import { fromServiceStatusPayload } from '../../src/api/v2-shapes.js';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { EtcdClient } from '../../src/manager/coordination/etcd-client.js';
import { etcdAvailable, etcdSkipReason, startEtcdCluster, type EtcdCluster } from './etcd.js';
import {
  datasourceProperties,
  MANAGER_PASSWORD,
  mariadbMissing,
  startMariaDbCluster,
  type MariaDbCluster,
} from './mariadb.js';
import { MANAGER_BIN } from './manager-process.js';
import { freeLoopbackEndpoint, killOnExit, tailOf, watchdog } from './processes.js';

export const SERVICE = 'alpha';
export const MEMBER_NAMES = ['db1', 'db2', 'db3'] as const;
export const API_USER = 'group-admin';
export const API_PASSWORD = 'group-api-pw-7';

/** Why the group tests cannot run here (etcd, mariadbd or the build missing), or null. */
export function groupPrerequisitesMissing(): string | null {
  if (!etcdAvailable()) return etcdSkipReason;
  const db = mariadbMissing();
  if (db) return db;
  if (!existsSync(MANAGER_BIN)) return `the manager is not built (${MANAGER_BIN} is missing): run npm run build`;
  return null;
}

/** Skip outside CI when something is missing; under CI=true the set-up fails with the reason. */
export const skipWithoutGroup = groupPrerequisitesMissing() !== null && process.env.CI !== 'true';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function waitUntil<T>(what: string, timeoutMs: number, probe: () => T | null | undefined | false | Promise<T | null | undefined | false>, everyMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown = null;
  for (;;) {
    try {
      const value = await probe();
      if (value) return value;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? ` (last error: ${(last as Error).message})` : ''}`);
    await sleep(everyMs);
  }
}

// ---- the etcd proxy ------------------------------------------------------------------------------

export interface EtcdProxy {
  /** What the manager is given as manager.etcd.endpoints: one proxy listener per etcd member. */
  endpoints: string[];
  /**
   * Partitions the manager from etcd: every open connection is reset, and new ones are accepted
   * and never answered (`blackhole`, a dropped-packets partition: the client times out) or refused
   * (`refuse`, a firewall's REJECT).
   */
  cut(mode?: 'blackhole' | 'refuse'): Promise<void>;
  heal(): Promise<void>;
  isCut(): boolean;
  close(): Promise<void>;
}

/** A TCP proxy in front of each etcd client URL, listening on 127.0.0.1 (ports chosen by the kernel). */
export async function startEtcdProxy(upstreams: readonly string[]): Promise<EtcdProxy> {
  let mode: 'open' | 'blackhole' | 'refuse' = 'open';
  const open = new Set<net.Socket>();
  const held = new Set<net.Socket>();
  const listeners = await Promise.all(
    upstreams.map(async (upstream) => {
      const target = new URL(upstream);
      const entry = { server: null as net.Server | null, port: 0 };
      const make = () =>
        net.createServer((client) => {
          client.on('error', () => undefined);
          if (mode === 'blackhole') {
            held.add(client);
            client.once('close', () => held.delete(client));
            client.pause();
            return;
          }
          client.pause();
          const up = net.connect({ host: target.hostname, port: Number(target.port) });
          open.add(client);
          open.add(up);
          client.once('close', () => {
            open.delete(client);
            up.destroy();
          });
          up.once('close', () => {
            open.delete(up);
            // The member behind is gone (or closed): the client's connection breaks, as it would.
            if (!client.destroyed) client.resetAndDestroy();
          });
          up.on('error', () => undefined);
          up.once('connect', () => {
            client.pipe(up);
            up.pipe(client);
            client.resume();
          });
        });
      const listen = (port: number) =>
        new Promise<void>((resolve, reject) => {
          const server = make();
          server.once('error', reject);
          server.listen({ host: '127.0.0.1', port }, () => {
            entry.server = server;
            entry.port = (server.address() as net.AddressInfo).port;
            resolve();
          });
        });
      await listen(0);
      return { entry, listen };
    }),
  );
  const closeServer = (s: net.Server | null) => new Promise<void>((resolve) => (s ? s.close(() => resolve()) : resolve()));
  const dropAll = () => {
    for (const s of [...open, ...held]) {
      if (s.destroyed) continue;
      s.resetAndDestroy();
    }
    open.clear();
    held.clear();
  };
  return {
    endpoints: listeners.map((l) => `http://127.0.0.1:${l.entry.port}`),
    isCut: () => mode !== 'open',
    async cut(how = 'blackhole') {
      mode = how;
      dropAll();
      if (how === 'refuse') {
        await Promise.all(listeners.map(async (l) => {
          const s = l.entry.server;
          l.entry.server = null;
          await closeServer(s);
        }));
      }
    },
    async heal() {
      const wasRefusing = mode === 'refuse';
      mode = 'open';
      for (const s of held) s.resetAndDestroy();
      held.clear();
      if (wasRefusing) {
        // The same port again: the manager's endpoints do not change.
        for (const l of listeners) {
          for (let attempt = 0; ; attempt++) {
            try {
              await l.listen(l.entry.port);
              break;
            } catch (e) {
              if (attempt >= 20) throw e;
              await sleep(50);
            }
          }
        }
      }
    },
    async close() {
      mode = 'refuse';
      dropAll();
      await Promise.all(listeners.map((l) => closeServer(l.entry.server)));
    },
  };
}

// ---- HTTP to a member ----------------------------------------------------------------------------

export interface ApiReply {
  status: number;
  json: any;
  headers: http.IncomingHttpHeaders;
}

/** One request to a manager's REST API with Basic credentials; rejects on no answer within timeoutMs. */
export function apiRequest(baseUrl: string, target: string, opts: { method?: 'GET' | 'POST'; body?: unknown; timeoutMs?: number } = {}): Promise<ApiReply> {
  return new Promise((resolve, reject) => {
    const payload = opts.body === undefined ? undefined : JSON.stringify(opts.body);
    const headers: Record<string, string> = {
      authorization: `Basic ${Buffer.from(`${API_USER}:${API_PASSWORD}`).toString('base64')}`,
      accept: 'application/json',
    };
    if (payload !== undefined) {
      headers['content-type'] = 'application/json';
      headers['content-length'] = String(Buffer.byteLength(payload));
    }
    const timeoutMs = opts.timeoutMs ?? 3000;
    const req = http.request(new URL(target, baseUrl), { method: opts.method ?? 'GET', headers, agent: false });
    const timer = setTimeout(() => req.destroy(new Error(`no answer from ${baseUrl} within ${timeoutMs} ms`)), timeoutMs);
    req.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', (e) => {
        clearTimeout(timer);
        reject(e);
      });
      res.on('end', () => {
        clearTimeout(timer);
        const text = Buffer.concat(chunks).toString('utf8');
        let json: unknown;
        try {
          json = JSON.parse(text);
        } catch {
          json = undefined;
        }
        resolve({ status: res.statusCode ?? 0, json, headers: res.headers });
      });
    });
    req.end(payload);
  });
}

// ---- the managers --------------------------------------------------------------------------------

export interface GroupManager {
  name: string;
  datasource: string;
  /** Its own loopback address; the API is on a port picked for it there (kept across restarts). */
  host: string;
  url: string;
  proxy: EtcdProxy;
  logFile: string;
  auditFile: string;
  /** The running process's pid, or null. */
  pid(): number | null;
  running(): boolean;
  frozen(): boolean;
  /** Start the process; resolves once its API answers. */
  start(): Promise<void>;
  /** SIGKILL (a frozen one too); resolves once it has exited. */
  kill9(): Promise<void>;
  /** SIGTERM (a clean stop: it leaves the group); resolves once it has exited. */
  stop(): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** SIGSTOP / SIGCONT. */
  freeze(): void;
  thaw(): void;
  /** What it logged since the last reset() (every start since), or since `fromLength` (a previous fullLog().length). */
  log(fromLength?: number): string;
  /** Its whole log file, every test's runs. */
  fullLog(): string;
  /** Its audit log's records. */
  audit(): Array<Record<string, unknown>>;
}

export interface EtcdView {
  leader: { name: string; createRevision: number; lease: string } | null;
  state: { master: string | null; datasources: Array<{ name: string; role: string; state: string }>; tasks: Array<{ taskId: string; operation: string; state: string; requestedBy: string }>; modRevision: number } | null;
  members: string[];
  revision: number;
}

export interface GroupEnv {
  etcd: EtcdCluster;
  db: MariaDbCluster;
  root: string;
  managers: GroupManager[];
  manager(name: string): GroupManager;
  /** The etcd key prefix of the running test (manager.etcd.prefix). */
  prefix(): string;
  ttlSeconds: number;
  samplePeriodSeconds: number;
  /** policy.liveness.dbping.fail.threshold (and hostPing's): a dead server fails over (threshold + 1) x period after it is first seen. */
  failThreshold: number;
  /** GET/POST to a member's API. */
  api(name: string, target: string, opts?: { method?: 'GET' | 'POST'; body?: unknown; timeoutMs?: number }): Promise<ApiReply>;
  /** A member's StatusPayload, or null when it does not answer. */
  status(name: string, timeoutMs?: number): Promise<any | null>;
  serviceStatus(name: string): Promise<any>;
  /** POST a control call to a member (`switch`, `heartbeat`, ...): its 201 TaskPayload's payload. */
  control(name: string, tail: string, body?: unknown): Promise<any>;
  /** Polls GET task on a member until the task is no longer in_progress. */
  waitTask(name: string, taskId: string, timeoutMs?: number): Promise<any>;
  /** The members that say isCoordinator=true, and the coordinator every answering member names. */
  coordinators(names?: readonly string[]): Promise<{ acting: string[]; named: Record<string, string | null> }>;
  /** Until exactly one member acts and every answering member among `names` names it. */
  waitForOneCoordinator(timeoutMs?: number, names?: readonly string[]): Promise<string>;
  /** The master as a member's status shows it (the datasource with role master that is not SHUNNED). */
  masterOf(name: string): Promise<string | null>;
  /** Leader key, state and members as etcd has them now (read from etcd directly, not through a proxy). */
  etcdView(): Promise<EtcdView>;
  etcdClient(): EtcdClient;
  /**
   * A group that has never seen anything; `first` (default db2) is started alone until it
   * coordinates, then the others; `first: null` starts the three at once (a race for the leader key).
   */
  reset(opts?: { first?: string | null }): Promise<void>;
  /** Every manager's log tail, for a failure message. */
  logTails(lines?: number): string;
  destroy(): Promise<void>;
}

export interface StartGroupOptions {
  ttlSeconds?: number;
  samplePeriodSeconds?: number;
  /** Extra manager properties (KEY=VALUE) for every member. */
  properties?: string[];
}

/** Candidate preference: db2 before db3 when both have received the same, so failovers are predictable. */
export const PRECEDENCE = [1, 1, 2];

export async function startManagerGroup(opts: StartGroupOptions = {}): Promise<GroupEnv> {
  const missing = groupPrerequisitesMissing();
  if (missing) throw new Error(`cannot start the manager group for the system tests: ${missing}`);
  const ttlSeconds = opts.ttlSeconds ?? 3;
  const samplePeriodSeconds = opts.samplePeriodSeconds ?? 0.5;
  /** The smallest threshold whose failover, (threshold + 1) x period, comes after 2/3 TTL. */
  const failThreshold = Math.max(1, Math.floor((2 * ttlSeconds) / 3 / samplePeriodSeconds));
  const root = mkdtempSync(path.join(tmpdir(), 'manager-group-'));
  const guard = watchdog(root, 'manager.pid', 'manager.js');

  let etcd: EtcdCluster | null = null;
  let db: MariaDbCluster | null = null;
  const proxies: EtcdProxy[] = [];
  try {
    [etcd, db] = await Promise.all([startEtcdCluster(), startMariaDbCluster()]);
    for (let i = 0; i < MEMBER_NAMES.length; i++) proxies.push(await startEtcdProxy(etcd.endpoints));
  } catch (e) {
    await Promise.all([etcd?.destroy(), db?.stop(), ...proxies.map((p) => p.close())].map((p) => p?.catch(() => undefined)));
    rmSync(root, { recursive: true, force: true });
    guard.kill('SIGKILL');
    throw e;
  }
  const etcdCluster = etcd;
  const cluster = db;
  const passwordFile = path.join(root, 'mysql.password');
  writeFileSync(passwordFile, `${MANAGER_PASSWORD}\n`, { mode: 0o600 });
  let prefix = '/tungsten-test/none';
  let generation = 0;

  const managers: GroupManager[] = [];
  /** Where each log stood when the running test's reset() started its managers. */
  const resetOffsets = new Map<string, number>();
  for (let i = 0; i < MEMBER_NAMES.length; i++) {
    const name = MEMBER_NAMES[i]!;
    const { host, ports: [apiPort] } = await freeLoopbackEndpoint(1, 'the manager group tests');
    const dir = path.join(root, name);
    mkdirSync(dir, { recursive: true });
    const logFile = path.join(dir, 'manager.log');
    const auditFile = path.join(dir, 'audit.log');
    const pidFile = path.join(dir, 'manager.pid');
    writeFileSync(logFile, '');
    const proxy = proxies[i]!;
    let child: ChildProcess | null = null;
    let exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }> | null = null;
    let isFrozen = false;
    const isRunning = () => child !== null && child.exitCode === null && child.signalCode === null;
    const write = (stream: string, text: string) => {
      appendFileSync(logFile, text.replace(/\n$/, '').split('\n').map((l) => `${new Date().toISOString()} ${stream} ${l}`).join('\n') + '\n');
    };
    const args = () => [
      MANAGER_BIN,
      '--bind',
      host,
      '--port',
      String(apiPort),
      ...[
        `service.name=${SERVICE}`,
        'manager.driver=mysql',
        ...datasourceProperties(cluster, { precedence: PRECEDENCE }),
        'mysql.user=tungsten',
        `mysql.passwordFile=${passwordFile}`,
        `policy.liveness.samplePeriod=${samplePeriodSeconds}`,
        // The fastest failover, (threshold + 1) x period, must come after a cut-off member's
        // failsafe fence (2/3 TTL): the manager refuses to start otherwise.
        `policy.liveness.dbping.fail.threshold=${failThreshold}`,
        `policy.liveness.hostPing.fail.threshold=${failThreshold}`,
        'policy.liveness.dbping.timeout=2',
        'policy.liveness.hostPing.timeout=1',
        'manager.operation.step.timeout=6',
        'manager.coordination=etcd',
        `manager.etcd.endpoints=${proxy.endpoints.join(',')}`,
        `manager.etcd.prefix=${prefix}`,
        `manager.name=${name}`,
        `manager.datasource=${name}`,
        `manager.coordination.ttl=${ttlSeconds}`,
        `manager.audit.log=${auditFile}`,
        ...(opts.properties ?? []),
      ].map((p) => `--property=${p}`),
    ];
    const m: GroupManager = {
      name,
      datasource: name,
      host,
      url: `http://${host}:${apiPort}`,
      proxy,
      logFile,
      auditFile,
      pid: () => (isRunning() ? (child!.pid ?? null) : null),
      running: isRunning,
      frozen: () => isRunning() && isFrozen,
      async start() {
        if (isRunning()) throw new Error(`manager ${name} is already running`);
        appendFileSync(logFile, `${new Date().toISOString()} ==== start (test generation ${generation}, prefix ${prefix}) ====\n`);
        const env: NodeJS.ProcessEnv = { ...process.env, TUNGSTEN_API_USER: API_USER, TUNGSTEN_API_PASSWORD: API_PASSWORD };
        const c = spawn(process.execPath, args(), { env, stdio: ['ignore', 'pipe', 'pipe'] });
        child = c;
        isFrozen = false;
        killOnExit(c);
        if (c.pid) writeFileSync(pidFile, String(c.pid));
        let banner = '';
        c.stdout!.setEncoding('utf8').on('data', (d: string) => {
          banner += d;
          write('out', d);
        });
        c.stderr!.setEncoding('utf8').on('data', (d: string) => write('err', d));
        exited = new Promise((resolve) =>
          c.once('exit', (code, signal) => {
            appendFileSync(logFile, `${new Date().toISOString()} ==== exited (${code ?? signal}) ====\n`);
            resolve({ code, signal });
          }),
        );
        const deadline = Date.now() + 30_000;
        while (!/REST API on /.test(banner)) {
          if (!isRunning()) throw new Error(`manager ${name} exited before it was ready; its log ends with:\n${tailOf(logFile, 30)}`);
          if (Date.now() > deadline) throw new Error(`manager ${name} printed no banner within 30 s; its log ends with:\n${tailOf(logFile, 30)}`);
          await sleep(25);
        }
      },
      async kill9() {
        if (!isRunning()) return;
        child!.kill('SIGCONT');
        child!.kill('SIGKILL');
        await exited;
        isFrozen = false;
      },
      async stop() {
        if (!isRunning()) return { code: child?.exitCode ?? null, signal: child?.signalCode ?? null };
        if (isFrozen) m.thaw();
        child!.kill('SIGTERM');
        const timer = setTimeout(() => child?.kill('SIGKILL'), 20_000);
        const r = await exited!;
        clearTimeout(timer);
        return r;
      },
      freeze() {
        if (!isRunning()) throw new Error(`cannot freeze manager ${name}: it is not running`);
        child!.kill('SIGSTOP');
        isFrozen = true;
      },
      thaw() {
        if (!isRunning()) return;
        child!.kill('SIGCONT');
        isFrozen = false;
      },
      log(fromLength) {
        const text = readFileSync(logFile, 'utf8');
        return fromLength === undefined ? text.slice(resetOffsets.get(name) ?? 0) : text.slice(fromLength);
      },
      fullLog() {
        return readFileSync(logFile, 'utf8');
      },
      audit() {
        if (!existsSync(auditFile)) return [];
        return readFileSync(auditFile, 'utf8')
          .split('\n')
          .filter((l) => l.trim() !== '')
          .map((l) => JSON.parse(l) as Record<string, unknown>);
      },
    };
    managers.push(m);
  }
  const byName = (name: string) => {
    const found = managers.find((m) => m.name === name);
    if (!found) throw new Error(`no manager named ${name}`);
    return found;
  };

  let client: EtcdClient | null = null;
  const etcdClient = () => (client ??= new EtcdClient({ endpoints: etcdCluster.endpoints, timeoutMs: 1000 }));

  const api: GroupEnv['api'] = (name, target, o) => apiRequest(byName(name).url, target, o);

  async function status(name: string, timeoutMs = 1500): Promise<any | null> {
    if (!byName(name).running() || byName(name).frozen()) return null;
    try {
      const r = await api(name, '/api/v2/manager/status', { timeoutMs });
      return r.status === 200 ? r.json.payload : null;
    } catch {
      return null;
    }
  }

  async function serviceStatus(name: string): Promise<any> {
    const r = await api(name, `/api/v2/manager/status/service/${SERVICE}`);
    if (r.status !== 200) throw new Error(`service status from ${name}: HTTP ${r.status} ${JSON.stringify(r.json)}`);
    return fromServiceStatusPayload(r.json.payload);
  }

  async function control(name: string, tail: string, body?: unknown): Promise<any> {
    const r = await api(name, `/api/v2/manager/control/service/${SERVICE}/${tail}`, { method: 'POST', body: body ?? {}, timeoutMs: 10_000 });
    if (r.status !== 201) throw new Error(`control ${tail} on ${name}: HTTP ${r.status} ${JSON.stringify(r.json)}`);
    return r.json.payload;
  }

  async function waitTask(name: string, taskId: string, timeoutMs = 60_000): Promise<any> {
    return waitUntil(`task ${taskId} to end (asked of ${name})`, timeoutMs, async () => {
      const r = await api(name, `/api/v2/manager/task/${encodeURIComponent(taskId)}`);
      return r.status === 200 && r.json.payload.state !== 'in_progress' ? r.json.payload : null;
    }, 100);
  }

  async function coordinators(names: readonly string[] = MEMBER_NAMES) {
    const answers = await Promise.all(names.map((n) => status(n)));
    const acting = names.filter((_, i) => answers[i]?.isCoordinator === true);
    const named: Record<string, string | null> = {};
    names.forEach((n, i) => {
      if (answers[i]) named[n] = answers[i].group?.coordinator ?? null;
    });
    return { acting: [...acting], named };
  }

  async function waitForOneCoordinator(timeoutMs = 20_000, names: readonly string[] = MEMBER_NAMES): Promise<string> {
    return waitUntil(`one coordinator among ${names.join(', ')}`, timeoutMs, async () => {
      const { acting, named } = await coordinators(names);
      if (acting.length !== 1) return null;
      const answering = Object.values(named);
      return answering.length === names.length && answering.every((c) => c === acting[0]) ? acting[0]! : null;
    }, 100);
  }

  async function masterOf(name: string): Promise<string | null> {
    const s = await serviceStatus(name);
    // A failed-over master keeps its role, SHUNNED (FAILED-OVER-TO-...): the master is the one that is not.
    return (s.datasources as Array<{ name: string; role: string; state: string }>).find((d) => d.role === 'master' && d.state !== 'SHUNNED')?.name ?? null;
  }

  async function etcdView(): Promise<EtcdView> {
    const base = `${prefix}/${SERVICE}/`;
    const { header, kvs } = await etcdClient().range(base);
    const leaderKv = kvs.find((kv) => kv.key === `${base}leader`);
    const stateKv = kvs.find((kv) => kv.key === `${base}state`);
    let state: EtcdView['state'] = null;
    if (stateKv) {
      const parsed = JSON.parse(stateKv.value) as { service: { datasources: Array<{ name: string; role: string; state: string }> }; tasks: Array<{ taskId: string; operation: string; state: string; requestedBy: string }> };
      state = {
        master: parsed.service.datasources.find((d) => d.role === 'master' && d.state !== 'SHUNNED')?.name ?? null,
        datasources: parsed.service.datasources.map((d) => ({ name: d.name, role: d.role, state: d.state })),
        tasks: parsed.tasks.map((t) => ({ taskId: t.taskId, operation: t.operation, state: t.state, requestedBy: t.requestedBy })),
        modRevision: stateKv.modRevision,
      };
    }
    return {
      leader: leaderKv ? { name: leaderKv.value, createRevision: leaderKv.createRevision, lease: leaderKv.lease } : null,
      state,
      members: kvs.filter((kv) => kv.key.startsWith(`${base}members/`)).map((kv) => kv.key.slice(`${base}members/`.length)).sort(),
      revision: header.revision,
    };
  }

  /** The coordinator sees db1 the master and db2, db3 ONLINE slaves replicating from it. */
  async function settled(name: string): Promise<boolean> {
    const s = await serviceStatus(name);
    const ds = (n: string) => (s.datasources as any[]).find((d) => d.name === n);
    return (
      ds('db1')?.role === 'master' &&
      ds('db1')?.state === 'ONLINE' &&
      ['db2', 'db3'].every((n) => ds(n)?.role === 'slave' && ds(n)?.state === 'ONLINE' && ds(n)?.replicator?.state === 'ONLINE' && ds(n)?.replicator?.masterHost === 'db1')
    );
  }

  async function reset(resetOpts: { first?: string | null } = {}): Promise<void> {
    const first = resetOpts.first === undefined ? 'db2' : resetOpts.first;
    await Promise.all(managers.map((m) => m.kill9()));
    await Promise.all(managers.map((m) => m.proxy.heal()));
    for (const member of etcdCluster.members) {
      if (member.pid() === null) await etcdCluster.start(member.name);
      else etcdCluster.cont(member.name);
    }
    await etcdCluster.waitHealthy();
    await cluster.reset({ clearWrites: true });
    generation++;
    prefix = `/tungsten-test/${randomBytes(4).toString('hex')}-${generation}`;
    for (const m of managers) resetOffsets.set(m.name, m.fullLog().length);
    if (first !== null) {
      await byName(first).start();
      await waitUntil(`${first} to be the coordinator`, 20_000, async () => (await status(first))?.isCoordinator === true, 100);
    }
    await Promise.all(managers.filter((m) => m.name !== first).map((m) => m.start()));
    const coordinator = await waitForOneCoordinator(20_000);
    if (first !== null && coordinator !== first) throw new Error(`reset: ${coordinator} coordinates, not ${first}\n${logTails()}`);
    await waitUntil('every member to list the 3 members with their API', 20_000, async () => {
      for (const m of managers) {
        const r = await api(m.name, `/api/v2/manager/service/${SERVICE}/members`);
        const members = r.json?.payload?.members as Array<{ name: string; apiUrl: string | null }> | undefined;
        if (!members || members.length !== 3 || members.some((x) => !x.apiUrl)) return false;
      }
      return true;
    }, 100);
    await waitUntil(`the coordinator ${coordinator} to see db1 master and db2, db3 replicating from it`, 30_000, () => settled(coordinator), 100);
  }

  function logTails(lines = 40): string {
    return managers.map((m) => `---- manager ${m.name} (${m.logFile}) ends with:\n${m.log().trimEnd().split('\n').slice(-lines).join('\n')}`).join('\n');
  }

  let destroyed = false;
  async function destroy(): Promise<void> {
    if (destroyed) return;
    destroyed = true;
    await Promise.all(managers.map((m) => m.kill9().catch(() => undefined)));
    client?.close();
    await Promise.all(proxies.map((p) => p.close().catch(() => undefined)));
    await Promise.all([etcdCluster.destroy().catch(() => undefined), cluster.stop().catch(() => undefined)]);
    if (process.env.MANAGER_GROUP_KEEP_LOGS) {
      process.stdout.write(`manager group logs kept in ${root}\n`);
    } else {
      rmSync(root, { recursive: true, force: true });
    }
    guard.kill('SIGKILL');
  }

  return {
    etcd: etcdCluster,
    db: cluster,
    root,
    managers,
    manager: byName,
    prefix: () => prefix,
    ttlSeconds,
    samplePeriodSeconds,
    failThreshold,
    api,
    status,
    serviceStatus,
    control,
    waitTask,
    coordinators,
    waitForOneCoordinator,
    masterOf,
    etcdView,
    etcdClient,
    reset,
    logTails,
    destroy,
  };
}
