/**
 * A control call a member passes to the coordinator, which takes it and never answers (killed
 * mid-call), over real sockets: the member gives the call a task id before passing it on (or keeps
 * the caller's), so its "outcome unknown" answer names the task to look for.
 */
import http, { type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { startManagerServer, type ManagerServer } from '../../../src/manager/server/index.js';
import { rawRequest } from '../../helpers/http.js';
import { FakeManager } from './fake-manager.js';

const auth = { user: 'ops', password: 'forward-secret-1' };
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

let member: ManagerServer | undefined;
let coordinator: http.Server | undefined;
afterEach(async () => {
  await member?.close();
  coordinator?.closeAllConnections();
  await new Promise((r) => (coordinator ? coordinator.close(r) : r(undefined)));
  member = coordinator = undefined;
});

/** A coordinator that reads each call whole, notes its body, and dies without answering. */
async function silentCoordinator(): Promise<{ url: string; bodies: Array<Record<string, unknown>> }> {
  const bodies: Array<Record<string, unknown>> = [];
  coordinator = http.createServer((req: IncomingMessage) => {
    let text = '';
    req.setEncoding('utf8').on('data', (d: string) => (text += d));
    req.on('end', () => {
      bodies.push(JSON.parse(text || '{}'));
      req.socket.destroy();
    });
  });
  await new Promise<void>((r) => coordinator!.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(coordinator.address() as AddressInfo).port}`, bodies };
}

async function followerOf(coordinatorUrl: string): Promise<string> {
  const manager = Object.assign(new FakeManager(20), { coordinatorApi: () => ({ name: 'db1', url: coordinatorUrl }), memberName: () => 'db2' });
  member = await startManagerServer({ manager, credentials: auth, host: '127.0.0.1', port: 0 });
  return member.url;
}

describe('a control call passed to a coordinator that never answers', () => {
  it('is given a task id by the member, which the answer names', async () => {
    const { url, bodies } = await silentCoordinator();
    const r = await rawRequest(`${await followerOf(url)}/api/v2/manager/control/service/alpha/switch`, { ...auth, method: 'POST', body: { target: 'db3' } });
    expect(bodies).toHaveLength(1);
    const taskId = bodies[0]!.taskId as string;
    expect(taskId).toMatch(UUID);
    expect(bodies[0]).toEqual({ target: 'db3', taskId });
    expect(r.json.payload).toMatchObject({
      kind: 'timeout',
      message: expect.stringMatching(new RegExp(`^the call was passed to the coordinator 'db1' \\(task ${taskId}\\), which did not answer \\(.+\\): its outcome is unknown$`)),
      hint: `Check it with: history ${taskId} (no such task means it never started)`,
    });
  });

  it("keeps the caller's task id; refuses one that is not a UUID before passing anything on", async () => {
    const { url, bodies } = await silentCoordinator();
    const base = await followerOf(url);
    const taskId = '0f6c3a52-1d7e-4c1b-9a55-3f0d2a8e7b10';
    const r = await rawRequest(`${base}/api/v2/manager/control/service/alpha/recover`, { ...auth, method: 'POST', body: { taskId } });
    expect(bodies).toEqual([{ taskId }]);
    expect(r.json.payload.hint).toBe(`Check it with: history ${taskId} (no such task means it never started)`);
    const bad = await rawRequest(`${base}/api/v2/manager/control/service/alpha/recover`, { ...auth, method: 'POST', body: { taskId: 'task-1' } });
    expect([bad.status, bad.json.payload.kind]).toEqual([400, 'usage']);
    expect(bad.json.payload.message).toBe("'taskId' must be a UUID (8-4-4-4-12 hexadecimal digits), not 'task-1'");
    expect(bodies).toHaveLength(1);
  });
});
