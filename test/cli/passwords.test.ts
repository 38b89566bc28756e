/**
 * Where passwords may come from, and what happens to one on the command line (issue 12), on the
 * built bins: files (mode 0600 only), the environment, a no-echo prompt at a real terminal (which
 * makes the manager's own "connect with" hint work as printed), and a password on the command line
 * accepted with a warning and scrubbed from /proc/PID/cmdline. Errors never echo a secret.
 */
import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pty from 'node-pty';
import { afterEach, describe, expect, it } from 'vitest';
import { CCTRL_BIN, requireBuild, runCctrl } from '../e2e/cctrl-helpers.js';
import { spawnManager, type ManagerProcess } from '../helpers/manager-process.js';

const SECRET = 'Zq9-very-secret-pw';
const started: ManagerProcess[] = [];
afterEach(() => {
  for (const p of started.splice(0)) p.kill();
});

function secretFile(mode = 0o600, content = `${SECRET}\n`): string {
  const file = join(mkdtempSync(join(tmpdir(), 'pw-')), 'password');
  writeFileSync(file, content);
  chmodSync(file, mode);
  return file;
}

async function manager(args: string[], env: Record<string, string> = {}): Promise<{ p: ManagerProcess; url: string }> {
  requireBuild();
  const p = spawnManager(['--demo', '--port', '0', ...args], env);
  started.push(p);
  return { p, url: await p.ready };
}

describe('a password on the command line', () => {
  it('is accepted with a warning, and gone from /proc/PID/cmdline once the manager runs (Linux lets process.title overwrite it)', async () => {
    const { p, url } = await manager(['--api-user', 'ops', '--api-password', SECRET, `--property=simulation.seed=1`]);
    const cmdline = readFileSync(`/proc/${p.child.pid}/cmdline`, 'utf8');
    expect(cmdline).not.toContain(SECRET);
    expect(cmdline.replace(/\0/g, ' ')).toContain('--api-password ***');
    expect(p.stderr()).toContain('tungsten-manager: WARNING: a password on the command line can be read by every user of this machine while it starts');
    const r = await runCctrl(['--manager', url, '--user', 'ops', '--password', SECRET, '-e', 'ls']);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain('cctrl: WARNING: a password on the command line');
    expect(r.stderr).toContain('--password-file FILE');
  });

  it('in --property=mysql.password= is scrubbed too', async () => {
    const { p } = await manager(['--api-user', 'ops', '--api-password-file', secretFile(), `--property=mysql.password=${SECRET}`]);
    expect(readFileSync(`/proc/${p.child.pid}/cmdline`, 'utf8')).not.toContain(SECRET);
    expect(readFileSync(`/proc/${p.child.pid}/cmdline`, 'utf8').replace(/\0/g, ' ')).toContain('--property=mysql.password=***');
  });
});

describe('password files and the environment', () => {
  it('--api-password-file and cctrl --password-file, without a warning', async () => {
    const file = secretFile();
    const { p, url } = await manager(['--api-user', 'ops', '--api-password-file', file]);
    expect(p.stderr()).not.toContain('WARNING');
    const r = await runCctrl(['--manager', url, '--user', 'ops', '--password-file', file, '-e', 'ls']);
    expect([r.code, r.stderr]).toEqual([0, '']);
    const env = await runCctrl(['--manager', url, '--user', 'ops', '-e', 'ls'], { env: { TUNGSTEN_API_PASSWORD: SECRET } });
    expect([env.code, env.stderr]).toEqual([0, '']);
  });

  it('a password file others can read is refused, saying how to fix it and never what it holds', async () => {
    const file = secretFile(0o644);
    const r = await runCctrl(['--manager', 'http://127.0.0.1:1', '--user', 'ops', '--password-file', file, '-e', 'ls']);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(`cctrl: --password-file ${file} is readable by others (mode 0644); run: chmod 600 ${file}\n`);
  });
});

describe('errors never echo a secret', () => {
  it('a misspelt password property, and a malformed password line in the properties file', async () => {
    const typo = spawnManager(['--demo', '--port', '0', `--property=mysql.pasword=${SECRET}`]);
    started.push(typo);
    expect((await typo.exited).code).toBe(2);
    expect(typo.stderr()).toContain("--property=mysql.pasword: unknown property 'mysql.pasword' (its value is not shown)");
    expect(typo.stderr()).not.toContain(SECRET);

    const dir = mkdtempSync(join(tmpdir(), 'props-'));
    const config = join(dir, 'manager.properties');
    writeFileSync(config, `service.name=alpha\nmysql.password ${SECRET}\n`);
    const malformed = spawnManager(['--config', config, '--port', '0', '--api-user', 'ops', '--api-password-file', secretFile()]);
    started.push(malformed);
    expect((await malformed.exited).code).toBe(2);
    expect(malformed.stderr()).toContain(`${config}:2: expected KEY=VALUE (the line is not shown: it may hold a secret)`);
    expect(malformed.stderr()).not.toContain(SECRET);
  });
});

describe('at a terminal', () => {
  it("asks for the password without echo: the manager's own connect hint works as printed", async () => {
    const { p } = await manager(['--api-user', 'ops', '--api-password-file', secretFile()]);
    const hint = /connect with: (cctrl .*)/.exec(p.stdout())![1]!;
    expect(hint).toMatch(/^cctrl --manager http:\/\/\S+ --user ops$/);
    const args = hint.split(' ').slice(1);
    const term = pty.spawn(process.execPath, [CCTRL_BIN, ...args], {
      name: 'xterm-color',
      cols: 100,
      rows: 40,
      env: { PATH: process.env.PATH ?? '', HOME: mkdtempSync(join(tmpdir(), 'cctrl-home-')), TZ: 'UTC', TERM: 'xterm-color' },
    });
    let raw = '';
    term.onData((d) => (raw += d));
    const exited = new Promise<number>((resolve) => term.onExit(({ exitCode }) => resolve(exitCode)));
    const waitFor = async (pattern: RegExp, what: string) => {
      const until = Date.now() + 15_000;
      while (!pattern.test(raw)) {
        if (Date.now() > until) throw new Error(`timed out waiting for ${what}; screen so far:\n${raw.slice(-2000)}`);
        await new Promise((r) => setTimeout(r, 25));
      }
    };
    try {
      await waitFor(/Password for ops at http:\/\/\S+: /, 'the password prompt');
      term.write(`${SECRET}\r`);
      await waitFor(/\/alpha > /, 'the shell prompt');
      term.write('quit\r');
      expect(await exited).toBe(0);
      expect(raw).not.toContain(SECRET);
    } finally {
      term.kill();
    }
  }, 60_000);
});
