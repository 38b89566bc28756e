/**
 * `echo ls | cctrl` as tpm reads it (its CCTRL#parse, restated in test/helpers/tpm-cctrl-reader.ts):
 * every datasource, in every cluster state the real manager (on a virtual clock) is brought to,
 * through the scripted session's real output path.
 */
import { PassThrough } from 'node:stream';
import { cctrlCommands } from '../../commands/cctrl/index.js';
import { describe, expect, it } from 'vitest';
import { formatLs } from '../../src/format/ls.js';
import { END_OF_INPUT_LINE } from '../../src/shell/main.js';
import { runScripted } from '../../src/shell/scripted.js';
import { Shell } from '../../src/shell/session.js';
import { readAsTpm } from '../helpers/tpm-cctrl-reader.js';
import { startVirtualManager, type VirtualManager } from '../helpers/virtual-manager.js';

/** The cluster states tpm meets, brought about on the manager: manager properties, then what happens to the cluster. */
const CLUSTER_STATES: Record<string, { overrides?: string[]; bring?: (vm: VirtualManager) => Promise<void> }> = {
  normal: {},
  'after a failover': {
    async bring(vm) {
      await vm.fault('db1', 'dataserver-stop');
      await vm.clock.advance(60_000);
      expect(vm.masterName()).not.toBe('db1');
      expect(vm.ds('db1')).toMatchObject({ role: 'master', state: 'SHUNNED', lastShunReason: expect.stringMatching(/^FAILED-OVER-TO-db[23]$/) });
    },
  },
  maintenance: { bring: async (vm) => void (await vm.run({ op: 'policy', mode: 'MAINTENANCE' })) },
  'a shunned slave': { bring: async (vm) => void (await vm.run({ op: 'datasource', host: 'db2', action: 'shun' })) },
  'a FAILED slave': {
    async bring(vm) {
      await vm.fault('db3', 'dataserver-stop');
      await vm.clock.advance(30_000);
      expect(vm.ds('db3').state).toBe('FAILED');
    },
  },
  'no connector': { overrides: ['service.connectors='], bring: async (vm) => void expect(vm.manager.serviceStatus('alpha').routers).toEqual([]) },
};

async function scriptedOutput(vm: VirtualManager, input: string[], endOfInputLine: string | null = END_OF_INPUT_LINE, json = false): Promise<string> {
  const shell = new Shell({ api: vm.api, commands: cctrlCommands, state: { service: 'alpha', expert: false, multi: false }, timeoutMs: 2000, confirm: async () => false, refusalHint: '' });
  const stdout = new PassThrough();
  let out = '';
  stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
  await runScripted(shell, input, { json, stdout, stderr: new PassThrough(), signal: new AbortController().signal, ...(endOfInputLine ? { endOfInputLine } : {}) });
  return out;
}

describe('scripted ls as tpm reads it', () => {
  for (const [state, { overrides, bring }] of Object.entries(CLUSTER_STATES)) {
    it(`reads every datasource ${state === 'normal' ? 'in a normal cluster' : `with ${state}`}`, async () => {
      const vm = await startVirtualManager({ overrides });
      await bring?.(vm);
      const status = vm.manager.serviceStatus('alpha');
      const view = readAsTpm(await scriptedOutput(vm, ['ls']));
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
    const out = await scriptedOutput(await startVirtualManager(), ['ls']);
    expect(out).toMatch(/\+\n\nHEALTH: OK: [^\n]+\n\nExiting\.\.\.\n$/);
  });

  it('keeps stdout one JSON document per command with --json (no Exiting...)', async () => {
    const lines = (await scriptedOutput(await startVirtualManager(), ['ls'], END_OF_INPUT_LINE, true)).trimEnd().split('\n');
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0]!)).toMatchObject({ command: 'ls', ok: true });
  });

  it('with nothing after the last box tpm loses the last datasource (why something must follow it)', async () => {
    const vm = await startVirtualManager();
    expect(Object.keys(readAsTpm(formatLs(vm.manager.serviceStatus('alpha'))).datasources)).toEqual(['db1', 'db2']);
    // The verdict after the boxes is enough on its own (a -e session has no Exiting... line).
    expect(Object.keys(readAsTpm(await scriptedOutput(vm, ['ls'], null)).datasources)).toEqual(['db1', 'db2', 'db3']);
  });
});
