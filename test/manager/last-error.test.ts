import { afterEach, describe, expect, it } from 'vitest';
import { VirtualClock } from '../../src/manager/clock.js';
import type { DataSourceConfig, Observation } from '../../src/manager/drivers/driver.js';
import { SimulatedDriver } from '../../src/manager/drivers/simulated.js';
import { demoProperties } from '../../src/manager/properties.js';
import { startHarness, type Harness } from './harness.js';

/** A simulated cluster whose database pings can be made to fail with a given state and reason. */
class OverridableDriver extends SimulatedDriver {
  readonly dataServer = new Map<string, Observation['dataServer']>();

  override async observe(ds: DataSourceConfig): Promise<Observation> {
    const obs = await super.observe(ds);
    const forced = this.dataServer.get(ds.name);
    return forced ? { ...obs, dataServer: forced } : obs;
  }
}

let h: Harness | undefined;
afterEach(async () => {
  await h?.manager.close();
  h = undefined;
});

describe('the reason a failed datasource shows', () => {
  it('follows what the monitor sees while the datasource stays FAILED', async () => {
    const clock = new VirtualClock();
    const props = demoProperties(['simulation.stepDelayMs=0']);
    const driver = new OverridableDriver({ clock, datasources: props.datasources, connectors: props.connectors, stepDelayMs: 0 });
    h = await startHarness([], { clock, driver });
    await clock.advance(10_000);

    driver.dataServer.set('db3', { state: 'UNKNOWN', reason: 'the server closed the connection' });
    await clock.advance(30_000);
    expect(h.ds('db3')).toMatchObject({ state: 'FAILED', lastError: "DATASERVER 'db3@alpha' UNKNOWN: the server closed the connection" });

    driver.dataServer.set('db3', { state: 'STOPPED', reason: 'connection refused' });
    await clock.advance(10_000);
    expect(h.ds('db3')).toMatchObject({ state: 'FAILED', lastError: "DATASERVER 'db3@alpha' STOPPED", alertMessage: "DATASERVER 'db3@alpha' STOPPED" });

    driver.dataServer.delete('db3');
    await clock.advance(10_000);
    expect(h.ds('db3')).toMatchObject({ state: 'ONLINE', lastError: null });
  });
});
