import type { HostRole, TungstenConfig } from '../config/tungstenIni.js';
import type { HostReport } from './types.js';

export type Severity = 'Urgent' | 'High' | 'Normal' | 'Low';
export const PRIORITY: Record<Severity, string> = { Urgent: 'P1', High: 'P2', Normal: 'P3', Low: 'P4' };

export interface SeverityAssessment {
  severity: Severity;
  /** Why, in one sentence, from the cluster state at collection time. */
  reason: string;
  /** Per datasource state as `ls` showed it. */
  datasources: Array<{ name: string; role: string; state: string }>;
}

/** Reads the datasource boxes of a `cctrl ls` listing (the layout scripts in the field rely on). */
export function parseLsDatasources(ls: string): Array<{ name: string; role: string; state: string; components: string[] }> {
  const out: Array<{ name: string; role: string; state: string; components: string[] }> = [];
  const section = ls.split(/^DATASOURCES:\s*$/m)[1];
  if (!section) return out;
  let current: (typeof out)[number] | undefined;
  for (const raw of section.split('\n')) {
    const row = /^\|(.*?)\s*\|$/.exec(raw.trimEnd())?.[1];
    if (row === undefined) continue;
    const header = /^([A-Za-z0-9._-]+)\((?:composite )?([A-Za-z]+):([A-Z-]+)/.exec(row);
    if (header) {
      current = { name: header[1]!, role: header[2]!.toLowerCase(), state: header[3]!, components: [] };
      out.push(current);
      continue;
    }
    const comp = /^\s+(MANAGER|REPLICATOR|DATASERVER)\(.*state=([A-Z ]+?)\)/.exec(row);
    if (comp && current && comp[2] !== 'ONLINE') current.components.push(`${comp[1]} ${comp[2]}`);
  }
  return out;
}

export function assessSeverity(clusterStatus: string | undefined, reports: HostReport[]): SeverityAssessment {
  const missing = reports.filter((r) => r.status !== 'ok').map((r) => r.host);
  const datasources = clusterStatus ? parseLsDatasources(clusterStatus) : [];
  const simple = datasources.map(({ name, role, state }) => ({ name, role, state }));
  if (datasources.length === 0) {
    return { severity: 'Normal', reason: 'the cluster state at collection time is unknown (no manager answered `ls`); Normal is suggested, raise it if production is affected', datasources: simple };
  }
  const master = datasources.find((d) => d.role === 'master');
  if (!master || master.state !== 'ONLINE') {
    return { severity: 'Urgent', reason: master ? `the master ${master.name} is ${master.state}` : 'the cluster has no master', datasources: simple };
  }
  const unwell = datasources.filter((d) => d.state !== 'ONLINE' || d.components.length > 0);
  if (unwell.length > 0) {
    const what = unwell.map((d) => (d.state !== 'ONLINE' ? `${d.name} is ${d.state}` : `${d.name}: ${d.components.join(', ')}`));
    return { severity: 'High', reason: `the master is ONLINE but ${what.join('; ')}`, datasources: simple };
  }
  if (missing.length > 0) {
    return { severity: 'Normal', reason: `every datasource is ONLINE, but diagnostics are missing from ${missing.join(', ')}`, datasources: simple };
  }
  return { severity: 'Low', reason: 'every datasource is ONLINE', datasources: simple };
}

function mib(bytes: number): string {
  return `${(bytes / 1048576).toFixed(1)} MiB`;
}

function rolesOf(config: TungstenConfig, host: string): { roles: HostRole[]; services: string[] } {
  const h = config.hosts.find((x) => x.name === host);
  return { roles: h?.roles ?? [], services: h?.dataservices ?? [] };
}

export interface SummaryInput {
  archiveName: string;
  createdAt: Date;
  commandLine: string[];
  version: string;
  config: TungstenConfig;
  reports: HostReport[];
  logSizeMiB: number;
}

export function renderSummary(input: SummaryInput): string {
  const { reports, config } = input;
  const ok = reports.filter((r) => r.status === 'ok');
  const lines: string[] = [];
  lines.push(`${input.archiveName}`);
  lines.push(`Collected ${input.createdAt.toString()} by tpm ${input.version}`);
  lines.push(`Command: ${input.commandLine.join(' ')}`);
  lines.push(`Logs: ${input.logSizeMiB === 0 ? 'complete' : `the last ${input.logSizeMiB} MiB of each`}`);
  lines.push('');
  lines.push(`WHAT WAS COLLECTED (${ok.length} of ${reports.length} hosts complete)`);
  const width = Math.max(4, ...reports.map((r) => r.host.length));
  for (const r of reports) {
    const { roles } = rolesOf(config, r.host);
    lines.push(
      `  ${r.host.padEnd(width)}  ${r.status.padEnd(17)}  ${String(r.files.length).padStart(3)} files  ${mib(r.bytes).padStart(10)}  ${(r.durationMs / 1000).toFixed(1)} s  configured: ${roles.join(', ')}`,
    );
  }
  lines.push('');
  lines.push('WHAT IS MISSING');
  let missing = 0;
  for (const r of reports) {
    if (r.error) {
      lines.push(`  ${r.host}: ${r.status}: ${r.error}`);
      missing++;
    }
    for (const s of r.skipped) {
      lines.push(`  ${r.host}: ${s.path}: ${s.reason}`);
      missing++;
    }
  }
  if (missing === 0) lines.push('  nothing');
  const status = reports.find((r) => r.clusterStatus && rolesOf(config, r.host).roles.includes('master'))?.clusterStatus ?? reports.find((r) => r.clusterStatus)?.clusterStatus;
  const assessment = assessSeverity(status, reports);
  const services = config.dataservices.map((d) => d.name).join(', ');
  lines.push('');
  lines.push('='.repeat(78));
  lines.push('SUPPORT REQUEST DRAFT');
  lines.push('Fill in the blanks, attach this archive and its .sha256, and open the request.');
  lines.push('='.repeat(78));
  lines.push('');
  lines.push(`Suggested severity: ${assessment.severity} (${PRIORITY[assessment.severity]}), because ${assessment.reason}.`);
  lines.push('  Urgent (P1): production down or at risk of data loss. High (P2): production impaired.');
  lines.push('  Normal (P3): a problem without production impact. Low (P4): a question or a request.');
  lines.push('');
  lines.push(`Dataservices: ${services}`);
  lines.push('Affected hosts: the roles configured in tungsten.ini, and the live ones where cctrl answered (ls):');
  for (const r of reports) {
    const { roles, services: s } = rolesOf(config, r.host);
    const ds = assessment.datasources.find((d) => d.name === r.host);
    lines.push(`  ${r.host.padEnd(width)}  configured: ${roles.join(', ')} (${s.join(', ')})  live: ${ds ? `${ds.role} ${ds.state}` : 'unknown'}${r.status !== 'ok' ? `  diag: ${r.status}` : ''}`);
  }
  lines.push('');
  lines.push('Description (what happened, when, what you expected): ______________________');
  lines.push('');
  lines.push('Environment (OS, Tungsten version, MySQL/MariaDB version, topology): __________');
  lines.push('');
  lines.push('Business impact: _____________________________________________________________');
  lines.push('');
  lines.push('Steps to reproduce: __________________________________________________________');
  lines.push('');
  lines.push('Steps already taken: _________________________________________________________');
  lines.push('');
  return lines.join('\n');
}
