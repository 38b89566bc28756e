import { describe, expect, it } from 'vitest';
import { cctrlCommands } from '../../../commands/cctrl/index.js';
import { Shell } from '../../../src/shell/session.js';
import { startVirtualManager } from '../../helpers/virtual-manager.js';

describe('no input line crashes or hangs the shell', () => {
  it('random lines built from command names, arguments and junk always end in outcomes', async () => {
    const words = [...cctrlCommands.commandNames(), 'to', 'db1', 'db2', 'db9', '-l', '--dry-run', 'policy', 'maintenance', 'shun', 'fail', 'status', 'db1/mysql', '..', '/', '"', "'", ';', '\\', '\u0000', '\u001b[2J', '9999999999999999999', '-', ''];
    let seed = 7;
    const rand = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    // The real manager: what a line asks of it runs, in virtual time that passes while the line does.
    const vm = await startVirtualManager();
    const shell = new Shell({
      api: vm.api,
      commands: cctrlCommands,
      state: { service: 'alpha', expert: false, multi: true },
      timeoutMs: 1000,
      confirm: async () => rand(2) === 0,
      refusalHint: 'x',
    });
    for (let i = 0; i < 300; i++) {
      const n = 1 + rand(5);
      const line = Array.from({ length: n }, () => words[rand(words.length)]).join(rand(3) === 0 ? '' : ' ');
      const outcomes = await vm.passing(shell.runLine(line, {}, () => undefined));
      for (const o of outcomes) {
        expect([0, 1, 2, 3, 4, 130]).toContain(o.exitCode);
        expect(o.ok).toBe(o.exitCode === 0);
      }
      if (shell.state.service === null && rand(2) === 0) shell.state.service = 'alpha';
    }
  }, 60_000);
});
