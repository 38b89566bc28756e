/**
 * The scripted path of the built bin, end to end against a manager on loopback: stdin, -e, --json,
 * every exit code class, a manager that is down, a closed pipe, and no Ink/React on this path.
 */
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CCTRL_BIN, FORBID_UI, requireBuild, runCctrl, startTestManager, type TestManager } from '../e2e/cctrl-helpers.js';
import { spawnManager } from '../helpers/manager-process.js';

let manager: TestManager;

beforeAll(async () => {
  requireBuild();
  manager = await startTestManager();
});
afterAll(async () => {
  await manager?.close();
});

// eslint-disable-next-line no-control-regex
const ESCAPE = /\u001b/;

/** A loopback port where nothing listens. */
async function deadPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  await new Promise((r) => server.close(r));
  return port;
}

describe('cctrl scripted', () => {
  it('echo ls | cctrl prints the classic listing, exit 0, no escape codes', async () => {
    const r = await runCctrl(manager.args, { input: 'ls\n' });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^COORDINATOR\[db1:AUTOMATIC:ONLINE\]\n\nROUTERS:\n\+-{76}\+\n\|connector@db1\[\d+\]\(ONLINE, created=\d+, active=\d+\)/);
    expect(r.stdout).toMatch(/\|db1\(master:ONLINE, progress=\d+, THL latency=\d\.\d{3}\) +\|/);
    // Times as history shows them: ISO-8601 UTC, whatever TZ says.
    expect(r.stdout).toMatch(/^\|STATUS \[OK\] \[\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\] +\|$/m);
    expect(r.stdout).not.toMatch(ESCAPE);
  });

  it("several statements on one line with ';' run in order (use alpha;set policy ...)", async () => {
    const r = await runCctrl(manager.args, { input: 'use alpha;set policy maintenance\nls\nset policy automatic\n' });
    expect(r.code).toBe(0);
    const lines = r.stdout.split('\n');
    expect(lines[0]).toBe('policy mode is now MAINTENANCE');
    expect(lines[1]).toBe('COORDINATOR[db1:MAINTENANCE:ONLINE]');
    // At the end of its input cctrl says so, after a blank line, as the original does.
    expect(r.stdout.endsWith('policy mode is now AUTOMATIC\n\nExiting...\n')).toBe(true);
  });

  it('switch --dry-run prints every candidate with its verdict and changes nothing', async () => {
    const r = await runCctrl([...manager.args, '-e', 'datasource db3 shun; switch --dry-run; ls; datasource db3 welcome']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('DRY RUN: switch (nothing is changed)\nCURRENT MASTER: db1\n');
    expect(r.stdout).toMatch(/^CANDIDATE db2: ELIGIBLE \(applied=\d+, latency=\d+\.\d{3}, precedence=\d+\)$/m);
    expect(r.stdout).toMatch(/^CANDIDATE db3: NOT ELIGIBLE: SHUNNED$/m);
    expect(r.stdout).toMatch(/^WOULD SELECT: db2$/m);
    expect(r.stdout).toMatch(/\|db1\(master:ONLINE/);
  });

  it('-e runs the commands and honours the credentials from the environment', async () => {
    const r = await runCctrl(['--manager', manager.url, '-e', 'members; ping db2'], {
      env: { TUNGSTEN_API_USER: manager.user, TUNGSTEN_API_PASSWORD: manager.password },
    });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^alpha\/db1\(ONLINE\) host=\S+ COORDINATOR$/m);
    expect(r.stdout).toMatch(/^HOST db2\/\S+: ALIVE$/m);
  });

  it('--json prints one document per command with every key; errors too', async () => {
    const r = await runCctrl([...manager.args, '--json', '-e', 'ls; swtich; history 1']);
    expect(r.code).toBe(2);
    const docs = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
    expect(docs).toHaveLength(3);
    for (const d of docs) expect(Object.keys(d)).toEqual(['schemaVersion', 'command', 'name', 'service', 'ok', 'exitCode', 'error', 'result']);
    expect(docs[0]).toMatchObject({ schemaVersion: 1, command: 'ls', ok: true, exitCode: 0, error: null, result: { kind: 'ls', host: null, detailed: false } });
    expect(docs[0].result.status.datasources.map((d: { name: string }) => d.name)).toEqual(['db1', 'db2', 'db3']);
    expect(docs[1]).toMatchObject({ ok: false, exitCode: 2, result: null, error: { kind: 'usage', hint: 'did you mean switch?', taskId: null } });
    expect(docs[2].result.kind).toBe('history');
    expect(r.stderr).toBe('');
  });

  it('exit 1: a refused command; later commands still run', async () => {
    const r = await runCctrl([...manager.args, '-e', 'ls db9; datasource db2 fail; members']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("ERROR: no datasource 'db9' in service 'alpha'");
    expect(r.stderr).toContain("'datasource db2 fail' is an expert-level command and was not confirmed; run cctrl with -expert or --yes");
    expect(r.stdout).toContain('alpha/db1(ONLINE)');
  });

  it('exit 1 at start: -service names a service the manager does not have; nothing runs', async () => {
    const r = await runCctrl([...manager.args, '-service', 'beta', '-e', 'ls']);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe(`cctrl: no service 'beta' at the manager at ${manager.url}; known services: alpha\n`);
  });

  it('exit 2: usage errors, bad options', async () => {
    const typo = await runCctrl([...manager.args, '-e', 'swtich to db2']);
    expect(typo.code).toBe(2);
    expect(typo.stderr).toBe("ERROR: unknown command 'swtich'; did you mean switch?\n");
    const usage = await runCctrl([...manager.args, '-e', 'datasource db2']);
    expect(usage.stderr).toBe('ERROR: usage: datasource HOST online|offline|shun|welcome|recover|fail\n');
    expect(usage.code).toBe(2);
    const quote = await runCctrl([...manager.args, '-e', 'ls "db2']);
    expect(quote.code).toBe(2);
    expect(quote.stderr).toContain('unterminated double quote');
    const option = await runCctrl(['--frobnicate']);
    expect(option.code).toBe(2);
    expect(option.stderr).toBe("cctrl: unknown option '--frobnicate'; see cctrl --help\n");
  });

  it('exit 3: nothing answers (the message names --manager and --demo); the rest does not run', async () => {
    const port = await deadPort();
    const r = await runCctrl(['-port', String(port), '-e', 'ls']);
    expect(r.code).toBe(3);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^cctrl: cannot reach the manager at http:\/\/127\.0\.0\.1:\d+: connection refused; .*--manager URL.*cctrl --demo\n$/);
  });

  it('a peer that accepts connections but never answers is said so (not "start tungsten-manager"); a read that times out changed nothing', async () => {
    const status = readFileSync(join(import.meta.dirname, '../../fixtures/manager/status.json'), 'utf8');
    // Answers the greeting, then nothing: a stalled manager.
    const http = await import('node:http');
    const stalled = http.createServer((req, res) => {
      if (req.url === '/api/v2/manager/status') res.writeHead(200, { 'content-type': 'application/json' }).end(status);
    });
    const silent = createServer(() => undefined);
    await new Promise<void>((r) => stalled.listen(0, '127.0.0.1', r));
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    try {
      const port = (silent.address() as { port: number }).port;
      const r = await runCctrl(['--manager', `http://127.0.0.1:${port}`, '--user', 'u', '--timeout', '1', '-e', 'ls'], { env: { TUNGSTEN_API_PASSWORD: 'p' } });
      expect(r.code).toBe(3);
      expect(r.stderr).toMatch(/^cctrl: the manager at http:\/\/127\.0\.0\.1:\d+ accepted the connection but did not answer: .*; something listens there but does not answer: check that --manager names a tungsten-manager and that it is not stalled/);
      expect(r.stderr).not.toContain('start tungsten-manager');
      const read = await runCctrl(['--manager', `http://127.0.0.1:${(stalled.address() as { port: number }).port}`, '--user', 'u', '--timeout', '1', '-e', 'ls'], { env: { TUNGSTEN_API_PASSWORD: 'p' } });
      expect(read.code).toBe(4);
      expect(read.stderr).toContain('nothing was changed by this read; retry, or wait longer with --timeout');
      expect(read.stderr).not.toMatch(/outcome (is )?unknown/);
    } finally {
      stalled.closeAllConnections();
      stalled.close();
      silent.close();
    }
  });

  it('exit 3: wrong credentials', async () => {
    const r = await runCctrl(['--manager', manager.url, '--user', 'ops', '-e', 'ls'], { env: { TUNGSTEN_API_PASSWORD: 'wrong' } });
    expect(r.code).toBe(3);
    expect(r.stderr).toContain("refused the credentials of user 'ops'");
  });

  it('a credentials file is used when mode 0600 and refused otherwise', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cctrl-cred-'));
    const file = join(dir, 'creds');
    writeFileSync(file, `# ops account\nuser=${manager.user}\npassword=${manager.password}\n`);
    chmodSync(file, 0o600);
    const ok = await runCctrl(['--manager', manager.url, '--credentials', file, '-e', 'members']);
    expect(ok.code).toBe(0);
    chmodSync(file, 0o644);
    const refused = await runCctrl(['--manager', manager.url, '--credentials', file, '-e', 'members']);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toBe(`cctrl: credentials file ${file} is readable by others (mode 0644); run: chmod 600 ${file}\n`);
  });

  it('exit 4: a switch that outlives --timeout says its outcome is unknown and names the task', async () => {
    const r = await runCctrl(['--demo', '--property', 'simulation.stepDelayMs=2000', '--timeout', '1', '-e', 'switch; ls']);
    expect(r.code).toBe(4);
    const id = /task ([\w-]+) is still running/.exec(r.stderr)?.[1];
    expect(r.stderr).toMatch(/'switch' did not finish within 1 s; its outcome is unknown \(task [\w-]+ is still running on the manager\); check it with: history [\w-]+,/);
    expect(r.stderr).toContain(`check it with: history ${id}, or wait longer`);
    expect(r.stdout).toContain('SET POLICY: AUTOMATIC => MAINTENANCE');
  });

  it('history shows outcome, duration, who and why; history TASKID (or its first characters) prints the whole step log', async () => {
    const r = await runCctrl([...manager.args, '-e', 'switch to db2; history 3; switch to db1']);
    const rows = r.stdout.split('\n');
    const head = rows.findIndex((l) => l.startsWith('TASK '));
    expect(rows[head]).toMatch(/^TASK +STARTED +DURATION +OUTCOME +BY +OPERATION +REASON$/);
    expect(rows[head + 1]).toMatch(new RegExp(`^[\\w-]{36}  \\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z  \\d+\\.\\d s +complete +${manager.user} +switch to db2$`));
    const id = rows[head + 1]!.split(' ')[0]!;
    const log = await runCctrl([...manager.args, '-e', `history ${id.slice(0, 8)}`]);
    expect(log.code).toBe(0);
    const lines = log.stdout.split('\n');
    expect(lines[0]).toBe(`TASK ${id}: switch to db2`);
    expect(lines).toContain(`REQUESTED BY: ${manager.user}`);
    expect(lines).toContain('OUTCOME: complete');
    expect(log.stdout).toMatch(/^DURATION: \d+\.\d s$/m);
    expect(log.stdout).toMatch(/^ {2}\d{4}-\d\d-\d\dT[\d:.]+Z {2}SET POLICY: AUTOMATIC => MAINTENANCE$/m);
    expect(log.stdout).toMatch(/^ {2}\S+ {2}SWITCH TO 'db2@alpha' WAS SUCCESSFUL$/m);
    const unknown = await runCctrl([...manager.args, '-e', 'history 0123456789abcdef']);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toBe("ERROR: no task '0123456789abcdef' in service 'alpha'; list the recent ones with: history\n");
  });

  it('exit 130: SIGINT during a switch stops waiting and says the task keeps running', async () => {
    let sent = false;
    const r = await runCctrl(['--demo', '--property', 'simulation.stepDelayMs=1500', '-e', 'switch; ls'], {
      onStdout: (out, child) => {
        if (!sent && out.includes('SET POLICY')) {
          sent = true;
          child.kill('SIGINT');
        }
      },
    });
    expect(sent).toBe(true);
    expect(r.code).toBe(130);
    expect(r.stderr).toMatch(/stopped waiting for 'switch' \(task [\w-]+\); it keeps running on the manager/);
    expect(r.stdout).not.toContain('COORDINATOR');
  });

  it('exit 143: SIGTERM during a switch prints the task line as SIGINT does', async () => {
    let sent = false;
    const r = await runCctrl(['--demo', '--property', 'simulation.stepDelayMs=1500', '-e', 'switch; ls'], {
      onStdout: (out, child) => {
        if (!sent && out.includes('SET POLICY')) {
          sent = true;
          child.kill('SIGTERM');
        }
      },
    });
    expect(sent).toBe(true);
    expect(r.code).toBe(143);
    expect(r.stderr).toMatch(/stopped waiting for 'switch' \(task [\w-]+\); it keeps running on the manager; check its outcome with: history [\w-]+/);
  });

  it('exit 3 at once: the manager killed during a switch; the message says the outcome is unknown and names the task', async () => {
    const killed = spawnManager(['--demo', '--port', '0', '--property=simulation.stepDelayMs=1500']);
    try {
      const url = await killed.ready;
      let sentAt = 0;
      const r = await runCctrl(['--manager', url, '--user', 'tungsten', '-e', 'switch to db2; ls'], {
        env: { TUNGSTEN_API_PASSWORD: 'secret' },
        onStdout: (out) => {
          if (!sentAt && out.includes('PURGE REMAINING ACTIVE SESSIONS')) {
            sentAt = Date.now();
            killed.child.kill('SIGKILL');
          }
        },
      });
      expect(sentAt).toBeGreaterThan(0);
      expect(r.code).toBe(3);
      expect(Date.now() - sentAt).toBeLessThan(15_000);
      expect(r.stderr).toMatch(/^ERROR: lost the manager while waiting for 'switch to db2' \(task [\w-]+\); its outcome is unknown: /);
      expect(r.stdout).not.toContain('COORDINATOR');
    } finally {
      killed.kill();
    }
  });

  it('exit 130: SIGINT while waiting for the next line of stdin', async () => {
    let sent = false;
    const r = await runCctrl(manager.args, {
      input: 'members\n',
      keepStdinOpen: true,
      onStdout: (out, child) => {
        if (!sent && out.includes('COORDINATOR')) {
          sent = true;
          setTimeout(() => child.kill('SIGINT'), 100);
        }
      },
    });
    expect(sent).toBe(true);
    expect(r.code).toBe(130);
  });

  it('--demo: a failover happens by the rules after service db1/mysql stop', async () => {
    const r = await runCctrl(['--demo', '--property', 'simulation.stepDelayMs=0', '-e', 'service db1/mysql stop; ls db1'], { timeoutMs: 30_000 });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('DATASERVER(state=STOPPED)');
  });

  it('a closed pipe ends quietly', async () => {
    // Async: the manager answering cctrl lives in this process.
    const child = spawn('sh', ['-c', `node ${CCTRL_BIN} ${manager.args.join(' ')} -e 'ls; ls; ls; history' | head -1`], {
      env: { PATH: process.env.PATH, HOME: tmpdir() },
    });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    await new Promise((r) => child.on('close', r));
    expect(out.split('\n')[0]).toBe('COORDINATOR[db1:AUTOMATIC:ONLINE]');
    expect(err).toBe('');
  });

  it('never imports Ink or React on the scripted path (a loader hook forbids them)', async () => {
    const r = await runCctrl([...manager.args, '-e', 'ls; help'], { nodeArgs: ['--import', FORBID_UI] });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const demo = await runCctrl(['--demo', '-e', 'ls'], { nodeArgs: ['--import', FORBID_UI] });
    expect(demo.code).toBe(0);
    // The hook does bite: importing ink under it fails.
    const probe = spawnSync(process.execPath, ['--import', FORBID_UI, '--input-type=module', '-e', "await import('ink')"], {
      encoding: 'utf8',
      cwd: join(import.meta.dirname, '../..'),
    });
    expect(probe.status).not.toBe(0);
    expect(probe.stderr).toContain('FORBIDDEN UI IMPORT: ink');
  });

  it('--help lists the options in both spellings', async () => {
    const r = await runCctrl(['-help']);
    expect(r.code).toBe(0);
    for (const o of ['--expert', '--multi', '--host', '--port', '--service', '--no-history', '--manager', '--user', '--password', '--cacert', '--insecure', '--timeout', '--yes', '--json', '--demo', '-e, --execute']) {
      expect(r.stdout).toContain(o);
    }
  });
});
