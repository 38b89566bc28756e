import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { complete } from '../../src/shell/completion.js';
import { History, MAX_HISTORY, defaultHistoryPath } from '../../src/shell/history.js';
import { cctrlCommands } from '../../commands/cctrl/index.js';

const { commandNames, findCommand, helpFor, helpOverview, suggestCommand } = cctrlCommands;
const ctx = { services: ['alpha', 'beta'], datasources: ['db1', 'db2', 'db3'], commands: cctrlCommands };

describe('registry', () => {
  it('has every command of the issue, with cd/use and quit/exit aliases', () => {
    for (const name of ['ls', 'switch', 'failover', 'recover', 'datasource', 'set', 'cluster', 'ping', 'members', 'use', 'cd', 'expert', 'replicator', 'service', 'history', 'help', 'quit', 'exit']) {
      expect(findCommand(name), name).toBeDefined();
    }
    expect(findCommand('cd')?.name).toBe('use');
    expect(findCommand('LS')?.name).toBe('ls');
  });

  it('suggests the nearest command for a typo, and nothing for noise', () => {
    expect(suggestCommand('swtich')).toBe('switch');
    expect(suggestCommand('swich')).toBe('switch');
    expect(suggestCommand('datsource')).toBe('datasource');
    expect(suggestCommand('lss')).toBe('ls');
    expect(suggestCommand('qwertyuiop')).toBeNull();
  });

  it('help lists every usage line; help CMD explains one', () => {
    const overview = helpOverview();
    expect(overview).toContain('switch [to HOST] [--dry-run]');
    expect(overview).toContain('set policy automatic|manual|maintenance');
    expect(helpFor(findCommand('datasource')!)).toMatch(/^usage: datasource HOST online\|offline\|shun\|welcome\|recover\|fail/);
    expect(helpFor(findCommand('failover')!)).toContain('expert-level: asks for confirmation outside expert mode');
    // Only `datasource HOST fail` asks; help must not say that shun or online do.
    expect(helpFor(findCommand('datasource')!)).not.toContain('\nexpert-level: asks');
    expect(helpFor(findCommand('datasource')!)).toContain('fail: mark it FAILED (expert-level: asks for confirmation outside expert mode (scripts: -expert or --yes)).');
  });
});

describe('complete', () => {
  it('completes commands at the start of a statement', () => {
    expect(complete('sw', ctx)).toEqual({ line: 'switch ', candidates: ['switch'] });
    expect(complete('re', ctx).candidates).toEqual(['recover', 'replicator']);
    expect(complete('re', ctx).line).toBe('re');
    expect(complete('', ctx).candidates).toEqual(commandNames());
  });

  it('completes datasource names and sub-commands', () => {
    expect(complete('datasource d', ctx)).toEqual({ line: 'datasource db', candidates: ['db1', 'db2', 'db3'] });
    expect(complete('datasource db2 sh', ctx)).toEqual({ line: 'datasource db2 shun ', candidates: ['shun'] });
    expect(complete('switch to db3', ctx).line).toBe('switch to db3 ');
    expect(complete('set policy ma', ctx).candidates).toEqual(['manual', 'maintenance']);
    expect(complete('service db1/my', ctx).line).toBe('service db1/mysql ');
    expect(complete('ls; ping d', ctx).line).toBe('ls; ping db');
  });

  it('completes service names after use and cd', () => {
    expect(complete('use b', ctx).line).toBe('use beta ');
    expect(complete('cd a', ctx).line).toBe('cd alpha ');
  });

  it('leaves the line alone when nothing matches', () => {
    expect(complete('nosuch x', ctx)).toEqual({ line: 'nosuch x', candidates: [] });
  });
});

describe('History', () => {
  const dir = () => mkdtempSync(join(tmpdir(), 'cctrl-history-'));

  it('is kept in ~/.cctrl_history, owner-only, across sessions', () => {
    const home = dir();
    const file = defaultHistoryPath(home);
    expect(file).toBe(join(home, '.cctrl_history'));
    const h = new History(file);
    h.add('ls');
    h.add('ls');
    h.add('switch to db2');
    expect(readFileSync(file, 'utf8')).toBe('ls\nswitch to db2\n');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(new History(file).list()).toEqual(['ls', 'switch to db2']);
  });

  it('walks back with previous and forward to the draft with next', () => {
    const h = new History(null, ['a', 'b', 'c']);
    expect(h.previous('draft')).toBe('c');
    expect(h.previous('c')).toBe('b');
    expect(h.previous('b')).toBe('a');
    expect(h.previous('a')).toBe('a');
    expect(h.next()).toBe('b');
    expect(h.next()).toBe('c');
    expect(h.next()).toBe('draft');
  });

  it('keeps at most MAX_HISTORY entries and survives an unwritable file', () => {
    const home = dir();
    const file = join(home, '.cctrl_history');
    writeFileSync(file, `${Array.from({ length: MAX_HISTORY }, (_, i) => `cmd${i}`).join('\n')}\n`);
    const h = new History(file);
    h.add('newest');
    const lines = readFileSync(file, 'utf8').trim().split('\n');
    expect(lines).toHaveLength(MAX_HISTORY);
    expect(lines.at(-1)).toBe('newest');
    expect(lines[0]).toBe('cmd1');
    const broken = new History(join(home, 'no/such/dir/history'));
    expect(() => broken.add('ls')).not.toThrow();
  });
});
