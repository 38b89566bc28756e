import { describe, expect, it } from 'vitest';
import { cctrlCommands } from '../../../commands/cctrl/index.js';
import { ToolkitError } from '../../../src/errors.js';
import { jsonDocument, renderOutcomeText } from '../../../src/format/render.js';
import { Shell } from '../../../src/shell/session.js';
import type { Outcome } from '../../../src/format/result.js';
import { FakeApi, type FakeApiOptions } from '../../shell/fake-api.js';

function shell(options: FakeApiOptions = {}, yes = false, multi = false) {
  const api = new FakeApi(options);
  const s = new Shell({
    api,
    commands: cctrlCommands,
    state: { service: multi ? null : 'alpha', expert: false, multi },
    timeoutMs: 2000,
    confirm: async () => yes,
    refusalHint: 'run cctrl with -expert or --yes to allow it in a script',
  });
  return { api, shell: s };
}

async function run(s: Shell, line: string, signal?: AbortSignal) {
  const progress: string[] = [];
  const outcomes: Outcome[] = [];
  await s.runLine(line, { signal, progress: (l) => progress.push(l) }, (o) => {
    outcomes.push(o);
  });
  const text = outcomes.map((o) => renderOutcomeText(o, { streamed: true, timeZone: 'UTC' }));
  return { outcomes, progress, out: text.map((t) => t.out).join(''), err: text.map((t) => t.err).join('') };
}

describe('cctrl commands against a manager double', () => {
  it('ls prints the listing and exits 0', async () => {
    const { shell: s } = shell();
    const r = await run(s, 'ls');
    expect(r.outcomes[0]!.exitCode).toBe(0);
    expect(r.out.split('\n')[0]).toBe('COORDINATOR[db1:AUTOMATIC:ONLINE]');
    expect(r.out).toContain('|db2(slave:ONLINE, progress=3, latency=0.561)');
  });

  it('ls resources lists every resource with its state; a check flagging rows not ONLINE finds a FAILED datasource', async () => {
    const { shell: s, api } = shell();
    const db3 = api.status.datasources[2]!;
    Object.assign(db3, { state: 'FAILED', lastError: "DATASERVER 'db3@alpha' STOPPED", dataServer: { state: 'STOPPED' } });
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
    expect(notOnline).toEqual(['db3:DATASERVER STOPPED', 'db3:DATASOURCE FAILED']);
  });

  it("switch db2 says: did you mean 'switch to db2'?", async () => {
    for (const [line, hint] of [
      ['switch db2', "did you mean 'switch to db2'?"],
      ['failover db3', "did you mean 'failover to db3'?"],
    ]) {
      const r = await run(shell({}, true).shell, line!);
      expect(r.outcomes[0]!.exitCode, line).toBe(2);
      expect(r.err, line).toBe(`ERROR: usage: ${line!.split(' ')[0] === 'switch' ? 'switch [to HOST] [--dry-run]' : 'failover [to HOST]'}; ${hint}\n`);
    }
  });

  it('datasource names in any case are the service\'s own; an unknown one has one wording, with the closest name', async () => {
    const { shell: s, api } = shell({}, true);
    const upper = await run(s, 'datasource DB2 shun; switch to DB3 --dry-run; ls DB2');
    expect(upper.outcomes.map((o) => o.exitCode)).toEqual([0, 0, 0]);
    expect(api.requests[0]).toEqual({ op: 'datasource', host: 'db2', action: 'shun' });
    expect(upper.out).toContain('|db2(slave:');
    for (const line of ['datasource db22 shun', 'replicator dbb2 status', 'switch to db22', 'ls db22', 'service db22/mysql stop']) {
      const r = await run(shell().shell, line);
      expect(r.outcomes[0]!.exitCode, line).toBe(1);
      expect(r.err, line).toMatch(/^ERROR: no datasource '(db22|dbb2)' in service 'alpha'; did you mean db2\? \(known datasources: db1, db2, db3\)\n$/);
    }
  });

  it('ls HOST for an unknown host fails (1) naming the known ones', async () => {
    const r = await run(shell().shell, 'ls db9');
    expect(r.outcomes[0]!.exitCode).toBe(1);
    expect(r.err).toBe("ERROR: no datasource 'db9' in service 'alpha'; known datasources: db1, db2, db3\n");
  });

  it('switch streams its steps while it runs and ends 0', async () => {
    const { shell: s, api } = shell();
    const r = await run(s, 'switch to db2');
    expect(api.requests).toEqual([{ op: 'switch', target: 'db2' }]);
    expect(r.progress).toEqual([
      'SET POLICY: AUTOMATIC => MAINTENANCE',
      'SELECTED SLAVE: db2@alpha',
      "PUT THE NEW MASTER 'db2@alpha' ONLINE",
      "SWITCH TO 'db2@alpha' WAS SUCCESSFUL",
    ]);
    expect(r.outcomes[0]).toMatchObject({ ok: true, exitCode: 0, name: 'switch' });
  });

  it('switch --dry-run asks for a dry run and lists every candidate with its reason', async () => {
    const { shell: s, api } = shell();
    api.status.datasources[2]!.state = 'SHUNNED';
    api.status.datasources[2]!.lastShunReason = 'MANUALLY-SHUNNED';
    const r = await run(s, 'switch --dry-run');
    expect(api.requests).toEqual([{ op: 'switch', dryRun: true }]);
    expect(r.progress).toEqual([]);
    expect(r.out).toBe(
      [
        'DRY RUN: switch (nothing is changed)',
        'CURRENT MASTER: db1',
        'CANDIDATE db2: ELIGIBLE (applied=3, latency=0.561, precedence=1)',
        'CANDIDATE db3: NOT ELIGIBLE: SHUNNED',
        'WOULD SELECT: db2',
        '',
      ].join('\n'),
    );
  });

  it('switch --dry-run that finds no eligible slave still lists the candidates, and exits 1 so scripts can test it', async () => {
    const { shell: s, api } = shell();
    for (const ds of api.status.datasources.slice(1)) {
      ds.state = 'SHUNNED';
      ds.lastShunReason = 'MANUALLY-SHUNNED';
    }
    const r = await run(s, 'switch --dry-run');
    expect(r.outcomes[0]).toMatchObject({ ok: false, exitCode: 1 });
    expect(r.out).toContain('CANDIDATE db3: NOT ELIGIBLE: SHUNNED\nNO ELIGIBLE SLAVE: switch would be refused\n');
    expect(r.err).toBe('ERROR: no eligible slave: switch would be refused\n');
  });

  it('a failed task exits 1 with the reason on stderr', async () => {
    const r = await run(shell({ fail: ['switch'] }).shell, 'switch');
    expect(r.outcomes[0]).toMatchObject({ ok: false, exitCode: 1 });
    expect(r.err).toBe('ERROR: switch was refused: no eligible slave\n');
  });

  it('a task that does not finish in time exits 4 and names the task to check', async () => {
    const { shell: s } = shell({ hang: ['switch'] });
    const r = await run(s, 'switch');
    const o = r.outcomes[0]!;
    expect(o.exitCode).toBe(4);
    expect(o.error).toMatchObject({ kind: 'timeout', taskId: 'task-1' });
    expect(r.err).toMatch(/'switch' did not finish within 2 s; its outcome is unknown \(task task-1 is still running on the manager\)/);
  });

  it('a manager lost during a switch exits 3 and says the outcome is unknown, naming the task', async () => {
    const { shell: s, api } = shell({ hang: ['switch'] });
    setTimeout(() => (api.options.unreachable = true), 300);
    const r = await run(s, 'switch; ls');
    expect(r.outcomes).toHaveLength(1);
    expect(r.outcomes[0]).toMatchObject({ exitCode: 3, error: { kind: 'unreachable', taskId: 'task-1' } });
    expect(r.err).toBe(
      "ERROR: lost the manager while waiting for 'switch' (task task-1); its outcome is unknown: the manager at http://fake is unreachable: connection refused;" +
        ' when the manager answers again, check the task with: history task-1\n',
    );
  });

  it('a manager that stops answering during a switch is lost (3), not a switch that outlived --timeout (4)', async () => {
    const { shell: s, api } = shell({ hang: ['switch'] });
    api.task = async () => {
      throw new ToolkitError('timeout', 'GET /api/v2/manager/task/task-1: the manager at http://fake did not answer within 10000 ms');
    };
    const r = await run(s, 'switch');
    expect(r.outcomes[0]).toMatchObject({ exitCode: 3, error: { kind: 'unreachable', taskId: 'task-1' } });
    expect(r.err).toContain("lost the manager while waiting for 'switch' (task task-1); its outcome is unknown: GET /api/v2/manager/task/task-1:");
    expect(r.err).not.toContain('did not finish within 2 s');
  });

  it('Ctrl-C stops waiting (130) and says the task keeps running', async () => {
    const { shell: s } = shell({ hang: ['switch'] });
    const abort = new AbortController();
    setTimeout(() => abort.abort(), 300);
    const r = await run(s, 'switch; ls', abort.signal);
    expect(r.outcomes).toHaveLength(1);
    expect(r.outcomes[0]!.exitCode).toBe(130);
    expect(r.err).toContain("stopped waiting for 'switch' (task task-1); it keeps running on the manager");
  });

  it('set policy replies like cctrl', async () => {
    const r = await run(shell().shell, 'set policy maintenance');
    expect(r.out).toBe('policy mode is now MAINTENANCE\n');
    const bad = await run(shell().shell, 'set policy sometimes');
    expect(bad.outcomes[0]!.exitCode).toBe(2);
    expect(bad.err).toBe('ERROR: usage: set policy automatic|manual|maintenance\n');
  });

  it('unknown commands get a suggestion (2); later statements still run', async () => {
    const r = await run(shell().shell, 'swtich; members');
    expect(r.outcomes.map((o) => o.exitCode)).toEqual([2, 0]);
    expect(r.err).toBe("ERROR: unknown command 'swtich'; did you mean switch?\n");
    expect(r.out).toContain('alpha/db1(ONLINE) host=db1 COORDINATOR');
  });

  it('wrong arguments print the usage line', async () => {
    for (const [line, usage] of [
      ['datasource db1', 'datasource HOST online|offline|shun|welcome|recover|fail'],
      ['replicator db1 reboot', 'replicator HOST status|online|offline'],
      ['service db1 stop', 'service HOST/mysql|replicator|host start|stop'],
      ['cluster explode', 'cluster heartbeat|validate'],
      ['history 0', 'history [N] | history TASKID (N from 1 to 1000)'],
    ]) {
      const r = await run(shell().shell, line!);
      expect(r.outcomes[0]!.exitCode, line).toBe(2);
      expect(r.err, line).toBe(`ERROR: usage: ${usage}\n`);
    }
  });

  it('expert-level commands need confirmation: refused (1) without it, run with it', async () => {
    const refused = await run(shell().shell, 'datasource db2 fail');
    expect(refused.outcomes[0]!.exitCode).toBe(1);
    expect(refused.err).toContain("'datasource db2 fail' is an expert-level command and was not confirmed; run cctrl with -expert or --yes");
    const { shell: s, api } = shell({}, true);
    const ok = await run(s, 'datasource db2 fail');
    expect(ok.outcomes[0]!.exitCode).toBe(0);
    expect(api.requests).toEqual([{ op: 'datasource', host: 'db2', action: 'fail' }]);
  });

  it('expert mode changes the prompt and skips the question', async () => {
    const { shell: s } = shell({}, true);
    expect(s.prompt()).toBe('[LOGICAL] /alpha > ');
    await run(s, 'expert');
    expect(s.prompt()).toBe('[LOGICAL:EXPERT] /alpha > ');
  });

  it('-multi starts at the root: ls lists services, use/cd move, cd .. returns', async () => {
    const { shell: s } = shell({}, false, true);
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
    const { shell: s, api } = shell();
    api.hostsDown.add('db2');
    const r = await run(s, 'ping');
    expect(r.out).toBe('HOST db1/127.0.0.11: ALIVE\nHOST db2/127.0.0.12: NOT REACHABLE\nHOST db3/127.0.0.13: ALIVE\n');
    expect(r.outcomes[0]!.exitCode).toBe(0);
  });

  it('service HOST/mysql stop injects the fault', async () => {
    const { shell: s, api } = shell();
    const r = await run(s, 'service db1/mysql stop');
    expect(api.requests).toEqual([{ op: 'fault', host: 'db1', fault: 'dataserver-stop' }]);
    expect(r.outcomes[0]!.exitCode).toBe(0);
  });

  it('cluster validate reports the quorum', async () => {
    const { shell: s, api } = shell();
    const r = await run(s, 'cluster validate');
    expect(r.out).toContain('CHECKING FOR QUORUM: MUST BE AT LEAST 2 DB MEMBERS');
    expect(r.out).toContain('VALIDATION STATUS=VALID CLUSTER');
    api.status.datasources[1]!.manager.state = 'STOPPED';
    api.status.datasources[2]!.manager.state = 'STOPPED';
    const lost = await run(s, 'cluster validate');
    expect(lost.outcomes[0]!.exitCode).toBe(1);
    expect(lost.out).toContain('NON-PRIMARY PARTITION OF 1 MEMBERS');
  });

  it('history lists the manager operations newest first; replicator status shows its fields', async () => {
    const { shell: s } = shell();
    await run(s, 'datasource db3 shun; set policy manual');
    const h = await run(s, 'history');
    const rows = h.out.trim().split('\n');
    expect(rows[0]).toMatch(/^TASK\s+STARTED\s+DURATION\s+OUTCOME\s+BY\s+OPERATION\s+REASON$/);
    expect(rows[1]).toMatch(/^task-2 .* complete +tester +set policy manual$/);
    expect(rows[2]).toMatch(/^task-1 .* datasource db3 shun$/);
    const rep = await run(s, 'replicator db2 status');
    expect(rep.out).toContain('masterHost               : db1');
  });

  it('an unreachable manager exits 3 and stops the rest of the line', async () => {
    const r = await run(shell({ unreachable: true }).shell, 'ls; ls');
    expect(r.outcomes).toHaveLength(1);
    expect(r.outcomes[0]!.exitCode).toBe(3);
  });

  it('quit stops the line', async () => {
    const r = await run(shell().shell, 'quit; ls');
    expect(r.outcomes.map((o) => o.name)).toEqual(['quit']);
  });

  it('--json documents keep every key, null when unknown', async () => {
    const ok = await run(shell().shell, 'ls');
    const doc = JSON.parse(jsonDocument(ok.outcomes[0]!));
    expect(Object.keys(doc)).toEqual(['schemaVersion', 'command', 'name', 'service', 'ok', 'exitCode', 'error', 'result']);
    expect(doc).toMatchObject({ schemaVersion: 1, command: 'ls', name: 'ls', service: 'alpha', ok: true, exitCode: 0, error: null });
    expect(doc.result.kind).toBe('ls');
    expect(doc.result.status.datasources[0].lastShunReason).toBeNull();
    const bad = await run(shell().shell, 'frobnicate');
    const err = JSON.parse(jsonDocument(bad.outcomes[0]!));
    expect(err).toMatchObject({ name: null, ok: false, exitCode: 2, result: null });
    expect(err.error).toEqual({ kind: 'usage', message: "unknown command 'frobnicate'", hint: 'type help for the list of commands', taskId: null });
  });
});
