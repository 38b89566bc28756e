/**
 * Real etcd clusters for system tests: N `etcd` processes (Debian's etcd-server, 3.4), each with
 * its own data directory under a temporary root, no system service, no config file. Always call
 * `destroy()` (afterAll); a process exit hook and a watchdog kill any member a crashed test left
 * behind and remove its files.
 *
 * Addresses: every member listens on its own loopback address, 127.A.B.C picked at random (Linux
 * routes all of 127.0.0.0/8 to lo) and checked free, with a client and a peer port picked at random
 * on it. Two clusters, two test files, or a suite and a benchmark on one machine never share an
 * address and port, and a member that restarts finds its address as it left it.
 *
 * Faults a test can inject: `kill` (SIGKILL, a crash), `stop`/`cont` (SIGSTOP/SIGCONT: the process
 * and its sockets stay, nothing answers), `start` (a killed member again, with its data).
 *
 * etcd's log of each member is `<root>/<name>/etcd.log`; its tail is in every error about it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { commandExists, freeLoopbackEndpoint, killOnExit, sleep, tailOf, watchdog } from './processes.js';
import { makeCertificateAuthority } from './tls.js';

/** Is the `etcd` server binary installed? */
export function etcdAvailable(): boolean {
  return commandExists('etcd');
}

/** Is `etcdctl` installed (tests that set up users, roles or auth use it)? */
export function etcdctlAvailable(): boolean {
  return commandExists('etcdctl');
}

/**
 * True when the etcd tests should be skipped: etcd missing outside CI. Under CI=true a missing etcd
 * is not skipped: `startEtcdCluster` then fails with the reason.
 */
export const skipWithoutEtcd = !etcdAvailable() && process.env.CI !== 'true';

/** Why the etcd tests are skipped here (for the describe title). */
export const etcdSkipReason = 'etcd is not installed (install etcd-server and etcd-client; .ci/system-deps.sh does)';

export interface EtcdMember {
  name: string;
  /** http://127.A.B.C:PORT */
  clientUrl: string;
  /** http://127.A.B.C:2380 */
  peerUrl: string;
  /** The running process's pid; null when it is not running. */
  pid(): number | null;
}

export interface EtcdCluster {
  members: EtcdMember[];
  /** Every member's client URL, in member order. */
  endpoints: string[];
  /** The temporary root holding each member's directory. */
  root: string;
  /** SIGKILL (a frozen member too); resolves once it has exited. */
  kill(name: string): Promise<void>;
  /** SIGSTOP: the process and its sockets stay, nothing answers. Resolves once the kernel shows it stopped. */
  stop(name: string): Promise<void>;
  /** SIGCONT after stop(). */
  cont(name: string): void;
  /** Start a killed member again with its data directory; resolves once the cluster is healthy. */
  start(name: string): Promise<void>;
  /** Every running member knows the same leader and answers a read. */
  waitHealthy(timeoutMs?: number): Promise<void>;
  /** The member that is the leader now (asked of the running members). */
  leader(): Promise<string | null>;
  /** The last lines of a member's log. */
  logTail(name: string, lines?: number): string;
  /** Kill every member and remove the data directories. */
  destroy(): Promise<void>;
  /** The CA and a client certificate (clusters started with `tls: true`), else null. */
  tls: EtcdClientTls | null;
}

export interface StartEtcdOptions {
  /** How many members (default 3). */
  size?: number;
  /** etcd's --election-timeout (default 1000, etcd's own). */
  electionTimeoutMs?: number;
  /** etcd's --heartbeat-interval (default 100, etcd's own). */
  heartbeatMs?: number;
  /** More etcd flags for every member (e.g. `--auth-token-ttl=2`). */
  extraArgs?: string[];
  /**
   * Clients reach the members over https only, with a certificate of a CA made for the cluster, and
   * must show a client certificate of that CA (`--client-cert-auth`); the client's files are in
   * `EtcdCluster.tls`. Peers still talk plain http to each other.
   */
  tls?: boolean;
}

/** What a client needs to reach a cluster started with `tls: true`. */
export interface EtcdClientTls {
  caFile: string;
  certFile: string;
  keyFile: string;
}


/** etcd 3.4 refuses to start on an architecture it does not support officially unless told to. */
function unsupportedArch(): string | null {
  const goArch: Record<string, string> = { arm64: 'arm64', arm: 'arm', s390x: 's390x', ia32: '386', riscv64: 'riscv64', mips: 'mips', mipsel: 'mipsle' };
  if (process.arch === 'x64' || process.arch === 'ppc64') return null;
  return goArch[process.arch] ?? process.arch;
}

/** A POST to an etcd gateway: status and parsed JSON (null if not JSON), or an error. */
function post(url: string, body: unknown, timeoutMs: number, tls: EtcdClientTls | null = null): Promise<{ status: number; json: Record<string, unknown> | null }> {
  return new Promise((resolve, reject) => {
    const payload = JSON.stringify(body);
    const secure = tls ? { ca: readFileSync(tls.caFile), cert: readFileSync(tls.certFile), key: readFileSync(tls.keyFile) } : {};
    const req = (url.startsWith('https:') ? https : http).request(url, { method: 'POST', agent: false, ...secure, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        clearTimeout(timer);
        let json: Record<string, unknown> | null = null;
        try {
          json = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>;
        } catch {
          json = null;
        }
        resolve({ status: res.statusCode ?? 0, json });
      });
      res.on('error', reject);
    });
    const timer = setTimeout(() => req.destroy(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
    req.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    req.end(payload);
  });
}

interface MemberState extends EtcdMember {
  host: string;
  dir: string;
  dataDir: string;
  log: string;
  pidFile: string;
  process: ChildProcess | null;
  exited: Promise<void> | null;
}

export async function startEtcdCluster(opts: StartEtcdOptions = {}): Promise<EtcdCluster> {
  if (!etcdAvailable()) throw new Error(`cannot start etcd for the system tests: ${etcdSkipReason}`);
  const size = opts.size ?? 3;
  const heartbeat = opts.heartbeatMs ?? 100;
  const election = opts.electionTimeoutMs ?? 1000;
  const root = mkdtempSync(path.join(tmpdir(), 'etcd-test-'));
  // If this test process dies without destroy() (a worker killed on timeout), the members and their
  // files must not outlive it.
  const guard = watchdog(root, 'etcd.pid');

  const endpoints: Array<{ host: string; ports: number[] }> = [];
  for (let i = 0; i < size; i++) endpoints.push(await freeLoopbackEndpoint(2, 'the etcd tests'));
  const hosts = endpoints.map((e) => e.host);
  const scheme = opts.tls ? 'https' : 'http';
  let clientTls: EtcdClientTls | null = null;
  let serverTls: string[] = [];
  if (opts.tls) {
    const ca = makeCertificateAuthority('etcd test CA');
    // etcd's JSON gateway calls its own gRPC server with the server's certificate as a client's:
    // under --client-cert-auth that certificate must be good for both.
    const server = ca.issue('etcd-server', { ips: hosts, dns: ['localhost'], usage: 'both' });
    const client = ca.issue('etcd-client', { usage: 'client' });
    clientTls = { caFile: ca.caFile, certFile: client.certFile, keyFile: client.keyFile };
    serverTls = [`--cert-file=${server.certFile}`, `--key-file=${server.keyFile}`, `--trusted-ca-file=${ca.caFile}`, '--client-cert-auth'];
  }
  const members: MemberState[] = hosts.map((host, i) => {
    const name = `etcd${i + 1}`;
    const dir = path.join(root, name);
    mkdirSync(dir, { recursive: true });
    const m: MemberState = {
      name,
      host,
      clientUrl: `${scheme}://${host}:${endpoints[i]!.ports[0]}`,
      peerUrl: `http://${host}:${endpoints[i]!.ports[1]}`,
      dir,
      dataDir: path.join(dir, 'data'),
      log: path.join(dir, 'etcd.log'),
      pidFile: path.join(dir, 'etcd.pid'),
      process: null,
      exited: null,
      pid: () => (isRunning(m) ? (m.process!.pid ?? null) : null),
    };
    return m;
  });
  const token = `test-${randomBytes(6).toString('hex')}`;
  const initialCluster = members.map((m) => `${m.name}=${m.peerUrl}`).join(',');

  const byName = (name: string): MemberState => {
    const found = members.find((m) => m.name === name);
    if (!found) throw new Error(`no etcd test member named ${name}`);
    return found;
  };
  function isRunning(m: MemberState): boolean {
    return m.process !== null && m.process.exitCode === null && m.process.signalCode === null;
  }

  function launch(m: MemberState): void {
    if (isRunning(m)) throw new Error(`${m.name} is already running`);
    const env: NodeJS.ProcessEnv = {};
    for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('ETCD')) env[k] = v;
    const arch = unsupportedArch();
    if (arch) env.ETCD_UNSUPPORTED_ARCH = arch;
    const fd = openSync(m.log, 'a');
    const child = spawn(
      'etcd',
      [
        `--name=${m.name}`,
        `--data-dir=${m.dataDir}`,
        `--listen-client-urls=${m.clientUrl}`,
        `--advertise-client-urls=${m.clientUrl}`,
        `--listen-peer-urls=${m.peerUrl}`,
        `--initial-advertise-peer-urls=${m.peerUrl}`,
        `--initial-cluster=${initialCluster}`,
        '--initial-cluster-state=new',
        `--initial-cluster-token=${token}`,
        `--heartbeat-interval=${heartbeat}`,
        `--election-timeout=${election}`,
        '--logger=zap',
        '--log-outputs=stderr',
        ...serverTls,
        ...(opts.extraArgs ?? []),
      ],
      { stdio: ['ignore', fd, fd], env },
    );
    closeSync(fd);
    m.process = child;
    killOnExit(child);
    m.exited = new Promise((resolve) => child.once('exit', () => resolve()));
    if (child.pid) writeFileSync(m.pidFile, String(child.pid));
  }

  /** A member is healthy when it knows a leader and serves a linearizable read (or refuses it only for want of credentials). */
  async function memberHealthy(m: MemberState): Promise<string | { leader: string }> {
    try {
      const status = await post(`${m.clientUrl}/v3/maintenance/status`, {}, 1000, clientTls);
      const leader = String(status.json?.leader ?? '0');
      if (status.status !== 200 || leader === '0') return `no leader known (HTTP ${status.status})`;
      const read = await post(`${m.clientUrl}/v3/kv/range`, { key: Buffer.from('health').toString('base64') }, 1500, clientTls);
      if (read.status === 200 && !read.json?.error) return { leader };
      const message = String(read.json?.message ?? read.json?.error ?? `HTTP ${read.status}`);
      if (/user name is empty|invalid auth token|permission denied/.test(message)) return { leader };
      return `read failed: ${message}`;
    } catch (e) {
      return (e as Error).message;
    }
  }

  async function waitHealthy(timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let why = '';
    while (Date.now() < deadline) {
      const up = members.filter(isRunning);
      const dead = members.find((m) => m.process !== null && !isRunning(m) && m.process.signalCode === null && m.process.exitCode !== null);
      if (dead) throw new Error(`${dead.name} exited with ${dead.process!.exitCode}\n${dead.name}'s log ends with:\n${tailOf(dead.log)}`);
      const answers = await Promise.all(up.map(memberHealthy));
      const leaders = new Set(answers.map((a) => (typeof a === 'string' ? null : a.leader)));
      if (up.length > 0 && !leaders.has(null) && leaders.size === 1) return;
      why = up.map((m, i) => `${m.name}: ${typeof answers[i] === 'string' ? answers[i] : `leader ${(answers[i] as { leader: string }).leader}`}`).join('; ');
      await sleep(100);
    }
    const logs = members.map((m) => `${m.name}'s log ends with:\n${tailOf(m.log, 10)}`).join('\n');
    throw new Error(`the etcd cluster did not become healthy within ${timeoutMs} ms (${why})\n${logs}`);
  }

  async function kill(name: string): Promise<void> {
    const m = byName(name);
    if (!isRunning(m)) return;
    m.process!.kill('SIGCONT');
    m.process!.kill('SIGKILL');
    await m.exited;
  }

  async function start(name: string): Promise<void> {
    launch(byName(name));
    await waitHealthy();
  }

  async function leader(): Promise<string | null> {
    const answers = await Promise.all(
      members.filter(isRunning).map(async (m) => {
        try {
          const s = await post(`${m.clientUrl}/v3/maintenance/status`, {}, 1000, clientTls);
          const header = (s.json?.header ?? {}) as Record<string, unknown>;
          return s.json && s.json.leader === header.member_id ? m.name : null;
        } catch {
          return null;
        }
      }),
    );
    return answers.find((a) => a !== null) ?? null;
  }

  let destroyed = false;
  async function destroy(): Promise<void> {
    if (destroyed) return;
    destroyed = true;
    await Promise.all(members.map((m) => kill(m.name)));
    rmSync(root, { recursive: true, force: true });
    guard.kill('SIGKILL');
  }

  const cluster: EtcdCluster = {
    members,
    endpoints: members.map((m) => m.clientUrl),
    root,
    kill,
    stop: async (name) => {
      const m = byName(name);
      if (!isRunning(m)) throw new Error(`${name} is not running`);
      m.process!.kill('SIGSTOP');
      // The signal is delivered asynchronously: a request sent right after kill() can still be answered.
      const pid = m.process!.pid!;
      for (let i = 0; i < 200; i++) {
        const state = readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /s, '')[0];
        if (state === 'T' || state === 't') return;
        await sleep(10);
      }
      throw new Error(`${name} (pid ${pid}) did not stop within 2 s of SIGSTOP`);
    },
    cont: (name) => {
      const m = byName(name);
      if (isRunning(m)) m.process!.kill('SIGCONT');
    },
    start,
    waitHealthy,
    leader,
    logTail: (name, lines) => tailOf(byName(name).log, lines),
    destroy,
    tls: clientTls,
  };

  try {
    for (const m of members) launch(m);
    await waitHealthy();
  } catch (e) {
    await destroy().catch(() => {});
    throw e;
  }
  return cluster;
}
