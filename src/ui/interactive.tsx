/** The interactive path, loaded by a dynamic import only when stdin and stdout are terminals. */
import { render } from 'ink';
import type { ManagerInfo } from '../manager/api.js';
import type { SessionState } from '../shell/command.js';
import { History, defaultHistoryPath } from '../shell/history.js';
import type { CctrlOptions } from '../shell/options.js';
import type { ShellApi } from '../shell/services.js';
import { Shell } from '../shell/session.js';
import { ShellApp } from './App.js';

export interface InteractiveOptions {
  api: ShellApi;
  state: SessionState;
  info: ManagerInfo;
  options: CctrlOptions;
  env: NodeJS.ProcessEnv;
  version: string;
}

export async function runInteractive(o: InteractiveOptions): Promise<number> {
  const shell = new Shell({
    api: o.api,
    state: o.state,
    timeoutMs: o.options.timeoutSeconds * 1000,
    confirm: async () => o.options.yes,
    refusalHint: 'answer y to run it, or enter expert mode with: expert',
  });
  const history = new History(o.options.history ? defaultHistoryPath(o.env['HOME'] || undefined) : null);
  const banner = [
    `cctrl ${o.version}: the operator shell`,
    `connect to '${o.info.dataServiceName}@${o.info.hostName}' at ${o.api.address}`,
    `${o.info.dataServiceName}: session established (${o.info.driver} driver, policy ${o.info.policyMode})`,
    'Type help for the commands; Tab completes, Up/Down recall history, Ctrl-D exits.',
  ];
  let code = 0;
  process.stdin.resume();
  const app = render(
    <ShellApp
      shell={shell}
      history={history}
      banner={banner}
      color={!o.env['NO_COLOR']}
      onExit={(c) => {
        code = c;
      }}
    />,
    { exitOnCtrlC: false, patchConsole: false },
  );
  await app.waitUntilExit();
  return code;
}
