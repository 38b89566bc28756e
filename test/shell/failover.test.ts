/**
 * cctrl --manager A,B,C, scripted, in this process (main() on real sockets): a group of manager
 * servers over one demo manager (one shared state), members dying at chosen moments.
 */
import { cctrlCommands } from '../../commands/cctrl/index.js';
import { PassThrough } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { main } from '../../src/shell/main.js';
import { closedPort, cutAfterArrival, forwardThenCut, startFront } from '../api/member-front.js';
import { startTestGroup, type TestGroup } from '../e2e/cctrl-helpers.js';

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function group(size: number, overrides: string[] = []): Promise<TestGroup> {
  const g = await startTestGroup(size, overrides);
  cleanups.push(() => g.close());
  return g;
}

interface Run {
  /** Types a line on stdin. */
  type(line: string): void;
  /** Ends stdin. */
  end(): void;
  stdout(): string;
  stderr(): string;
  until(check: (stdout: string) => boolean, what: string): Promise<void>;
  exit: Promise<number>;
}

/** main() with argv, stdin a pipe (scripted) that the test types into, stdout and stderr captured. */
function cctrl(argv: string[]): Run {
  const stdin = new PassThrough();
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
  const exit = main(argv, { stdin, stdout, stderr, env: {}, commands: cctrlCommands });
  return {
    type: (line) => stdin.write(`${line}\n`),
    end: () => stdin.end(),
    stdout: () => out,
    stderr: () => err,
    async until(check, what) {
      const deadline = Date.now() + 10_000;
      while (!check(out)) {
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; stdout: ${out}; stderr: ${err}`);
        await new Promise((r) => setTimeout(r, 10));
      }
    },
    exit,
  };
}

/** The whole run of `-e commands`. */
async function execute(argv: string[], commands: string): Promise<{ code: number; stdout: string; stderr: string }> {
  const run = cctrl([...argv, '-e', commands]);
  const code = await run.exit;
  return { code, stdout: run.stdout(), stderr: run.stderr() };
}

function credentials(g: TestGroup): string[] {
  return ['--user', g.user, '--password', g.password];
}

const note = (from: string, reason: string, to: string) => `cctrl: manager ${from} stopped answering (${reason}); now connected to ${to}\n`;

let dead: string;
beforeEach(async () => {
  dead = `http://127.0.0.1:${await closedPort()}`;
});

describe('cctrl --manager A,B,C (scripted)', () => {
  it('the first down at start: the second answers, the note is on stderr once, stdout and --json as with the second alone', async () => {
    const g = await group(1);
    const both = ['--manager', `${dead},${g.urls[0]}`, ...credentials(g)];
    const alone = ['--manager', g.urls[0]!, ...credentials(g)];
    const text = await execute(both, 'members; ls db2');
    expect(text.code).toBe(0);
    expect(text.stderr).toBe(note(dead, 'connection refused', g.urls[0]!));
    expect(text.stdout).toBe((await execute(alone, 'members; ls db2')).stdout);
    const json = await execute([...both, '--json'], 'members; history 1');
    expect(json.code).toBe(0);
    expect(json.stderr).toBe(note(dead, 'connection refused', g.urls[0]!));
    expect(json.stdout).toBe((await execute([...alone, '--json'], 'members; history 1')).stdout);
    expect(json.stdout.trim().split('\n').map((l) => JSON.parse(l).name)).toEqual(['members', 'history']);
  });

  it('a member dies between two commands: the next command (a control call) goes to the next member, once, and the note is printed once', async () => {
    const g = await group(3);
    const run = cctrl([...g.args]);
    run.type('ls');
    await run.until((out) => out.includes('DATASOURCES:'), 'the listing');
    await g.stop(0);
    run.type('set policy maintenance');
    await run.until((out) => out.includes('policy mode is now MAINTENANCE'), 'the policy change');
    run.type('members');
    run.end();
    expect(await run.exit).toBe(0);
    expect(run.stderr()).toBe(note(g.urls[0]!, 'connection refused', g.urls[1]!));
    expect(run.stdout()).toMatch(/^alpha\/db1\(ONLINE\)/m);
    expect(g.manager.history('alpha', 10).filter((t) => t.operation === 'set policy maintenance')).toHaveLength(1);
  });

  it('a member dies while a switch is followed: the switch is followed to its end through the next, each step once', async () => {
    const g = await group(2, ['simulation.stepDelayMs=300']);
    const run = cctrl([...g.args, '-e', 'switch; ls']);
    await run.until((out) => out.includes('SET POLICY: AUTOMATIC => MAINTENANCE'), 'the first step');
    await g.stop(0);
    expect(await run.exit).toBe(0);
    const [task] = g.manager.history('alpha', 1);
    expect(task).toMatchObject({ operation: 'switch', state: 'complete' });
    for (const step of task!.steps) expect(run.stdout().split('\n').filter((l) => l === step.line)).toHaveLength(1);
    expect(run.stdout()).toMatch(/^COORDINATOR\[db1:AUTOMATIC:ONLINE\]$/m);
    expect(run.stderr()).toMatch(new RegExp(`^cctrl: manager ${g.urls[0]} stopped answering \\([^)]+\\); now connected to ${g.urls[1]}\\n$`));
  });

  it('a control call whose connection is cut after it arrived is not resent: outcome unknown, naming the member that took it', async () => {
    const g = await group(1);
    const cutter = await startFront(g.urls[0]!, (req) => req.method === 'POST' && (cutAfterArrival(req), true));
    cleanups.push(() => cutter.close());
    const r = await execute(['--manager', `${cutter.url},${g.urls[0]}`, ...credentials(g)], 'switch; ls');
    expect(r.code).toBe(3);
    const UUID = '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}';
    expect(r.stderr).toMatch(
      new RegExp(
        `^ERROR: the manager at ${cutter.url} took 'switch' \\(task (${UUID})\\) but gave no answer \\([^)]+\\): its outcome is unknown, and it was not sent to another manager; check it with: history \\1 before retrying \\(no such task means it never started\\)\\n`,
      ),
    );
    expect(r.stdout).toBe('');
    expect(g.manager.history('alpha', 10)).toEqual([]);
  });

  it('a control call carried out whose answer never came: the message names the command as typed and its task, and history TASKID finds it', async () => {
    const g = await group(1);
    const cutter = await startFront(g.urls[0]!, (req) => req.method === 'POST' && (forwardThenCut(g.urls[0]!)(req), true));
    cleanups.push(() => cutter.close());
    const r = await execute(['--manager', `${cutter.url},${g.urls[0]}`, ...credentials(g), '--json'], 'set policy maintenance');
    expect(r.code).toBe(3);
    const doc = JSON.parse(r.stdout.trim());
    const [task] = g.manager.history('alpha', 1);
    expect(task).toMatchObject({ operation: 'set policy maintenance', state: 'complete' });
    expect(doc.error).toEqual({
      kind: 'unreachable',
      message: `the manager at ${cutter.url} took 'set policy maintenance' (task ${task!.taskId}) but gave no answer (${doc.error.message.match(/gave no answer \(([^)]+)\)/)[1]}): its outcome is unknown, and it was not sent to another manager`,
      hint: `check it with: history ${task!.taskId} before retrying (no such task means it never started)`,
      taskId: task!.taskId,
    });
    const log = await execute(['--manager', g.urls[0]!, ...credentials(g)], `history ${task!.taskId}`);
    expect(log.code).toBe(0);
    expect(log.stdout).toContain('set policy maintenance');
  });

  it('none answers: exit 3, every member named with its reason, the hint names --manager and --demo', async () => {
    const other = `http://127.0.0.1:${await closedPort()}`;
    const r = await execute(['--manager', `${dead}, ${other}`], 'ls');
    expect(r.code).toBe(3);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe(
      `cctrl: cannot reach any of the managers: ${dead}: connection refused; ${other}: connection refused; ` +
        'start tungsten-manager, give its address with --manager URL, or try the simulated cluster with cctrl --demo\n',
    );
  });

  it('usage errors (exit 2): an empty entry, a malformed URL, one given twice', async () => {
    expect(await execute(['--manager', ','], 'ls')).toEqual({
      code: 2,
      stdout: '',
      stderr: "cctrl: --manager ',' has an empty entry; give one URL or several separated by commas: --manager URL[,URL...]\n",
    });
    const malformed = await execute(['--manager', `${dead},db2:8090`], 'ls');
    expect(malformed.code).toBe(2);
    expect(malformed.stderr).toMatch(/^cctrl: (unsupported scheme in|not a URL:) db2:8090; /);
    const twice = await execute(['--manager', `${dead},${dead}/`], 'ls');
    expect(twice).toEqual({
      code: 2,
      stdout: '',
      stderr: `cctrl: the manager ${dead} is given twice; name each manager once: --manager URL[,URL...]\n`,
    });
  });
});
