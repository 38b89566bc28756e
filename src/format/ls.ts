/**
 * The `ls` listing, byte for byte in cctrl's classic layout (reference §2): scripts in the field
 * parse it with regular expressions, so this text is an interface. Golden files in fixtures/ls/.
 */
import type { DataSourceStatus, RouterStatus, ServiceStatus } from '../manager/model.js';
import { type Box, innerWidthFor, renderBox } from './box.js';
import { componentBoxes, connectorBox, datasourceDetailRows } from './ls-long.js';
import { formatAlertTime } from './time.js';

export interface LsOptions {
  /** `ls -l`: cctrl's long layout (ls-long.ts): `key : value` rows and a box per component and connector. */
  detailed?: boolean;
  /** `ls HOST`: only that datasource. */
  host?: string | null;
  /**
   * STATUS times: ISO-8601 UTC when absent, as `history` and the API show times; with an IANA zone,
   * the classic `2013/05/03 09:11:10 PM BST` in that zone (the 7.x samples' format).
   */
  timeZone?: string;
}

export function formatLs(service: ServiceStatus, options: LsOptions = {}): string {
  const datasources = options.host
    ? service.datasources.filter((ds) => ds.name === options.host)
    : service.datasources;
  // cctrl always prints the ROUTERS box (`NONE` when no connector reports): tpm's parser
  // raises when the section is missing. `ls HOST` shows only the datasource.
  const routerBox: Box = options.host ? [] : [service.routers.length > 0 ? service.routers.map(routerRow) : ['NONE']];
  const routerDetails = options.detailed && !options.host ? service.routers.map((r) => connectorBox(r, routerRow(r))) : [];
  // Each datasource's boxes: its own, then (ls -l) one per component.
  const dsBoxes = datasources.map((ds) => [datasourceBox(ds, options), ...(options.detailed ? componentBoxes(ds, replicatorRow(ds)) : [])]);
  const width = innerWidthFor([...routerBox, ...routerDetails, ...dsBoxes.flat()].flat(2));

  const out = [coordinatorLine(service), ''];
  if (routerBox.length > 0) {
    out.push('ROUTERS:', ...renderBox(routerBox, width), '');
    for (const box of routerDetails) out.push(...renderBox(box, width), '');
  }
  out.push('DATASOURCES:');
  dsBoxes.flat().forEach((box, i) => {
    if (i > 0) out.push('');
    out.push(...renderBox(box, width));
  });
  return `${out.join('\n')}\n`;
}

/**
 * `ls resources`: every resource of the service and its state, one row each (`db3:DATASERVER:
 * STOPPED`), names right-aligned as cctrl prints them. Each datasource is a resource too, so a
 * check that flags every row not ONLINE flags a FAILED or SHUNNED datasource.
 */
export function formatResources(service: ServiceStatus): string {
  const rows: Array<[string, string]> = service.datasources.flatMap((ds): Array<[string, string]> => [
    [`${ds.name}:DATASERVER`, ds.dataServer.state],
    [`${ds.name}:DATASOURCE`, ds.state],
    [`${ds.name}:MANAGER`, ds.manager.state],
    ...(ds.witness ? [] : [[`${ds.name}:REPLICATOR`, ds.replicator?.state ?? 'UNKNOWN'] as [string, string]]),
  ]);
  rows.push(...service.routers.map((r): [string, string] => [`${routerRow(r).replace(/\[.*$/, '')}:ROUTER`, r.state]));
  const nameWidth = Math.max(...rows.map(([name]) => name.length), 0);
  const lines = rows.map(([name, state]) => `  ${name.padStart(nameWidth)}: ${state}`);
  const width = innerWidthFor(['RESOURCES', ...lines]);
  return `${renderBox([['RESOURCES'], lines], width).join('\n')}\n`;
}

/** `ls` at the root of a -multi session. */
export function formatServiceList(names: string[]): string {
  const title = 'DATA SERVICES:';
  const width = innerWidthFor([title]);
  return `${[...renderBox([[title]], width), ...names].join('\n')}\n`;
}

export function coordinatorLine(service: ServiceStatus): string {
  return `COORDINATOR[${service.coordinator.host}:${service.policy}:${service.coordinator.state}]`;
}

export function routerRow(r: RouterStatus): string {
  return `${r.name}[${r.pid}](${r.state}, created=${r.connections.created}, active=${r.connections.active})`;
}

export function datasourceBox(ds: DataSourceStatus, options: LsOptions = {}): Box {
  const head = [datasourceHeader(ds), statusRow(ds, options.timeZone)];
  if (ds.alertMessage) head.push(`REASON[${ds.alertMessage}]`);
  if (ds.witness) return [head, [`  MANAGER(state=${ds.manager.state})`]];
  const box: Box = [
    head,
    [
      `  MANAGER(state=${ds.manager.state})`,
      `  ${replicatorRow(ds)}`,
      `  DATASERVER(state=${ds.dataServer.state})`,
      `  CONNECTIONS(created=${ds.connections.created}, active=${ds.connections.active})`,
    ],
  ];
  if (options.detailed) box.push(datasourceDetailRows(ds));
  return box;
}

/** `db1(master:ONLINE, progress=3, THL latency=0.561)` and its FAILED/SHUNNED variants (§2.1). */
export function datasourceHeader(ds: DataSourceStatus): string {
  if (ds.witness) return `${ds.name}(witness:${ds.state})`;
  const archive = ds.precedence === -1 || ds.archive ? ':ARCHIVE ' : '';
  return `${ds.name}(${ds.role}:${ds.state}${archive}${failureInfo(ds)}${progressInfo(ds)})`;
}

function failureInfo(ds: DataSourceStatus): string {
  if (ds.state === 'FAILED') return ds.lastError ? `(${ds.lastError})` : '';
  if (ds.state === 'SHUNNED' && ds.lastShunReason) {
    return ds.lastError ? `(${ds.lastShunReason} AFTER ${ds.lastError})` : `(${ds.lastShunReason})`;
  }
  return '';
}

function progressInfo(ds: DataSourceStatus): string {
  const r = ds.replicator;
  if (!r || r.state === 'STOPPED') return '';
  const latency = fixed3(r.appliedLatency);
  return ds.role === 'master'
    ? `, progress=${r.appliedSeqno}, THL latency=${latency}`
    : `, progress=${r.appliedSeqno}, latency=${latency}`;
}

/** Java's `%5.3f`. */
function fixed3(n: number): string {
  return n.toFixed(3).padStart(5);
}

/** `2013-05-03T20:11:10.000Z`, as history shows its times. */
function isoTime(iso: string): string {
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? 'UNKNOWN TIME' : date.toISOString();
}

function statusRow(ds: DataSourceStatus, timeZone?: string): string {
  return `STATUS [${ds.alertStatus}] [${timeZone === undefined ? isoTime(ds.alertTime) : formatAlertTime(ds.alertTime, timeZone)}]`;
}

function replicatorRow(ds: DataSourceStatus): string {
  const r = ds.replicator;
  if (!r) return 'REPLICATOR(state=STATUS NOT AVAILABLE)';
  if (r.state === 'STOPPED') return 'REPLICATOR(state=STOPPED)';
  if (r.role === 'master' || !r.masterHost) return `REPLICATOR(role=${r.role}, state=${r.state})`;
  return `REPLICATOR(role=${r.role}, master=${r.masterHost}, state=${r.state})`;
}
