/**
 * Continuent's monitoring scripts and the tpm Ruby they use, for tests that run them unchanged
 * against our manager. Nothing of them is kept in this repo: the files are read at test time from
 * checkouts or git directories of their public sources (Apache-2.0): tungsten-replicator (tpm's
 * cluster-home Ruby), continuent-monitors-nagios and continuent-tools-core, named by
 * TPM_RUBY_SOURCE, CONTINUENT_NAGIOS_SOURCE and CONTINUENT_TOOLS_SOURCE, else looked for where the
 * workplace keeps fetched repositories.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { commandExists } from './processes.js';

export const RUN_CONTINUENT_SCRIPT_RB = resolve(import.meta.dirname, '../../fixtures/tpm/run-continuent-script.rb');

const SOURCES = {
  tpm: { env: 'TPM_RUBY_SOURCE', fallback: '/work/.mirror/henricavalcante+tungsten-replicator/repo' },
  nagios: { env: 'CONTINUENT_NAGIOS_SOURCE', fallback: '/work/.mirror/continuent+continuent-monitors-nagios/repo' },
  tools: { env: 'CONTINUENT_TOOLS_SOURCE', fallback: '/work/.mirror/continuent+continuent-tools-core/repo' },
} as const;
type Source = keyof typeof SOURCES;

function sourceDir(source: Source): string | null {
  const { env, fallback } = SOURCES[source];
  for (const dir of [process.env[env], fallback]) if (dir && existsSync(dir)) return dir;
  return null;
}

/** Why the scripts cannot be run here, or null. */
export function continuentScriptsMissing(): string | null {
  if (!commandExists('ruby')) return 'ruby is not installed (Debian package ruby)';
  const absent = (Object.keys(SOURCES) as Source[]).filter((s) => sourceDir(s) === null);
  if (absent.length > 0) return `Continuent's sources are not here (set ${absent.map((s) => SOURCES[s].env).join(', ')})`;
  return null;
}

function read(source: Source, path: string): string {
  const from = sourceDir(source)!;
  if (existsSync(join(from, path))) return readFileSync(join(from, path), 'utf8');
  const gitDir = existsSync(join(from, '.git')) ? join(from, '.git') : from;
  return execFileSync('git', ['--git-dir', gitDir, 'show', `HEAD:${path}`], { encoding: 'utf8' });
}

/** A temporary directory with the scripts and the Ruby they load, as run-continuent-script.rb expects. */
export function extractContinuentScripts(): string {
  const dir = mkdtempSync(join(tmpdir(), 'continuent-ruby-'));
  const lib = 'builder/extra/cluster-home/lib/ruby/tungsten';
  for (const file of ['api.rb', 'properties.rb', 'status.rb']) writeFileSync(join(dir, file), read('tpm', `${lib}/${file}`));
  for (const check of ['tungsten_nagios_online', 'tungsten_nagios_latency', 'tungsten_nagios_policy']) writeFileSync(join(dir, check), read('nagios', `bin/${check}`));
  writeFileSync(join(dir, 'tungsten_policy'), read('tools', 'bin/tungsten_policy'));
  // What the scripts require by name; run-continuent-script.rb has defined it all before.
  for (const feature of ['continuent-tools-core', 'continuent-tools-nagios-monitor']) writeFileSync(join(dir, `${feature}.rb`), '');
  return dir;
}
