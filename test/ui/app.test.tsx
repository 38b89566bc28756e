import { cleanup, render } from 'ink-testing-library';
import { afterEach, describe, expect, it, onTestFinished } from 'vitest';
import { cctrlCommands } from '../../commands/cctrl/index.js';
import { History } from '../../src/shell/history.js';
import { Shell } from '../../src/shell/session.js';
import { ShellApp } from '../../src/ui/App.js';
import { startFront, type Front } from '../api/member-front.js';
import { startVirtualManager, type VirtualManagerOptions } from '../helpers/virtual-manager.js';

afterEach(() => cleanup());

/** React 19 schedules renders with setImmediate: yield to it, then look again. */
async function waitFor(check: () => boolean, what: string | (() => string), timeoutMs = 10_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${typeof what === 'function' ? what() : what}`);
    await new Promise((r) => setImmediate(() => setTimeout(r, 5)));
  }
}

/** A frame as one line: the test terminal wraps long lines (a task id is long). */
function unwrapped(frame: string | undefined): string {
  return (frame ?? '').replace(/\s+/g, ' ');
}

/**
 * The app against the real manager on a virtual clock (test/helpers/virtual-manager.ts), reached
 * through the production client. Virtual time stands still (a switch waits at its first timed
 * step) unless the test lets it pass with vm.ticking().
 */
async function mount(entries: string[] = [], manager: VirtualManagerOptions = {}) {
  const vm = await startVirtualManager(manager);
  const shell = new Shell({
    commands: cctrlCommands,
    api: vm.api,
    state: { service: 'alpha', expert: false, multi: false },
    timeoutMs: 10_000,
    confirm: async () => false,
    refusalHint: 'answer y',
  });
  const exits: number[] = [];
  const app = render(
    <ShellApp shell={shell} history={new History(null, entries)} banner={['welcome']} color={false} statusIntervalMs={40} onExit={(c) => exits.push(c)} />,
  );
  const screen = () => app.frames.join('\n');
  const type = async (text: string) => {
    app.stdin.write(text);
    await new Promise((r) => setTimeout(r, 20));
  };
  return { vm, shell, app, exits, screen, type };
}

describe('ShellApp (Ink)', () => {
  it('shows the banner and the cctrl prompt, runs ls into the scrollback', async () => {
    const { app, type, screen } = await mount();
    await waitFor(() => (app.lastFrame() ?? '').includes('[LOGICAL] /alpha >'), 'the prompt');
    expect(screen()).toContain('welcome');
    await type('ls');
    await type('\r');
    await waitFor(() => screen().includes('COORDINATOR[db1:AUTOMATIC:ONLINE]'), `ls output in ${screen()}`);
    expect(screen()).toContain('[LOGICAL] /alpha > ls');
    expect(screen()).toContain('|db3(slave:ONLINE');
  });

  it('Tab completes datasource names and lists the candidates', async () => {
    const { app, type, shell } = await mount();
    await waitFor(() => (app.lastFrame() ?? '').includes('coordinating manager db1'), 'the status');
    // The names Tab completes come from the manager apart from the status line's.
    await waitFor(() => shell.completionContext().datasources.length === 3, 'the datasource names');
    await type('datasource d');
    await type('\t');
    await waitFor(() => (app.lastFrame() ?? '').includes('db1  db2  db3'), 'the candidates');
    expect(app.lastFrame()).toContain('[LOGICAL] /alpha > datasource db');
    await type('2 sh\t');
    await waitFor(() => (app.lastFrame() ?? '').includes('datasource db2 shun'), 'completion of the action');
  });

  it('Up and Down walk the history', async () => {
    const { app, type } = await mount(['ls', 'members']);
    await waitFor(() => (app.lastFrame() ?? '').includes('/alpha >'), 'the prompt');
    await type('\u001b[A');
    await waitFor(() => (app.lastFrame() ?? '').includes('/alpha > members'), 'the newest entry');
    await type('\u001b[A');
    await waitFor(() => (app.lastFrame() ?? '').includes('/alpha > ls'), 'the older entry');
    await type('\u001b[B');
    await waitFor(() => (app.lastFrame() ?? '').includes('/alpha > members'), 'back down');
  });

  it('streams switch steps as they happen; Ctrl-C stops waiting and names the task; more Ctrl-C by reflex never leave', async () => {
    const { app, type, screen, exits, vm } = await mount();
    await waitFor(() => (app.lastFrame() ?? '').includes('/alpha >'), 'the prompt');
    await type('switch\r');
    await waitFor(() => screen().includes('SET POLICY: AUTOMATIC => MAINTENANCE'), 'the first step');
    expect(app.lastFrame()).toContain('running: switch (Ctrl-C stops waiting)');
    await type('\u0003');
    const taskId = vm.latestTask().taskId;
    // Lines wrap at the test terminal's width (a task id is long).
    await waitFor(() => unwrapped(app.lastFrame()).includes(`stopped waiting for 'switch' (task ${taskId}); it keeps running on the manager`), () => `the interruption in ${app.lastFrame()}`);
    expect(app.lastFrame()).toContain('Ctrl-C cancels; to leave the shell: Ctrl-D on an empty line, or quit');
    await type('\u0003');
    await type('\u0003');
    await new Promise((r) => setTimeout(r, 100));
    expect(exits).toEqual([]);
    // Ctrl-D leaves an idle shell only: the interrupted command is done once the status is read again.
    await waitFor(() => !(app.lastFrame() ?? '').includes('running:'), 'the shell idle');
    await type('\u0004');
    await waitFor(() => exits.length > 0, 'the exit');
    expect(exits).toEqual([0]);
  });

  it("announces another operator's switch as MANAGER lines, its steps as they come and how it ended", async () => {
    const { app, screen, vm } = await mount();
    await waitFor(() => (app.lastFrame() ?? '').includes('coordinating manager db1'), 'the status');
    const stopTime = vm.ticking();
    const { taskId } = vm.manager.control('alpha', { op: 'switch', target: 'db2' }, 'ops');
    await waitFor(() => unwrapped(screen()).includes("MANAGER: ops's 'switch to db2' completed"), () => `the end of the switch in ${app.lastFrame()}`);
    await stopTime();
    const text = unwrapped(screen());
    expect(text).toContain(`MANAGER: ops's 'switch to db2' (task ${taskId})`);
    expect(text.indexOf(`(task ${taskId})`)).toBeLessThan(text.indexOf("SWITCH TO 'db2@alpha' WAS SUCCESSFUL"));
    expect(text.indexOf("SWITCH TO 'db2@alpha' WAS SUCCESSFUL")).toBeLessThan(text.indexOf("MANAGER: ops's 'switch to db2' completed"));
  });

  it('Ctrl-D exits on an empty line only', async () => {
    const { app, type, exits } = await mount();
    await waitFor(() => (app.lastFrame() ?? '').includes('/alpha >'), 'the prompt');
    await type('ls');
    await type('\u0004');
    expect(exits).toEqual([]);
    await type('\u0015');
    await type('\u0004');
    await waitFor(() => exits.length > 0, 'the exit');
    expect(exits).toEqual([0]);
  });

  it('asks the expert warning before an expert-level command', async () => {
    const { app, type, screen, vm } = await mount();
    const tasks = () => vm.manager.history('alpha', 10).map((t) => t.operation);
    await waitFor(() => (app.lastFrame() ?? '').includes('/alpha >'), 'the prompt');
    await type('datasource db2 fail\r');
    await waitFor(() => (app.lastFrame() ?? '').includes('WARNING: This is an expert-level command:'), 'the warning');
    expect(app.lastFrame()).toContain('Do you want to continue? (y/n)>');
    expect(tasks()).toEqual([]);
    const stopTime = vm.ticking();
    await type('y\r');
    await waitFor(() => tasks().length === 1, 'the request');
    expect(tasks()).toEqual(['datasource db2 fail']);
    await waitFor(() => screen().includes("DataSource 'db2' set to FAILED") && !(app.lastFrame() ?? '').includes('running:'), `the end of the task in ${screen()}`);
    await stopTime();
    expect(vm.ds('db2').state).toBe('FAILED');
    await type('datasource db3 fail\r');
    await waitFor(() => (app.lastFrame() ?? '').includes('(y/n)>'), 'the second warning');
    await type('n\r');
    await waitFor(() => screen().includes("'datasource db3 fail' is an expert-level command and was not confirmed"), `the refusal in ${screen()}`);
    expect(tasks()).toHaveLength(1);
  });

  it('pasted lines run one after the other', async () => {
    const { app, type, screen } = await mount();
    await waitFor(() => (app.lastFrame() ?? '').includes('/alpha >'), 'the prompt');
    await type('members\nset policy manual\nhelp set\n');
    await waitFor(() => screen().includes('usage: set policy automatic|manual|maintenance'), 'the third command');
    const text = screen();
    expect(text.indexOf('alpha/db1(ONLINE)')).toBeLessThan(text.indexOf('policy mode is now MANUAL'));
    expect(text.indexOf('policy mode is now MANUAL')).toBeLessThan(text.indexOf('usage: set policy'));
  });

  it('keeps what is typed or pasted while a command runs: every line runs after it, in order, and a line split across chunks stays whole', async () => {
    const { app, type, screen, vm } = await mount();
    await waitFor(() => (app.lastFrame() ?? '').includes('/alpha >'), 'the prompt');
    await type('switch\r');
    await waitFor(() => (app.lastFrame() ?? '').includes('running: switch'), 'the switch running');
    await type('members\n\nping d');
    await type('b2\nhelp se');
    await type('t\n');
    await type('ls db');
    // Until now virtual time stood still and the switch with it: let it finish.
    const stopTime = vm.ticking();
    await waitFor(() => screen().includes('usage: set policy automatic|manual|maintenance'), `the typed-ahead commands in ${screen()}`);
    await waitFor(() => (app.lastFrame() ?? '').includes('/alpha > ls db'), 'the unfinished line back on the prompt');
    const text = screen();
    expect(text.indexOf("SWITCH TO 'db2@alpha' WAS SUCCESSFUL")).toBeLessThan(text.indexOf('alpha/db1(ONLINE)'));
    expect(text.indexOf('alpha/db1(ONLINE)')).toBeLessThan(text.indexOf('HOST db2/'));
    expect(text.indexOf('HOST db2/')).toBeLessThan(text.indexOf('usage: set policy'));
    expect(text).not.toContain('ERROR');
    await stopTime();
  });

  it('suggests the command for a typo', async () => {
    const { app, type, screen } = await mount();
    await waitFor(() => (app.lastFrame() ?? '').includes('/alpha >'), 'the prompt');
    await type('swich\r');
    await waitFor(() => screen().includes("ERROR: unknown command 'swich'; did you mean switch?"), 'the suggestion');
  });

  it('the status line names the master apart from the coordinating manager, and warns when the manager stops answering', async () => {
    // The manager's address is a front that passes everything on, until it goes: connections cut, nothing listening.
    let front: Front | undefined;
    const { app } = await mount([], {
      urls: async (url) => {
        front = await startFront(url);
        onTestFinished(() => front!.close());
        return [front.url];
      },
    });
    // At the test terminal's width the URL gives way in its middle; its port stays.
    const port = new URL(front!.url).port;
    await waitFor(() => /master db1 \| policy AUTOMATIC \| service alpha \| coordinating manager db1 \| manager http:\/\/\S*:(\d+)/.exec(app.lastFrame() ?? '')?.[1] === port, () => `the status in ${app.lastFrame()}`);
    expect(app.lastFrame()).not.toContain('WARNING');
    await front!.close();
    await waitFor(() => (app.lastFrame() ?? '').includes('WARNING: manager not answering'), 'the stale warning');
    expect(app.lastFrame()).toContain('data shown may be stale');
  });

  it('survives hostile input: escape sequences and control characters never reach the line', async () => {
    const { app, type } = await mount();
    await waitFor(() => (app.lastFrame() ?? '').includes('/alpha >'), 'the prompt');
    await type('l\u0000s\u0007');
    await waitFor(() => (app.lastFrame() ?? '').includes('/alpha > ls'), 'the cleaned line');
  });
});

describe('ShellApp line cap', () => {
  it('keeps a typed or pasted line to the cap, drops the rest and says so', async () => {
    const { api } = await startVirtualManager();
    const shell = new Shell({ commands: cctrlCommands, api, state: { service: 'alpha', expert: false, multi: false }, timeoutMs: 10_000, confirm: async () => false, refusalHint: 'answer y' });
    const app = render(<ShellApp shell={shell} history={new History(null, [])} banner={['welcome']} color={false} statusIntervalMs={40} onExit={() => undefined} maxLineChars={40} />);
    await waitFor(() => (app.lastFrame() ?? '').includes('/alpha >'), 'the prompt');
    app.stdin.write(`help ${'x'.repeat(500)}`);
    await waitFor(() => (app.lastFrame() ?? '').includes('a line holds at most 40 characters: the rest was dropped'), 'the notice');
    expect(app.lastFrame()).toContain(`/alpha > help ${'x'.repeat(35)}`);
    expect(app.lastFrame()).not.toContain('x'.repeat(36));
  });
});
