/**
 * What to do when an operation needs an ONLINE master and the service has none. Every refusal
 * gives the same advice, so the hints never send the operator from one command to another.
 */
import type { DataSourceRecord } from '../store.js';

export function masterNotOnlineHint(master: DataSourceRecord): string {
  if (master.state === 'OFFLINE') return `It is OFFLINE: bring it back with 'datasource ${master.name} online'.`;
  return "Use 'failover'.";
}
