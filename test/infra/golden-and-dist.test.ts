/** The suite's own guards: golden files never write themselves, and a stale dist/ is noticed. */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { distIsFresh } from '../helpers/fresh-dist.js';
import { expectGolden, UPDATE_HINT } from '../helpers/golden.js';

let dir: string | undefined;
afterEach(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});
const temp = () => (dir = mkdtempSync(join(tmpdir(), 'guards-')));

describe('golden files', () => {
  it('a missing golden file fails and is not written', () => {
    const file = join(temp(), 'missing.txt');
    expect(() => expectGolden(file, 'text\n', {})).toThrow(`golden file`);
    expect(() => expectGolden(file, 'text\n', {})).toThrow(UPDATE_HINT);
    expect(() => readFileSync(file)).toThrow();
  });

  it('a different golden file fails; UPDATE_GOLDEN=1 writes it', () => {
    const file = join(temp(), 'g.txt');
    writeFileSync(file, 'old\n');
    expect(() => expectGolden(file, 'new\n', {})).toThrow(/differs from/);
    expectGolden(file, 'new\n', { UPDATE_GOLDEN: '1' });
    expect(readFileSync(file, 'utf8')).toBe('new\n');
    expectGolden(file, 'new\n', {});
  });
});

describe('dist/ freshness', () => {
  it('is stale without a stamp, fresh after one, stale again when a source changes', () => {
    const root = temp();
    mkdirSync(join(root, 'src/a'), { recursive: true });
    writeFileSync(join(root, 'src/a/x.ts'), 'export {};\n');
    const stamp = join(root, 'stamp');
    expect(distIsFresh(root, stamp)).toBe(false);
    writeFileSync(stamp, '');
    const past = new Date(Date.now() - 60_000);
    utimesSync(join(root, 'src/a/x.ts'), past, past);
    expect(distIsFresh(root, stamp)).toBe(true);
    const future = new Date(Date.now() + 60_000);
    utimesSync(join(root, 'src/a/x.ts'), future, future);
    expect(distIsFresh(root, stamp)).toBe(false);
  });
});

describe('the type check', () => {
  it("covers the benchmark's JavaScript (bench/, checked as JavaScript with its JSDoc types), beside the sources and the tests", async () => {
    const ts = (await import('typescript')).default;
    const root = join(import.meta.dirname, '../..');
    const file = join(root, 'tsconfig.json');
    const { config } = ts.readConfigFile(file, ts.sys.readFile);
    const parsed = ts.parseJsonConfigFileContent(config, ts.sys, root, undefined, file);
    expect(parsed.options.checkJs).toBe(true);
    const checked = new Set(parsed.fileNames.map((f) => f.slice(root.length + 1)));
    const benchScripts = ts.sys.readDirectory(join(root, 'bench'), ['.js', '.mjs']).map((f) => f.slice(root.length + 1));
    expect(benchScripts).toContain('bench/run.js');
    expect(benchScripts.filter((f) => !checked.has(f))).toEqual([]);
    expect(checked).toContain('src/cli/cctrl.ts');
    expect(checked).toContain('test/infra/golden-and-dist.test.ts');
  });
});
