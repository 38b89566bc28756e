/**
 * The connector and its application for the end-to-end tier: the built `tungsten-connector`
 * (dist/src/cli/connector.js) as a real process, and sysbench (Debian package `sysbench`) as the
 * application, its report parsed. No relative imports: the benchmark loads this file on its own
 * (bench/lib/ts-helpers.js transpiles one file into .tmp/).
 */
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { resolve } from 'node:path';

export const CONNECTOR_BIN = resolve(import.meta.dirname, '../../dist/src/cli/connector.js');

function commandExists(command: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Why sysbench cannot be run here, or null. */
export function sysbenchMissing(): string | null {
  return commandExists('sysbench') ? null : 'sysbench is not installed (Debian package sysbench; .ci/system-deps.sh installs it)';
}

/** Why HAProxy cannot be run here, or null. */
export function haproxyMissing(): string | null {
  return commandExists('haproxy') || commandExists('/usr/sbin/haproxy') ? null : 'haproxy is not installed (Debian package haproxy; .ci/system-deps.sh installs it)';
}

export interface ConnectorProcess {
  child: ChildProcess;
  pid: number;
  /** Everything it printed, both streams, one line per line with the time it arrived (ms since epoch). */
  lines: Array<{ at: number; line: string }>;
  output(): string;
  /** The write port, once the banner says where it listens. */
  ready: Promise<number>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  running(): boolean;
  /** SIGKILL (a crash); resolves once it is gone. */
  kill9(): Promise<void>;
  /** SIGTERM, then SIGKILL after 8 s; resolves once it is gone. */
  stop(): Promise<void>;
}

const children = new Set<ChildProcess>();
let hooked = false;

/**
 * Starts `tungsten-connector` with these flags (the API credentials come from the flags or env
 * given); `nodeArgs` go to node itself (`--cpu-prof`, which NODE_OPTIONS does not take).
 */
export function spawnConnector(args: string[], env: Record<string, string | undefined> = {}, nodeArgs: string[] = []): ConnectorProcess {
  if (!hooked) {
    hooked = true;
    process.once('exit', () => {
      for (const c of children) c.kill('SIGKILL');
    });
  }
  const childEnv: Record<string, string | undefined> = { ...process.env, TUNGSTEN_API_USER: undefined, TUNGSTEN_API_PASSWORD: undefined, ...env };
  for (const k of Object.keys(childEnv)) if (childEnv[k] === undefined) delete childEnv[k];
  const child = spawn(process.execPath, [...nodeArgs, CONNECTOR_BIN, ...args], { env: childEnv as NodeJS.ProcessEnv, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  const lines: Array<{ at: number; line: string }> = [];
  const partial = { out: '', err: '' };
  const take = (which: 'out' | 'err') => (chunk: string) => {
    partial[which] += chunk;
    let nl;
    while ((nl = partial[which].indexOf('\n')) >= 0) {
      lines.push({ at: Date.now(), line: partial[which].slice(0, nl) });
      partial[which] = partial[which].slice(nl + 1);
    }
  };
  child.stdout!.setEncoding('utf8').on('data', take('out'));
  child.stderr!.setEncoding('utf8').on('data', take('err'));
  const output = () => lines.map((l) => l.line).join('\n');
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) =>
    child.once('exit', (code, signal) => {
      children.delete(child);
      r({ code, signal });
    }),
  );
  const running = () => child.exitCode === null && child.signalCode === null;
  const ready = new Promise<number>((res, rej) => {
    const check = () => {
      const m = /listening on \S+:(\d+) \(master\)/.exec(output());
      if (m) res(Number(m[1]));
    };
    child.stdout!.on('data', () => setImmediate(check));
    void exited.then(({ code, signal }) => rej(new Error(`tungsten-connector exited (${code ?? signal}) before it was ready:\n${output()}`)));
  });
  ready.catch(() => undefined);
  return {
    child,
    pid: child.pid ?? -1,
    lines,
    output,
    ready,
    exited,
    running,
    async kill9() {
      if (running()) child.kill('SIGKILL');
      await exited;
    },
    async stop() {
      if (!running()) return;
      child.kill('SIGTERM');
      const forced = setTimeout(() => child.kill('SIGKILL'), 8000);
      await exited;
      clearTimeout(forced);
    },
  };
}

export interface SysbenchResult {
  code: number | null;
  /** Transactions per second, queries per second (the report's totals). */
  tps: number;
  qps: number;
  /** The `--percentile` latency (ms) and the average. */
  p99Ms: number;
  avgMs: number;
  /** Ignored errors (the report's count) and reconnects. */
  errors: number;
  reconnects: number;
  stdout: string;
  stderr: string;
}

export interface SysbenchTarget {
  host?: string;
  port?: number;
  socket?: string;
  user: string;
  password?: string;
  db: string;
}

function targetArgs(t: SysbenchTarget): string[] {
  return [
    ...(t.socket ? [`--mysql-socket=${t.socket}`] : [`--mysql-host=${t.host}`, `--mysql-port=${t.port}`]),
    `--mysql-user=${t.user}`,
    ...(t.password !== undefined ? [`--mysql-password=${t.password}`] : []),
    `--mysql-db=${t.db}`,
    '--mysql-ssl=off',
    '--db-driver=mysql',
  ];
}

/** `sysbench TEST ... prepare`. */
export async function sysbenchPrepare(test: string, target: SysbenchTarget, opts: { tables?: number; tableSize?: number } = {}): Promise<void> {
  const args = [test, ...targetArgs(target), `--tables=${opts.tables ?? 1}`, `--table-size=${opts.tableSize ?? 10_000}`, 'prepare'];
  await new Promise<void>((res, rej) =>
    execFile('sysbench', args, { timeout: 120_000 }, (e, out, err) => (e ? rej(new Error(`sysbench ${args.join(' ')}: ${e.message}\n${out}\n${err}`)) : res())),
  );
}

export interface SysbenchRun {
  child: ChildProcess;
  done: Promise<SysbenchResult>;
  /** SIGINT... sysbench has no clean stop: SIGKILL; `done` then rejects. */
  kill(): void;
}

/** Starts `sysbench TEST ... run`; `done` resolves with its report once it exits. */
export function sysbenchRun(
  test: string,
  target: SysbenchTarget,
  opts: { threads: number; seconds: number; tables?: number; tableSize?: number; ignoreErrors?: string; extra?: string[] },
): SysbenchRun {
  const args = [
    test,
    ...targetArgs(target),
    `--tables=${opts.tables ?? 1}`,
    `--table-size=${opts.tableSize ?? 10_000}`,
    `--threads=${opts.threads}`,
    `--time=${opts.seconds}`,
    '--percentile=99',
    `--mysql-ignore-errors=${opts.ignoreErrors ?? 'none'}`,
    ...(opts.extra ?? []),
    'run',
  ];
  const child = spawn('sysbench', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (c: string) => (stdout += c));
  child.stderr!.setEncoding('utf8').on('data', (c: string) => (stderr += c));
  const done = new Promise<SysbenchResult>((res, rej) => {
    child.once('error', rej);
    child.once('exit', (code, signal) => {
      children.delete(child);
      if (signal) return rej(new Error(`sysbench killed (${signal})`));
      res({ code, ...parseSysbench(stdout), stdout, stderr });
    });
  });
  done.catch(() => undefined);
  return { child, done, kill: () => child.kill('SIGKILL') };
}

/** The figures of a sysbench 1.0 report (NaN for what it lacks). */
export function parseSysbench(text: string): Omit<SysbenchResult, 'code' | 'stdout' | 'stderr'> {
  const num = (re: RegExp) => {
    const m = re.exec(text);
    return m ? Number(m[1]) : Number.NaN;
  };
  return {
    tps: num(/transactions:\s+\d+\s+\(([\d.]+) per sec/),
    qps: num(/queries:\s+\d+\s+\(([\d.]+) per sec/),
    p99Ms: num(/99th percentile:\s+([\d.]+)/),
    avgMs: num(/avg:\s+([\d.]+)/),
    errors: num(/ignored errors:\s+(\d+)/),
    reconnects: num(/reconnects:\s+(\d+)/),
  };
}
