import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { demoProperties, loadProperties, redactedProperties } from '../../src/manager/properties.js';
import { toolkitErrorOf } from '../helpers/toolkit-error.js';

function propertiesFile(text: string): string {
  const file = join(mkdtempSync(join(tmpdir(), 'props-')), 'manager.properties');
  writeFileSync(file, text);
  return file;
}


const minimal = ['service.datasources=a,b', 'datasource.a.host=10.0.0.1', 'datasource.a.role=master', 'datasource.b.host=10.0.0.2'].join('\n');

describe('manager properties', () => {
  it('builds the demo configuration: alpha, db1 master, db2 and db3 slaves on 127.0.0.11-13, a connector on each', () => {
    const p = demoProperties();
    expect(p.serviceName).toBe('alpha');
    expect(p.datasources).toEqual([
      { name: 'db1', host: '127.0.0.11', port: 3306, role: 'master', precedence: 99 },
      { name: 'db2', host: '127.0.0.12', port: 3306, role: 'slave', precedence: 99 },
      { name: 'db3', host: '127.0.0.13', port: 3306, role: 'slave', precedence: 99 },
    ]);
    expect(p.connectors).toEqual(['db1', 'db2', 'db3']);
    expect(p.driver).toBe('simulated');
    expect(p.simulation.stepDelayMs).toBe(200);
  });

  it('applies the documented defaults', () => {
    const p = loadProperties({ file: propertiesFile(minimal) });
    expect(p.serviceName).toBe('alpha');
    expect(p.policy).toEqual({
      mode: 'AUTOMATIC',
      samplePeriodSeconds: 10,
      dbPingFailThreshold: 1,
      dbPingTimeoutSeconds: 5,
      hostPingFailThreshold: 2,
      hostPingMethod: 'echo',
      hostPingTimeoutSeconds: 2,
      fenceMasterReplicator: false,
      fenceMasterReplicatorThreshold: 6,
      fenceSlaveReplicator: false,
      fenceSlaveReplicatorThreshold: 6,
      slaveMaxLatencySeconds: 900,
      failoverMaxLostTransactions: -1,
    });
    expect(p.failoverApplyWaitTimeoutSeconds).toBe(0);
    expect(p.stateDir).toBeNull();
    expect(p.auditLog).toBeNull();
  });

  it('reads a file with comments, then lets --property override it, typed', () => {
    const file = propertiesFile(
      ['# the service', minimal, '! also a comment', '', 'policy.mode=manual', 'datasource.b.role=archive', 'policy.fence.masterReplicator=true'].join('\n'),
    );
    const p = loadProperties({ file, overrides: ['policy.mode=maintenance', 'policy.liveness.samplePeriod=5', 'datasource.b.port=3307'] });
    expect(p.policy.mode).toBe('MAINTENANCE');
    expect(p.policy.samplePeriodSeconds).toBe(5);
    expect(p.policy.fenceMasterReplicator).toBe(true);
    expect(p.datasources[1]).toEqual({ name: 'b', host: '10.0.0.2', port: 3307, role: 'archive', precedence: -1 });
  });

  it('refuses an unknown key naming the file, the line and the key', () => {
    const file = propertiesFile(`${minimal}\n\npolicy.mode.typo=manual\n`);
    const e = toolkitErrorOf(() => loadProperties({ file }));
    expect(e.kind).toBe('usage');
    expect(e.message).toBe(`${file}:6: unknown property 'policy.mode.typo'`);
  });

  it('refuses a bad value naming the file, the line, the key and what is expected', () => {
    const file = propertiesFile(`${minimal}\npolicy.liveness.dbping.fail.threshold=often\n`);
    const e = toolkitErrorOf(() => loadProperties({ file }));
    expect(e.kind).toBe('usage');
    expect(e.message).toBe(`${file}:5: bad value 'often' for 'policy.liveness.dbping.fail.threshold': expected an integer >= 0`);
  });

  it('refuses a bad --property naming it', () => {
    expect(toolkitErrorOf(() => demoProperties(['policy.mode=sometimes'])).message).toBe(
      "--property=policy.mode=sometimes: bad value 'sometimes' for 'policy.mode': expected automatic, manual or maintenance",
    );
    expect(toolkitErrorOf(() => demoProperties(['nonsense'])).message).toBe('--property=nonsense: expected KEY=VALUE');
    expect(toolkitErrorOf(() => demoProperties(['datasource.db9.host=x'])).message).toBe(
      "--property=datasource.db9.host=x: 'datasource.db9.host' names datasource 'db9' which is not in service.datasources",
    );
  });

  it('refuses a line that is not an assignment, and a service without exactly one master', () => {
    const file = propertiesFile('service.datasources=a\nthis line is wrong\n');
    expect(toolkitErrorOf(() => loadProperties({ file })).message).toBe(`${file}:2: expected KEY=VALUE, got 'this line is wrong'`);
    const noMaster = propertiesFile('service.datasources=a\ndatasource.a.host=h\n');
    expect(toolkitErrorOf(() => loadProperties({ file: noMaster })).message).toMatch(/exactly one datasource must have role master, found 0/);
  });

  it('names a missing file', () => {
    const e = toolkitErrorOf(() => loadProperties({ file: '/nonexistent/manager.properties' }));
    expect(e.kind).toBe('usage');
    expect(e.message).toBe('cannot read properties file /nonexistent/manager.properties: ENOENT');
  });

  it('never shows the password in the redacted view', () => {
    const p = demoProperties(['mysql.password=s3cret']);
    expect(JSON.stringify(redactedProperties(p))).not.toContain('s3cret');
  });
});
