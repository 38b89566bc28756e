import { isSecretKey } from './redact.js';
import type { IniEntry, TungstenConfig } from '../config/tungstenIni.js';

/** tpm prints masked passwords with `@`; we keep the character but not the length. */
export const PUBLIC_MASK = '@@@@@@@@';

export interface ReverseOptions {
  public?: boolean;
  iniFormat?: boolean;
}

/** Quotes a word for a POSIX shell only when it needs it. */
export function shellWord(word: string): string {
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(word)) return word;
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

function pairs(entries: IniEntry[], masked: boolean): Array<[string, string]> {
  const seen = new Map<string, string>();
  for (const e of entries) seen.set(e.key, masked && isSecretKey(e.key) ? PUBLIC_MASK : e.value);
  return [...seen.entries()].sort(([a, av], [b, bv]) => (a === b ? av.localeCompare(bv) : a < b ? -1 : 1));
}

function block(header: string, args: Array<[string, string]>): string[] {
  const lines = [header, ...args.map(([k, v]) => shellWord(`--${k}=${v}`))];
  return lines.map((l, i) => (i < lines.length - 1 ? `${l} \\` : l));
}

/** The configuration as the `tpm configure` commands that recreate it, or as INI. */
export function renderReverse(config: TungstenConfig, options: ReverseOptions = {}): string {
  const masked = options.public === true;
  const out: string[] = [`# Configuration built from ${config.file}`];
  if (options.iniFormat) {
    out.push('# Defaults for all data services and hosts', '[defaults]');
    for (const [k, v] of pairs(config.defaults, masked)) out.push(`${k}=${v}`);
    for (const ds of config.dataservices) {
      out.push('', `# Options for the ${ds.name} data service`, `[${ds.name}]`);
      for (const [k, v] of pairs(ds.entries, masked)) out.push(`${k}=${v}`);
    }
  } else {
    out.push('# Defaults for all data services and hosts');
    out.push(...block('tools/tpm configure defaults', pairs(config.defaults, masked)));
    for (const ds of config.dataservices) {
      out.push(`# Options for the ${ds.name} data service`);
      out.push(...block(`tools/tpm configure ${shellWord(ds.name)}`, pairs(ds.entries, masked)));
    }
  }
  return out.join('\n') + '\n';
}
