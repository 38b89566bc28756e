/**
 * `tungsten-manager --state-dir DIR` as a real process: one manager per directory (the second is
 * refused naming the first's pid; a killed one's lock is taken over), and a corrupt state file is one
 * line on stderr, never a stack trace.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { spawnManager, type ManagerProcess } from '../helpers/manager-process.js';

const started: ManagerProcess[] = [];
function run(stateDir: string): ManagerProcess {
  const p = spawnManager(['--demo', '--port', '0', '--state-dir', stateDir]);
  started.push(p);
  return p;
}

afterEach(() => {
  for (const p of started.splice(0)) p.kill();
});

const stateDir = () => mkdtempSync(join(tmpdir(), 'mgr-state-cli-'));

describe('tungsten-manager --state-dir', () => {
  it('refuses a second manager on the same directory with one line naming the pid that holds it', async () => {
    const dir = stateDir();
    const first = run(dir);
    await first.ready;
    const second = run(dir);
    expect(await second.exited).toEqual({ code: 1, signal: null });
    const lines = second.stderr().trimEnd().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(new RegExp(`^tungsten-manager: state directory ${dir} is in use by the manager with pid ${first.child.pid}, running since `));
    expect(second.stdout()).toBe('');

    // The first is untouched, and frees the directory when it stops.
    expect(JSON.parse(readFileSync(join(dir, 'manager.lock'), 'utf8')).pid).toBe(first.child.pid);
    first.child.kill('SIGTERM');
    expect((await first.exited).code).toBe(0);
    expect(existsSync(join(dir, 'manager.lock'))).toBe(false);
  });

  it('takes over the lock of a manager killed with SIGKILL, with a warning', async () => {
    const dir = stateDir();
    const first = run(dir);
    await first.ready;
    first.child.kill('SIGKILL');
    await first.exited;
    expect(existsSync(join(dir, 'manager.lock'))).toBe(true);
    const second = run(dir);
    await second.ready;
    expect(second.stderr()).toContain(`WARN taking over the lock on ${dir} left by pid ${first.child.pid}`);
  });

  it('with a corrupt state file prints one line on stderr, no stack trace, and exits 2', async () => {
    const dir = stateDir();
    writeFileSync(join(dir, 'manager-state.json'), '{"version": 1, "service": {"name": "alpha", "policy": "BANANA"');
    const p = run(dir);
    expect(await p.exited).toEqual({ code: 2, signal: null });
    const err = p.stderr();
    expect(err.trimEnd().split('\n')).toHaveLength(1);
    expect(err).toMatch(new RegExp(`^tungsten-manager: manager state ${join(dir, 'manager-state.json')} is corrupt: not valid JSON \\(.*\\)\\. Move it away`));
    expect(err).not.toMatch(/\n\s+at /);
    expect(existsSync(join(dir, 'manager.lock'))).toBe(false);

    writeFileSync(join(dir, 'manager-state.json'), JSON.stringify({ version: 1, service: { name: 'alpha', policy: 'BANANA', datasources: [], policyToRestore: null }, tasks: [] }));
    const again = run(dir);
    expect((await again.exited).code).toBe(2);
    expect(again.stderr().trimEnd().split('\n')).toEqual([expect.stringMatching(/is corrupt: service\.policy: .*"AUTOMATIC"/)]);
  });

  it('after a restart the banner names the restored master, not the configured one', async () => {
    const dir = stateDir();
    writeFileSync(
      join(dir, 'manager-state.json'),
      JSON.stringify({
        version: 1,
        service: {
          name: 'alpha',
          policy: 'AUTOMATIC',
          policyToRestore: null,
          datasources: [
            { name: 'db1', role: 'slave', state: 'ONLINE', lastShunReason: null, lastError: null, fencedByMonitor: false },
            { name: 'db2', role: 'master', state: 'ONLINE', lastShunReason: null, lastError: null, fencedByMonitor: false },
            { name: 'db3', role: 'slave', state: 'SHUNNED', lastShunReason: 'MANUALLY-SHUNNED', lastError: null, fencedByMonitor: false },
          ],
        },
        tasks: [],
      }),
    );
    const p = run(dir);
    await p.ready;
    expect(p.stdout()).toContain('tungsten-manager: service alpha, simulated driver, datasources db1 (slave), db2 (master), db3 (slave, SHUNNED)\n');
  });

  it('lets exactly one of several processes racing for a directory with a stale lock have it', async () => {
    const dir = stateDir();
    const dead = Number(spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' }).stdout);
    writeFileSync(join(dir, 'manager.lock'), JSON.stringify({ pid: dead, host: hostname(), since: 'then', token: 'stale' }));
    const store = pathToFileURL(resolve(import.meta.dirname, '../../dist/src/manager/store.js')).href;
    const script = `import(${JSON.stringify(store)}).then((m) => {
      try { m.lockStateDir(process.argv[1]); process.stdout.write('got'); setTimeout(() => {}, 4000); }
      catch (e) { process.stdout.write(e.kind); }
    })`;
    const outcomes = await Promise.all(
      Array.from({ length: 6 }, () => new Promise<string>((done) => {
        const c = spawn(process.execPath, ['-e', script, dir], { stdio: ['ignore', 'pipe', 'inherit'] });
        let out = '';
        c.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
        c.on('exit', () => done(out));
      })),
    );
    expect(outcomes.filter((o) => o === 'got')).toHaveLength(1);
    expect(outcomes.filter((o) => o === 'refused')).toHaveLength(5);
    expect(existsSync(join(dir, 'manager.lock'))).toBe(false); // released at exit
  });
});
