/** Builders of cluster-model views for cctrl's tests: a classic 3-node service and its variants. */
import type { DataSourceStatus, RouterStatus, ServiceStatus } from '../../src/manager/model.js';

export function datasource(name: string, patch: Partial<DataSourceStatus> = {}): DataSourceStatus {
  const role = patch.role ?? 'slave';
  const base: DataSourceStatus = {
    name,
    service: 'alpha',
    host: name,
    role,
    state: 'ONLINE',
    alertStatus: 'OK',
    alertMessage: null,
    alertTime: '2013-05-03T20:11:10Z',
    lastShunReason: null,
    lastError: null,
    precedence: 1,
    standby: false,
    archive: false,
    witness: false,
    manager: { state: 'ONLINE' },
    replicator: {
      state: 'ONLINE',
      role,
      masterHost: role === 'master' ? null : 'host1',
      appliedSeqno: 3,
      storedSeqno: 3,
      appliedLatency: 0.561,
      relativeLatency: 1.2,
    },
    dataServer: { state: 'ONLINE' },
    connections: { active: 0, created: 0 },
    seqno: 3,
    appliedLatency: 0.561,
    relativeLatency: 1.2,
  };
  return { ...base, ...patch };
}

export function router(host: string, pid: number, patch: Partial<RouterStatus> = {}): RouterStatus {
  return { name: `connector@${host}`, host, pid, state: 'ONLINE', connections: { active: 0, created: 0 }, ...patch };
}

/** The reference's normal 3-node sample (§2.2), TZ=Europe/London. */
export function classicService(patch: Partial<ServiceStatus> = {}): ServiceStatus {
  return {
    name: 'alpha',
    type: 'CLUSTERED_MASTER_SLAVE',
    composite: false,
    multimaster: false,
    policy: 'AUTOMATIC',
    coordinator: { host: 'host1', state: 'ONLINE' },
    coordinators: ['host1'],
    datasources: [
      datasource('host1', { role: 'master', alertTime: '2013-05-03T20:11:10Z' }),
      datasource('host2', {
        alertTime: '2013-05-04T04:40:43Z',
        replicator: replicator({ appliedLatency: 1.243 }),
      }),
      datasource('host3', {
        alertTime: '2013-05-04T06:40:12Z',
        replicator: replicator({ appliedLatency: 0 }),
      }),
    ],
    routers: [router('host1', 8805), router('host2', 12039), router('host3', 12712)],
    sampledAt: '2013-05-04T06:40:12Z',
    ...patch,
  };
}

export function replicator(patch: Partial<NonNullable<DataSourceStatus['replicator']>> = {}): NonNullable<DataSourceStatus['replicator']> {
  return {
    state: 'ONLINE',
    role: 'slave',
    masterHost: 'host1',
    appliedSeqno: 3,
    storedSeqno: 3,
    appliedLatency: 0.561,
    relativeLatency: 1.2,
    ...patch,
  };
}

