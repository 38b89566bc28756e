/** Every cctrl command, in the order `help` lists them. The entry point hands this to the shell. */
import { createRegistry } from '../../src/shell/registry.js';
import cluster from './cluster.js';
import datasource from './datasource.js';
import expert from './expert.js';
import failover from './failover.js';
import help from './help.js';
import history from './history.js';
import ls from './ls.js';
import members from './members.js';
import ping from './ping.js';
import quit from './quit.js';
import recover from './recover.js';
import replicator from './replicator.js';
import service from './service.js';
import set from './set.js';
import switchCommand from './switch.js';
import use from './use.js';

export const cctrlCommands = createRegistry([
  ls,
  switchCommand,
  failover,
  recover,
  datasource,
  set,
  cluster,
  ping,
  members,
  use,
  expert,
  replicator,
  service,
  history,
  help,
  quit,
]);
