/**
 * Which slaves a switch could promote, and why the others could not (reference §5.4): a dry run
 * that reads the service status and changes nothing. Among eligible slaves the highest applied
 * seqno wins, then the lower precedence, then the earlier one.
 */
import type { DataSourceStatus, ServiceStatus } from '../manager/model.js';
import type { Candidate } from './result.js';

export function evaluateCandidates(
  status: ServiceStatus,
  target: string | null,
): { master: string | null; selected: string | null; candidates: Candidate[] } {
  const master = status.datasources.find((d) => d.role === 'master' && d.state !== 'SHUNNED') ?? null;
  const candidates = status.datasources
    .filter((d) => d !== master)
    .map((d) => {
      const refusal = whyNotEligible(d, target);
      const r = d.replicator;
      return {
        name: d.name,
        eligible: refusal === null,
        reason: refusal ?? `eligible: ${d.state}, replicator ${r?.state}, applied seqno ${r?.appliedSeqno}`,
        appliedSeqno: r?.appliedSeqno ?? null,
        storedSeqno: r?.storedSeqno ?? null,
        latency: r?.appliedLatency ?? null,
        precedence: d.precedence,
      };
    });
  let selected: Candidate | null = null;
  for (const c of candidates) {
    if (!c.eligible) continue;
    if (
      !selected ||
      (c.appliedSeqno ?? -1) > (selected.appliedSeqno ?? -1) ||
      ((c.appliedSeqno ?? -1) === (selected.appliedSeqno ?? -1) && c.precedence < selected.precedence)
    ) {
      selected = c;
    }
  }
  return { master: master?.name ?? null, selected: selected?.name ?? null, candidates };
}

function whyNotEligible(d: DataSourceStatus, target: string | null): string | null {
  if (target !== null && d.name !== target) return `not the requested target ${target}`;
  if (d.witness) return 'a witness holds no data';
  if (d.archive || d.precedence === -1) return 'an archive node is never promoted';
  if (d.standby) return 'a standby node is not a switch target';
  if (d.role !== 'slave') return `its role is ${d.role}, not slave`;
  if (d.state !== 'ONLINE') return `datasource is ${d.state}${d.lastShunReason ? ` (${d.lastShunReason})` : ''}`;
  if (d.manager.state !== 'ONLINE') return `its manager is ${d.manager.state}`;
  if (d.dataServer.state !== 'ONLINE') return `its data server is ${d.dataServer.state}`;
  const r = d.replicator;
  if (!r) return 'its replicator status is not available';
  if (r.state !== 'ONLINE' && r.state !== 'SYNCHRONIZING') return `its replicator is ${r.state}`;
  return null;
}
