import { loadTungstenConfig, type IniSearch } from '../../src/config/tungstenIni.js';
import { renderReverse } from '../../src/diag/reverse.js';

export const reverseHelp = {
  name: 'reverse',
  summary: "Display the 'tpm configure' commands (or the INI) that recreate the configuration",
  options: [
    ['--public', 'hide passwords'],
    ['--ini-format', 'print the configuration as tungsten.ini'],
    ['--ini <files>', 'the tungsten.ini files to read, comma separated (default: every one of ~/tungsten.ini, /etc/tungsten/tungsten*.ini, /etc/tungsten.ini)'],
  ] as Array<[string, string, string?]>,
} as const;

export interface ReverseOptions {
  public?: boolean;
  iniFormat?: boolean;
  ini?: string;
}

export function runReverseCommand(opts: ReverseOptions, ctx: { cwd: string; iniSearch?: IniSearch }): { text: string } {
  const config = loadTungstenConfig(opts.ini, { cwd: ctx.cwd, ...ctx.iniSearch });
  return { text: renderReverse(config, { public: opts.public === true, iniFormat: opts.iniFormat === true }) };
}
