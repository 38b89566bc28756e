/**
 * tpm's own Ruby, for tests that run it against our output. Nothing of it is kept in this repo: the
 * files are read at test time from a checkout or git directory of tpm's sources (Apache-2.0, the
 * public tungsten-replicator tree, tpm's Ruby under builder/extra/tools/ruby-tpm), named by
 * TPM_RUBY_SOURCE, else looked for where the workplace keeps fetched repositories.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { commandExists } from './processes.js';

const TPM_RUBY = 'builder/extra/tools/ruby-tpm';
const DEFAULT_SOURCES = ['/work/.mirror/henricavalcante+tungsten-replicator/repo'];
export const READ_CCTRL_RB = resolve(import.meta.dirname, '../../fixtures/tpm/read-cctrl.rb');

/** Why tpm's Ruby cannot be run here, or null. */
export function tpmRubyMissing(): string | null {
  if (!commandExists('ruby')) return 'ruby is not installed (Debian package ruby)';
  if (sourceDir() === null) return "tpm's Ruby sources are not here (set TPM_RUBY_SOURCE to a checkout or git directory of tungsten-replicator)";
  return null;
}

function sourceDir(): string | null {
  for (const dir of [process.env['TPM_RUBY_SOURCE'], ...DEFAULT_SOURCES]) if (dir && existsSync(dir)) return dir;
  return null;
}

/** A temporary directory holding the named files of tpm's Ruby (paths under ruby-tpm/). */
export function extractTpmRuby(files: string[]): string {
  const from = sourceDir();
  if (from === null) throw new Error(tpmRubyMissing() ?? 'no tpm sources');
  const dir = mkdtempSync(join(tmpdir(), 'tpm-ruby-'));
  for (const file of files) {
    const path = `${TPM_RUBY}/${file}`;
    const text = existsSync(join(from, path))
      ? readFileSync(join(from, path), 'utf8')
      : execFileSync('git', ['--git-dir', existsSync(join(from, '.git')) ? join(from, '.git') : from, 'show', `HEAD:${path}`], { encoding: 'utf8' });
    writeFileSync(join(dir, file.split('/').at(-1)!), text);
  }
  // properties.rb starts with `require 'system_require'` (tpm's loader); read-cctrl.rb defines it.
  writeFileSync(join(dir, 'system_require.rb'), '');
  return dir;
}
