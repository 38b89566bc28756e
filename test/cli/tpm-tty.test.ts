import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stripVTControlCharacters } from 'node:util';
import { spawn } from 'node-pty';
import { afterAll, describe, expect, it } from 'vitest';
import { buildInstallTree } from '../helpers/fleet.js';
import { TPM_BIN } from '../helpers/tpmBin.js';

const work = mkdtempSync(join(tmpdir(), 'tpm-tty-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('tpm diag on a terminal', () => {
  it('draws the Ink view with a line per host, then prints where the archive is', async () => {
    buildInstallTree(join(work, 'install'), join(work, 'install'));
    const ini = join(work, 'tungsten.ini');
    writeFileSync(ini, `[defaults]\ninstall-directory=${join(work, 'install')}\n\n[alpha]\nmembers=thishost\n`);
    const pty = spawn(process.execPath, [TPM_BIN, 'diag', '--ini', ini, '--path', join(work, 'out')], { cols: 100, rows: 30, cwd: work, env: { ...process.env, CI: 'false' } as Record<string, string> });
    let output = '';
    pty.onData((d) => (output += d));
    const code = await new Promise<number>((resolve) => pty.onExit((e) => resolve(e.exitCode)));
    const plain = stripVTControlCharacters(output);
    expect(code).toBe(0);
    expect(plain).toMatch(/\S+\s+ok\s+\d+ files\s+[\d.]+ MiB\s+[\d.]+ s/);
    expect(plain).not.toMatch(/: connecting\r?\n/);
    expect(plain).toMatch(/Diagnostic information written to /);
  });
});
