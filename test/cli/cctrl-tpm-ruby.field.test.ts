/**
 * tpm's own cctrl parser (CCTRL#parse, in Ruby, from tpm's sources) reads `echo ls | cctrl` against
 * a real manager in every cluster state tpm meets: normal, maintenance, a shunned slave, a FAILED
 * slave, after a failover. It must find every datasource, as it does with real cctrl.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CCTRL_BIN, requireBuild, runCctrl, startTestManager, type TestManager } from '../e2e/cctrl-helpers.js';
import { READ_CCTRL_RB, extractTpmRuby, tpmRubyMissing } from '../helpers/tpm-ruby.js';

const run = promisify(execFile);
const missing = tpmRubyMissing();
// Run only by `npm run test:field` (vitest.config.ts): the sources come from checkouts of the original projects, which
// are never committed here, so whoever asks for this run must have them, and their absence is a failure.
if (missing !== null) throw new Error(`npm run test:field needs ${missing}`);

interface TpmDatasource {
  role: string;
  status: string;
  manager?: string;
  dataserver?: string;
  replicator?: { role: string; status: string; master?: string };
}

describe("tpm's own Ruby reads scripted cctrl", () => {
  let manager: TestManager;
  let rubyDir: string;
  beforeAll(async () => {
    requireBuild();
    rubyDir = extractTpmRuby(['configure/cctrl.rb', 'properties.rb']);
    manager = await startTestManager(['policy.liveness.samplePeriod=0.2']);
  });
  afterAll(async () => {
    await manager?.close();
  });

  const cctrl = (line: string) => runCctrl([...manager.args, '--yes', '-e', line]);
  const readByTpm = async () => {
    const command = [process.execPath, CCTRL_BIN, '--manager', manager.url].join(' ');
    const { stdout } = await run('ruby', [READ_CCTRL_RB, rubyDir, command], {
      env: { ...process.env, TUNGSTEN_API_USER: manager.user, TUNGSTEN_API_PASSWORD: manager.password },
    });
    return JSON.parse(stdout) as { coordinator: { host: string; mode: string }; datasources: Record<string, TpmDatasource>; routers: Record<string, unknown> };
  };
  const until = async (line: string, test: (text: string) => boolean) => {
    for (const deadline = Date.now() + 20_000; Date.now() < deadline; ) {
      const r = await cctrl(line);
      if (test(r.stdout)) return;
      await new Promise((r) => setTimeout(r, 200));
    }
    throw new Error(`timed out waiting on: ${line}`);
  };

  it('finds all three datasources and the routers in a normal cluster', async () => {
    const view = await readByTpm();
    expect(Object.keys(view.datasources)).toEqual(['db1', 'db2', 'db3']);
    expect(view.coordinator).toMatchObject({ host: 'db1', mode: 'AUTOMATIC' });
    expect(view.datasources['db2']).toMatchObject({ role: 'slave', status: 'ONLINE', manager: 'ONLINE', dataserver: 'ONLINE', replicator: { role: 'slave', master: 'db1', status: 'ONLINE' } });
    expect(Object.keys(view.routers)).toEqual(['db1', 'db2', 'db3']);
  });

  it('in maintenance', async () => {
    await cctrl('set policy maintenance');
    const view = await readByTpm();
    expect(view.coordinator.mode).toBe('MAINTENANCE');
    expect(Object.keys(view.datasources)).toEqual(['db1', 'db2', 'db3']);
    await cctrl('set policy automatic');
  });

  it('with a shunned slave', async () => {
    await cctrl('datasource db2 shun');
    const view = await readByTpm();
    expect(Object.keys(view.datasources)).toEqual(['db1', 'db2', 'db3']);
    expect(view.datasources['db2']!.status).toBe('SHUNNED(MANUALLY-SHUNNED)');
    await cctrl('datasource db2 welcome');
  });

  it('with a FAILED slave', async () => {
    await cctrl('service db3/mysql stop');
    await until('ls db3', (text) => text.includes('db3(slave:FAILED'));
    const view = await readByTpm();
    expect(Object.keys(view.datasources)).toEqual(['db1', 'db2', 'db3']);
    expect(view.datasources['db3']).toMatchObject({ role: 'slave', dataserver: 'STOPPED' });
    expect(view.datasources['db3']!.status).toMatch(/^FAILED/);
  });

  it('after a failover', async () => {
    await cctrl('service db1/mysql stop');
    await until('ls db2', (text) => text.includes('db2(master:ONLINE'));
    const view = await readByTpm();
    expect(Object.keys(view.datasources)).toEqual(['db1', 'db2', 'db3']);
    expect(view.datasources['db1']!.status).toMatch(/^SHUNNED/);
    expect(view.datasources['db2']).toMatchObject({ role: 'master', status: 'ONLINE' });
  });
});
