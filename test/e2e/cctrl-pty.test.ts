/**
 * cctrl at a real terminal: a pseudo-terminal (node-pty) running the built bin on the embedded
 * demo manager. Types as a person would: ls, Tab, Up, Ctrl-C during a switch, Ctrl-D.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { requireBuild } from './cctrl-helpers.js';
import { count, startTerm } from './pty-helpers.js';

beforeAll(() => requireBuild());

describe('cctrl in a pseudo-terminal', () => {
  it('ls, Tab completion, history recall, Ctrl-C during a switch, Ctrl-D', async () => {
    const home = mkdtempSync(join(tmpdir(), 'cctrl-pty-'));
    const t = startTerm(['--demo', '--property', 'simulation.stepDelayMs=1500'], home);
    try {
      await t.waitFor('[LOGICAL] /alpha >', 'the prompt');
      await t.waitFor('coordinator db1', 'the status line');

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
      await t.waitFor('press Ctrl-C again to exit', 'the hint');

      // After the Ctrl-C window, Ctrl-D on the empty line exits 0.
      await new Promise((r) => setTimeout(r, 3200));
      t.write('\u0004');
      expect(await t.exited).toBe(0);
      expect(readFileSync(join(home, '.cctrl_history'), 'utf8')).toBe('ls\nswitch\n');
    } finally {
      t.kill();
    }
  }, 60_000);

  it('a second Ctrl-C exits 130; -no-history writes no history', async () => {
    const home = mkdtempSync(join(tmpdir(), 'cctrl-pty-'));
    const t = startTerm(['--demo', '-no-history', '-expert'], home);
    try {
      await t.waitFor('[LOGICAL:EXPERT] /alpha >', 'the expert prompt');
      t.write('members\r');
      await t.waitFor('alpha/db1(ONLINE)', 'the members');
      t.write('\u0003');
      await t.waitFor('press Ctrl-C again to exit', 'the hint');
      t.write('\u0003');
      expect(await t.exited).toBe(130);
      expect(() => readFileSync(join(home, '.cctrl_history'))).toThrow();
    } finally {
      t.kill();
    }
  }, 60_000);

  it('service db1/mysql stop: the automatic failover streams into the scrollback', async () => {
    const home = mkdtempSync(join(tmpdir(), 'cctrl-pty-'));
    const t = startTerm(['--demo', '--property', 'policy.liveness.samplePeriod=1'], home);
    try {
      await t.waitFor('[LOGICAL] /alpha >', 'the prompt');
      await t.waitFor('coordinator db1', 'the status line');
      t.write('service db1/mysql stop\r');
      await t.waitFor("MANAGER: automatic 'failover'", 'the automatic failover', 30_000);
      await t.waitFor(/FAILOVER TO '(db2|db3)@alpha' WAS SUCCESSFUL/, 'its success', 30_000);
      await t.waitFor("MANAGER: automatic 'failover' completed", 'its end', 30_000);
      t.write('ls db1\r');
      await t.waitFor(/\|db1\(master:SHUNNED\(FAILED-OVER-TO-db[23]\b/, 'the shunned old master');
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
