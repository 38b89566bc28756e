/**
 * The built cctrl with several managers: scripted with the first one's port closed, and at a real
 * terminal when the manager it talks to dies (the note in the scrollback and on the status line).
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { closedPort } from '../api/member-front.js';
import { requireBuild, runCctrl, startTestGroup, type TestGroup } from './cctrl-helpers.js';
import { startTerm } from './pty-helpers.js';

beforeAll(() => requireBuild());

let group: TestGroup | undefined;
afterEach(async () => {
  await group?.close();
  group = undefined;
});

describe('cctrl --manager A,B', () => {
  it('scripted, the first a closed port: the second answers; the note is on stderr only', async () => {
    group = await startTestGroup(1);
    const dead = `http://127.0.0.1:${await closedPort()}`;
    const r = await runCctrl(['--manager', `${dead},${group.urls[0]}`, '--user', group.user, '-e', 'ls'], { env: { TUNGSTEN_API_PASSWORD: group.password } });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^COORDINATOR\[db1:AUTOMATIC:ONLINE\]\n/);
    expect(r.stdout).not.toContain(dead);
    expect(r.stderr).toBe(`cctrl: manager ${dead} stopped answering (connection refused); now connected to ${group.urls[0]}\n`);
  });

  it('at a terminal: the member talked to dies; the shell says so once and goes on with the next', async () => {
    group = await startTestGroup(2);
    const [a, b] = group.urls as [string, string];
    // Wide enough for the whole status line (a narrower one gives up the manager's URL first).
    const t = startTerm(group.args, mkdtempSync(join(tmpdir(), 'cctrl-pty-')), {}, { cols: 160, rows: 40 });
    // Ink wraps long lines at the terminal's width.
    const flat = () => t.output().replace(/\s+/g, ' ');
    try {
      await t.waitFor('[LOGICAL] /alpha >', 'the prompt');
      await t.waitFor(() => flat().includes(`service alpha | coordinating manager db1 | manager ${a}`), 'the status line on the first manager');
      await group.stop(0);
      const note = new RegExp(`manager ${a} stopped answering \\([^)]+\\); now connected to ${b}`);
      await t.waitFor(() => note.test(flat()), 'the note in the scrollback');
      await t.waitFor(() => flat().includes(`manager ${b} (${a} stopped answering)`), 'the status line on the second');
      t.write('ls\r');
      await t.waitFor('DATASOURCES:', 'ls through the second manager');
      t.write('quit\r');
      expect(await t.exited).toBe(0);
      expect(flat().match(new RegExp(note.source, 'g'))).toHaveLength(1);
    } finally {
      t.kill();
    }
  }, 60_000);
});
