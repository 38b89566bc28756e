import { spawnSync } from 'node:child_process';
import { realpathSync } from 'node:fs';
import { hostname, userInfo } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { toolVersion } from '../../src/config/toolVersion.js';
import { loadTungstenConfig, type IniSearch, type TungstenConfig } from '../../src/config/tungstenIni.js';
import { isSecretKey } from '../../src/diag/redact.js';
import { PUBLIC_MASK } from '../../src/diag/reverse.js';
import { parseLsDatasources } from '../../src/diag/summary.js';
import { ExitCode, ToolkitError } from '../../src/errors.js';

export const QUERY_WHATS = ['staging', 'version', 'topology', 'dataservices', 'config'] as const;
export type QueryWhat = (typeof QUERY_WHATS)[number];

export const queryHelp = {
  name: 'query',
  summary: `Print one fact about the installation: ${QUERY_WHATS.join(', ')}`,
  options: [['--ini <files>', 'the tungsten.ini files to read, comma separated (default: every one of ~/tungsten.ini, /etc/tungsten/tungsten*.ini, /etc/tungsten.ini)']] as Array<[string, string, string?]>,
} as const;

export interface QueryResult {
  text: string;
  /** A note for stderr (e.g. where the answer came from). */
  note?: string;
  /** Not 0 when the answer is not the one asked for (the configured topology when the manager does not answer: 3). */
  exitCode?: number;
}

export interface QueryContext {
  cwd: string;
  iniSearch?: IniSearch;
  /** Runs `echo ls | cctrl`; injectable for tests. */
  cctrlLs?: (cctrl: string) => string | undefined;
}

function defaultCctrlLs(cctrl: string): string | undefined {
  const r = spawnSync('sh', ['-c', `[ -x "$1" ] && echo ls | timeout 120 "$1"`, 'sh', cctrl], { encoding: 'utf8' });
  return r.status === 0 && r.stdout.trim() ? r.stdout : undefined;
}

function section(entries: TungstenConfig['defaults']): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of entries) out[e.key] = isSecretKey(e.key) ? PUBLIC_MASK : e.value;
  return out;
}

export function runQueryCommand(what: string, opts: { ini?: string }, ctx: QueryContext): QueryResult {
  if (!(QUERY_WHATS as readonly string[]).includes(what)) {
    throw new ToolkitError('usage', `unknown query "${what}"`, `use one of: ${QUERY_WHATS.join(', ')}`);
  }
  const config = loadTungstenConfig(opts.ini, { cwd: ctx.cwd, ...ctx.iniSearch });
  switch (what as QueryWhat) {
    case 'staging':
      return { text: `${config.user ?? userInfo().username}@${hostname()}:${dirname(config.file)}\n` };
    case 'version': {
      const link = join(config.installDirectory, 'tungsten');
      try {
        return { text: `${basename(realpathSync(link))}\n` };
      } catch {
        throw new ToolkitError(
          'not_found',
          `no release installed in ${config.installDirectory}: ${link} does not lead to a release (tpm itself is ${toolVersion()})`,
          `check install-directory= in ${config.file}, or install a release there`,
        );
      }
    }
    case 'topology': {
      const cctrl = join(config.installDirectory, 'tungsten', 'tungsten-manager', 'bin', 'cctrl');
      const ls = (ctx.cctrlLs ?? defaultCctrlLs)(cctrl);
      const topology: Record<string, string> = {};
      if (ls) {
        for (const d of parseLsDatasources(ls)) topology[d.name] = d.role;
        return { text: `${JSON.stringify(topology, null, 2)}\n` };
      }
      // The roles as configured, never presented as live: the master may have moved since.
      for (const h of config.hosts) topology[h.name] = h.roles[0]!;
      return {
        text: `${JSON.stringify({ configured: topology }, null, 2)}\n`,
        note: `the manager did not answer (${cctrl}): this is the CONFIGURED topology from ${config.file}, not the live one (the master may have moved)`,
        exitCode: ExitCode.unreachable,
      };
    }
    case 'dataservices':
      return { text: config.dataservices.map((d) => `${d.name.padEnd(30)}: ${d.compositeOf ? 'COMPOSITE' : 'PHYSICAL'}`).join('\n') + '\n' };
    case 'config': {
      const dataservices: Record<string, Record<string, string>> = {};
      for (const d of config.dataservices) dataservices[d.name] = section(d.entries);
      return { text: `${JSON.stringify({ file: config.file, defaults: section(config.defaults), dataservices }, null, 2)}\n` };
    }
  }
}
