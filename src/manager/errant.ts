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
import { formatGtid, gtidsMissingFrom, parseGtidState, type GtidState } from './drivers/mysql-gtid.js';

/** The pair (`domain-server`) with the highest seqno in each domain: who writes that domain now. */
function newestWriters(state: GtidState): Set<string> {
  const best = new Map<number, { key: string; seqno: number }>();
  for (const [key, g] of state) {
    const known = best.get(g.domain);
    if (!known || g.seqno > known.seqno) best.set(g.domain, { key, seqno: g.seqno });
  }
  return new Set([...best.values()].map((b) => b.key));
}

/**
 * The slave's GTIDs the master lacks (`0-3-17`), empty when the slave's history is part of the
 * master's. Unknown states (null, unparsable) give no verdict: empty.
 */
export function errantTransactions(slaveGtidState: string | null, masterGtidState: string | null): string[] {
  if (slaveGtidState === null || masterGtidState === null) return [];
  let slave: GtidState;
  let master: GtidState;
  try {
    slave = parseGtidState(slaveGtidState);
    master = parseGtidState(masterGtidState);
  } catch {
    return [];
  }
  const writers = newestWriters(master);
  const domains = new Set([...master.values()].map((g) => g.domain));
  return gtidsMissingFrom(slave, master)
    .filter(({ mine }) => domains.has(mine.domain) && !writers.has(`${mine.domain}-${mine.server}`))
    .map(({ mine }) => formatGtid(mine));
}
