/**
 * One verdict on the service, in words: what `ls` and `cluster validate` end with. OK when the
 * master takes writes and every other datasource, connector and the coordinator are ONLINE and
 * healthy; DEGRADED when the service runs with less; CRITICAL when no master takes writes.
 */
import type { DataSourceStatus, ServiceStatus } from '../manager/model.js';

export type HealthStatus = 'OK' | 'DEGRADED' | 'CRITICAL';

export interface HealthVerdict {
  status: HealthStatus;
  /** `HEALTH: OK: master db1 takes writes; slaves db2, db3 ONLINE`. */
  line: string;
}

export function healthVerdict(service: ServiceStatus): HealthVerdict {
  const master = service.datasources.find((d) => d.role === 'master' && d.state !== 'SHUNNED') ?? null;
  const critical: string[] = [];
  const degraded: string[] = [];
  if (!master) critical.push('no master');
  else if (master.state !== 'ONLINE') critical.push(`the master ${master.name} is ${master.state}${master.lastError ? ` (${master.lastError})` : ''}`);
  else if (master.dataServer.state !== 'ONLINE') critical.push(`the master ${master.name} does not answer (DATASERVER ${master.dataServer.state})`);
  else if (master.alertMessage) degraded.push(`the master ${master.name}: ${master.alertMessage}`);
  for (const d of service.datasources) {
    if (d === master) continue;
    const problem = datasourceProblem(d);
    if (problem) degraded.push(problem);
  }
  if (service.coordinator.state !== 'ONLINE') degraded.push(`no coordinator (${service.coordinator.host} is ${service.coordinator.state})`);
  for (const r of service.routers) if (r.state !== 'ONLINE') degraded.push(`${r.name} is ${r.state}`);
  // Automation off is not a fault, but the operator must know nothing will fail over.
  const notes = service.policy === 'AUTOMATIC' ? [] : [`policy ${service.policy}: no automatic failover`];

  if (critical.length > 0) {
    // What the master's countdown says: `automatic failover in 12 s (AUTOMATIC)`.
    const coming = master?.pendingAction ? [master.pendingAction.message.replace(/^\S+ [^:]*: /, '')] : [];
    const rest = coming.length > 0 ? degraded : [...degraded, ...notes];
    return { status: 'CRITICAL', line: `HEALTH: CRITICAL: no writes: ${[...critical, ...coming, ...rest].join('; ')}` };
  }
  if (degraded.length > 0) return { status: 'DEGRADED', line: `HEALTH: DEGRADED: ${[...degraded, ...notes].join('; ')}; writes go to ${master!.name}` };
  const slaves = service.datasources.filter((d) => d !== master).map((d) => d.name);
  const ok = [`master ${master!.name} takes writes`, ...(slaves.length > 0 ? [`${slaves.join(', ')} ONLINE`] : []), ...notes];
  return { status: 'OK', line: `HEALTH: OK: ${ok.join('; ')}` };
}

/** Why a datasource other than the master is not at full service; null when it is. */
function datasourceProblem(d: DataSourceStatus): string | null {
  const role = d.role === 'master' ? 'old master' : d.role;
  if (d.state === 'SHUNNED') {
    return `${role} ${d.name} is SHUNNED${d.lastShunReason ? ` (${d.lastShunReason})` : ''}`;
  }
  if (d.state !== 'ONLINE') return `${role} ${d.name} is ${d.state}${d.lastError ? ` (${d.lastError})` : ''}`;
  if (d.alertMessage) return `${role} ${d.name}: ${d.alertMessage}`;
  return null;
}
