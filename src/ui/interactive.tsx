/** The interactive path, loaded by a dynamic import only when stdin and stdout are terminals. */
import { render } from 'ink';
import type { ManagerInfo } from '../manager/api.js';
import type { SessionState } from '../shell/command.js';
import { History, defaultHistoryPath } from '../shell/history.js';
import type { CctrlOptions } from '../shell/options.js';
import type { CommandRegistry } from '../shell/registry.js';
import type { ShellApi } from '../shell/services.js';
import { Shell } from '../shell/session.js';
import { ShellApp } from './App.js';

export interface InteractiveOptions {
  api: ShellApi;
  commands: CommandRegistry;
  state: SessionState;
  info: ManagerInfo;
  options: CctrlOptions;
  env: NodeJS.ProcessEnv;
  version: string;
  banner: string[];
  /** Terminal rows of the banner and prompt printed before Ink loaded, to erase now. */
  earlyRows: number;
}

export async function runInteractive(o: InteractiveOptions): Promise<number> {
  const shell = new Shell({
    api: o.api,
    commands: o.commands,
    state: o.state,
    timeoutMs: o.options.timeoutSeconds * 1000,
    confirm: async () => o.options.yes,
    refusalHint: 'answer y to run it, or enter expert mode with: expert',
  });
  const history = new History(o.options.history ? defaultHistoryPath(o.env['HOME'] || undefined) : null);
  let code = 0;
  process.stdin.resume();
  // Ink redraws the banner and the prompt exactly where the early ones were.
  if (o.earlyRows > 0) process.stdout.write(`\r\u001b[2K${'\u001b[1A\u001b[2K'.repeat(o.earlyRows - 1)}`);
  const app = render(
    <ShellApp
      shell={shell}
      history={history}
      banner={o.banner}
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
