/**
 * Errant transactions: GTIDs a slave holds that did not come from its master's history. Works on
 * the Observation's `gtidState` (MariaDB's `gtid_binlog_state` list: the last GTID of each
 * (domain, server) pair), whichever driver produced it.
 *
 * The master's view may be a little older than the slave's (observed a moment earlier, or last
 * seen before it died), so a slave ahead on the master's own newest pair of a domain is only
 * ahead, not errant: with gtid_strict_mode, the newest pair of a domain is the one writing it.
 * A domain the master's view does not have at all gives no verdict (nothing to compare with).
 */
import { formatGtid, parseGtidState, type GtidState } from './drivers/mysql-gtid.js';

/** The pair (`domain-server`) with the highest seqno in each domain: who writes that domain now. */
function newestWriters(state: GtidState): Set<string> {
  const best = new Map<number, { key: string; seqno: number }>();
  for (const [key, g] of state) {
    const known = best.get(g.domain);
    if (!known || g.seqno > known.seqno) best.set(g.domain, { key, seqno: g.seqno });
  }
  return new Set([...best.values()].map((b) => b.key));
}

/** What errantTransactions compares: GTID states as in Observation.gtidState, null when unknown. */
export interface ErrantCheck {
  slave: string | null;
  slaveServerId?: number | null;
  /** The master's state as last seen (it may be older than the slave's). */
  master: string | null;
  masterServerId?: number | null;
  /** The other servers' states: what the slave wrote itself is errant only if none of them holds it either. */
  peers?: ReadonlyArray<string | null>;
}

function parsed(text: string | null): GtidState | null {
  if (text === null) return null;
  try {
    return parseGtidState(text);
  } catch {
    return null;
  }
}

function holds(state: GtidState | null, g: { domain: number; server: number; seqno: number }): boolean {
  const theirs = state?.get(`${g.domain}-${g.server}`);
  return theirs !== undefined && theirs.seqno >= g.seqno;
}

/**
 * The slave's GTIDs that did not come from the master's history (`0-3-17`); empty when there are
 * none or nothing can be told. What the slave wrote itself (its own server_id) is errant unless the
 * master holds it (it was once the master); the master never seen, unless another server holds it
 * or something newer came after it. What the master wrote itself is never
 * errant, however old the master's view. Anything else beyond the master's view is errant when the
 * master's server_id is known, or else when it is not the master's newest writer of a domain the
 * master's view has.
 */
export function errantTransactions(check: ErrantCheck): string[] {
  const slave = parsed(check.slave);
  if (!slave) return [];
  const master = parsed(check.master);
  const peers = (check.peers ?? []).map(parsed);
  const writers = master ? newestWriters(master) : new Set<string>();
  const domains = new Set([...(master?.values() ?? [])].map((g) => g.domain));
  const errant = [...slave.values()].filter((mine) => {
    if (holds(master, mine)) return false;
    if (mine.server === check.slaveServerId) {
      // The master's view is the reference when there is one; other servers may have it from this one.
      if (master) return true;
      if (peers.some((p) => holds(p, mine))) return false;
      // Master never seen: with gtid_strict_mode an errant write stops the slave's replication, so
      // it is the newest of its domain there. Older own writes were followed by others' (it was
      // the master once), and the unseen master may hold them.
      return [...slave.values()].every((g) => g.domain !== mine.domain || g.seqno <= mine.seqno);
    }
    if (!master) return false;
    if (check.masterServerId !== undefined && check.masterServerId !== null) return mine.server !== check.masterServerId;
    return domains.has(mine.domain) && !writers.has(`${mine.domain}-${mine.server}`);
  });
  return errant.sort((a, b) => a.domain - b.domain || a.server - b.server).map(formatGtid);
}
