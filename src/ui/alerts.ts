/**
 * What changed in the cluster between two views of it, as the shell announces it (MANAGER lines):
 * a new master, a datasource FAILED, SHUNNED or back ONLINE, a fault the rules are counting down,
 * a policy change. Pure: the UI hands it the status it had and the one it got.
 */
import type { DataSourceStatus, ManagerAlert, ServiceStatus } from '../manager/model.js';

export function masterOf(s: ServiceStatus): DataSourceStatus | null {
  return s.datasources.find((d) => d.role === 'master' && d.state !== 'SHUNNED') ?? null;
}

export function clusterAlerts(before: ServiceStatus | null, after: ServiceStatus): string[] {
  if (!before || before.name !== after.name) return [];
  const lines: string[] = [];
  const was = masterOf(before)?.name ?? null;
  const now = masterOf(after)?.name ?? null;
  if (was !== now) lines.push(`MANAGER: the master is now ${now ?? 'NONE'}${was ? ` (was ${was})` : ''}`);
  if (before.policy !== after.policy) lines.push(`MANAGER: policy is now ${after.policy} (was ${before.policy})`);
  for (const d of after.datasources) {
    const prev = before.datasources.find((x) => x.name === d.name);
    if (!prev) continue;
    if (prev.state !== d.state) lines.push(`MANAGER: ${d.name} is now ${d.state}${stateDetail(d)}`);
    const coming = d.pendingAction?.message ?? null;
    // A countdown that starts, or a verdict that changes (FAILED under MANUAL: run 'failover').
    if (coming && pendingKey(prev) !== pendingKey(d)) lines.push(`MANAGER: ${coming}`);
  }
  return lines;
}

function stateDetail(d: DataSourceStatus): string {
  if (d.state === 'SHUNNED' && d.lastShunReason) return ` (${d.lastShunReason})`;
  if ((d.state === 'FAILED' || d.state === 'OFFLINE') && d.lastError) return ` (${d.lastError})`;
  return '';
}

/** What a pending action is about, without its countdown. */
function pendingKey(d: DataSourceStatus): string | null {
  const p = d.pendingAction;
  return p ? `${p.action}|${p.fault}|${p.policy}|${p.dueAt ?? ''}` : null;
}

/** A manager's alert event as the shell announces it (scrollback and status line). */
export function alertLine(alert: ManagerAlert): string {
  return alert.kind === 'repair-failed' ? `MANAGER: automatic repair FAILED: ${alert.message}` : `MANAGER: ${alert.message}`;
}
