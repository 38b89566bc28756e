/**
 * The cctrl commands against the real manager: its core on a virtual clock with the simulated
 * driver, behind its REST server on loopback, reached through the shell's production client
 * (test/helpers/virtual-manager.ts). Virtual time stands still unless a test lets it pass.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { cctrlCommands } from '../../../commands/cctrl/index.js';
import { jsonDocument, renderOutcomeText } from '../../../src/format/render.js';
import type { Outcome } from '../../../src/format/result.js';
import { Shell } from '../../../src/shell/session.js';
import { closedPort, startFront, type Front } from '../../api/member-front.js';
import { startVirtualManager, type VirtualManager, type VirtualManagerOptions } from '../../helpers/virtual-manager.js';

interface ShellOptions {
  yes?: boolean;
  multi?: boolean;
  timeoutMs?: number;
}

/** The wait for a task is 10 s unless a test says otherwise: a bound for a loaded machine, not a wait. */
function shellOn(vm: VirtualManager, { yes = false, multi = false, timeoutMs = 10_000 }: ShellOptions = {}): Shell {
  return new Shell({
    api: vm.api,
    commands: cctrlCommands,
    state: { service: multi ? null : 'alpha', expert: false, multi },
    timeoutMs,
    confirm: async () => yes,
    refusalHint: 'run cctrl with -expert or --yes to allow it in a script',
  });
}

async function shell(options: ShellOptions = {}, manager: VirtualManagerOptions = {}) {
  const vm = await startVirtualManager(manager);
  return { vm, shell: shellOn(vm, options) };
}

async function run(s: Shell, line: string, hooks: { signal?: AbortSignal; onProgress?: (line: string) => void } = {}) {
  const progress: string[] = [];
  const outcomes: Outcome[] = [];
  const { signal } = hooks;
  await s.runLine(
    line,
    {
      signal,
      progress: (l) => {
        progress.push(l);
        hooks.onProgress?.(l);
      },
    },
    (o) => {
      outcomes.push(o);
    },
  );
  const text = outcomes.map((o) => renderOutcomeText(o, { streamed: true, timeZone: 'UTC' }));
  return { outcomes, progress, out: text.map((t) => t.out).join(''), err: text.map((t) => t.err).join('') };
}

const fronts: Front[] = [];
afterEach(async () => {
  for (const f of fronts.splice(0)) await f.close();
});

describe('cctrl commands against the manager', () => {
  it('ls prints the listing and exits 0', async () => {
    const { shell: s, vm } = await shell();
    const r = await run(s, 'ls');
    expect(r.outcomes[0]!.exitCode).toBe(0);
    expect(r.out.split('\n')[0]).toBe('COORDINATOR[db1:AUTOMATIC:ONLINE]');
    const db2 = vm.ds('db2').replicator!;
    expect(r.out).toContain(`|db2(slave:ONLINE, progress=${db2.appliedSeqno}, latency=${db2.appliedLatency.toFixed(3)})`);
  });

  it('ls resources lists every resource with its state; a check flagging rows not ONLINE finds a FAILED datasource', async () => {
    const { shell: s, vm } = await shell();
    await vm.fault('db3', 'dataserver-stop');
    await vm.clock.advance(30_000);
    expect(vm.ds('db3').state).toBe('FAILED');
    const r = await run(s, 'ls resources');
    expect(r.outcomes[0]!.exitCode).toBe(0);
    expect(r.out.split('\n').slice(0, 4)).toEqual([
      `+${'-'.repeat(76)}+`,
      `|RESOURCES${' '.repeat(66)} |`,
      `+${'-'.repeat(76)}+`,
      `|        db1:DATASERVER: ONLINE${' '.repeat(45)} |`,
    ]);
    expect(r.out).toContain('|  connector@db1:ROUTER: ONLINE');
    const notOnline = [...r.out.matchAll(/^\|\s*(\S+): (\S+)\s*\|$/gm)].filter((m) => m[2] !== 'ONLINE').map((m) => `${m[1]} ${m[2]}`);
    expect(notOnline).toEqual(['db3:DATASERVER STOPPED', 'db3:DATASOURCE FAILED', 'db3:REPLICATOR UNKNOWN']);
  });

  it("switch db2 says: did you mean 'switch to db2'?", async () => {
    const { shell: s, vm } = await shell({ yes: true });
    for (const [line, hint] of [
      ['switch db2', "did you mean 'switch to db2'?"],
      ['failover db3', "did you mean 'failover to db3'?"],
    ]) {
      const r = await run(s, line!);
      expect(r.outcomes[0]!.exitCode, line).toBe(2);
      expect(r.err, line).toBe(`ERROR: usage: ${line!.split(' ')[0] === 'switch' ? 'switch [to HOST] [--dry-run]' : 'failover [to HOST]'}; ${hint}\n`);
    }
    expect(vm.manager.history('alpha', 10)).toEqual([]);
  });

  it('datasource names in any case are the service\'s own; an unknown one has one wording, with the closest name', async () => {
    const { shell: s, vm } = await shell({ yes: true });
    const upper = await vm.passing(run(s, 'datasource DB2 shun; switch to DB3 --dry-run; ls DB2'));
    expect(upper.outcomes.map((o) => o.exitCode)).toEqual([0, 0, 0]);
    expect(vm.manager.history('alpha', 10).map((t) => t.operation)).toEqual(['switch to db3 (dry run)', 'datasource db2 shun']);
    expect(vm.ds('db2').state).toBe('SHUNNED');
    expect(upper.out).toContain('|db2(slave:SHUNNED');
    const unconfirmed = shellOn(vm);
    for (const line of ['datasource db22 shun', 'replicator dbb2 status', 'switch to db22', 'ls db22', 'service db22/mysql stop']) {
      const r = await run(unconfirmed, line);
      expect(r.outcomes[0]!.exitCode, line).toBe(1);
      expect(r.err, line).toMatch(/^ERROR: no datasource '(db22|dbb2)' in service 'alpha'; did you mean db2\? \(known datasources: db1, db2, db3\)\n$/);
    }
    expect(vm.manager.history('alpha', 10)).toHaveLength(2);
  });

  it('ls HOST for an unknown host fails (1) naming the known ones', async () => {
    const r = await run((await shell()).shell, 'ls db9');
    expect(r.outcomes[0]!.exitCode).toBe(1);
    expect(r.err).toBe("ERROR: no datasource 'db9' in service 'alpha'; known datasources: db1, db2, db3\n");
  });

  it('switch streams its steps while it runs and ends 0', async () => {
    const { shell: s, vm } = await shell();
    const stateAtStep: string[] = [];
    const running = run(s, 'switch to db2', { onProgress: () => stateAtStep.push(vm.latestTask().state) });
    // Virtual time moves on only once the shell has shown every step the manager has taken so far:
    // the manager never gets ahead of the shell, however loaded the machine.
    let done = false;
    void running.finally(() => (done = true));
    while (!done) {
      if (stateAtStep.length >= (vm.manager.history('alpha', 1)[0]?.steps.length ?? 0)) await vm.clock.advance(100);
      else await new Promise((resolve) => setImmediate(resolve));
    }
    const r = await running;
    const task = vm.latestTask();
    expect(task).toMatchObject({ operation: 'switch to db2', state: 'complete' });
    expect(r.progress).toEqual(task.steps.map((step) => step.line));
    expect(r.progress).toEqual(expect.arrayContaining(['SET POLICY: AUTOMATIC => MAINTENANCE', 'SELECTED SLAVE: db2@alpha', "PUT THE NEW MASTER 'db2@alpha' ONLINE", "SWITCH TO 'db2@alpha' WAS SUCCESSFUL"]));
    // Steps are shown as the manager takes them, not once the switch is over.
    // All but the last three, which the manager takes at the instant the switch ends.
    expect(stateAtStep.slice(0, -3)).toEqual(r.progress.slice(0, -3).map(() => 'in_progress'));
    expect(r.outcomes[0]).toMatchObject({ ok: true, exitCode: 0, name: 'switch' });
    expect(vm.masterName()).toBe('db2');
  });

  it('switch --dry-run asks for a dry run and lists every candidate with its reason', async () => {
    const { shell: s, vm } = await shell();
    await vm.run({ op: 'datasource', host: 'db3', action: 'shun' });
    const r = await run(s, 'switch --dry-run');
    expect(vm.latestTask().operation).toBe('switch (dry run)');
    expect(r.progress).toEqual([]);
    const applied = vm.ds('db2').replicator!.appliedSeqno;
    expect(r.out).toMatch(
      new RegExp(
        `^${[
          'DRY RUN: switch \\(nothing is changed\\)',
          'CURRENT MASTER: db1',
          `CANDIDATE db2: ELIGIBLE \\(applied=${applied}, latency=\\d+\\.\\d{3}, precedence=99\\)`,
          'CANDIDATE db3: NOT ELIGIBLE: SHUNNED',
          'WOULD SELECT: db2',
          '',
        ].join('\n')}$`,
      ),
    );
    expect(vm.masterName()).toBe('db1');
  });

  it('switch --dry-run that finds no eligible slave still lists the candidates, and exits 1 so scripts can test it', async () => {
    const { shell: s, vm } = await shell();
    await vm.run({ op: 'datasource', host: 'db2', action: 'shun' });
    await vm.run({ op: 'datasource', host: 'db3', action: 'shun' });
    const r = await run(s, 'switch --dry-run');
    expect(r.outcomes[0]).toMatchObject({ ok: false, exitCode: 1 });
    expect(r.out).toContain('CANDIDATE db3: NOT ELIGIBLE: SHUNNED\nNO ELIGIBLE SLAVE: switch would be refused\n');
    expect(r.err).toBe('ERROR: no eligible slave: switch would be refused\n');
  });

  it('a failed task exits 1 with the reason on stderr', async () => {
    const { shell: s, vm } = await shell();
    await vm.run({ op: 'datasource', host: 'db3', action: 'shun' });
    const r = await vm.passing(run(s, 'switch to db3'));
    expect(vm.latestTask()).toMatchObject({ operation: 'switch to db3', state: 'failed' });
    expect(r.outcomes[0]).toMatchObject({ ok: false, exitCode: 1 });
    expect(r.err).toBe('ERROR: no eligible slave: db3 SHUNNED\n');
  });

  it('a task that does not finish in time exits 4 and names the task to check', async () => {
    // Virtual time stands still: the switch waits at its first timed step.
    const { shell: s, vm } = await shell({ timeoutMs: 1000 });
    const r = await run(s, 'switch');
    const taskId = vm.latestTask().taskId;
    expect(vm.latestTask().state).toBe('in_progress');
    const o = r.outcomes[0]!;
    expect(o.exitCode).toBe(4);
    expect(o.error).toMatchObject({ kind: 'timeout', taskId });
    expect(r.err).toContain(`'switch' did not finish within 1 s; its outcome is unknown (task ${taskId} is still running on the manager)`);
  });

  it('a timeout under a second is said as it was given, not as 0 s', async () => {
    const { shell: s, vm } = await shell({ timeoutMs: 300 });
    const r = await run(s, 'switch');
    expect(r.err).toContain(`'switch' did not finish within 0.3 s; its outcome is unknown (task ${vm.latestTask().taskId} is still running on the manager)`);
  });

  it('a manager lost during a switch exits 3 and says the outcome is unknown, naming the task', async () => {
    const { shell: s, vm } = await shell();
    const r = await run(s, 'switch; ls', { onProgress: () => void vm.stopServing() });
    const taskId = vm.latestTask().taskId;
    expect(r.outcomes).toHaveLength(1);
    expect(r.outcomes[0]).toMatchObject({ exitCode: 3, error: { kind: 'unreachable', taskId } });
    expect(r.err).toMatch(
      new RegExp(
        `^ERROR: lost the manager while waiting for 'switch' \\(task ${taskId}\\); its outcome is unknown: the manager at ${vm.url} is unreachable: [^\\n]+;` +
          ` when the manager answers again, check the task with: history ${taskId}\\n$`,
      ),
    );
  });

  it('a manager that stops answering during a switch is lost (3), not a switch that outlived --timeout (4)', async () => {
    let silent = false;
    let front: Front | undefined;
    const { shell: s, vm } = await shell(
      {},
      {
        requestTimeoutMs: 1000,
        urls: async (url) => {
          // Passes everything through until told to go silent: then cuts what is open and holds every new request.
          front = await startFront(url, () => silent);
          fronts.push(front);
          return [front.url];
        },
      },
    );
    const r = await run(s, 'switch', {
      onProgress: () => {
        silent = true;
        front!.server.closeAllConnections();
      },
    });
    const taskId = vm.latestTask().taskId;
    expect(r.outcomes[0]).toMatchObject({ exitCode: 3, error: { kind: 'unreachable', taskId } });
    expect(r.err).toContain(`lost the manager while waiting for 'switch' (task ${taskId}); its outcome is unknown: GET /api/v2/manager/task/${taskId}:`);
    expect(r.err).toContain('did not answer within 1000 ms');
    expect(r.err).not.toContain('did not finish within');
  });

  it('Ctrl-C stops waiting (130) and says the task keeps running', async () => {
    const { shell: s, vm } = await shell();
    const abort = new AbortController();
    const r = await run(s, 'switch; ls', { signal: abort.signal, onProgress: () => abort.abort() });
    const task = vm.latestTask();
    expect(r.outcomes).toHaveLength(1);
    expect(r.outcomes[0]!.exitCode).toBe(130);
    expect(r.err).toContain(`stopped waiting for 'switch' (task ${task.taskId}); it keeps running on the manager`);
    expect(task.state).toBe('in_progress');
  });

  it('set policy replies like cctrl', async () => {
    const { shell: s, vm } = await shell();
    const r = await vm.passing(run(s, 'set policy maintenance'));
    expect(r.progress).toEqual(['policy mode is now MAINTENANCE']);
    expect(r.out).toBe('');
    expect(vm.manager.serviceStatus('alpha').policy).toBe('MAINTENANCE');
    const bad = await run(s, 'set policy sometimes');
    expect(bad.outcomes[0]!.exitCode).toBe(2);
    expect(bad.err).toBe('ERROR: usage: set policy automatic|manual|maintenance\n');
  });

  it('unknown commands get a suggestion (2); later statements still run', async () => {
    const r = await run((await shell()).shell, 'swtich; members');
    expect(r.outcomes.map((o) => o.exitCode)).toEqual([2, 0]);
    expect(r.err).toBe("ERROR: unknown command 'swtich'; did you mean switch?\n");
    expect(r.out).toBe('alpha/db1(ONLINE) host=127.0.0.11 COORDINATOR\nalpha/db2(ONLINE) host=127.0.0.12\nalpha/db3(ONLINE) host=127.0.0.13\n');
  });

  it('wrong arguments print the usage line', async () => {
    const { shell: s } = await shell();
    for (const [line, usage] of [
      ['datasource db1', 'datasource HOST online|offline|shun|welcome|recover|fail'],
      ['replicator db1 reboot', 'replicator HOST status|online|offline'],
      ['service db1 stop', 'service HOST/mysql|replicator|host start|stop'],
      ['cluster explode', 'cluster heartbeat|validate'],
      ['history 0', 'history [N] | history TASKID (N from 1 to 1000)'],
    ]) {
      const r = await run(s, line!);
      expect(r.outcomes[0]!.exitCode, line).toBe(2);
      expect(r.err, line).toBe(`ERROR: usage: ${usage}\n`);
    }
  });

  it('expert-level commands need confirmation: refused (1) without it, run with it', async () => {
    const { shell: s, vm } = await shell();
    const refused = await run(s, 'datasource db2 fail');
    expect(refused.outcomes[0]!.exitCode).toBe(1);
    expect(refused.err).toContain("'datasource db2 fail' is an expert-level command and was not confirmed; run cctrl with -expert or --yes");
    expect(vm.manager.history('alpha', 10)).toEqual([]);
    const ok = await vm.passing(run(shellOn(vm, { yes: true }), 'datasource db2 fail'));
    expect(ok.outcomes[0]!.exitCode).toBe(0);
    expect(vm.manager.history('alpha', 10).map((t) => t.operation)).toEqual(['datasource db2 fail']);
    expect(vm.ds('db2').state).toBe('FAILED');
  });

  it('expert mode changes the prompt and skips the question', async () => {
    const { shell: s } = await shell({ yes: true });
    expect(s.prompt()).toBe('[LOGICAL] /alpha > ');
    await run(s, 'expert');
    expect(s.prompt()).toBe('[LOGICAL:EXPERT] /alpha > ');
  });

  it('-multi starts at the root: ls lists services, use/cd move, cd .. returns', async () => {
    const { shell: s } = await shell({ multi: true });
    expect(s.prompt()).toBe('[LOGICAL] / > ');
    const root = await run(s, 'ls');
    expect(root.out).toContain('|DATA SERVICES:');
    expect(root.out).toContain('\nalpha\n');
    const noService = await run(s, 'members');
    expect(noService.err).toBe('ERROR: no service selected; choose one with: use SERVICE\n');
    await run(s, 'use alpha');
    expect(s.prompt()).toBe('[LOGICAL] /alpha > ');
    await run(s, 'cd ..');
    expect(s.prompt()).toBe('[LOGICAL] / > ');
    const missing = await run(s, 'use nosuch');
    expect(missing.err).toBe("ERROR: no service 'nosuch'; known services: alpha\n");
  });

  it('ping prints ALIVE or NOT REACHABLE per host and exits 0 either way, as tpm expects of cctrl', async () => {
    const { shell: s, vm } = await shell();
    await vm.fault('db2', 'host-down');
    const r = await run(s, 'ping');
    expect(r.out).toBe('HOST db1/127.0.0.11: ALIVE\nHOST db2/127.0.0.12: NOT REACHABLE\nHOST db3/127.0.0.13: ALIVE\n');
    expect(r.outcomes[0]!.exitCode).toBe(0);
  });

  it('service HOST/mysql stop injects the fault', async () => {
    const { shell: s, vm } = await shell();
    const r = await vm.passing(run(s, 'service db1/mysql stop'));
    expect(r.outcomes[0]!.exitCode).toBe(0);
    expect(vm.latestTask()).toMatchObject({ operation: 'datasource db1 fault dataserver-stop', state: 'complete' });
    expect(r.progress).toEqual(["INJECTED FAULT DATASERVER-STOP ON 'db1@alpha'"]);
    await vm.clock.advance(5000);
    expect(vm.ds('db1').dataServer.state).toBe('STOPPED');
  });

  it('cluster validate reports the quorum', async () => {
    const { shell: s, vm } = await shell();
    const r = await run(s, 'cluster validate');
    expect(r.out).toContain('CHECKING FOR QUORUM: MUST BE AT LEAST 2 DB MEMBERS');
    expect(r.out).toContain('VALIDATION STATUS=VALID CLUSTER');
    await vm.fault('db2', 'host-down');
    await vm.fault('db3', 'host-down');
    await vm.clock.advance(5000);
    const lost = await run(s, 'cluster validate');
    expect(lost.outcomes[0]!.exitCode).toBe(1);
    expect(lost.out).toContain('NON-PRIMARY PARTITION OF 1 MEMBERS');
  });

  it('history lists the manager operations newest first; replicator status shows its fields', async () => {
    const { shell: s, vm } = await shell();
    await vm.passing(run(s, 'datasource db3 shun; set policy manual'));
    const [policy, shun] = vm.manager.history('alpha', 2);
    const h = await run(s, 'history');
    const rows = h.out.trim().split('\n');
    expect(rows[0]).toMatch(/^TASK\s+STARTED\s+DURATION\s+OUTCOME\s+BY\s+OPERATION\s+REASON$/);
    expect(rows[1]).toMatch(new RegExp(`^${policy!.taskId} .* complete +tungsten +set policy manual$`));
    expect(rows[2]).toMatch(new RegExp(`^${shun!.taskId} .* datasource db3 shun$`));
    const rep = await run(s, 'replicator db2 status');
    expect(rep.out).toContain('masterHost               : db1');
  });

  it('an unreachable manager exits 3 and stops the rest of the line', async () => {
    const nobody = `http://127.0.0.1:${await closedPort()}`;
    const r = await run((await shell({}, { urls: () => [nobody] })).shell, 'ls; ls');
    expect(r.outcomes).toHaveLength(1);
    expect(r.outcomes[0]!.exitCode).toBe(3);
    expect(r.err).toContain(`the manager at ${nobody} is unreachable`);
  });

  it('quit stops the line', async () => {
    const r = await run((await shell()).shell, 'quit; ls');
    expect(r.outcomes.map((o) => o.name)).toEqual(['quit']);
  });

  it('--json documents keep every key, null when unknown', async () => {
    const { shell: s } = await shell();
    const ok = await run(s, 'ls');
    const doc = JSON.parse(jsonDocument(ok.outcomes[0]!));
    expect(Object.keys(doc)).toEqual(['schemaVersion', 'command', 'name', 'service', 'ok', 'exitCode', 'error', 'result']);
    expect(doc).toMatchObject({ schemaVersion: 1, command: 'ls', name: 'ls', service: 'alpha', ok: true, exitCode: 0, error: null });
    expect(doc.result.kind).toBe('ls');
    expect(doc.result.status.datasources[0].lastShunReason).toBeNull();
    const bad = await run(s, 'frobnicate');
    const err = JSON.parse(jsonDocument(bad.outcomes[0]!));
    expect(err).toMatchObject({ name: null, ok: false, exitCode: 2, result: null });
    expect(err.error).toEqual({ kind: 'usage', message: "unknown command 'frobnicate'", hint: 'type help for the list of commands', taskId: null });
  });
});
