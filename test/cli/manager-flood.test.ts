/**
 * A flood of unauthenticated idle TCP connections against a real tungsten-manager process with a
 * low descriptor limit (issue 9, item 3): the API sheds them within its cap, the monitor and the
 * state writes keep their descriptors, operators keep being answered, nothing is failed over, and
 * the idle connections are closed after the idle timeout.
 *
 * Needs the build (dist/): `npm run build` (npm test does it first).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { MANAGER_BIN } from '../helpers/manager-process.js';
import { rawRequest } from '../helpers/http.js';

const FD_LIMIT = 400;
const FLOOD = 3000;
const IDLE_TIMEOUT_S = 2;
const auth = { user: 'tungsten', password: 'secret' };

interface Limited {
  child: ChildProcess;
  out: () => string;
  ready: Promise<string>;
}

/** tungsten-manager under `ulimit -n limit`, as a real process. */
function spawnLimited(limit: number, args: string[]): Limited {
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env.TUNGSTEN_API_USER;
  delete env.TUNGSTEN_API_PASSWORD;
  const child = spawn('sh', ['-c', `ulimit -n ${limit} && exec "$0" "$@"`, process.execPath, MANAGER_BIN, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.setEncoding('utf8').on('data', (c: string) => (out += c));
  child.stderr!.setEncoding('utf8').on('data', (c: string) => (out += c));
  const ready = new Promise<string>((resolve, reject) => {
    child.stdout!.on('data', () => {
      const m = /REST API on (https?:\/\/\S+)\/api\/v2/.exec(out);
      if (m) resolve(m[1]!);
    });
    child.once('exit', (code, signal) => reject(new Error(`tungsten-manager exited (${code ?? signal}) before it was ready:\n${out}`)));
  });
  ready.catch(() => undefined);
  return { child, out: () => out, ready };
}

/** Keeps `target` idle connections open (reopening what the server closes) until stopped. */
function flood(port: number, target: number) {
  const open = new Set<net.Socket>();
  let opened = 0;
  let closedByServer = 0;
  let stopping = false;
  const connect = () => {
    if (stopping) return;
    const s = net.connect({ host: '127.0.0.1', port });
    opened++;
    open.add(s);
    s.on('error', () => undefined);
    s.once('close', () => {
      open.delete(s);
      if (stopping) return;
      closedByServer++;
      setTimeout(connect, 20);
    });
  };
  const topUp = setInterval(() => {
    for (let i = open.size; i < target && i < open.size + 500; i++) connect();
  }, 50);
  return {
    stats: () => ({ open: open.size, opened, closedByServer }),
    /** Stops reopening; the connections still open stay open (for the idle timeout to close). */
    stop: () => {
      stopping = true;
      clearInterval(topUp);
      return open;
    },
    destroy: () => {
      stopping = true;
      clearInterval(topUp);
      for (const s of open) s.destroy();
    },
  };
}

/** An authenticated request, tried a few times (a connection can be shed before its request is read). */
async function authenticatedGet(url: string, method = 'GET'): Promise<{ status: number; json: any; attempts: number }> {
  let last: unknown;
  for (let attempt = 1; attempt <= 10; attempt++) {
    try {
      const reply = await rawRequest(url, { ...auth, method });
      return { status: reply.status, json: reply.json, attempts: attempt };
    } catch (e) {
      last = e;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  throw new Error(`no answer in 10 attempts: ${(last as Error)?.message}`);
}

/** Descriptors the process holds now (Linux /proc). */
function openDescriptors(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

async function idleConnection(port: number): Promise<{ socket: net.Socket; closed: Promise<number> }> {
  const socket = net.connect({ host: '127.0.0.1', port });
  socket.on('error', () => undefined);
  await new Promise<void>((r) => socket.once('connect', () => r()));
  const at = Date.now();
  return { socket, closed: new Promise((r) => socket.once('close', () => r(Date.now() - at))) };
}

const cleanup: Array<() => void> = [];
afterEach(() => {
  for (const f of cleanup.splice(0).reverse()) f();
});

describe('tungsten-manager under a flood of idle connections', () => {
  it(`${FLOOD} idle connections at ulimit -n ${FD_LIMIT}: operators answered, state saved, nothing failed over, idle ones closed`, async () => {
    const stateDir = mkdtempSync(join(tmpdir(), 'mgr-flood-'));
    const m = spawnLimited(FD_LIMIT, [
      '--demo',
      '--port',
      '0',
      '--state-dir',
      stateDir,
      '--property=policy.liveness.samplePeriod=1',
      `--property=manager.api.idleTimeout=${IDLE_TIMEOUT_S}`,
    ]);
    cleanup.push(() => {
      m.child.kill('SIGKILL');
      rmSync(stateDir, { recursive: true, force: true });
    });
    const url = await m.ready;
    // The cap follows the descriptor limit: half of it stays for monitoring and state.
    expect(m.out()).toContain(`API connection cap lowered from 256 to ${FD_LIMIT / 2}`);
    const port = Number(new URL(url).port);

    const f = flood(port, FLOOD);
    cleanup.push(() => f.destroy());
    const answered: number[] = [];
    const floodUntil = Date.now() + 8000;
    let switched = false;
    let peakDescriptors = 0;
    while (Date.now() < floodUntil) {
      peakDescriptors = Math.max(peakDescriptors, openDescriptors(m.child.pid!));
      const reply = await authenticatedGet(`${url}/api/v2/manager/status/service/alpha`);
      expect(reply.status).toBe(200);
      answered.push(reply.attempts);
      const states = reply.json.payload.datasourceDetails.map((d: { name: string; state: string }) => `${d.name}:${d.state}`);
      expect(states).toEqual(['db1:ONLINE', 'db2:ONLINE', 'db3:ONLINE']);
      // State changes under the flood are written to the state directory (checked below: no save failed).
      if (!switched && Date.now() > floodUntil - 5000) {
        for (const mode of ['manual', 'automatic']) {
          expect((await authenticatedGet(`${url}/api/v2/manager/control/service/alpha/policy/${mode}`, 'POST')).status).toBe(201);
        }
        expect((await authenticatedGet(`${url}/api/v2/manager/service/alpha/policy`)).json.payload.policy).toBe('AUTOMATIC');
        switched = true;
      }
      await new Promise((r) => setTimeout(r, 200));
    }
    const stats = f.stats();
    // The flood was real: far more connections than the descriptors the manager has.
    expect(stats.opened).toBeGreaterThan(FLOOD);
    expect(stats.closedByServer).toBeGreaterThan(FLOOD - FD_LIMIT);

    // The pings of each datasource still work (the monitor has its descriptors).
    for (const ds of ['db1', 'db2', 'db3']) {
      const ping = await authenticatedGet(`${url}/api/v2/manager/service/alpha/datasource/${ds}/ping`);
      expect(ping.status).toBe(200);
    }

    // The manager never held more than its cap and what monitoring and state need: the reserve held.
    expect(peakDescriptors).toBeLessThan(FD_LIMIT / 2 + 60);
    f.destroy();

    // Idle connections the server took are closed after the idle timeout (and not before).
    const idle = await Promise.all(Array.from({ length: 20 }, () => idleConnection(port)));
    const closedAfter = await Promise.all(idle.map((c) => c.closed));
    for (const ms of closedAfter) {
      expect(ms).toBeGreaterThan(IDLE_TIMEOUT_S * 1000 - 300);
      expect(ms).toBeLessThan(IDLE_TIMEOUT_S * 1000 + 2000);
    }

    // A few samples after the flood: still the same master, nothing failed, no failover ran.
    await new Promise((r) => setTimeout(r, 3000));
    const after = await authenticatedGet(`${url}/api/v2/manager/status/service/alpha`);
    expect(after.json.payload.datasourceDetails.map((d: { name: string; role: string; state: string }) => `${d.name}:${d.role}:${d.state}`)).toEqual([
      'db1:master:ONLINE',
      'db2:slave:ONLINE',
      'db3:slave:ONLINE',
    ]);
    expect(switched).toBe(true);
    const history = await authenticatedGet(`${url}/api/v2/manager/service/alpha/history`);
    expect(history.json.payload.tasks.map((t: { operation: string }) => t.operation).join('; ')).not.toMatch(/failover/i);
    expect(m.out()).not.toMatch(/EMFILE|ENFILE|cannot save manager state|HOST .* UNREACHABLE|is now FAILED/);
  }, 60_000);
});
