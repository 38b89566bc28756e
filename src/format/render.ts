/**
 * The one place where command results become text (cctrl's wording) or --json documents
 * (docs/cctrl.md). The Ink UI shows the same text.
 */
import type { GroupSummary, ManagerInfo } from '../manager/api.js';
import type { ServiceStatus, TaskStatus } from '../manager/model.js';
import type { CommandResult, Outcome } from './result.js';
import { escapeJsonControls, neutraliseControls } from '../controlChars.js';
import { healthVerdict } from './health.js';
import { formatLs, formatResources, formatServiceList } from './ls.js';

export const JSON_SCHEMA_VERSION = 1;

export interface TextOptions {
  /** The terminal's width: help is wrapped to it (continuations indented, never at column 0). */
  width?: number;
  /** The task's step lines were already printed as they happened. */
  streamed?: boolean;
  timeZone?: string;
}

export interface RenderedText {
  /** Command output, for stdout; ends with a newline unless empty. */
  out: string;
  /** Diagnostics (the error and what to do), for stderr; ends with a newline unless empty. */
  err: string;
}

/** The text of an outcome, control characters neutralized (what the manager said may hold any). */
export function renderOutcomeText(outcome: Outcome, options: TextOptions = {}): RenderedText {
  const out = outcome.result ? renderResultText(outcome.result, options) : '';
  const err = outcome.error ? `${errorLine(outcome.error.message, outcome.error.hint)}\n` : '';
  return { out: neutraliseControls(out), err: neutraliseControls(err) };
}

export function errorLine(message: string, hint: string | null | undefined): string {
  return neutraliseControls(`ERROR: ${message}${hint ? `; ${hint}` : ''}`);
}

export function renderResultText(result: CommandResult, options: TextOptions = {}): string {
  return lines(resultLines(result, options));
}

function resultLines(result: CommandResult, options: TextOptions): string[] {
  switch (result.kind) {
    case 'ls':
      if (result.resources) return formatResources(result.status).replace(/\n$/, '').split('\n');
      return [
        ...formatLs(result.status, { detailed: result.detailed, host: result.host, timeZone: options.timeZone })
          .replace(/\n$/, '')
          .split('\n'),
        ...lsTrailer(result.status, result.host),
      ];
    case 'services':
      return formatServiceList(result.services).replace(/\n$/, '').split('\n');
    case 'task':
      return options.streamed ? [] : stepLines(result.task);
    case 'policy': {
      const steps = options.streamed ? [] : stepLines(result.task);
      const done = `policy mode is now ${result.policy}`;
      const said = result.task.steps.some((s) => s.line === done);
      return result.task.state === 'complete' && !said ? [...steps, done] : steps;
    }
    case 'dry-run':
      return [
        `DRY RUN: ${result.operation} (nothing is changed)`,
        `CURRENT MASTER: ${result.master ?? 'NONE'}`,
        ...result.candidates.map((c) =>
          c.eligible
            ? `CANDIDATE ${c.name}: ELIGIBLE (applied=${c.appliedSeqno ?? 'UNKNOWN'}, latency=${c.latency?.toFixed(3) ?? 'UNKNOWN'}, precedence=${c.precedence})`
            : `CANDIDATE ${c.name}: NOT ELIGIBLE: ${c.reason}`,
        ),
        result.selected ? `WOULD SELECT: ${result.selected}` : `NO ELIGIBLE SLAVE: ${result.operation} would be refused`,
      ];
    case 'ping':
      return result.results.map((r) => `HOST ${r.name}/${r.address ?? r.name}: ${r.alive ? 'ALIVE' : 'NOT REACHABLE'}`);
    case 'members':
      return [
        ...result.members.map(
          (m) =>
            `${result.service}/${m.name}(${m.state}) host=${m.host}${besideOf(m) ? ` datasource=${besideOf(m)}` : ''}${m.coordinator ? ' COORDINATOR' : ''}`,
        ),
        ...(result.group?.kind === 'etcd' ? [groupLine(result.group)] : []),
      ];
    case 'validate':
      if (result.group?.kind === 'etcd') {
        const g = result.group;
        return [
          `CHECKING FOR QUORUM: THE GROUP'S QUORUM IS ETCD'S (${g.store})`,
          `MEMBERS WITH A LIVE LEASE: ${result.members.join(', ') || 'NONE'}`,
          groupLine(g),
          '========================================================================',
          result.valid
            ? `CONCLUSION: I AM IN A PRIMARY PARTITION: '${g.self}' REACHES AN ETCD MAJORITY AND '${g.coordinator}' COORDINATES`
            : g.quorum
              ? `CONCLUSION: '${g.self}' REACHES AN ETCD MAJORITY BUT NO COORDINATOR IS ELECTED YET`
              : `CONCLUSION: I AM IN A NON-PRIMARY PARTITION: '${g.self}' CANNOT REACH AN ETCD MAJORITY${g.lastError ? ` (${g.lastError})` : ''}`,
          `VALIDATION STATUS=${result.valid ? 'VALID CLUSTER' : 'NO QUORUM'}`,
          ...(result.health ? [result.health.line] : []),
        ];
      }
      return [
        `CHECKING FOR QUORUM: MUST BE AT LEAST ${result.majority} DB MEMBERS`,
        `POTENTIAL QUORUM SET MEMBERS ARE: ${result.members.join(', ')}`,
        `SIMPLE MAJORITY SIZE: ${result.majority}`,
        `REACHABLE DB MEMBERS ARE: ${result.reachable.join(', ') || 'NONE'}`,
        '========================================================================',
        result.valid
          ? `CONCLUSION: I AM IN A PRIMARY PARTITION OF ${result.reachable.length} MEMBERS OUT OF A REQUIRED MAJORITY SIZE OF ${result.majority}`
          : `CONCLUSION: I AM IN A NON-PRIMARY PARTITION OF ${result.reachable.length} MEMBERS OUT OF A REQUIRED MAJORITY SIZE OF ${result.majority}`,
        `VALIDATION STATUS=${result.valid ? 'VALID CLUSTER' : 'NO QUORUM'}`,
        ...(result.health ? [result.health.line] : []),
      ];
    case 'replicator-status': {
      const r = result.replicator;
      if (!r) return [`REPLICATOR ${result.datasource}: STATUS NOT AVAILABLE`];
      return [
        `NAME                     VALUE`,
        `----                     -----`,
        ...Object.entries({
          host: result.status.host,
          role: r.role,
          state: r.state,
          masterHost: r.masterHost ?? 'NONE',
          appliedLastSeqno: r.appliedSeqno,
          storedLastSeqno: r.storedSeqno,
          appliedLatency: r.appliedLatency.toFixed(3),
          relativeLatency: r.relativeLatency.toFixed(3),
        }).map(([k, v]) => `${k.padEnd(25)}: ${v}`),
      ];
    }
    case 'history': {
      if (result.tasks.length === 0) return [`no operations recorded for service '${result.service}'`];
      const rows = result.tasks.map((t) => [t.taskId, t.startTime, taskDuration(t), taskOutcome(t), t.requestedBy, t.operation, taskReason(t)]);
      const head = ['TASK', 'STARTED', 'DURATION', 'OUTCOME', 'BY', 'OPERATION', 'REASON'];
      const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
      const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd();
      return [line(head), ...rows.map(line)];
    }
    case 'task-log': {
      const t = result.task;
      const reason = taskReason(t);
      return [
        `TASK ${t.taskId}: ${t.operation}`,
        `SERVICE: ${t.service}`,
        `REQUESTED BY: ${t.requestedBy}`,
        `STARTED: ${t.startTime}`,
        `ENDED: ${t.endTime ?? 'still running'}`,
        `DURATION: ${taskDuration(t)}`,
        `OUTCOME: ${taskOutcome(t)}${reason ? `: ${reason}` : ''}`,
        `STEPS (${t.steps.length}):`,
        ...t.steps.map((s) => `  ${s.time}  ${s.line}`),
        ...(t.taskResult && Object.keys(t.taskResult).length > 0 ? [`RESULT: ${JSON.stringify(t.taskResult)}`] : []),
      ];
    }
    case 'help':
      return options.width ? fitToWidth(result.text.split('\n'), options.width) : result.text.split('\n');
    case 'info':
      return [`connected to ${result.info.dataServiceName}@${result.info.hostName} (policy ${result.info.policyMode})`];
    case 'use':
    case 'expert':
    case 'quit':
      return [];
  }
}

/**
 * What follows the last box of `ls`: a blank line, what the rules are about to do (one line per
 * datasource shown with something pending), and the service's health verdict as the last line.
 * No line starts with `+` or `|`, so parsers of the boxes read them as before.
 */
function lsTrailer(status: ServiceStatus, host: string | null): string[] {
  const shown = host === null ? status.datasources : status.datasources.filter((d) => d.name === host);
  const pending = shown.flatMap((d) => (d.pendingAction ? [d.pendingAction.message] : []));
  return ['', ...pending, healthVerdict(status).line];
}

/** How long a task ran (`3.2 s`, `2 min 5 s`), or `running`. */
function taskDuration(t: TaskStatus): string {
  if (t.endTime === null) return 'running';
  const ms = Date.parse(t.endTime) - Date.parse(t.startTime);
  if (!Number.isFinite(ms) || ms < 0) return 'unknown';
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  return `${Math.floor(ms / 60_000)} min ${Math.round((ms % 60_000) / 1000)} s`;
}

function taskOutcome(t: TaskStatus): string {
  return t.state === 'complete' ? 'complete' : t.state === 'failed' ? 'FAILED' : 'running';
}

/** Why a task failed, in the manager's words; empty when it did not. */
function taskReason(t: TaskStatus): string {
  return t.state === 'failed' ? taskError(t) : '';
}

/**
 * Help text wrapped to a terminal's width. A command row (`  USAGE  SUMMARY`) keeps its summary in
 * its column while at least 30 characters are left for it, else the summary goes under the usage,
 * indented; any continuation is indented, so nothing wraps back to column 0.
 */
export function fitToWidth(lines: string[], width: number): string[] {
  const w = Math.max(40, width - 1);
  const rowOf = (line: string) => /^( {2}\S.*?\S?) {2,}(\S.*)$/.exec(line);
  const columnOf = (line: string, row: RegExpExecArray) => line.length - row[2]!.length;
  // One layout for every command row: summaries under their usage once one row needs it.
  const stacked = lines.some((line) => {
    const row = rowOf(line);
    return row !== null && line.length > w && columnOf(line, row) + 30 > w;
  });
  const out: string[] = [];
  for (const line of lines) {
    const row = rowOf(line);
    if (row && stacked) out.push(row[1]!.trimEnd(), ...wrapWords(row[2]!, w - 6).map((l) => `      ${l}`));
    else if (line.length <= w) out.push(line);
    else if (row) {
      const col = columnOf(line, row);
      out.push(...wrapWords(row[2]!, w - col).map((l, i) => (i === 0 ? line.slice(0, col) : ' '.repeat(col)) + l));
    } else out.push(...wrapWords(line, w - 2).map((l, i) => (i === 0 ? l : `  ${l}`)));
  }
  return out;
}

function wrapWords(text: string, width: number): string[] {
  const lines: string[] = [];
  let current = '';
  for (const word of text.split(' ')) {
    if (current && current.length + 1 + word.length > width) {
      lines.push(current);
      current = word;
    } else current = current ? `${current} ${word}` : word;
  }
  lines.push(current);
  return lines;
}

function stepLines(task: TaskStatus): string[] {
  return task.steps.map((s) => s.line);
}

function lines(list: string[]): string {
  return list.length === 0 ? '' : `${list.join('\n')}\n`;
}

/** What the interactive shell says first. */
export function bannerLines(info: ManagerInfo, address: string, version: string): string[] {
  return ([
    `cctrl ${version}: the operator shell`,
    `connect to '${info.dataServiceName}@${info.hostName}' at ${address}`,
    `${info.dataServiceName}: session established (${info.driver} driver, policy ${info.policyMode})`,
    'Type help for the commands; Tab completes, Up/Down recall history, Ctrl-D exits.',
  ]).map(neutraliseControls);
}

/** One --json document per command; every key present, null when unknown. */
export function jsonDocument(outcome: Outcome): string {
  const doc = {
    schemaVersion: JSON_SCHEMA_VERSION,
    command: outcome.command,
    name: outcome.name,
    service: outcome.service,
    ok: outcome.ok,
    exitCode: outcome.exitCode,
    error: outcome.error,
    result: outcome.result,
  };
  return escapeJsonControls(JSON.stringify(doc, (_key, value: unknown) => (value === undefined ? null : value)));
}

/** One line on the group: quorum, coordinator and term, this member's lease. */
function groupLine(g: GroupSummary): string {
  const lease = g.leaseRemainingSeconds === null ? 'none' : `${g.leaseRemainingSeconds.toFixed(1)}s of ${g.leaseTtlSeconds}s`;
  return `GROUP: etcd quorum=${g.quorum ? 'YES' : 'NO'} coordinator=${g.coordinator ?? 'NONE'}${g.term !== null ? ` term=${g.term}` : ''} self=${g.self} lease=${lease}`;
}

/** The datasource a group member sits beside, when the manager says. */
function besideOf(m: object): string | null {
  return 'datasource' in m && typeof m.datasource === 'string' ? m.datasource : null;
}

/** The failure message of a task that ended `failed`. */
export function taskError(task: TaskStatus): string {
  const e = task.taskResult?.['error'];
  if (typeof e === 'string' && e.length > 0) return e;
  const last = task.steps.at(-1)?.line;
  return last ? `'${task.operation}' failed: ${last}` : `'${task.operation}' failed`;
}
