/**
 * `ls -l`, in cctrl's long layout: after each datasource's usual box come its `key : value` rows,
 * and one box per component, headed `host:REPLICATOR(...)`, `host:DATASERVER(...)`,
 * `host:MANAGER(...)`; after the ROUTERS box, one box per connector with what its report carries.
 * Monitoring in the field greps these rows by key (`appliedLatency : 29.500`), so keys follow the
 * original's (the replicator's status names) and every box is its own block of rows.
 */
import type { DataSourceStatus, RouterStatus } from '../manager/model.js';
import type { Box } from './box.js';

/** The `key : value` rows that end a datasource's own box. */
export function datasourceDetailRows(ds: DataSourceStatus): string[] {
  return keyValueRows([
    ['name', ds.name],
    ['service', ds.service],
    ['host', ds.host],
    ['role', ds.role],
    ['state', ds.state],
    ['precedence', ds.precedence],
    ['standby', ds.standby],
    ['archive', ds.archive],
    ['witness', ds.witness],
    ['alertStatus', ds.alertStatus],
    ['alertMessage', ds.alertMessage],
    ['alertTime', ds.alertTime],
    ['lastShunReason', ds.lastShunReason],
    ['lastError', ds.lastError],
    ['activeConnections', ds.connections.active],
    ['createdConnections', ds.connections.created],
  ]);
}

/** One box per component of the datasource, in cctrl's order. */
export function componentBoxes(ds: DataSourceStatus, replicatorRow: string): Box[] {
  const boxes: Box[] = [[[`${ds.name}:MANAGER(state=${ds.manager.state})`], keyValueRows([['state', ds.manager.state]])]];
  if (ds.witness) return boxes;
  const r = ds.replicator;
  boxes.push(
    r
      ? [
          [`${ds.name}:${replicatorRow}`],
          keyValueRows([
            ['serviceName', ds.service],
            ['host', ds.name],
            ['dataServerHost', ds.host],
            ['role', r.role],
            ['state', r.state],
            ['masterHost', r.masterHost],
            ['appliedLastSeqno', r.appliedSeqno],
            ['maximumStoredSeqNo', r.storedSeqno],
            ['appliedLatency', latency(r.appliedLatency)],
            ['relativeLatency', latency(r.relativeLatency)],
          ]),
        ]
      : [[`${ds.name}:${replicatorRow}`]],
  );
  boxes.push([[`${ds.name}:DATASERVER(state=${ds.dataServer.state})`], keyValueRows([['host', ds.host], ['state', ds.dataServer.state]])]);
  return boxes;
}

/** One box per connector: its row as under ROUTERS, then every field its report carries. */
export function connectorBox(r: RouterStatus, header: string): Box {
  return [[header], keyValueRows(flatten(r as unknown as Record<string, unknown>))];
}

/** Fields of a report, nested objects flattened (`connections.active` → `connectionsActive`). */
function flatten(record: Record<string, unknown>, prefix = ''): Array<[string, unknown]> {
  return Object.entries(record).flatMap(([key, value]): Array<[string, unknown]> => {
    const name = prefix ? `${prefix}${key[0]!.toUpperCase()}${key.slice(1)}` : key;
    if (value !== null && typeof value === 'object' && !Array.isArray(value)) return flatten(value as Record<string, unknown>, name);
    return [[name, Array.isArray(value) ? value.join(',') : value]];
  });
}

/** `  key    : value`, keys padded to the longest of the box; unknown values are NONE. */
function keyValueRows(pairs: Array<[string, unknown]>): string[] {
  const width = Math.max(...pairs.map(([k]) => k.length));
  return pairs.map(([k, v]) => `  ${k.padEnd(width)} : ${v === undefined || v === null || v === '' ? 'NONE' : String(v)}`);
}

/** Seconds with three decimals, as the short listing shows them. */
function latency(seconds: number): string {
  return seconds.toFixed(3);
}
