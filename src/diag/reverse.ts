import { isSecretKey } from './redact.js';
import { REPEATABLE_KEYS, type IniEntry, type IniFileConfig, type TungstenConfig } from '../config/tungstenIni.js';

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

/**
 * One `key=value` per key, the last one as tpm applies it, sorted by key; a repeatable key
 * (`property=`, `skip-validation-check=`, ...) keeps every line, in the order written.
 */
function pairs(entries: IniEntry[], masked: boolean): Array<[string, string]> {
  const last = new Map<string, string>();
  const repeated: Array<[string, string]> = [];
  for (const e of entries) {
    const value = masked && isSecretKey(e.key) ? PUBLIC_MASK : e.value;
    if (REPEATABLE_KEYS.has(e.key)) repeated.push([e.key, value]);
    else last.set(e.key, value);
  }
  const byKey = ([a]: [string, string], [b]: [string, string]) => (a < b ? -1 : a > b ? 1 : 0);
  return [...last.entries(), ...repeated].sort(byKey);
}

function block(header: string, args: Array<[string, string]>): string[] {
  const lines = [header, ...args.map(([k, v]) => shellWord(`--${k}=${v}`))];
  return lines.map((l, i) => (i < lines.length - 1 ? `${l} \\` : l));
}

function renderSource(source: IniFileConfig, masked: boolean, iniFormat: boolean): string[] {
  const out: string[] = [`# Configuration built from ${source.file}`];
  if (iniFormat) {
    out.push('# Defaults for all data services and hosts', '[defaults]');
    for (const [k, v] of pairs(source.defaults, masked)) out.push(`${k}=${v}`);
    for (const ds of source.dataservices) {
      out.push('', `# Options for the ${ds.name} data service`, `[${ds.name}]`);
      for (const [k, v] of pairs(ds.entries, masked)) out.push(`${k}=${v}`);
    }
  } else {
    out.push('# Defaults for all data services and hosts');
    out.push(...block('tools/tpm configure defaults', pairs(source.defaults, masked)));
    for (const ds of source.dataservices) {
      out.push(`# Options for the ${ds.name} data service`);
      out.push(...block(`tools/tpm configure ${shellWord(ds.name)}`, pairs(ds.entries, masked)));
    }
  }
  return out;
}

/** The configuration as the `tpm configure` commands that recreate it, or as INI; one block per file. */
export function renderReverse(config: TungstenConfig, options: ReverseOptions = {}): string {
  const masked = options.public === true;
  return config.sources.map((s) => renderSource(s, masked, options.iniFormat === true).join('\n') + '\n').join('\n');
}
