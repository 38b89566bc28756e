import { readdirSync, readFileSync, statSync } from 'node:fs';
import { homedir, hostname as osHostname } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { ToolkitError } from '../errors.js';
import { TPM_OPTION_NAMES } from './tpmOptionNames.js';

/**
 * tungsten.ini as tpm reads it. tpm parses the file with IniParse and turns each section into
 * `--key=value` arguments for `tpm configure SECTION`:
 * - a line starting with `;` or `#` is a comment, and so is everything after a `;` or `#` that
 *   follows whitespace (`password=a#b` keeps `#b`, `port=1 # x` does not); quotes are kept as written;
 * - a section given twice is one section; a key given twice is passed twice, its lines together
 *   where it first appears (the last one wins, except for the repeatable `property=`, ...);
 * - `_` in a key is `-`; a key without `=` passes an empty value; a trailing ` \` (left over from a
 *   `tpm configure` command) is dropped with a warning;
 * - `[defaults]` and `[defaults@HOST]` hold defaults, `[SERVICE@HOST]` modifies SERVICE on HOST only
 *   (applied after everything else when tpm runs on HOST, skipped elsewhere), `[defaults.replicator]`
 *   is only for a Tungsten Replicator installation and skipped here.
 * Every INI file tpm finds is a configuration of its own (one installation each).
 */

/** One `key=value` line of a tungsten.ini, with where it came from (for error messages). */
export interface IniEntry {
  key: string;
  value: string;
  line: number;
  file?: string;
}

export interface IniSection {
  name: string;
  line: number;
  entries: IniEntry[];
}

export type HostRole = 'master' | 'relay' | 'slave' | 'connector' | 'witness';

export interface DataserviceConfig {
  name: string;
  line: number;
  file: string;
  /** Every line that applies to this service, in the order tpm applies them. */
  entries: IniEntry[];
  members: string[];
  /** The master, or for a passive site (`relay-source=`) its relay. */
  master?: string;
  relaySource?: string;
  connectors: string[];
  witnesses: string[];
  activeWitnesses: boolean;
  /** Set for a composite dataservice: the physical services it groups. */
  compositeOf?: string[];
}

export interface ClusterHost {
  name: string;
  roles: HostRole[];
  dataservices: string[];
  /** `install-directory` (or `home-directory`) for this host: its service's, else the defaults'. */
  installDirectory: string;
  /** The `user` tpm logs in as on this host. */
  user?: string;
}

/** A section tpm does not apply here, and why. */
export interface SkippedSection {
  file: string;
  name: string;
  line: number;
  reason: string;
}

/** One INI file: tpm treats each as the configuration of its own installation. */
export interface IniFileConfig {
  file: string;
  defaults: IniEntry[];
  dataservices: DataserviceConfig[];
  installDirectory: string;
  user?: string;
  skipped: SkippedSection[];
}

export interface TungstenConfig {
  /** The first file (every file is in `files`). */
  file: string;
  files: string[];
  /** Each file's own configuration. */
  sources: IniFileConfig[];
  /** The first file's defaults. */
  defaults: IniEntry[];
  /** Every file's dataservices. */
  dataservices: DataserviceConfig[];
  /** The first file's default install directory (a host's own is in `hosts`). */
  installDirectory: string;
  user?: string;
  /** Every member, connector and witness, in order of first appearance. */
  hosts: ClusterHost[];
  /** What tpm would warn about: unknown keys, a trailing ` \`, skipped sections. */
  warnings: string[];
}

export const DEFAULT_INSTALL_DIRECTORY = '/opt/continuent';

const HOST_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/** tpm's spelling of a key: `_` is `-`, a leading `--` is allowed. Case matters, as in tpm. */
export function normaliseKey(key: string): string {
  return key.trim().replace(/^--/, '').replace(/_/g, '-');
}

export function lastValue(entries: IniEntry[], key: string): IniEntry | undefined {
  for (let i = entries.length - 1; i >= 0; i--) if (entries[i]!.key === key) return entries[i];
  return undefined;
}

function configError(file: string, line: number, key: string | undefined, message: string, hint?: string): ToolkitError {
  const where = key ? `${file}:${line}: ${key}` : `${file}:${line}`;
  return new ToolkitError('usage', `${where}: ${message}`, hint ?? `fix ${file} line ${line}, then run tpm again`);
}

/** Cuts a comment off a line as IniParse does: a line starting with `;`/`#`, or `;`/`#` after whitespace. */
function stripComment(line: string): string {
  if (/^[;#]/.test(line)) return '';
  const m = /^(.*?)\s+[;#]/.exec(line);
  return m ? m[1]! : line.trimEnd();
}

/**
 * Splits the text into sections as IniParse does; a section given twice is merged into its first
 * appearance. Keys are normalised (`_` to `-`) and a trailing ` \` is dropped with a warning.
 */
export function parseIniSections(text: string, file: string, warnings: string[] = []): IniSection[] {
  const sections: IniSection[] = [];
  let current: IniSection | undefined;
  text.split('\n').forEach((raw, index) => {
    const lineNo = index + 1;
    const line = stripComment(raw.replace(/\r$/, '')).trimStart();
    if (line === '') return;
    const header = /^\[([^\]]+)\]$/.exec(line);
    if (header) {
      const name = header[1]!.trim();
      current = sections.find((s) => s.name === name);
      if (!current) sections.push((current = { name, line: lineNo, entries: [] }));
      return;
    }
    if (line.startsWith('[')) throw configError(file, lineNo, undefined, `malformed section header "${line}"`);
    const eq = line.indexOf('=');
    if (eq === 0) throw configError(file, lineNo, undefined, 'a line with a value but no key');
    const key = normaliseKey(eq < 0 ? line : line.slice(0, eq));
    if (!current) throw configError(file, lineNo, key, 'key outside any section', 'put it under [defaults] or under a dataservice section');
    let value = eq < 0 ? '' : line.slice(eq + 1).trim();
    if (value.endsWith(' \\')) {
      value = value.slice(0, -2);
      warnings.push(`${file}:${lineNo}: ${key}: the trailing " \\" was dropped, as tpm does (wrap the value in double quotes to keep it)`);
    }
    // As IniParse: a key seen before in the section joins its earlier lines (the last one still wins).
    const entry = { key, value, line: lineNo, file };
    const previous = current.entries.findLastIndex((e) => e.key === key);
    if (previous < 0) current.entries.push(entry);
    else current.entries.splice(previous + 1, 0, entry);
  });
  return sections;
}

/** A section as tpm applies it: to the defaults or to one service, in tpm's order. */
export interface TpmSection {
  /** `defaults` or the service's name. */
  key: string;
  /** The section's name as written (`alpha@db2`). */
  section: string;
  line: number;
  entries: IniEntry[];
  weight: number;
}

const COMPOSITE_KEYS = ['composite-datasources', 'dataservice-composite-datasources'];
const RELAY_SOURCE_KEYS = ['relay-source', 'master-dataservice', 'dataservice-relay-source'];

/**
 * The sections tpm applies on `hostname`, in its order: defaults, services, services fed by a
 * relay source, composite services, then every section relabelled (`[defaults]` itself among
 * them, and `[x@HOST]`), each group in file order.
 */
export function tpmSections(sections: IniSection[], file: string, hostname: string, skipped: SkippedSection[] = []): TpmSection[] {
  const out: TpmSection[] = [];
  sections.forEach((s, order) => {
    let key = s.name;
    if (s.name === 'defaults.replicator') {
      skipped.push({ file, name: s.name, line: s.line, reason: 'it configures a Tungsten Replicator installation, not a cluster' });
      return;
    }
    if (s.name === 'defaults') key = 'defaults';
    else {
      const m = /^([A-Za-z0-9_]+)@([A-Za-z0-9_.-]+)$/.exec(s.name);
      if (m) {
        if (m[2] !== hostname) {
          skipped.push({ file, name: s.name, line: s.line, reason: `it applies on ${m[2]} only, and this is ${hostname}` });
          return;
        }
        key = m[1] === 'defaults' ? 'defaults' : m[1]!;
      }
    }
    // tpm names the defaults "__defaults__" internally, so [defaults] itself counts as relabelled.
    const relabelled = key !== s.name || key === 'defaults';
    let composite = false;
    let relay = false;
    for (const e of s.entries) {
      if (COMPOSITE_KEYS.includes(e.key)) {
        composite = true;
        break;
      }
      if (RELAY_SOURCE_KEYS.includes(e.key)) {
        relay = true;
        break;
      }
    }
    const group = relabelled ? 1e12 : composite ? 1e10 : relay ? 1e8 : 1e6;
    out.push({ key, section: s.name, line: s.line, entries: s.entries, weight: group + order });
  });
  return out.sort((a, b) => a.weight - b.weight);
}

/** The `tpm configure` arguments tpm builds from a file: what its own code produces, to compare with. */
export function tpmArguments(text: string, file: string, hostname: string): { sections: Array<{ key: string; arguments: string[] }>; warnings: string[] } {
  const warnings: string[] = [];
  const sections = tpmSections(parseIniSections(text, file, warnings), file, hostname);
  return { sections: sections.map((s) => ({ key: s.key, arguments: s.entries.map((e) => `--${e.key}=${e.value}`) })), warnings };
}

/** Keys tpm collects rather than overrides: every line counts. */
export const REPEATABLE_KEYS: ReadonlySet<string> = new Set([
  'property',
  'remove-property',
  'skip-validation-check',
  'enable-validation-check',
  'skip-validation-warnings',
  'enable-validation-warnings',
  'members+',
  'members-',
  'connectors+',
  'connectors-',
]);

/** The keys that set one thing, under every spelling tpm accepts. */
const SPELLINGS: Record<string, string[]> = {
  members: ['members', 'dataservice-hosts'],
  master: ['master', 'masters', 'relay', 'dataservice-master-host'],
  slaves: ['slaves', 'dataservice-slaves'],
  connectors: ['connectors', 'dataservice-connectors'],
  witnesses: ['witnesses', 'dataservice-witnesses'],
  'active-witnesses': ['active-witnesses', 'enable-active-witnesses'],
  'composite-datasources': COMPOSITE_KEYS,
  'relay-source': RELAY_SOURCE_KEYS,
  'install-directory': ['install-directory', 'home-directory'],
  user: ['user'],
};

/** The last line of a section that sets `what`, under any spelling. */
function setting(entries: IniEntry[], what: string): IniEntry | undefined {
  const names = SPELLINGS[what]!;
  for (let i = entries.length - 1; i >= 0; i--) if (names.includes(entries[i]!.key)) return entries[i];
  return undefined;
}

/** tpm lets the last of two lines win silently; for the keys that decide the topology we refuse. */
function refuseRepeats(file: string, section: TpmSection): void {
  for (const what of ['members', 'master', 'slaves', 'connectors', 'witnesses', 'composite-datasources', 'relay-source']) {
    const lines = section.entries.filter((e) => SPELLINGS[what]!.includes(e.key));
    const second = lines.find((e) => e.value !== lines[0]!.value);
    if (second) {
      const first = lines[0]!;
      throw configError(
        file,
        second.line,
        second.key,
        `[${section.section}] sets ${what} twice (line ${first.line}: ${first.key}=${first.value}; line ${second.line}: ${second.key}=${second.value}); tpm would silently use the last one`,
        `keep one ${what}= line in [${section.section}] of ${file}`,
      );
    }
  }
}

function hostList(file: string, entry: IniEntry | undefined): string[] {
  if (!entry || entry.value.trim() === '') return [];
  const names = entry.value.split(',').map((s) => s.trim());
  for (const name of names) {
    if (!name) throw configError(file, entry.line, entry.key, `empty host name in "${entry.value}"`);
    if (!HOST_NAME.test(name)) throw configError(file, entry.line, entry.key, `"${name}" is not a valid host name`);
  }
  return names;
}

const unique = (xs: string[]) => [...new Set(xs)];

interface ServiceState {
  name: string;
  line: number;
  entries: IniEntry[];
  members?: string[];
  connectors?: string[];
}

function absolute(file: string, entry: IniEntry): string {
  if (!entry.value.startsWith('/')) throw configError(file, entry.line, entry.key, `"${entry.value}" is not an absolute path`);
  return entry.value;
}

function warnUnknownKeys(file: string, sections: TpmSection[], warnings: string[]): void {
  for (const s of sections) {
    for (const e of s.entries) {
      if (!TPM_OPTION_NAMES.has(e.key)) warnings.push(`${file}:${e.line}: [${s.section}] unknown key "${e.key}" (not a tpm option); check the spelling`);
    }
  }
}

/** Parses and checks one tungsten.ini as tpm would on `hostname`; every problem names the file, line and key. */
export function parseTungstenIniFile(text: string, file: string, options: { hostname?: string; warnings?: string[] } = {}): IniFileConfig {
  const warnings = options.warnings ?? [];
  const skipped: SkippedSection[] = [];
  const parsed = parseIniSections(text, file, warnings);
  const sections = tpmSections(parsed, file, options.hostname ?? osHostname(), skipped);
  warnUnknownKeys(file, sections, warnings);
  for (const s of skipped) warnings.push(`${file}:${s.line}: [${s.name}] not applied: ${s.reason}`);
  const defaults: IniEntry[] = [];
  const services = new Map<string, ServiceState>();
  for (const s of sections) {
    refuseRepeats(file, s);
    if (s.key === 'defaults') {
      defaults.push(...s.entries);
      continue;
    }
    let ds = services.get(s.key);
    if (!ds) services.set(s.key, (ds = { name: s.key, line: s.line, entries: [] }));
    ds.entries.push(...s.entries);
    const members = setting(s.entries, 'members');
    if (members) ds.members = hostList(file, members);
    const connectors = setting(s.entries, 'connectors');
    if (connectors) ds.connectors = hostList(file, connectors);
    // members+= / members-= (and connectors) change what is set so far, after this section's own lines.
    for (const e of s.entries) {
      if (e.key === 'members+') ds.members = [...(ds.members ?? []), ...hostList(file, e)];
      else if (e.key === 'members-') ds.members = (ds.members ?? []).filter((h) => !hostList(file, e).includes(h));
      else if (e.key === 'connectors+') ds.connectors = [...(ds.connectors ?? []), ...hostList(file, e)];
      else if (e.key === 'connectors-') ds.connectors = (ds.connectors ?? []).filter((h) => !hostList(file, e).includes(h));
    }
  }
  if (services.size === 0) {
    throw configError(file, parsed.at(-1)?.line ?? 1, undefined, 'no dataservice section', 'add a section such as [alpha] with members=, master= and connectors=');
  }
  const dataservices: DataserviceConfig[] = [...services.values()].map((ds) => {
    const composite = setting(ds.entries, 'composite-datasources');
    const base = { name: ds.name, line: ds.line, file, entries: ds.entries, activeWitnesses: false };
    if (composite) return { ...base, members: [], connectors: [], witnesses: [], compositeOf: hostList(file, composite) };
    const masterEntry = setting(ds.entries, 'master');
    const master = hostList(file, masterEntry);
    const slaves = hostList(file, setting(ds.entries, 'slaves'));
    const witnessesEntry = setting(ds.entries, 'witnesses');
    const witnesses = hostList(file, witnessesEntry);
    const activeWitnesses = setting(ds.entries, 'active-witnesses')?.value === 'true';
    // Without members=, tpm takes the master, the slaves and (when active) the witnesses.
    const members = ds.members ?? unique([...master, ...slaves, ...(activeWitnesses ? witnesses : [])]);
    if (members.length === 0) {
      throw configError(file, ds.line, 'members', `dataservice [${ds.name}] has no members`, `add members=host1,host2,... (or master= and slaves=) to [${ds.name}]`);
    }
    if (master.length > 1) throw configError(file, masterEntry!.line, masterEntry!.key, 'names more than one host');
    const replicating = activeWitnesses ? members.filter((m) => !witnesses.includes(m)) : members;
    if (masterEntry && master[0] && !replicating.includes(master[0])) {
      throw configError(file, masterEntry.line, masterEntry.key, `"${master[0]}" is not one of the members (${replicating.join(', ')})`);
    }
    for (const w of witnesses) {
      if (activeWitnesses && !members.includes(w)) {
        throw configError(file, witnessesEntry!.line, witnessesEntry!.key, `"${w}" is an active witness but not one of the members`, `add ${w} to members= of [${ds.name}]`);
      }
      if (!activeWitnesses && members.includes(w)) {
        throw configError(file, witnessesEntry!.line, witnessesEntry!.key, `"${w}" is also a member`, `remove it from members=, or set active-witnesses=true in [${ds.name}]`);
      }
    }
    const relaySource = setting(ds.entries, 'relay-source')?.value;
    return {
      ...base,
      members,
      ...(master[0] ? { master: master[0] } : {}),
      ...(relaySource ? { relaySource } : {}),
      connectors: unique(ds.connectors ?? []),
      witnesses,
      activeWitnesses,
    };
  });
  for (const ds of dataservices) {
    for (const part of ds.compositeOf ?? []) {
      const found = dataservices.find((d) => d.name === part);
      if (!found || found.compositeOf) {
        const entry = setting(ds.entries, 'composite-datasources')!;
        throw configError(file, entry.line, entry.key, `"${part}" is not a physical dataservice of this file`);
      }
    }
  }
  const install = setting(defaults, 'install-directory');
  const user = setting(defaults, 'user')?.value;
  return {
    file,
    defaults,
    dataservices,
    installDirectory: install ? absolute(file, install) : DEFAULT_INSTALL_DIRECTORY,
    ...(user ? { user } : {}),
    skipped,
  };
}

/** Every host of one file, with its roles, install directory and user. */
function hostsOf(config: IniFileConfig): ClusterHost[] {
  const hosts: ClusterHost[] = [];
  const add = (name: string, role: HostRole, ds: DataserviceConfig) => {
    let host = hosts.find((h) => h.name === name);
    if (!host) hosts.push((host = { name, roles: [], dataservices: [], installDirectory: config.installDirectory, ...(config.user ? { user: config.user } : {}) }));
    if (!host.roles.includes(role)) host.roles.push(role);
    if (!host.dataservices.includes(ds.name)) host.dataservices.push(ds.name);
    const install = setting(ds.entries, 'install-directory');
    if (install) host.installDirectory = absolute(config.file, install);
    const user = setting(ds.entries, 'user');
    if (user) host.user = user.value;
  };
  for (const ds of config.dataservices) {
    for (const m of ds.members) {
      const role: HostRole = ds.activeWitnesses && ds.witnesses.includes(m) ? 'witness' : m !== ds.master ? 'slave' : ds.relaySource ? 'relay' : 'master';
      add(m, role, ds);
    }
    for (const c of ds.connectors) add(c, 'connector', ds);
    for (const w of ds.witnesses) if (!ds.members.includes(w)) add(w, 'witness', ds);
  }
  return hosts;
}

/** Merges the files tpm found into one view for diag and query; each file keeps its own section in `sources`. */
export function combineConfigs(sources: IniFileConfig[], warnings: string[] = []): TungstenConfig {
  const first = sources[0]!;
  const hosts: ClusterHost[] = [];
  for (const source of sources) {
    for (const h of hostsOf(source)) {
      const known = hosts.find((x) => x.name === h.name);
      if (!known) hosts.push(h);
      else {
        for (const r of h.roles) if (!known.roles.includes(r)) known.roles.push(r);
        for (const d of h.dataservices) if (!known.dataservices.includes(d)) known.dataservices.push(d);
      }
    }
  }
  const seen = new Map<string, string>();
  for (const source of sources) {
    for (const ds of source.dataservices) {
      const other = seen.get(ds.name);
      if (other && other !== source.file) warnings.push(`${source.file}:${ds.line}: [${ds.name}] is also configured in ${other}; tpm treats each file as a separate installation`);
      else seen.set(ds.name, source.file);
    }
  }
  return {
    file: first.file,
    files: sources.map((s) => s.file),
    sources,
    defaults: first.defaults,
    dataservices: sources.flatMap((s) => s.dataservices),
    installDirectory: first.installDirectory,
    ...(first.user ? { user: first.user } : {}),
    hosts,
    warnings,
  };
}

/** Parses one tungsten.ini text (as tpm on `hostname` would). */
export function parseTungstenIni(text: string, file: string, options: { hostname?: string } = {}): TungstenConfig {
  const warnings: string[] = [];
  return combineConfigs([parseTungstenIniFile(text, file, { ...options, warnings })], warnings);
}

function readText(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? String(e);
    throw new ToolkitError('usage', `cannot read ${file}: ${code}`, "pass the installation's tungsten.ini with --ini FILE");
  }
}

export function readTungstenIni(file: string, options: { hostname?: string } = {}): TungstenConfig {
  return readTungstenInis([file], options);
}

export function readTungstenInis(files: string[], options: { hostname?: string } = {}): TungstenConfig {
  const warnings: string[] = [];
  return combineConfigs(
    files.map((f) => parseTungstenIniFile(readText(f), f, { ...options, warnings })),
    warnings,
  );
}

export interface IniSearch {
  home?: string;
  etcDir?: string;
  /** Where a relative `--ini` is taken from (the directory tpm was run in). */
  cwd?: string;
  /** The host tpm runs on, for `[section@host]` (default: this host's name). */
  hostname?: string;
  /** Where warnings go (default: stderr, as `tpm: warning: ...`). */
  warn?: (message: string) => void;
}

function globToRegExp(pattern: string): RegExp {
  return new RegExp(`^${pattern.replace(/[.+^${}()|\\]/g, '\\$&').replace(/\*/g, '[^/]*').replace(/\?/g, '[^/]')}$`);
}

/** The files a path names: itself, or what its last component's `*`/`?` match (sorted, as Ruby's Dir.glob). */
function glob(path: string): string[] {
  const name = basename(path);
  if (!/[*?[]/.test(name)) {
    try {
      return statSync(path).isFile() ? [path] : [];
    } catch {
      return [];
    }
  }
  const dir = dirname(path);
  const re = globToRegExp(name);
  try {
    return readdirSync(dir)
      .filter((n) => re.test(n) && !(n.startsWith('.') && !name.startsWith('.')))
      .sort()
      .map((n) => join(dir, n))
      .filter((p) => statSync(p).isFile());
  } catch {
    return [];
  }
}

/** Where tpm looks when no --ini is given; it reads every file that exists. */
export function iniSearchPatterns(search: IniSearch = {}): string[] {
  const home = search.home ?? homedir();
  const etc = search.etcDir ?? '/etc';
  return [join(home, 'tungsten.ini'), join(etc, 'tungsten', 'tungsten*.ini'), join(etc, 'tungsten.ini')];
}

/** The files tpm reads when no --ini is given, in order. */
export function iniCandidates(search: IniSearch = {}): string[] {
  return [...new Set(iniSearchPatterns(search).flatMap(glob))];
}

/** `--ini a,b` (each may hold `*`), relative to where tpm was run; else every file tpm finds. */
export function locateTungstenInis(explicit: string | undefined, search: IniSearch = {}): string[] {
  if (explicit !== undefined) {
    const cwd = search.cwd ?? process.cwd();
    const found = [...new Set(explicit.split(',').filter((p) => p.trim() !== '').flatMap((p) => glob(resolve(cwd, p.trim()))))];
    if (found.length === 0) {
      const wildcard = /[*?]/.test(explicit) || explicit.includes(',');
      if (!wildcard) readText(resolve(cwd, explicit.trim()));
      throw new ToolkitError('usage', `--ini ${explicit}: no such file`, 'give the full path of the INI file (several: --ini a.ini,b.ini)');
    }
    return found;
  }
  const candidates = iniCandidates(search);
  if (candidates.length === 0) {
    throw new ToolkitError('usage', `no tungsten.ini found (looked for ${iniSearchPatterns(search).join(', ')})`, 'pass the configuration with --ini FILE');
  }
  return candidates;
}

/** The first file tpm would read (kept for callers that show one path). */
export function locateTungstenIni(explicit: string | undefined, search: IniSearch = {}): string {
  return locateTungstenInis(explicit, search)[0]!;
}

export function loadTungstenConfig(explicit: string | undefined, search: IniSearch = {}): TungstenConfig {
  const config = readTungstenInis(locateTungstenInis(explicit, search), search.hostname ? { hostname: search.hostname } : {});
  const warn = search.warn ?? ((m: string) => process.stderr.write(`tpm: warning: ${m}\n`));
  for (const w of config.warnings) warn(w);
  return config;
}
