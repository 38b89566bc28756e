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
 * Transactions `candidate` has that `reference` lacks, domain by domain: a higher seqno, or the same
 * seqno written by another server (the histories diverged). Empty when `reference` has them all, as
 * far as the last GTID of each domain can tell.
 */
export function gtidsMissingFrom(candidate: GtidList, reference: GtidList): string[] {
  const problems: string[] = [];
  for (const g of candidate.values()) {
    const ref = reference.get(g.domain);
    const refText = ref ? `${ref.domain}-${ref.server}-${ref.seqno}` : 'nothing';
    const mine = `${g.domain}-${g.server}-${g.seqno}`;
    if (!ref || g.seqno > ref.seqno) problems.push(`domain ${g.domain}: ${mine} is beyond ${refText}`);
    else if (g.seqno === ref.seqno && g.server !== ref.server) problems.push(`domain ${g.domain}: ${mine} differs from ${refText}`);
  }
  return problems;
}
