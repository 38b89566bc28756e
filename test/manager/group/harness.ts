/**
 * A manager group on the virtual clock: three members (one beside each demo datasource) over one
 * simulated cluster and one simulated etcd (src/manager/coordination/memory-etcd.ts). The group code
 * is the one that runs on real etcd; only the store underneath is simulated.
 */
import { VirtualClock } from '../../../src/manager/clock.js';
import { EtcdCoordination } from '../../../src/manager/coordination/etcd.js';
import { MemoryEtcd } from '../../../src/manager/coordination/memory-etcd.js';
import type { ManagerCore } from '../../../src/manager/core.js';
import { SimulatedDriver } from '../../../src/manager/drivers/simulated.js';
import { createManager, silentLogger, type ManagerLogger } from '../../../src/manager/index.js';
import type { FaultAction } from '../../../src/manager/model.js';
import { demoProperties, type ManagerProperties } from '../../../src/manager/properties.js';

export const MEMBERS = ['db1', 'db2', 'db3'] as const;

export interface GroupHarness {
  clock: VirtualClock;
  driver: SimulatedDriver;
  etcd: MemoryEtcd;
  props: ManagerProperties;
  ttlSeconds: number;
  /** Running members by name. */
  members: Map<string, ManagerCore>;
  /** Log lines of every member, prefixed by its name. */
  log: string[];
  start(name: string): Promise<ManagerCore>;
  /** kill -9: nothing more is written, its lease runs out in etcd. */
  kill(name: string): void;
  /** A clean stop: it resigns and revokes its lease. */
  stop(name: string): Promise<void>;
  coordinator(): ManagerCore | undefined;
  coordinatorName(): string | undefined;
  /** The master as the acting coordinator records it. */
  masterName(): string | undefined;
  fault(host: string, fault: FaultAction): Promise<void>;
  destroy(): Promise<void>;
}

export async function startGroup(
  overrides: string[] = [],
  opts: { ttlSeconds?: number; members?: readonly string[]; /** Each member writes its audit log here, as NAME-audit.log. */ auditDir?: string } = {},
): Promise<GroupHarness> {
  const clock = new VirtualClock();
  const ttlSeconds = opts.ttlSeconds ?? 3;
  const props = demoProperties(['simulation.stepDelayMs=0', 'manager.coordination=etcd', 'manager.etcd.endpoints=http://etcd.invalid:2379', `manager.coordination.ttl=${ttlSeconds}`, ...overrides]);
  const driver = new SimulatedDriver({
    clock,
    datasources: props.datasources,
    connectors: props.connectors,
    stepDelayMs: 0,
    writesPerSecond: props.simulation.writesPerSecond,
    seed: props.simulation.seed,
  });
  const etcd = new MemoryEtcd(clock, { timeoutMs: 500 });
  const log: string[] = [];
  const members = new Map<string, ManagerCore>();
  const loggerOf = (name: string): ManagerLogger => ({
    info: (m) => log.push(`${name} INFO ${m}`),
    warn: (m) => log.push(`${name} WARN ${m}`),
    error: (m) => log.push(`${name} ERROR ${m}`),
  });
  const h: GroupHarness = {
    clock,
    driver,
    etcd,
    props,
    ttlSeconds,
    members,
    log,
    async start(name) {
      const memberProps = {
        ...props,
        auditLog: opts.auditDir ? `${opts.auditDir}/${name}-audit.log` : null,
        coordination: { ...props.coordination, memberName: name, datasource: name },
      };
      const logger = process.env.GROUP_LOG ? { info: (m: string) => console.log(name, m), warn: (m: string) => console.log(name, m), error: (m: string) => console.log(name, m) } : loggerOf(name);
      const coordination = new EtcdCoordination({ kv: etcd.client(name), clock, service: props.serviceName, memberName: name, ttlSeconds, prefix: '/tungsten', location: 'memory', logger });
      const core = await createManager({ properties: memberProps, clock, driver, hostName: `${name}-host`, coordination, logger: logger ?? silentLogger, apiUrl: `http://${name}.invalid:8090` });
      members.set(name, core);
      return core;
    },
    kill(name) {
      members.get(name)?.halt();
      members.delete(name);
    },
    async stop(name) {
      const core = members.get(name);
      members.delete(name);
      await core?.close();
    },
    coordinator: () => [...members.values()].find((m) => m.acting()),
    coordinatorName: () => [...members.entries()].find(([, m]) => m.acting())?.[0],
    masterName() {
      const c = h.coordinator();
      return c?.serviceStatus(props.serviceName).datasources.find((d) => d.role === 'master' && d.state !== 'SHUNNED')?.name;
    },
    async fault(host, fault) {
      await driver.injectFault(props.datasources.find((d) => d.name === host)!, fault);
    },
    async destroy() {
      for (const m of members.values()) m.halt();
      members.clear();
    },
  };
  for (const name of opts.members ?? MEMBERS) await h.start(name);
  await clock.advance(ttlSeconds * 1000);
  return h;
}
