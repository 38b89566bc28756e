/**
 * cctrl at a real terminal: a pseudo-terminal (node-pty) running the built bin on the embedded
 * demo manager. Types as a person would: ls, Tab, Up, Ctrl-C during a switch, Ctrl-D.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { spawnManager } from '../helpers/manager-process.js';
import { systemClock } from '../../src/manager/clock.js';
import { demoProperties, SimulatedDriver } from '../../src/manager/index.js';
import { requireBuild, runCctrl, startTestManager } from './cctrl-helpers.js';
import { count, startTerm } from './pty-helpers.js';

beforeAll(() => requireBuild());

describe('cctrl in a pseudo-terminal', () => {
  it('ls, Tab completion, history recall, Ctrl-C during a switch, Ctrl-D', async () => {
    const home = mkdtempSync(join(tmpdir(), 'cctrl-pty-'));
    const t = startTerm(['--demo', '--property', 'simulation.stepDelayMs=1500'], home);
    try {
      await t.waitFor('[LOGICAL] /alpha >', 'the prompt');
      await t.waitFor('master db1 | policy AUTOMATIC | service alpha | coordinating manager db1', 'the status line');

      t.write('ls\r');
      await t.waitFor('COORDINATOR[db1:AUTOMATIC:ONLINE]', 'the ls output');
      await t.waitFor('|  CONNECTIONS(', 'the datasource boxes');

      // Tab completes the datasource name (three candidates: completes to the common prefix and lists them).
      t.write('datasource d');
      await t.waitFor('datasource d', 'the typed text');
      t.write('\t');
      await t.waitFor('db1  db2  db3', 'the candidate list');
      t.write('3');
      t.write('\t');
      t.write('sh');
      t.write('\t');
      await t.waitFor('datasource db3 shun', 'unique completions of the name and the action');
      t.write('\u0015'); // Ctrl-U: clear the line

      // Up recalls the previous command.
      const prompts = count(t.output(), '[LOGICAL] /alpha > ls');
      t.write('\u001b[A');
      await new Promise((r) => setTimeout(r, 300));
      t.write('\r');
      await t.waitFor(() => count(t.output(), '[LOGICAL] /alpha > ls') > prompts, 'the recalled ls', 15_000);
      await t.waitFor(() => count(t.output(), 'DATASOURCES:') === 2, 'its output');
      await t.waitFor(() => t.output().split('DATASOURCES:').at(-1)!.includes('[LOGICAL] /alpha >'), 'the next prompt');

      // A switch streams its steps; Ctrl-C stops waiting and says the task keeps running.
      t.write('switch\r');
      await t.waitFor('SET POLICY: AUTOMATIC => MAINTENANCE', 'the first switch step');
      await t.waitFor('running: switch (Ctrl-C stops waiting)', 'the running indicator');
      t.write('\u0003');
      await t.waitFor(/stopped waiting for 'switch' \(task [\w-]+\); it keeps running/, 'the interruption');
      await t.waitFor(/check its outcome with: history [\w-]{36}/, 'the task to check');
      await t.waitFor('Ctrl-C cancels; to leave the shell: Ctrl-D on an empty line, or quit', 'the hint');
      // The status line follows the switch's own policy change (MAINTENANCE while it runs), not a poll behind.
      await t.waitFor('policy MAINTENANCE', 'the status line during the switch');

      // Ctrl-D on the empty line, back at the prompt, exits 0.
      await t.waitFor(() => t.output().split('stopped waiting for').at(-1)!.includes('[LOGICAL] /alpha >'), 'the prompt again');
      t.write('\u0004');
      expect(await t.exited).toBe(0);
      expect(readFileSync(join(home, '.cctrl_history'), 'utf8')).toBe('ls\nswitch\n');
    } finally {
      t.kill();
    }
  }, 60_000);

  it('Ctrl-C twice by reflex does not leave the shell (nor discard the demo cluster); quit does; -no-history writes no history', async () => {
    const home = mkdtempSync(join(tmpdir(), 'cctrl-pty-'));
    const t = startTerm(['--demo', '-no-history', '-expert'], home);
    try {
      await t.waitFor('[LOGICAL:EXPERT] /alpha >', 'the expert prompt');
      t.write('datasource db3 shun\r');
      await t.waitFor("DataSource 'db3' set to SHUNNED", 'the change to the demo cluster');
      for (let i = 0; i < 3; i++) {
        t.write('\u0003');
        await new Promise((r) => setTimeout(r, 150));
      }
      await t.waitFor('Ctrl-C cancels; to leave the shell: Ctrl-D on an empty line, or quit', 'the hint');
      await new Promise((r) => setTimeout(r, 300));
      t.write('ls db3\r');
      await t.waitFor('|db3(slave:SHUNNED(MANUALLY-SHUNNED)', 'the same cluster, still there');
      t.write('quit\r');
      expect(await t.exited).toBe(0);
      expect(() => readFileSync(join(home, '.cctrl_history'))).toThrow();
    } finally {
      t.kill();
    }
  }, 60_000);

  it('MANUAL: the countdown, then the master FAILED is announced at once with what to do', async () => {
    const home = mkdtempSync(join(tmpdir(), 'cctrl-pty-'));
    const t = startTerm(['--demo', '--property', 'policy.liveness.samplePeriod=3', '--property', 'policy.mode=MANUAL'], home);
    try {
      await t.waitFor('master db1 | policy MANUAL', 'the status line');
      t.write('service db1/mysql stop\r');
      await t.waitFor("INJECTED FAULT DATASERVER-STOP ON 'db1@alpha'", 'the fault');
      // Detected at the next sample; FAILED (1 + 1) x 3 s later: the status line counts down.
      await t.waitFor(/COMING: db1 DATASERVER STOPPED: FAILED in \d s, no automatic failover \(MANUAL\)/, 'the countdown', 15_000);
      t.write('ls\r');
      await t.waitFor(/\ndb1 DATASERVER STOPPED: FAILED in \d s, no automatic failover \(MANUAL\): then run 'failover'\s*\n\s*HEALTH: CRITICAL: no writes: the master db1 does not answer/, 'the countdown in ls', 15_000);
      await t.waitFor("MANAGER: db1 is now FAILED (DATASERVER 'db1@alpha' STOPPED)", 'the alert', 20_000);
      await t.waitFor("MANAGER: db1 FAILED: no automatic failover (MANUAL): run 'failover'", 'what to do', 5_000);
      await t.waitFor("COMING: db1 FAILED: no automatic failover (MANUAL): run 'failover'", 'the status line', 5_000);
      t.write('quit\r');
      expect(await t.exited).toBe(0);
    } finally {
      t.kill();
    }
  }, 60_000);

  it("another operator's switch is announced at once, and the status line names the new master", async () => {
    const home = mkdtempSync(join(tmpdir(), 'cctrl-pty-'));
    const env = { TUNGSTEN_API_USER: 'ops', TUNGSTEN_API_PASSWORD: 'pty-secret-1' };
    const manager = spawnManager(['--demo', '--port', '0', '--log-requests'], env);
    try {
      const url = await manager.ready;
      const t = startTerm(['--manager', url], home, env);
      try {
        await t.waitFor('master db1 | policy AUTOMATIC', 'the status line');
        // The shell opens its event stream before its first status read: it is open by now.
        const other = await runCctrl(['--manager', url, '-e', 'switch to db2'], { env });
        expect(other.code).toBe(0);
        await t.waitFor('MANAGER: the master is now db2 (was db1)', 'the alert', 10_000);
        await t.waitFor("MANAGER: ops's 'switch to db2' completed", 'the task', 10_000);
        await t.waitFor('master db2 | policy AUTOMATIC', 'the status line', 10_000);
        // Followed from the event stream: the manager was never asked for its history.
        expect(manager.stderr()).toMatch(/^GET \/api\/v2\/\S+ 200 \d+ms$/m);
        expect(manager.stderr()).not.toMatch(/\/history/);
        t.write('quit\r');
        expect(await t.exited).toBe(0);
      } finally {
        t.kill();
      }
    } finally {
      manager.kill();
    }
  }, 60_000);

  it("the manager's own alerts at once: a server the split-brain guard fenced, an automatic repair that failed; the status line fits 80 columns", async () => {
    const home = mkdtempSync(join(tmpdir(), 'cctrl-pty-'));
    const overrides = ['simulation.stepDelayMs=0', 'policy.liveness.samplePeriod=1'];
    const props = demoProperties(overrides);
    const driver = new SimulatedDriver({ clock: systemClock, datasources: props.datasources, connectors: props.connectors, stepDelayMs: 0, writesPerSecond: props.simulation.writesPerSecond, seed: props.simulation.seed });
    const config = (name: string) => props.datasources.find((d) => d.name === name)!;
    const manager = await startTestManager(overrides, undefined, driver);
    try {
      const t = startTerm(manager.args, home, {}, { cols: 80, rows: 40 });
      try {
        await t.waitFor('[LOGICAL] /alpha >', 'the prompt');
        await t.waitFor('coordinating manager db1', 'the status line');
        // At 80 columns the status line keeps to one row: the manager's URL gives way, nothing wraps.
        const rows = () => t.output().split(/\r?\n/);
        const statusRow = rows().findLast((l) => /^master db1 \| policy AUTOMATIC/.test(l))!;
        expect(statusRow.trimEnd()).toBe('master db1 | policy AUTOMATIC | service alpha | coordinating manager db1');
        expect(rows().some((l) => /^\s*manager http:/.test(l)), 'a status line wrapped onto a second row').toBe(false);

        // Someone makes a slave writable by hand: the guard fences it, and the shell says so at once.
        await driver.allowWrites(config('db2'), { timeoutMs: 1000 });
        await t.waitFor(/MANAGER: SPLIT-BRAIN GUARD: made db2@alpha read-only \(slave, ONLINE\): ended \d+\s+client sessions/, 'the fence alert', 15_000);
        await t.waitFor(/ALERT \(\d+ s ago\): SPLIT-BRAIN GUARD: made db2@alpha read-only/, 'the alert on the status line', 5_000);

        // The master made read-only by hand, and giving its writes back is refused: the reason, in words.
        driver.failNext('allowWrites', 'db1', 'Access denied; you need (at least one of) the SUPER privilege(s) for this operation');
        await driver.fenceWrites(config('db1'), { timeoutMs: 1000 });
        // A long line wraps in the scrollback at 80 columns (Ink breaks it between words).
        await t.waitFor(
          /MANAGER: automatic repair FAILED: could not allow writes on db1@alpha: Access\s+denied; you need \(at least one of\) the SUPER privilege\(s\) for this\s+operation/,
          'the failed repair',
          15_000,
        );
        await t.waitFor(/ALERT \(\d+ s ago\): automatic repair FAILED: could not allow writes on db1@alpha/, 'the failed repair on the status line', 5_000);
        for (const line of rows()) expect(line.trimEnd().length, line).toBeLessThanOrEqual(80);
        t.write('quit\r');
        expect(await t.exited).toBe(0);
      } finally {
        t.kill();
      }
    } finally {
      await manager.close();
    }
  }, 60_000);

  it('service db1/mysql stop: the automatic failover streams into the scrollback', async () => {
    const home = mkdtempSync(join(tmpdir(), 'cctrl-pty-'));
    // The README's rehearsal, with a 2 s sample period: the countdown, the failover, what follows.
    const t = startTerm(['--demo', '--property', 'policy.liveness.samplePeriod=2'], home, {}, { cols: 80, rows: 40 });
    try {
      await t.waitFor('[LOGICAL] /alpha >', 'the prompt');
      await t.waitFor('coordinating manager db1', 'the status line');
      t.write('service db1/mysql stop\r');
      await t.waitFor(/COMING: db1 DATASERVER STOPPED: automatic failover in \d s \(AUTOMATIC\)/, 'the countdown', 15_000);
      await t.waitFor("MANAGER: automatic 'failover'", 'the automatic failover', 30_000);
      await t.waitFor(/MANAGER: the master is now db[23] \(was db1\)/, 'the new master', 30_000);
      await t.waitFor(/FAILOVER TO '(db2|db3)@alpha' WAS SUCCESSFUL/, 'its success', 30_000);
      await t.waitFor("MANAGER: automatic 'failover' completed", 'its end', 30_000);
      t.write('ls db1\r');
      await t.waitFor(/\|db1\(master:SHUNNED\(FAILED-OVER-TO-db[23]\b/, 'the shunned old master');
      await t.waitFor(/HEALTH: DEGRADED: old master db1 is SHUNNED/, 'the verdict');
      // At 80 columns the widened box fits: no line of it wraps.
      const box = t.output().split("automatic 'failover' completed").at(-1)!.split(/\r?\n/).filter((l) => /^[+|]/.test(l.trim()));
      expect(box.length).toBeGreaterThan(5);
      for (const line of box) expect(line.trimEnd().length).toBeLessThanOrEqual(80);
      // help fits 80 columns too: every continuation indented, nothing wrapped back to column 0.
      t.write('help\r');
      await t.waitFor(/quit\s*\n\s+leave the shell/, 'the help');
      const help = t.output().split('Commands (help COMMAND for more):').at(-1)!.split('leave the shell')[0]!.split('\n').map((l) => l.replace(/\r$/, '')).filter((l) => l.trim() && !l.startsWith('running: ') && !/^master \S+ \| policy/.test(l));
      for (const line of help) {
        expect(line.length, line).toBeLessThan(80);
        expect(line, 'a line wrapped to column 0').toMatch(/^ {2}/);
      }
      // The old master's database comes back writable (no read_only in its my.cnf): the split-brain
      // guard fences it, and the shell says so at once.
      t.write('service db1/mysql start\r');
      await t.waitFor(/MANAGER: SPLIT-BRAIN GUARD: made db1@alpha read-only \(master, SHUNNED\): ended\s+\d+\s+client\s+sessions/, 'the fence of the old master', 15_000);
      await t.waitFor(/ALERT \(\d+ s ago\): SPLIT-BRAIN GUARD: made db1@alpha read-only/, 'the alert under the status line', 5_000);
      t.write('quit\r');
      expect(await t.exited).toBe(0);
    } finally {
      t.kill();
    }
  }, 60_000);

  it('-multi starts at the root prompt', async () => {
    const home = mkdtempSync(join(tmpdir(), 'cctrl-pty-'));
    const t = startTerm(['--demo', '-multi'], home);
    try {
      await t.waitFor('[LOGICAL] / >', 'the root prompt');
      t.write('use alpha\r');
      await t.waitFor('[LOGICAL] /alpha >', 'the service prompt');
      t.write('quit\r');
      expect(await t.exited).toBe(0);
    } finally {
      t.kill();
    }
  }, 60_000);
});
