/** The core's status view: built once per change, shared frozen, never stale. */
import { afterEach, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from './harness.js';

let h: Harness;

afterEach(async () => {
  await h?.manager.close();
});

describe('service status view', () => {
  it('is the same object for every reader until the state changes', async () => {
    h = await startHarness();
    const first = h.manager.serviceStatus('alpha');
    expect(h.manager.serviceStatus('alpha')).toBe(first);
    await h.clock.advance(1000); // time alone is no change
    expect(h.manager.serviceStatus('alpha')).toBe(first);
    expect(h.manager.datasourceStatus('alpha', 'db2')).toBe(first.datasources.find((d) => d.name === 'db2'));
  });

  it('is frozen all the way down, so no reader can change what the others see', async () => {
    h = await startHarness();
    const status = h.manager.serviceStatus('alpha');
    expect(() => {
      (status as { policy: string }).policy = 'MANUAL';
    }).toThrow(TypeError);
    expect(() => {
      (status.datasources[0] as { state: string }).state = 'FAILED';
    }).toThrow(TypeError);
    expect(() => status.datasources.pop()).toThrow(TypeError);
    expect(h.manager.serviceStatus('alpha').policy).toBe('AUTOMATIC');
  });

  it('shows an operation\'s change at the first read after it', async () => {
    h = await startHarness();
    const before = h.manager.serviceStatus('alpha');
    expect(h.ds('db2').state).toBe('ONLINE');
    // Read at once: the shun is recorded before control() returns, while its task still runs.
    const task = h.manager.control('alpha', { op: 'datasource', host: 'db2', action: 'shun' }, 'tester');
    const after = h.manager.serviceStatus('alpha');
    expect(task.state).toBe('in_progress');
    expect(after).not.toBe(before);
    expect(after.datasources.find((d) => d.name === 'db2')!.state).toBe('SHUNNED');
    expect(h.ds('db2').lastShunReason).toBe('MANUALLY-SHUNNED');
    await h.clock.advance(0);
  });

  it('shows each monitoring sample at the first read after it', async () => {
    h = await startHarness();
    const before = h.manager.serviceStatus('alpha');
    await h.fault('db3', 'dataserver-stop');
    await h.clock.advance(h.props.policy.samplePeriodSeconds * 1000);
    const after = h.manager.serviceStatus('alpha');
    expect(Date.parse(after.sampledAt)).toBeGreaterThan(Date.parse(before.sampledAt));
    expect(after.datasources.find((d) => d.name === 'db3')!.dataServer.state).toBe('STOPPED');
  });

  it('shows a switch at the first read after its task ends, with exactly one master', async () => {
    h = await startHarness();
    const oldMaster = h.masterName();
    const task = await h.run({ op: 'switch', target: 'db3' });
    expect(task.state).toBe('complete');
    const status = h.manager.serviceStatus('alpha');
    expect(status.datasources.filter((d) => d.role === 'master').map((d) => d.name)).toEqual(['db3']);
    expect(status.datasources.find((d) => d.name === oldMaster)!.role).toBe('slave');
  });

  it('measures relative latency at the change the view shows, not at each read', async () => {
    h = await startHarness();
    await h.clock.advance(h.props.policy.samplePeriodSeconds * 1000);
    const latencies = () => h.manager.serviceStatus('alpha').datasources.map((d) => d.relativeLatency);
    const atSample = latencies();
    await h.clock.advance(3000);
    expect(latencies()).toEqual(atSample);
    for (const l of atSample) expect(l === null || (l >= 0 && Number.isFinite(l))).toBe(true);
  });

  it('keeps the alert time of a datasource as it was set, as ISO-8601', async () => {
    h = await startHarness();
    const set = h.ds('db2').alertTime;
    await h.clock.advance(h.props.policy.samplePeriodSeconds * 1000);
    expect(h.ds('db2').alertTime).toBe(set);
    expect(new Date(set).toISOString()).toBe(set);
    await h.run({ op: 'datasource', host: 'db2', action: 'shun' }, 0);
    expect(h.ds('db2').alertTime).toBe(new Date(h.clock.now()).toISOString());
  });
});
