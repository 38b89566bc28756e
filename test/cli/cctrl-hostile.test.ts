/**
 * cctrl against a hostile manager and hostile input (issue 12), as the built bin: no control
 * character from the manager reaches the terminal (scripted, --json, at a real PTY, the `ls` boxes
 * included), an endless answer is cut at the cap with a protocol error, a stdin line over the cap
 * is a usage error, `datasource .. recover` is refused before anything is sent, and a terminal of
 * 0 columns does not crash the shell.
 */
import { readFileSync } from 'node:fs';
import http from 'node:http';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pty from 'node-pty';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ToolkitError } from '../../src/errors.js';
import type { ManagerInfo } from '../../src/manager/api.js';
import type { ControlRequest, ServiceStatus, TaskStatus } from '../../src/manager/model.js';
import { startManagerServer, type ManagerServer } from '../../src/manager/server/index.js';
import { CCTRL_BIN, requireBuild, runCctrl } from '../e2e/cctrl-helpers.js';
import { FakeManager } from '../manager/server/fake-manager.js';

const auth = { user: 'tungsten', password: 's3cret-pw' };
/** What a hostile manager puts in names and messages: OSC (retitle), CSI (clear screen) in C0 and C1 forms, CR, BEL. */
const EVIL = '\u001b]0;pwned\u0007\u001b[2J\u009b31m\r\u0085';
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/;

class HostileManager extends FakeManager {
  override info(): ManagerInfo {
    return { ...super.info(), hostName: `db1${EVIL}` };
  }
  override serviceStatus(service: string): ServiceStatus {
    const s = super.serviceStatus(service);
    return {
      ...s,
      coordinator: { ...s.coordinator, host: `db1${EVIL}` },
      datasources: s.datasources.map((d) => ({ ...d, alertMessage: `disk${EVIL}full` })),
      routers: s.routers.map((r) => ({ ...r, name: `connector@${EVIL}` })),
    };
  }
  override control(service: string, request: ControlRequest, requestedBy: string): TaskStatus {
    if (request.op === 'datasource' && request.action === 'fail') throw new ToolkitError('conflict', `refused${EVIL}by the manager`, `hint${EVIL}`);
    return super.control(service, request, requestedBy);
  }
}

let server: ManagerServer;
let manager: HostileManager;
let endless: http.Server;
let endlessUrl: string;
beforeAll(async () => {
  requireBuild();
  manager = new HostileManager(20);
  server = await startManagerServer({ manager, credentials: auth, port: 0 });
  // Answers every request with a JSON answer that never ends.
  endless = http.createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.write('{"payloadType":"StatusPayload","payloadVersion":1,"payload":{"x":"');
    const chunk = 'A'.repeat(64 * 1024);
    const pump = () => {
      while (res.write(chunk)) if (res.destroyed) return;
      if (!res.destroyed) res.once('drain', pump);
    };
    res.on('close', () => res.removeAllListeners('drain'));
    pump();
  });
  await new Promise<void>((r) => endless.listen(0, '127.0.0.1', () => r()));
  endlessUrl = `http://127.0.0.1:${(endless.address() as { port: number }).port}`;
});
afterAll(async () => {
  await server?.close();
  endless?.closeAllConnections();
  await new Promise((r) => endless?.close(r));
});

const args = () => ['--manager', server.url, '--user', auth.user];
const env = { TUNGSTEN_API_PASSWORD: auth.password };

describe('a hostile manager, scripted', () => {
  it('has every control character it sends neutralized in ls, errors and hints', async () => {
    const r = await runCctrl([...args(), '--expert', '-e', 'ls; datasource db2 fail'], { env });
    expect(r.code).toBe(1);
    expect(r.stdout).not.toMatch(CONTROL);
    expect(r.stderr).not.toMatch(CONTROL);
    const shown = '\\x1b]0;pwned\\x07\\x1b[2J\\x9b31m\\x0d\\x85';
    expect(r.stdout).toContain(`COORDINATOR[db1${shown}`);
    expect(r.stdout).toContain(`connector@${shown}`);
    expect(r.stderr).toContain(`refused${shown}by the manager`);
  });

  it('keeps them in --json, escaped: the document means the same and holds no raw control', async () => {
    const r = await runCctrl([...args(), '--json', '-e', 'ls'], { env });
    expect(r.code).toBe(0);
    expect(r.stdout).not.toMatch(CONTROL);
    const doc = JSON.parse(r.stdout.trim());
    expect(doc.result.status.coordinator.host).toBe(`db1${EVIL}`);
  });

  it('refuses `datasource .. recover` before anything is sent', async () => {
    const before = manager.controlCalls.length;
    const r = await runCctrl([...args(), '-e', 'datasource .. recover'], { env });
    // The shell knows the service's datasources: '..' is none of them (and the API client refuses it as a name too).
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/no datasource '\.\.'/);
    expect(manager.controlCalls.length).toBe(before);
  });
});

describe('answers and lines over the cap', () => {
  it('an endless answer: cut at 16 MiB with a protocol error (exit 1), memory bounded', async () => {
    let peakKb = 0;
    const started = Date.now();
    const r = await runCctrl(['--manager', endlessUrl, '--user', 'u', '-e', 'ls'], {
      env: { TUNGSTEN_API_PASSWORD: 'p' },
      onStdout: () => undefined,
      timeoutMs: 60_000,
      onSpawn: (pid) => {
        const probe = setInterval(() => {
          try {
            const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
            if (m) peakKb = Math.max(peakKb, Number(m[1]));
          } catch {
            clearInterval(probe);
          }
        }, 20);
      },
    });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/sent more than 16777216 bytes in its answer; stopped reading/);
    expect(Date.now() - started).toBeLessThan(10_000); // not the 10 s request timeout (exit 4)
    expect(peakKb).toBeGreaterThan(0);
    expect(peakKb).toBeLessThan(300 * 1024);
  });

  it('a stdin line over 1 MiB: exit 2 with a message, not a crash', async () => {
    const r = await runCctrl(args(), { env, input: `ls\n${'x'.repeat(2 * 1024 * 1024)}\nls\n` });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('line 2 of the input is longer than 1048576 bytes; nothing of it was run');
    expect(r.stderr).not.toMatch(/RangeError|at .*\.js:\d+/);
    expect(r.stdout).toContain('COORDINATOR['); // the line before it ran
  });
});

describe('at a real terminal', () => {
  function term(command: string, cols: number) {
    const home = mkdtempSync(join(tmpdir(), 'cctrl-home-'));
    const p = pty.spawn('/bin/sh', ['-c', command], {
      name: 'xterm-color',
      cols,
      rows: 40,
      env: { PATH: process.env.PATH ?? '', HOME: home, TZ: 'UTC', TERM: 'xterm-color', TUNGSTEN_API_PASSWORD: auth.password },
    });
    let raw = '';
    p.onData((d) => (raw += d));
    const exited = new Promise<number>((resolve) => p.onExit(({ exitCode }) => resolve(exitCode)));
    const waitFor = async (pattern: RegExp, what: string, timeoutMs = 15_000) => {
      const until = Date.now() + timeoutMs;
      while (!pattern.test(raw)) {
        if (Date.now() > until) throw new Error(`timed out waiting for ${what}; screen so far:\n${raw.slice(-2000)}`);
        await new Promise((r) => setTimeout(r, 25));
      }
    };
    return { raw: () => raw, write: (d: string) => p.write(d), waitFor, exited, kill: () => p.kill() };
  }

  it('shows a hostile manager without its escape sequences', async () => {
    const t = term(`exec ${process.execPath} ${CCTRL_BIN} --manager ${server.url} --user ${auth.user}`, 100);
    try {
      await t.waitFor(/\/alpha > /, 'the prompt');
      t.write('ls\r');
      await t.waitFor(/connector@\\x1b\]0;pwned/, 'the ls boxes');
      t.write('quit\r');
      expect(await t.exited).toBe(0);
      expect(t.raw()).not.toContain('\u001b]0;pwned');
      expect(t.raw()).not.toContain('\u009b');
      expect(t.raw()).not.toContain('\u0085');
    } finally {
      t.kill();
    }
  }, 60_000);

  it('runs on a terminal of 0 columns', async () => {
    const t = term(`stty cols 0 rows 40; exec ${process.execPath} ${CCTRL_BIN} --demo`, 100);
    try {
      await t.waitFor(/\/alpha > /, 'the prompt');
      t.write('ls\r');
      await t.waitFor(/DATASOURCES:/, 'the ls output');
      t.write('quit\r');
      expect(await t.exited).toBe(0);
      expect(t.raw()).not.toContain('Invalid count value');
    } finally {
      t.kill();
    }
  }, 60_000);
});
