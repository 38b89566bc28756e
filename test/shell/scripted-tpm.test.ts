/**
 * `echo ls | cctrl` as tpm reads it (its CCTRL#parse, restated in test/helpers/tpm-cctrl-reader.ts):
 * every datasource, in every cluster state, through the scripted session's real output path.
 */
import { PassThrough } from 'node:stream';
import { cctrlCommands } from '../../commands/cctrl/index.js';
import { describe, expect, it } from 'vitest';
import { formatLs } from '../../src/format/ls.js';
import type { ServiceStatus } from '../../src/manager/model.js';
import { END_OF_INPUT_LINE } from '../../src/shell/main.js';
import { runScripted } from '../../src/shell/scripted.js';
import { Shell } from '../../src/shell/session.js';
import { datasource, replicator } from '../format/model-builders.js';
import { readAsTpm } from '../helpers/tpm-cctrl-reader.js';
import { FakeApi, demoStatus } from './fake-api.js';

/** The cluster states tpm meets: what the demo manager shows in each. */
export const CLUSTER_STATES: Record<string, (s: ServiceStatus) => ServiceStatus> = {
  normal: (s) => s,
  'after a failover': (s) => ({
    ...s,
    datasources: [
      datasource('db1', {
        role: 'master',
        state: 'SHUNNED',
        alertStatus: 'SHUNNED',
        lastShunReason: 'FAILED-OVER-TO-db2',
        lastError: "DATASERVER 'db1@alpha' STOPPED",
        replicator: null,
        dataServer: { state: 'STOPPED' },
      }),
      datasource('db2', { role: 'master', replicator: replicator({ role: 'master', masterHost: null, appliedSeqno: 12 }) }),
      datasource('db3', { replicator: replicator({ masterHost: 'db2', appliedSeqno: 12 }) }),
    ],
  }),
  maintenance: (s) => ({ ...s, policy: 'MAINTENANCE' }),
  'a shunned slave': (s) => ({
    ...s,
    datasources: s.datasources.map((d) => (d.name === 'db2' ? { ...d, state: 'SHUNNED', alertStatus: 'SHUNNED', lastShunReason: 'MANUALLY-SHUNNED' } : d)),
  }),
  'a FAILED slave': (s) => ({
    ...s,
    datasources: s.datasources.map((d) =>
      d.name === 'db3'
        ? { ...d, state: 'FAILED', alertStatus: 'CRITICAL', lastError: "DATASERVER 'db3@alpha' STOPPED", alertMessage: "DATASERVER 'db3@alpha' STOPPED", dataServer: { state: 'STOPPED' }, replicator: replicator({ state: 'STOPPED', masterHost: 'db1' }) }
        : d,
    ),
  }),
  'no connector': (s) => ({ ...s, routers: [] }),
};

async function scriptedOutput(status: ServiceStatus, input: string[], endOfInputLine: string | null = END_OF_INPUT_LINE, json = false): Promise<string> {
  const api = new FakeApi();
  api.status = status;
  const shell = new Shell({ api, commands: cctrlCommands, state: { service: 'alpha', expert: false, multi: false }, timeoutMs: 2000, confirm: async () => false, refusalHint: '' });
  const stdout = new PassThrough();
  let out = '';
  stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
  await runScripted(shell, input, { json, stdout, stderr: new PassThrough(), signal: new AbortController().signal, ...(endOfInputLine ? { endOfInputLine } : {}) });
  return out;
}

describe('scripted ls as tpm reads it', () => {
  for (const [state, make] of Object.entries(CLUSTER_STATES)) {
    it(`reads every datasource ${state === 'normal' ? 'in a normal cluster' : `with ${state}`}`, async () => {
      const status = make(demoStatus());
      const view = readAsTpm(await scriptedOutput(status, ['ls']));
      expect(Object.keys(view.datasources)).toEqual(status.datasources.map((d) => d.name));
      expect(view.coordinator).toEqual({ host: status.coordinator.host, mode: status.policy, state: 'ONLINE' });
      for (const d of status.datasources) {
        // tpm's pattern takes the shun reason with the state: `SHUNNED(MANUALLY-SHUNNED)`, as from real cctrl.
        expect(view.datasources[d.name]).toMatchObject({ role: d.role, manager: d.manager.state, dataserver: d.dataServer.state });
        expect(view.datasources[d.name]!.status.startsWith(d.state)).toBe(true);
      }
      expect(Object.keys(view.routers)).toEqual(status.routers.map((r) => r.host));
    });
  }

  it('ends a session read from stdin with a blank line and Exiting..., after the last box and the health verdict', async () => {
    const out = await scriptedOutput(demoStatus(), ['ls']);
    expect(out).toMatch(/\+\n\nHEALTH: OK: [^\n]+\n\nExiting\.\.\.\n$/);
  });

  it('keeps stdout one JSON document per command with --json (no Exiting...)', async () => {
    const lines = (await scriptedOutput(demoStatus(), ['ls'], END_OF_INPUT_LINE, true)).trimEnd().split('\n');
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0]!)).toMatchObject({ command: 'ls', ok: true });
  });

  it('with nothing after the last box tpm loses the last datasource (why something must follow it)', async () => {
    expect(Object.keys(readAsTpm(formatLs(demoStatus())).datasources)).toEqual(['db1', 'db2']);
    // The verdict after the boxes is enough on its own (a -e session has no Exiting... line).
    expect(Object.keys(readAsTpm(await scriptedOutput(demoStatus(), ['ls'], null)).datasources)).toEqual(['db1', 'db2', 'db3']);
  });
});
