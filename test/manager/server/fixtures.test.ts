/**
 * fixtures/manager/*.json are recorded API responses (envelopes) of the demo manager, for docs and
 * for formatter tests elsewhere. This test keeps them honest: the live demo must answer with the
 * same shape (same keys, same value types). Re-record with RECORD_FIXTURES=1.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManagerClient } from '../../../src/api/index.js';
import { launchManager, type RunningManager } from '../../../src/manager/server/launch.js';
import { rawRequest } from '../../helpers/http.js';

const FIXTURES = resolve(import.meta.dirname, '../../../fixtures/manager');
const RECORD = process.env.RECORD_FIXTURES === '1';

let running: RunningManager;
let switchTaskId = '';

beforeAll(async () => {
  running = await launchManager({ demo: true, port: 0, properties: ['simulation.stepDelayMs=10'] });
  const client = new ManagerClient({ url: running.url, user: running.user, password: running.password });
  const task = await client.switch('alpha', { target: 'db2' });
  switchTaskId = task.taskId;
  await client.waitForTask(task.taskId, { timeoutMs: 10_000 });
  client.close();
});

afterAll(async () => {
  await running.close();
});

const cases: Array<[file: string, method: string, path: () => string, status: number]> = [
  ['ping.json', 'GET', () => '/api/v2/ping', 200],
  ['status.json', 'GET', () => '/api/v2/manager/status', 200],
  ['topology.json', 'GET', () => '/api/v2/manager/cluster/topology', 200],
  ['service-status.json', 'GET', () => '/api/v2/manager/status/service/alpha', 200],
  ['datasource-status.json', 'GET', () => '/api/v2/manager/status/service/alpha/datasource/db2', 200],
  ['datasource-ping.json', 'GET', () => '/api/v2/manager/service/alpha/datasource/db2/ping', 200],
  ['members.json', 'GET', () => '/api/v2/manager/service/alpha/members', 200],
  ['policy.json', 'GET', () => '/api/v2/manager/service/alpha/policy', 200],
  ['history.json', 'GET', () => '/api/v2/manager/service/alpha/history?limit=5', 200],
  ['task-switch-complete.json', 'GET', () => `/api/v2/manager/task/${switchTaskId}`, 200],
  ['error-not-found.json', 'GET', () => '/api/v2/manager/status/service/omega', 404],
  ['error-usage.json', 'POST', () => '/api/v2/manager/control/service/alpha/datasource/db2/explode', 400],
];

/** The shape of a value: keys and types, not the values (which change run to run). */
function shape(value: unknown): unknown {
  if (Array.isArray(value)) return value.length === 0 ? [] : [shape(value[0])];
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).sort(([a], [b]) => a.localeCompare(b)).map(([k, v]) => [k, shape(v)]));
  }
  return value === null ? 'null' : typeof value;
}

describe('recorded payloads in fixtures/manager', () => {
  it.each(cases)('%s matches what the demo manager answers', async (file, method, path, status) => {
    const r = await rawRequest(running.url + path(), { method, user: running.user, password: running.password });
    expect(r.status).toBe(status);
    const target = resolve(FIXTURES, file);
    if (RECORD) writeFileSync(target, JSON.stringify(r.json, null, 2) + '\n');
    const recorded = JSON.parse(readFileSync(target, 'utf8'));
    expect(recorded.payloadType).toBe(r.json.payloadType);
    expect(shape(recorded)).toEqual(shape(r.json));
  });
});
