import type { ManagerInfo } from '../manager/api.js';
import type { SessionState } from '../shell/command.js';
import type { CctrlOptions } from '../shell/options.js';
import type { ShellApi } from '../shell/services.js';

export interface InteractiveOptions {
  api: ShellApi;
  state: SessionState;
  info: ManagerInfo;
  options: CctrlOptions;
  env: NodeJS.ProcessEnv;
}

export async function runInteractive(_o: InteractiveOptions): Promise<number> {
  return 0;
}
