import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { parseIniSections } from '../../src/config/tungstenIni.js';
import { titleOrSkipReason } from '../helpers/processes.js';

/**
 * The lexical half of tpm's INI reading, live: Ruby's IniParse (the library tpm bundles; Debian's
 * ruby-iniparse parses the same way) against our parser, on the corpus and on tricky lines. The
 * half that turns sections into tpm configure arguments is checked against what tpm's own code
 * produced (tungstenIni.test.ts, fixtures/tpm/ini-corpus/tpm-arguments.json).
 */
const dump = fileURLToPath(new URL('./iniparse-dump.rb', import.meta.url));
const corpus = fileURLToPath(new URL('../../fixtures/tpm/ini-corpus', import.meta.url));
const probe = spawnSync('ruby', ['-riniparse', '-e', 'exit 0']);
const missing = probe.error ? 'ruby is not installed (ruby)' : probe.status !== 0 ? "Ruby's IniParse is not installed (ruby-iniparse)" : null;

const tricky: Record<string, string> = {
  'comments.ini': '; a\n# b\n  ; indented\n[alpha] ; c\nmembers=db1 ;x\nmaster=db1#not a comment\nx=a\t#tab\ny= spaced value  \n',
  'repeats.ini': '[a]\nk=1\nj=2\nk=3\n[b]\nk=4\n[a]\nk=5\nz=6\n',
  'keys.ini': '[s]\n  Key_With_Under = v\nbare key\n--dashed=1\nk+=2\nk-=3\nempty=\n',
  'values.ini': '[s]\nq="quoted ; value"\neq=a=b=c\nbs=value \\\nbs2=value\\\nsp=  lead\n',
  'crlf.ini': '[s]\r\nk=v\r\n',
};

describe.skipIf(missing !== null && process.env.CI !== 'true')(titleOrSkipReason("tungsten.ini read as Ruby's IniParse reads it (tpm's INI library)", missing), () => {
  const dir = mkdtempSync(join(tmpdir(), 'tpm-iniparse-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('every corpus file and every tricky line gives the same sections, keys and values', () => {
    const files = readdirSync(corpus).filter((f) => f.endsWith('.ini')).map((f) => join(corpus, f));
    for (const [name, text] of Object.entries(tricky)) {
      writeFileSync(join(dir, name), text);
      files.push(join(dir, name));
    }
    const r = spawnSync('ruby', [dump, ...files], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    const theirs = JSON.parse(r.stdout) as Record<string, Array<{ name: string; options: Array<[string, string]> }>>;
    const mismatched: string[] = [];
    for (const file of files) {
      const name = file.split('/').at(-1)!;
      const ours = parseIniSections(readFileSync(file, 'utf8'), name).map((s) => ({ name: s.name, options: s.entries.map((e) => [e.key, e.value]) }));
      // tpm then writes `_` as `-` and drops a trailing " \" (as our parser already has).
      const expected = theirs[name]!.map((s) => ({ name: s.name.replace(/\r$/, ''), options: s.options.map(([k, v]) => [k.replace(/^--/, '').replace(/_/g, '-'), v.endsWith(' \\') ? v.slice(0, -2) : v]) }));
      if (JSON.stringify(ours) !== JSON.stringify(expected)) mismatched.push(`${name}: ours ${JSON.stringify(ours)} IniParse ${JSON.stringify(expected)}`);
    }
    console.log(`IniParse: ${files.length - mismatched.length} of ${files.length} files read the same`);
    expect(mismatched).toEqual([]);
  });
});
