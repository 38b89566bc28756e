import { readFileSync, readdirSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { ToolkitError } from '../errors.js';

/** One `key=value` line of a tungsten.ini, with where it came from (for error messages). */
export interface IniEntry {
  key: string;
  value: string;
  line: number;
}

export interface IniSection {
  name: string;
  line: number;
  entries: IniEntry[];
}

export type HostRole = 'master' | 'slave' | 'connector' | 'witness';

export interface DataserviceConfig {
  name: string;
  line: number;
  entries: IniEntry[];
  members: string[];
  master?: string;
  connectors: string[];
  witnesses: string[];
  /** Set for a composite dataservice: the physical services it groups. */
  compositeOf?: string[];
}

export interface ClusterHost {
  name: string;
  roles: HostRole[];
  dataservices: string[];
}

export interface TungstenConfig {
  file: string;
  defaults: IniEntry[];
  dataservices: DataserviceConfig[];
  installDirectory: string;
  user?: string;
  /** Every member, connector and witness, in order of first appearance. */
  hosts: ClusterHost[];
}

export const DEFAULT_INSTALL_DIRECTORY = '/opt/continuent';

const HOST_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/** tpm accepts `install_directory` and `install-directory` alike; we keep the dashed form. */
export function normaliseKey(key: string): string {
  return key.trim().replace(/^--/, '').replace(/_/g, '-').toLowerCase();
}

export function lastValue(entries: IniEntry[], key: string): IniEntry | undefined {
  for (let i = entries.length - 1; i >= 0; i--) if (entries[i]!.key === key) return entries[i];
  return undefined;
}

function configError(file: string, line: number, key: string | undefined, message: string, hint?: string): ToolkitError {
  const where = key ? `${file}:${line}: ${key}` : `${file}:${line}`;
  return new ToolkitError('usage', `${where}: ${message}`, hint ?? `fix ${file} line ${line}, then run tpm again`);
}

/** Splits the text into sections; comments start with `#` or `;`. */
export function parseIniSections(text: string, file: string): IniSection[] {
  const sections: IniSection[] = [];
  let current: IniSection | undefined;
  const lines = text.split(/\r?\n/);
  lines.forEach((raw, index) => {
    const lineNo = index + 1;
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) return;
    const header = /^\[([^\]]*)\]$/.exec(line);
    if (header) {
      const name = header[1]!.trim();
      if (!name) throw configError(file, lineNo, undefined, 'empty section name');
      if (sections.some((s) => s.name === name)) throw configError(file, lineNo, undefined, `section [${name}] appears twice`);
      current = { name, line: lineNo, entries: [] };
      sections.push(current);
      return;
    }
    if (line.startsWith('[')) throw configError(file, lineNo, undefined, `malformed section header "${line}"`);
    const eq = line.indexOf('=');
    const key = normaliseKey(eq < 0 ? line : line.slice(0, eq));
    if (!key) throw configError(file, lineNo, undefined, 'a line with a value but no key');
    if (!current) throw configError(file, lineNo, key, 'key outside any section', 'put it under [defaults] or under a dataservice section');
    const value = eq < 0 ? 'true' : unquote(line.slice(eq + 1).trim());
    current.entries.push({ key, value, line: lineNo });
  });
  return sections;
}

function unquote(value: string): string {
  if (value.length >= 2 && ((value.startsWith('"') && value.endsWith('"')) || (value.startsWith("'") && value.endsWith("'")))) {
    return value.slice(1, -1);
  }
  return value;
}

function hostList(file: string, entry: IniEntry | undefined): string[] {
  if (!entry) return [];
  const names = entry.value.split(',').map((s) => s.trim());
  for (const name of names) {
    if (!name) throw configError(file, entry.line, entry.key, `empty host name in "${entry.value}"`);
    if (!HOST_NAME.test(name)) throw configError(file, entry.line, entry.key, `"${name}" is not a valid host name`);
  }
  return names;
}

/** Parses and checks a tungsten.ini text; every problem names the file, line and key. */
export function parseTungstenIni(text: string, file: string): TungstenConfig {
  const sections = parseIniSections(text, file);
  const defaultsSection = sections.find((s) => s.name === 'defaults');
  const defaults = defaultsSection?.entries ?? [];
  const serviceSections = sections.filter((s) => s.name !== 'defaults');
  if (serviceSections.length === 0) {
    throw configError(file, sections.at(-1)?.line ?? 1, undefined, 'no dataservice section', 'add a section such as [alpha] with members=, master= and connectors=');
  }
  const dataservices: DataserviceConfig[] = serviceSections.map((s) => {
    const composite = lastValue(s.entries, 'composite-datasources');
    if (composite) {
      return { name: s.name, line: s.line, entries: s.entries, members: [], connectors: [], witnesses: [], compositeOf: hostList(file, composite) };
    }
    const membersEntry = lastValue(s.entries, 'members');
    if (!membersEntry) throw configError(file, s.line, 'members', `dataservice [${s.name}] has no members`, `add members=host1,host2,... to [${s.name}]`);
    const members = hostList(file, membersEntry);
    const masterEntry = lastValue(s.entries, 'master');
    const master = masterEntry ? hostList(file, masterEntry) : [];
    if (master.length > 1) throw configError(file, masterEntry!.line, 'master', 'names more than one host');
    if (masterEntry && !members.includes(master[0]!)) {
      throw configError(file, masterEntry.line, 'master', `"${master[0]}" is not one of the members (${members.join(', ')})`);
    }
    const witnesses = hostList(file, lastValue(s.entries, 'witnesses'));
    for (const w of witnesses) {
      if (members.includes(w)) throw configError(file, lastValue(s.entries, 'witnesses')!.line, 'witnesses', `"${w}" is also a member`);
    }
    return {
      name: s.name,
      line: s.line,
      entries: s.entries,
      members,
      ...(master[0] ? { master: master[0] } : {}),
      connectors: hostList(file, lastValue(s.entries, 'connectors')),
      witnesses,
    };
  });
  for (const ds of dataservices) {
    for (const part of ds.compositeOf ?? []) {
      const found = dataservices.find((d) => d.name === part);
      if (!found || found.compositeOf) {
        const entry = lastValue(ds.entries, 'composite-datasources')!;
        throw configError(file, entry.line, entry.key, `"${part}" is not a physical dataservice of this file`);
      }
    }
  }
  const hosts: ClusterHost[] = [];
  const add = (name: string, role: HostRole, service: string) => {
    let host = hosts.find((h) => h.name === name);
    if (!host) hosts.push((host = { name, roles: [], dataservices: [] }));
    if (!host.roles.includes(role)) host.roles.push(role);
    if (!host.dataservices.includes(service)) host.dataservices.push(service);
  };
  for (const ds of dataservices) {
    for (const m of ds.members) add(m, m === ds.master ? 'master' : 'slave', ds.name);
    for (const c of ds.connectors) add(c, 'connector', ds.name);
    for (const w of ds.witnesses) add(w, 'witness', ds.name);
  }
  const install = lastValue(defaults, 'install-directory');
  if (install && !install.value.startsWith('/')) {
    throw configError(file, install.line, install.key, `"${install.value}" is not an absolute path`);
  }
  const user = lastValue(defaults, 'user')?.value;
  return {
    file,
    defaults,
    dataservices,
    installDirectory: install?.value ?? DEFAULT_INSTALL_DIRECTORY,
    ...(user ? { user } : {}),
    hosts,
  };
}

export function readTungstenIni(file: string): TungstenConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? String(e);
    throw new ToolkitError('usage', `cannot read ${file}: ${code}`, 'pass the installation\'s tungsten.ini with --ini FILE');
  }
  return parseTungstenIni(text, file);
}

export interface IniSearch {
  home?: string;
  etcDir?: string;
}

/** The files tpm looks at, in order, when no --ini is given. */
export function iniCandidates(search: IniSearch = {}): string[] {
  const home = search.home ?? homedir();
  const etc = search.etcDir ?? '/etc';
  const out = [join(home, 'tungsten.ini')];
  try {
    out.push(
      ...readdirSync(join(etc, 'tungsten'))
        .filter((n) => /^tungsten.*\.ini$/.test(n))
        .sort()
        .map((n) => join(etc, 'tungsten', n)),
    );
  } catch {
    // no /etc/tungsten directory
  }
  out.push(join(etc, 'tungsten.ini'));
  return out;
}

export function locateTungstenIni(explicit: string | undefined, search: IniSearch = {}): string {
  if (explicit) return explicit;
  const candidates = iniCandidates(search);
  for (const c of candidates) {
    try {
      readFileSync(c);
      return c;
    } catch {
      // try the next one
    }
  }
  throw new ToolkitError('usage', `no tungsten.ini found (looked at ${candidates.join(', ')})`, 'pass the configuration with --ini FILE');
}

export function loadTungstenConfig(explicit: string | undefined, search: IniSearch = {}): TungstenConfig {
  return readTungstenIni(locateTungstenIni(explicit, search));
}
