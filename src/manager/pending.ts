/**
 * What is coming: for one datasource, what the rules will do on their own and when, as a pure
 * function of its record, the faults the monitor sees and when each was first detected. The same
 * intervals as the rules themselves (rules.ts actionDelayMs, decide.ts), so the countdown an
 * operator reads is the one the manager keeps.
 */
import type { PendingAction, PolicyMode, ResourceState, Role } from './model.js';
import type { ManagerProperties } from './properties.js';
import { actionDelayMs, type Fault, type FaultKind } from './rules.js';

export interface PendingInput {
  name: string;
  role: Role;
  state: ResourceState;
  /** It is the service's master (role master, not shunned). */
  isMaster: boolean;
  faults: readonly Fault[];
  faultSince: ReadonlyMap<FaultKind, number>;
  policy: PolicyMode;
  props: ManagerProperties;
  now: number;
  /** For a FAILED master: whether an automatic failover runs now, or was already tried and did not happen. */
  failover: 'running' | 'tried' | 'not-yet';
}

export function pendingActionOf(i: PendingInput): PendingAction | null {
  if (i.state === 'ONLINE' && i.faults.length > 0) return faultPending(i);
  if (i.isMaster && i.state === 'FAILED') return failedMasterPending(i);
  return null;
}

/** The fault due first among those the policy acts on; null when it acts on none of them. */
function faultPending(i: PendingInput): PendingAction | null {
  let first: { fault: Fault; due: number } | null = null;
  for (const fault of i.faults) {
    const delay = actionDelayMs(fault.kind, i.role, i.props);
    const since = i.faultSince.get(fault.kind);
    if (delay === null || since === undefined) continue;
    if (!first || since + delay < first.due) first = { fault, due: since + delay };
  }
  if (!first) return null;
  const { fault, due } = first;
  const lead = `${i.name} ${fault.alert}`;
  if (i.policy === 'MAINTENANCE') {
    return { action: 'none', fault: fault.alert, policy: i.policy, dueAt: null, inSeconds: null, message: `${lead}: no automatic action (MAINTENANCE)` };
  }
  const inSeconds = Math.max(0, Math.ceil((due - i.now) / 1000));
  const when = `in ${inSeconds} s`;
  const dueAt = new Date(due).toISOString();
  if (i.isMaster && i.policy === 'AUTOMATIC') {
    return { action: 'failover', fault: fault.alert, policy: i.policy, dueAt, inSeconds, message: `${lead}: automatic failover ${when} (AUTOMATIC)` };
  }
  if (i.isMaster) {
    return { action: 'fail', fault: fault.alert, policy: i.policy, dueAt, inSeconds, message: `${lead}: FAILED ${when}, no automatic failover (${i.policy}): then run 'failover'` };
  }
  // A slave's replicator fault (with fencing configured) takes it OFFLINE; any other fault FAILS it.
  const action = fault.kind === 'replicator' ? 'offline' : 'fail';
  return { action, fault: fault.alert, policy: i.policy, dueAt, inSeconds, message: `${lead}: ${action === 'offline' ? 'OFFLINE' : 'FAILED'} ${when} (${i.policy})` };
}

function failedMasterPending(i: PendingInput): PendingAction {
  const base = { fault: 'FAILED', policy: i.policy, dueAt: null, inSeconds: null };
  if (i.policy !== 'AUTOMATIC') {
    return { ...base, action: 'none', message: `${i.name} FAILED: no automatic failover (${i.policy}): run 'failover'` };
  }
  if (i.failover === 'running') return { ...base, action: 'failover', message: `${i.name} FAILED: automatic failover under way (AUTOMATIC)` };
  if (i.failover === 'tried') {
    return { ...base, action: 'none', message: `${i.name} FAILED: the automatic failover did not happen (AUTOMATIC): see 'history', then run 'failover' or 'recover'` };
  }
  return { ...base, action: 'failover', message: `${i.name} FAILED: automatic failover at the next sample (AUTOMATIC)` };
}
