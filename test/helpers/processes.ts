/**
 * What every real-peer harness (mariadbd, etcd, tungsten-manager processes) shares: a random
 * loopback address of its own, children that never outlive the test process (an exit hook, and a
 * watchdog for a worker killed outright), log tails for error messages.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { readFileSync } from 'node:fs';
import net from 'node:net';

export function commandExists(command: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const running = new Set<ChildProcess>();
let exitHookInstalled = false;

/** The child is killed (thawed first, if stopped) when the test process exits. */
export function killOnExit(child: ChildProcess): void {
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.once('exit', () => {
      for (const c of running) {
        c.kill('SIGCONT');
        c.kill('SIGKILL');
      }
    });
  }
  running.add(child);
  child.once('exit', () => running.delete(child));
}

/**
 * If this test process dies without cleaning up (a worker killed on timeout), every process whose
 * pid is in `root/<member>/<pidFile>` and whose command line contains `match` is killed, and `root`
 * removed.
 */
export function watchdog(root: string, pidFile: string, match: string = root): ChildProcess {
  const child = spawn(
    'sh',
    [
      '-c',
      `while kill -0 ${process.pid} 2>/dev/null; do sleep 1; done
       for f in "$0"/*/${pidFile}; do
         p=$(cat "$f" 2>/dev/null) || continue
         grep -qF "$1" "/proc/$p/cmdline" 2>/dev/null && kill -CONT "$p" && kill -9 "$p"
       done
       sleep 1; rm -rf "$0"`,
      root,
      match,
    ],
    { detached: true, stdio: 'ignore' },
  );
  child.unref();
  return child;
}

/** Can host:port be listened on? 'unavailable' when the address is not local (not Linux's 127/8). */
function bindable(host: string, port: number): Promise<'free' | 'busy' | 'unavailable'> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', (e: NodeJS.ErrnoException) => resolve(e.code === 'EADDRNOTAVAIL' ? 'unavailable' : 'busy'));
    server.listen({ host, port, exclusive: true }, () => server.close(() => resolve('free')));
  });
}

const handedOut = new Set<string>();

/**
 * A loopback address in 127.0.0.0/8 on which every port given is free: 127.A.B.C with A, B, C at
 * random (never 127.0.0.x, the address everything else uses, nor a .0 or .255 host part), and
 * never one this process handed out before.
 */
export async function freeLoopbackAddress(ports: readonly number[], what = 'the system tests'): Promise<string> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const host = `127.${randomInt(1, 255)}.${randomInt(0, 256)}.${randomInt(1, 255)}`;
    if (handedOut.has(host)) continue;
    const verdicts = await Promise.all(ports.map((p) => bindable(host, p)));
    if (verdicts.includes('unavailable')) {
      throw new Error(`cannot listen on ${host}: ${what} need all of 127.0.0.0/8 on the loopback interface (Linux has it)`);
    }
    if (verdicts.every((v) => v === 'free')) {
      handedOut.add(host);
      return host;
    }
  }
  throw new Error(`no free loopback address for ports ${ports.join(', ')} after 50 tries`);
}

/**
 * A loopback address of its own and `count` ports on it, all picked at random (ports 20000-59999)
 * and checked free: no two suites, test files or benchmarks on one machine share any of them.
 */
export async function freeLoopbackEndpoint(count: number, what = 'the system tests'): Promise<{ host: string; ports: number[] }> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const base = randomInt(20_000, 60_000 - count);
    const ports = Array.from({ length: count }, (_, i) => base + i);
    try {
      return { host: await freeLoopbackAddress(ports, what), ports };
    } catch (e) {
      if (/cannot listen on/.test((e as Error).message)) throw e;
    }
  }
  throw new Error(`no free loopback address and ${count} free ports for ${what} after 20 tries`);
}

/** The last lines of a log file, for an error message. */
export function tailOf(file: string, lines = 20, missing = '(no log)'): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return missing;
  }
}

/**
 * A suite's title, saying why it is skipped here when `missing` (a prerequisite's absence) is
 * given. Under CI=true nothing is skipped: a missing prerequisite fails the suite instead.
 */
export function titleOrSkipReason(title: string, missing: string | null | undefined): string {
  return missing ? `${title} (skipped: ${missing})` : title;
}
