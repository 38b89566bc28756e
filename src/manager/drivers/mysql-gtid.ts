/**
 * MariaDB GTID lists (`0-1-42,1-2-7`: domain-server-seqno, one entry per replication domain) as the
 * driver compares them. Within a domain, seqnos only grow (gtid_strict_mode keeps it so), so the sum
 * of the domains' seqnos is a position that grows with the cluster's history.
 */

export interface Gtid {
  domain: number;
  server: number;
  seqno: number;
}

export type GtidList = Map<number, Gtid>;

export function parseGtidList(text: string | null | undefined): GtidList {
  const list: GtidList = new Map();
  for (const part of (text ?? '').split(',')) {
    const trimmed = part.trim();
    if (trimmed === '') continue;
    const match = /^(\d+)-(\d+)-(\d+)$/.exec(trimmed);
    if (!match) throw new Error(`not a MariaDB GTID: '${trimmed}'`);
    const gtid = { domain: Number(match[1]), server: Number(match[2]), seqno: Number(match[3]) };
    list.set(gtid.domain, gtid);
  }
  return list;
}

export function formatGtidList(list: GtidList): string {
  return [...list.values()]
    .sort((a, b) => a.domain - b.domain)
    .map((g) => `${g.domain}-${g.server}-${g.seqno}`)
    .join(',');
}

/** The comparable position of a GTID list: the sum of its domains' seqnos. */
export function gtidSeqno(list: GtidList): number {
  let sum = 0;
  for (const g of list.values()) sum += g.seqno;
  return sum;
}

/** Per domain, the entry with the higher seqno (the newer of two views of one server's history). */
export function mergeNewest(a: GtidList, b: GtidList): GtidList {
  const merged: GtidList = new Map(a);
  for (const g of b.values()) {
    const mine = merged.get(g.domain);
    if (!mine || g.seqno > mine.seqno) merged.set(g.domain, g);
  }
  return merged;
}

/**
 * A server's GTID history as MariaDB's `gtid_binlog_state` keeps it: the last GTID of every
 * (domain, server) pair that ever wrote to it, so a history that forked is still visible after the
 * other branch moved past its seqno.
 */
export type GtidState = Map<string, Gtid>;

export function parseGtidState(...texts: Array<string | null | undefined>): GtidState {
  const state: GtidState = new Map();
  for (const text of texts) {
    for (const part of (text ?? '').split(',')) {
      if (part.trim() === '') continue;
      const g = parseGtidList(part).values().next().value as Gtid;
      const key = `${g.domain}-${g.server}`;
      const known = state.get(key);
      if (!known || g.seqno > known.seqno) state.set(key, g);
    }
  }
  return state;
}

export function formatGtid(g: Gtid): string {
  return `${g.domain}-${g.server}-${g.seqno}`;
}

/**
 * Transactions `candidate` has that `reference` lacks: for each (domain, server) pair, a last
 * GTID further than the reference's, or a pair the reference never saw. With gtid_strict_mode a
 * server's seqnos only grow, so reaching a pair's last GTID means having all its earlier ones.
 */
export function gtidsMissingFrom(candidate: GtidState, reference: GtidState): Array<{ mine: Gtid; theirs: Gtid | null }> {
  const missing: Array<{ mine: Gtid; theirs: Gtid | null }> = [];
  for (const [key, mine] of candidate) {
    const theirs = reference.get(key) ?? null;
    if (!theirs || mine.seqno > theirs.seqno) missing.push({ mine, theirs });
  }
  return missing.sort((a, b) => a.mine.domain - b.mine.domain || a.mine.server - b.mine.server);
}

/**
 * A GTID state in MariaDB's list format, one entry per (domain, server) pair ordered by domain
 * then server: `0-1-42,0-3-7`. The empty string for a server with no transactions.
 */
export function formatGtidState(state: GtidState): string {
  return [...state.values()]
    .sort((a, b) => a.domain - b.domain || a.server - b.server)
    .map(formatGtid)
    .join(',');
}
