/**
 * The built `tungsten-connector` (dist/src/cli/connector.js) as a real process: flags, exit codes,
 * start without a manager, SIGTERM, and what real MySQL clients (the `mariadb` command line client
 * and mysql2) print when an OFFLINE connector refuses them.
 */
import { titleOrSkipReason } from '../helpers/processes.js';
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import mysql from 'mysql2/promise';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { EchoServer, FakeManager, TestClient, until } from './fake-manager.js';

const BIN = resolve(import.meta.dirname, '../../dist/src/cli/connector.js');

interface ConnectorProcess {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** The write port, once the banner says where it listens. */
  ready: Promise<number>;
}

const started: ChildProcess[] = [];
const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of started.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  for (const c of cleanups.splice(0).reverse()) await c();
});

function run(args: string[], env: Record<string, string | undefined> = {}): ConnectorProcess {
  const childEnv: Record<string, string | undefined> = { ...process.env, TUNGSTEN_API_USER: undefined, TUNGSTEN_API_PASSWORD: undefined, HOME: emptyHome(), ...env };
  for (const k of Object.keys(childEnv)) if (childEnv[k] === undefined) delete childEnv[k];
  const child = spawn(process.execPath, [BIN, ...args], { env: childEnv as NodeJS.ProcessEnv, stdio: ['ignore', 'pipe', 'pipe'] });
  started.push(child);
  let out = '';
  let err = '';
  child.stdout!.setEncoding('utf8').on('data', (c: string) => (out += c));
  child.stderr!.setEncoding('utf8').on('data', (c: string) => (err += c));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => child.on('exit', (code, signal) => r({ code, signal })));
  const ready = new Promise<number>((res, rej) => {
    child.stdout!.on('data', () => {
      const m = /listening on \S+:(\d+) \(master\)/.exec(out);
      if (m) res(Number(m[1]));
    });
    void exited.then(({ code, signal }) => rej(new Error(`tungsten-connector exited (${code ?? signal}) before it was ready:\n${out}${err}`)));
  });
  ready.catch(() => undefined);
  return { child, stdout: () => out, stderr: () => err, exited, ready };
}

let home: string | null = null;
/** A HOME without ~/.cctrl_credentials, so the developer's own file never counts. */
function emptyHome(): string {
  home ??= mkdtempSync(join(tmpdir(), 'connector-home-'));
  return home;
}
afterAll(() => {
  if (home) rmSync(home, { recursive: true, force: true });
});

async function manager(): Promise<FakeManager> {
  const m = await new FakeManager().start();
  cleanups.push(() => m.stop());
  return m;
}

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

const base = (managerUrl: string) => ['--manager', managerUrl, '--service', 'alpha', '--listen', '127.0.0.1:0'];

describe('tungsten-connector: flags and exit codes', () => {
  it.each([
    [['--service', 'alpha', '--listen', '0'], /required option '--manager/],
    [['--manager', 'http://127.0.0.1:1', '--listen', '0'], /required option '--service/],
    [['--manager', 'http://127.0.0.1:1', '--service', 'alpha', '--listen', 'host:port'], /expected HOST:PORT/],
    [['--manager', 'http://127.0.0.1:1', '--service', 'alpha', '--listen', '70000'], /out of range/],
    [['--manager', 'ftp://x', '--service', 'alpha', '--listen', '0'], /unsupported scheme/],
    [['--manager', 'http://a:1,,http://b:1', '--service', 'alpha', '--listen', '0'], /empty entry/],
    [['--manager', 'http://127.0.0.1:1', '--service', 'alpha', '--listen', '0', '--hold-timeout', 'soon'], /expected a number of seconds/],
    [['--manager', 'http://127.0.0.1:1', '--service', 'alpha', '--listen', '0', '--bogus'], /unknown option '--bogus'/],
    [['--manager', 'http://127.0.0.1:1', '--service', 'alpha', '--listen', '0', '--forwarding', 'sideways'], /'sideways' is invalid\. Allowed choices are handles, streams/],
  ])('%j: exit 2 with the reason', async (args, message) => {
    const p = run(args);
    expect((await p.exited).code).toBe(2);
    expect(p.stderr()).toMatch(message);
  });

  it('a port in use: exit 1, saying which and what to do', async () => {
    const m = await manager();
    const taken = net.createServer();
    await new Promise<void>((r) => taken.listen(0, '127.0.0.1', () => r()));
    cleanups.push(() => new Promise<void>((r) => taken.close(() => r())));
    const port = (taken.address() as net.AddressInfo).port;
    const p = run(['--manager', m.url, '--service', 'alpha', '--listen', `127.0.0.1:${port}`, '--user', 'tungsten', '--password', 'secret']);
    expect((await p.exited).code).toBe(1);
    expect(p.stderr()).toContain(`cannot listen on 127.0.0.1:${port}: the address is already in use`);
    expect(p.stderr()).toContain('give --listen another port');
  });

  it('credentials the manager refuses: exit 3', async () => {
    const m = await manager();
    const p = run(base(m.url), { TUNGSTEN_API_USER: 'tungsten', TUNGSTEN_API_PASSWORD: 'wrong' });
    expect((await p.exited).code).toBe(3);
    expect(p.stderr()).toContain(`the manager at ${m.url} refused the credentials of user 'tungsten'`);
  });

  it('credentials from the credentials file, as cctrl reads them (and --forwarding streams)', async () => {
    const db1 = await new EchoServer('db1').start();
    cleanups.push(() => db1.stop());
    const m = await manager();
    m.set({ master: db1.backend });
    const dir = mkdtempSync(join(tmpdir(), 'connector-cred-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const file = join(dir, 'creds');
    writeFileSync(file, 'user=tungsten\npassword=secret\n');
    chmodSync(file, 0o600);
    // Forwarding through Node's streams, the fallback, carries the bytes the same way.
    const p = run([...base(m.url), '--credentials', file, '--forwarding', 'streams']);
    const port = await p.ready;
    const c = new TestClient(port);
    await c.waitFor('hello from db1');
    c.end();
    p.child.kill('SIGTERM');
    expect((await p.exited).code).toBe(0);
  });

  it('no manager answers: starts ON-HOLD and says so; SIGTERM stops it with exit 0', async () => {
    const port = await freePort();
    const p = run(['--manager', `http://127.0.0.1:${port}`, '--service', 'alpha', '--listen', '0', '--user', 'u', '--password', 'p']);
    await p.ready;
    await until(() => /starting ON-HOLD/.test(p.stderr()), 'the ON-HOLD warning');
    expect(p.stdout()).toContain('state ON-HOLD: no manager answers; new connections wait');
    expect(p.stderr()).toContain(`starting ON-HOLD: no manager answers (http://127.0.0.1:${port}: connection refused)`);
    expect(p.stderr()).toContain('OFFLINE (connections refused) after 30 s without one');
    p.child.kill('SIGTERM');
    expect(await p.exited).toEqual({ code: 0, signal: null });
    expect(p.stderr()).toContain('SIGTERM, stopping');
  });

  it('ONLINE: the banner gives the ports and the routes; connections reach the master; it registers', async () => {
    const db1 = await new EchoServer('db1').start();
    const db2 = await new EchoServer('db2').start();
    cleanups.push(() => db1.stop(), () => db2.stop());
    const m = await manager();
    m.set({ master: db1.backend, slaves: [db2.slave()] });
    const p = run([...base(m.url), '--read-listen', '0', '--name', 'connector@app1', '--user', 'tungsten', '--password', 'secret']);
    const port = await p.ready;
    expect(p.stdout()).toMatch(/^tungsten-connector connector@app1\[\d+\]: service alpha/);
    expect(p.stdout()).toMatch(/listening on 127\.0\.0\.1:\d+ \(master\), 127\.0\.0\.1:\d+ \(slaves\)/);
    expect(p.stdout()).toContain(`state ONLINE: routes epoch 2, master db1 (127.0.0.1:${db1.port}), slaves db2`);
    const c = new TestClient(port);
    await c.waitFor('hello from db1');
    await until(() => m.lastHeartbeat()?.active === 1, 'registered with one active connection');
    expect(m.lastHeartbeat()).toMatchObject({ name: 'connector@app1', pid: p.child.pid, state: 'ONLINE' });
    c.end();
    p.child.kill('SIGINT');
    expect((await p.exited).code).toBe(0);
  });
});

const mariadbClient = (() => {
  try {
    execFileSync('sh', ['-c', 'command -v mariadb'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

describe('tungsten-connector OFFLINE: real MySQL clients show why they are refused', () => {
  async function offlineConnector(): Promise<{ port: number; p: ConnectorProcess }> {
    const port = await freePort();
    const p = run(['--manager', `http://127.0.0.1:${port}`, '--service', 'alpha', '--listen', '0', '--offline-after', '0', '--name', 'connector@app1']);
    const listen = await p.ready;
    await until(() => /OFFLINE: no manager has answered/.test(p.stderr()), 'OFFLINE');
    return { port: listen, p };
  }

  it.skipIf(!mariadbClient && process.env.CI !== 'true')(titleOrSkipReason('the mariadb client prints the error code, SQLSTATE and message', mariadbClient ? null : 'the mariadb client is not installed (mariadb-client)'), async () => {
    const { port } = await offlineConnector();
    const result = await new Promise<{ code: number | null; stderr: string }>((res) =>
      execFile('mariadb', ['--skip-ssl', '-h', '127.0.0.1', '-P', String(port), '-u', 'app', '-pnothing', '-e', 'SELECT 1'], { timeout: 10_000 }, (e, _out, stderr) =>
        res({ code: e ? ((e as { code?: number }).code ?? null) : 0, stderr }),
      ),
    );
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^ERROR 1053 \(08S01\): tungsten-connector connector@app1 is OFFLINE: no manager has answered since it started \(.*connection refused\)\. It refuses connections until a manager answers again; check the managers/);
    // With its default TLS settings it still prints the message (as the error of a server that
    // refused before TLS could start).
    const tls = await new Promise<string>((res) =>
      execFile('mariadb', ['-h', '127.0.0.1', '-P', String(port), '-u', 'app', '-pnothing', '-e', 'SELECT 1'], { timeout: 10_000 }, (_e, _out, stderr) => res(stderr)),
    );
    expect(tls).toContain('tungsten-connector connector@app1 is OFFLINE');
  });

  it('mysql2 gets ER_SERVER_SHUTDOWN with the message', async () => {
    const { port } = await offlineConnector();
    const error = await mysql.createConnection({ host: '127.0.0.1', port, user: 'app', password: 'x', connectTimeout: 5000 }).then(
      () => null,
      (e: unknown) => e as { code: string; errno: number; sqlState: string; message: string },
    );
    expect(error).toMatchObject({ code: 'ER_SERVER_SHUTDOWN', errno: 1053, sqlState: '08S01' });
    expect(error!.message).toMatch(/^tungsten-connector connector@app1 is OFFLINE: no manager has answered/);
  });
});
