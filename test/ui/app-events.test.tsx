/**
 * The interactive shell on a real manager (its REST API over real sockets, a front that records
 * every request and can refuse the event stream): another operator's switch is followed from the
 * event stream, and the history is read only when the stream is refused.
 */
import type http from 'node:http';
import { cleanup, render } from 'ink-testing-library';
import { afterEach, describe, expect, it } from 'vitest';
import { cctrlCommands } from '../../commands/cctrl/index.js';
import { ManagerClient } from '../../src/api/client.js';
import { FailoverClient } from '../../src/api/failover.js';
import { apiPaths } from '../../src/api/payloads.js';
import { launchManager, type RunningManager } from '../../src/manager/server/launch.js';
import { History } from '../../src/shell/history.js';
import { restShellApi } from '../../src/shell/rest-api.js';
import { Shell } from '../../src/shell/session.js';
import { ShellApp } from '../../src/ui/App.js';
import { startFront, type Front } from '../api/member-front.js';

const USER = 'ops';
const PASSWORD = 'app-events-secret';
const quiet = { info() {}, warn() {}, error() {} };

let running: RunningManager | undefined;
let front: Front | undefined;
let client: FailoverClient | undefined;
afterEach(async () => {
  cleanup();
  client?.close();
  await front?.close();
  await running?.close();
  running = front = client = undefined;
});

async function waitFor(check: () => boolean, what: string, timeoutMs = 15_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setImmediate(() => setTimeout(r, 10)));
  }
}

/** The shell at a terminal, talking to a demo manager through a front that records the paths asked. */
async function mount(options: { refuseStream: boolean }) {
  running = await launchManager({ demo: true, host: '127.0.0.1', port: 0, user: USER, password: PASSWORD, properties: ['simulation.stepDelayMs=50'], logger: quiet });
  const asked: string[] = [];
  const streams: Array<{ res: http.ServerResponse; lastEventId: string | undefined }> = [];
  const events = apiPaths.events();
  front = await startFront(running.url, (req: http.IncomingMessage, res: http.ServerResponse) => {
    asked.push(req.url ?? '');
    if (req.url?.startsWith(events)) streams.push({ res, lastEventId: req.headers['last-event-id'] as string | undefined });
    if (!options.refuseStream || !req.url?.startsWith(events)) return false;
    // As a proxy that does not carry server-sent events, or a manager without the stream, answers.
    res.writeHead(404, { 'content-type': 'text/plain' });
    res.end('not found');
    return true;
  });
  client = new FailoverClient([front.url], { user: USER, password: PASSWORD });
  const api = restShellApi(client);
  let streamOpen: boolean | null = null;
  const watchEvents = api.watchEvents!;
  api.watchEvents = (service, watch, signal) =>
    watchEvents(service, { onEvent: watch.onEvent, onStream: (open) => ((streamOpen = open), watch.onStream(open)) }, signal);
  const shell = new Shell({ commands: cctrlCommands, api, state: { service: 'alpha', expert: false, multi: false }, timeoutMs: 10_000, confirm: async () => false, refusalHint: '' });
  const app = render(<ShellApp shell={shell} history={new History(null, [])} banner={['welcome']} color={false} statusIntervalMs={100} onExit={() => undefined} />);
  const screen = () => app.frames.join('\n');
  const other = new ManagerClient({ url: running.url, user: USER, password: PASSWORD });
  const historyReads = () => asked.filter((p) => p.includes('/history')).length;
  return { app, screen, asked, other, historyReads, streamOpen: () => streamOpen, streams };
}

describe('the interactive shell follows tasks it did not start', () => {
  it("from the event stream: another operator's switch streams in step by step, and the history is never read", async () => {
    const { app, screen, other, historyReads, streamOpen, asked, streams } = await mount({ refuseStream: false });
    await waitFor(() => streamOpen() === true, 'the event stream');
    await waitFor(() => (app.lastFrame() ?? '').includes('master db1 | policy AUTOMATIC'), 'the status line');
    const task = await other.switch('alpha', { target: 'db2' });
    await waitFor(() => screen().includes(`MANAGER: ops's 'switch to db2' (task ${task.taskId})`), 'the announcement');
    await waitFor(() => screen().includes("MANAGER: ops's 'switch to db2' completed"), `the end in ${screen()}`);
    expect(screen()).toContain("  SWITCH TO 'db2@alpha' WAS SUCCESSFUL");
    await waitFor(() => (app.lastFrame() ?? '').includes('master db2 | policy AUTOMATIC'), 'the new master on the status line');

    // The shell's own switch is its own output, never announced as another's.
    app.stdin.write('switch to db3\r');
    await waitFor(() => screen().includes("SWITCH TO 'db3@alpha' WAS SUCCESSFUL") && !(app.lastFrame() ?? '').includes('running:'), 'the own switch');
    await new Promise((r) => setTimeout(r, 300));
    expect(screen()).not.toContain("MANAGER: ops's 'switch to db3'");
    expect(historyReads()).toBe(0);
    expect(asked.some((p) => p.startsWith(apiPaths.events()))).toBe(true);

    // A stream cut off is reopened from the last event it gave, so the manager sends what it missed.
    // (The first stream is the shell's own; each task followed opens one of its own, closed since.)
    const opened = streams.length;
    streams[0]!.res.destroy();
    await waitFor(() => streams.length > opened, 'the stream reopened');
    expect(streams.at(-1)!.lastEventId).toMatch(/^[0-9a-f]+-\d+$/);
  }, 60_000);

  it('the stream refused: the history is read instead, and the switch is still announced from start to end', async () => {
    const { app, screen, other, historyReads, streamOpen } = await mount({ refuseStream: true });
    await waitFor(() => streamOpen() === false, 'the refused stream');
    await waitFor(() => historyReads() > 0, 'a first read of the history');
    await waitFor(() => (app.lastFrame() ?? '').includes('master db1 | policy AUTOMATIC'), 'the status line');
    const task = await other.switch('alpha', { target: 'db2' });
    await waitFor(() => screen().includes(`MANAGER: ops's 'switch to db2' (task ${task.taskId})`), 'the announcement');
    await waitFor(() => screen().includes("MANAGER: ops's 'switch to db2' completed"), `the end in ${screen()}`);
    expect(screen()).toContain("  SWITCH TO 'db2@alpha' WAS SUCCESSFUL");
  }, 60_000);
});
