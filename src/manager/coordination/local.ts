/**
 * One manager alone: its state in a StateStore (the --state-dir file, or memory), and it is always
 * the coordinator. What every manager was before the group existed, unchanged.
 */
import type { PersistedState, StateStore } from '../store.js';
import type { Coordination, CoordinationChange, GroupView, MemberRecord } from './coordination.js';

export function localCoordination(store: StateStore, memberName: string): Coordination {
  let member: MemberRecord | null = null;
  let revision = 0;
  return {
    kind: 'local',
    location: store.location ?? 'memory',
    memberName,
    async start(m) {
      member = m;
    },
    async load() {
      return { state: store.load(), revision };
    },
    commit(state: PersistedState) {
      store.save(state);
      revision++;
    },
    advertise(apiUrl) {
      if (member) member = { ...member, apiUrl };
    },
    isCoordinator: () => true,
    leaseValidForMs: () => Number.POSITIVE_INFINITY,
    ensureLeadership: async () => Number.POSITIVE_INFINITY,
    group(): GroupView {
      return {
        kind: 'local',
        self: memberName,
        quorum: true,
        coordinator: memberName,
        term: null,
        members: member ? [{ ...member, state: 'ONLINE', coordinator: true }] : [],
        leaseTtlSeconds: null,
        leaseRemainingSeconds: null,
        store: store.location ?? 'memory (no --state-dir)',
        lastError: null,
      };
    },
    subscribe: (_listener: (change: CoordinationChange) => void) => () => undefined,
    close: async () => undefined,
    halt: () => undefined,
  };
}
