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
    expect(e.message).toBe(`${file}:6: unknown property 'policy.mode.typo' (its value is not shown)`);
  });

  it('refuses a bad value naming the file, the line, the key and what is expected', () => {
    const file = propertiesFile(`${minimal}\npolicy.liveness.dbping.fail.threshold=often\n`);
    const e = toolkitErrorOf(() => loadProperties({ file }));
    expect(e.kind).toBe('usage');
    expect(e.message).toBe(`${file}:5: bad value 'often' for 'policy.liveness.dbping.fail.threshold': expected an integer >= 0`);
  });

  it('refuses a bad --property naming it', () => {
    expect(toolkitErrorOf(() => demoProperties(['policy.mode=sometimes'])).message).toBe(
      "--property=policy.mode: bad value 'sometimes' for 'policy.mode': expected automatic, manual or maintenance",
    );
    expect(toolkitErrorOf(() => demoProperties(['nonsense'])).message).toBe('--property: expected KEY=VALUE (the value is not shown: it may hold a secret)');
    expect(toolkitErrorOf(() => demoProperties(['datasource.db9.host=x'])).message).toBe(
      "--property=datasource.db9.host: 'datasource.db9.host' names datasource 'db9' which is not in service.datasources",
    );
  });

  it('refuses a line that is not an assignment, and a service without exactly one master', () => {
    const file = propertiesFile('service.datasources=a\nthis line is wrong\n');
    expect(toolkitErrorOf(() => loadProperties({ file })).message).toBe(`${file}:2: expected KEY=VALUE (the line is not shown: it may hold a secret)`);
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

describe('manager group properties', () => {
  const alone = () => loadProperties({ demo: true });
  const group = (...extra: string[]) => loadProperties({ demo: true, overrides: ['manager.coordination=etcd', 'manager.etcd.endpoints=http://127.0.0.1:2379', ...extra] });

  it('defaults to one manager alone with its state local; etcd needs its endpoints', () => {
    expect(alone().coordination).toMatchObject({ kind: 'local', memberName: null, datasource: null, ttlSeconds: 10 });
    expect(toolkitErrorOf(() => loadProperties({ demo: true, overrides: ['manager.coordination=etcd'] }))).toMatchObject({
      kind: 'usage',
      message: expect.stringContaining('manager.coordination=etcd needs manager.etcd.endpoints'),
    });
  });

  it('reads the group keys of the contract', () => {
    const p = group(
      'manager.coordination=etcd',
      'manager.etcd.endpoints=http://127.0.0.1:2379, https://10.0.0.2:2379',
      'manager.name=db2',
      'manager.datasource=db2',
      'manager.coordination.ttl=3',
      'manager.api.advertise=http://10.0.0.2:8090',
    ).coordination;
    expect(p).toMatchObject({ kind: 'etcd', memberName: 'db2', datasource: 'db2', ttlSeconds: 3, advertiseUrl: 'http://10.0.0.2:8090' });
    expect(p.etcd.endpoints).toEqual(['http://127.0.0.1:2379', 'https://10.0.0.2:2379']);
  });

  it.each([
    ['manager.coordination.ttl=2', /whole seconds, 3 or more/],
    ['manager.coordination.ttl=abc', /whole seconds, 3 or more/],
    ['manager.etcd.endpoints=127.0.0.1:2379', /etcd client URLs/],
    ['manager.etcd.endpoints=ftp://x:1', /etcd client URLs/],
    ['manager.datasource=db9', /not in service.datasources/],
    ['manager.coordination=zookeeper', /local or etcd/],
    ['manager.etcd.cert=/tmp/c.pem', /needs both manager.etcd.cert and manager.etcd.key/],
    ['manager.etcd.password=hunter2', /needs manager.etcd.user/],
    ['manager.coordination.ttl=30', /too long for failovers 20 s after a fault/],
  ])('refuses %s with a clear reason', (override, reason) => {
    const e = toolkitErrorOf(() => group(override));
    expect(e.kind).toBe('usage');
    expect(e.message).toMatch(reason);
  });

  it('hides the etcd password wherever properties are shown, and never echoes it in an error', () => {
    const p = group('manager.etcd.user=mgr', 'manager.etcd.password=hunter2');
    expect(JSON.stringify(redactedProperties(p))).not.toContain('hunter2');
    const e = toolkitErrorOf(() => group('manager.etcd.password=hunter2', 'manager.etcd.passwordFile=/x'));
    expect(`${e.message} ${e.hint ?? ''}`).not.toContain('hunter2');
  });
});
