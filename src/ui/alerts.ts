/**
 * What changed in the cluster between two views of it, as the shell announces it (MANAGER lines):
 * a new master, a datasource FAILED, SHUNNED or back ONLINE, a fault the rules are counting down,
 * a policy change, and the manager's alerts, each piece of news once (Announcer). The UI hands it
 * the status it had and the one it got.
 */
import type { DataSourceStatus, ManagerAlert, ServiceStatus } from '../manager/model.js';

export function masterOf(s: ServiceStatus): DataSourceStatus | null {
  return s.datasources.find((d) => d.role === 'master' && d.state !== 'SHUNNED') ?? null;
}

/** A MANAGER line, and for a datasource's new state, which one and why. */
interface Change {
  line: string;
  datasource?: string;
  reason?: string;
}

function clusterChanges(before: ServiceStatus | null, after: ServiceStatus): Change[] {
  if (!before || before.name !== after.name) return [];
  const lines: Change[] = [];
  const was = masterOf(before)?.name ?? null;
  const now = masterOf(after)?.name ?? null;
  if (was !== now) lines.push({ line: `MANAGER: the master is now ${now ?? 'NONE'}${was ? ` (was ${was})` : ''}` });
  if (before.policy !== after.policy) lines.push({ line: `MANAGER: policy is now ${after.policy} (was ${before.policy})` });
  for (const d of after.datasources) {
    const prev = before.datasources.find((x) => x.name === d.name);
    if (!prev) continue;
    if (prev.state !== d.state) {
      const reason = stateReason(d);
      lines.push({ line: `MANAGER: ${d.name} is now ${d.state}${reason ? ` (${reason})` : ''}`, datasource: d.name, ...(reason ? { reason } : {}) });
    }
    const coming = d.pendingAction?.message ?? null;
    // A countdown that starts, or a verdict that changes (FAILED under MANUAL: run 'failover').
    if (coming && pendingKey(prev) !== pendingKey(d)) lines.push({ line: `MANAGER: ${coming}` });
  }
  return lines;
}

function stateReason(d: DataSourceStatus): string | null {
  if (d.state === 'SHUNNED' && d.lastShunReason) return d.lastShunReason;
  if ((d.state === 'FAILED' || d.state === 'OFFLINE') && d.lastError) return d.lastError;
  return null;
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

/** How long an alert and a state line that give the same reason count as one piece of news. */
export const SAME_NEWS_MS = 10_000;

/**
 * The shell's MANAGER lines, each piece of news once. A slave that cannot follow the master is
 * marked FAILED with the reason, and the failed repoint raises an alert carrying that reason:
 * whichever of the two arrives second (a state line for the same datasource and reason, or an
 * alert whose message holds a reason just said) is not printed again.
 */
export class Announcer {
  private said: Array<{ datasource: string; reason: string; message: string | null; at: number }> = [];

  constructor(private readonly now: () => number = Date.now) {}

  /** What changed between two views of a service, without what an alert has just said. */
  changes(before: ServiceStatus | null, after: ServiceStatus): string[] {
    const lines: string[] = [];
    for (const c of clusterChanges(before, after)) {
      if (c.datasource && c.reason) {
        const reason = c.reason;
        if (this.recent().some((s) => s.datasource === c.datasource && s.message?.includes(reason))) continue;
        this.said.push({ datasource: c.datasource, reason, message: null, at: this.now() });
      }
      lines.push(c.line);
    }
    return lines;
  }

  /** An alert's line, or null when a state line has just given its reason. */
  alert(alert: ManagerAlert): string | null {
    const repeat = this.recent().some((s) => s.message === null && s.datasource === alert.datasource && alert.message.includes(s.reason));
    this.said.push({ datasource: alert.datasource, reason: alert.message, message: alert.message, at: this.now() });
    return repeat ? null : alertLine(alert);
  }

  private recent(): typeof this.said {
    const since = this.now() - SAME_NEWS_MS;
    this.said = this.said.filter((s) => s.at >= since);
    return this.said;
  }
}
