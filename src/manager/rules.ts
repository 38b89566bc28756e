/**
 * The policy rules as pure functions: which faults an observation shows, how long each must last
 * before the manager acts (`(threshold + 1) x samplePeriod` after first detection), and the alert
 * status a datasource shows.
 */
import type { Observation } from './drivers/driver.js';
import { errantTransactions } from './errant.js';
import type { AlertStatus, ResourceState, Role } from './model.js';
import type { ManagerProperties } from './properties.js';

export type FaultKind = 'host' | 'dataserver' | 'replicator';

export interface Fault {
  kind: FaultKind;
  /** Why the datasource would be FAILED: `DATASERVER 'db3@alpha' STOPPED`. */
  error: string;
  /** Shown as REASON[...] while the datasource is still ONLINE: `REPLICATOR STOPPED`. */
  alert: string;
}

/**
 * Faults in order of precedence. A host that is down is one fault: its server and replicator being
 * unreachable follow from it and must not trigger the (shorter) database server interval.
 */
export function faultsOf(obs: Observation, qualifiedName: string): Fault[] {
  if (obs.host === 'unreachable') {
    return [{ kind: 'host', error: `HOST '${qualifiedName}' UNREACHABLE`, alert: 'HOST UNREACHABLE' }];
  }
  const faults: Fault[] = [];
  if (obs.dataServer.state !== 'ONLINE') {
    const state = obs.dataServer.state;
    // STOPPED, UNREACHABLE and TIMEOUT say what happened; UNKNOWN (wrong password, a server that is
    // not MariaDB, ...) means nothing to an operator without the driver's reason.
    const why = state === 'UNKNOWN' && obs.dataServer.reason ? `: ${obs.dataServer.reason}` : '';
    faults.push({ kind: 'dataserver', error: `DATASERVER '${qualifiedName}' ${state}${why}`, alert: `DATASERVER ${state}${why}` });
  }
  if (!obs.replicator || (obs.replicator.state !== 'ONLINE' && obs.replicator.state !== 'SYNCHRONIZING')) {
    const state = obs.replicator ? obs.replicator.state : 'STOPPED';
    faults.push({ kind: 'replicator', error: `REPLICATOR '${qualifiedName}' ${state}`, alert: `REPLICATOR ${state}` });
  }
  return faults;
}

/** What a slave's replication should be: following `masterName`, whose history is `masterGtidState`. */
export interface ReplicationExpectation {
  masterName: string;
  masterGtidState: string | null;
  masterServerId: number | null;
  /** The other servers' GTID states (see errantTransactions). */
  peers: ReadonlyArray<string | null>;
}

/**
 * What is wrong with a healthy-looking slave's replication: it follows another server than the
 * master, its lag is unknown, or it holds transactions the master lacks. The rules never act on
 * these (no failover, no fencing); they make the slave DIMINISHED with the reason, and ineligible.
 */
export function replicationWarnings(obs: Observation | null, expected: ReplicationExpectation | null): string[] {
  const rep = obs?.replicator;
  if (!expected || !obs || obs.inconclusive || obs.dataServer.state !== 'ONLINE' || !rep) return [];
  const warnings: string[] = [];
  if (rep.role !== 'slave' || rep.masterHost === null) warnings.push(`NOT REPLICATING FROM THE MASTER '${expected.masterName}'`);
  else if (rep.masterHost !== expected.masterName) warnings.push(`REPLICATES FROM '${rep.masterHost}', NOT FROM THE MASTER '${expected.masterName}'`);
  else if (rep.appliedLatency < 0 && rep.state === 'ONLINE') warnings.push('REPLICATION LAG UNKNOWN');
  const errant = errantTransactions({ slave: obs.gtidState, slaveServerId: obs.serverId, master: expected.masterGtidState, masterServerId: expected.masterServerId, peers: expected.peers });
  if (errant.length > 0) warnings.push(`ERRANT TRANSACTIONS ${errant.join(',')} NOT ON THE MASTER '${expected.masterName}'`);
  return warnings;
}

/**
 * How long a fault must persist, from first detection, before the manager acts on it; null when
 * the policy never acts on it (a replicator fault without fencing configured).
 */
export function actionDelayMs(kind: FaultKind, role: Role, props: ManagerProperties): number | null {
  const p = props.policy;
  const periods = (threshold: number) => (threshold + 1) * p.samplePeriodSeconds * 1000;
  switch (kind) {
    case 'host':
      return periods(p.hostPingFailThreshold);
    case 'dataserver':
      return periods(p.dbPingFailThreshold);
    case 'replicator':
      if (role === 'master') return p.fenceMasterReplicator ? periods(p.fenceMasterReplicatorThreshold) : null;
      return p.fenceSlaveReplicator ? periods(p.fenceSlaveReplicatorThreshold) : null;
  }
}

/** Alert status per state; an ONLINE datasource with a faulty component is DIMINISHED. */
export function alertOf(
  state: ResourceState,
  faults: readonly Fault[],
  lastError: string | null,
  warnings: readonly string[] = [],
): { status: AlertStatus; message: string | null } {
  switch (state) {
    case 'ONLINE':
      if (faults.length > 0) return { status: 'DIMINISHED', message: faults[0]!.alert };
      return warnings.length > 0 ? { status: 'DIMINISHED', message: warnings.join('; ') } : { status: 'OK', message: null };
    case 'OFFLINE':
      return { status: 'WARN', message: lastError };
    case 'FAILED':
      return { status: 'CRITICAL', message: lastError };
    case 'SHUNNED':
      return { status: 'SHUNNED', message: null };
    default:
      return { status: 'UNKNOWN', message: lastError };
  }
}
