/**
 * The client is on `cctrl -e ls`'s start-up path: its import graph must stay small (node built-ins
 * only), and nothing under src/api or src/manager may pull in Ink or React.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const SRC = resolve(import.meta.dirname, '../../src');

/** Runtime imports of a module (type-only imports are erased and do not count). */
function runtimeImports(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const found: string[] = [];
  const re = /^\s*(?:import|export)\s+(?!type\b)(?:[^'"]*?\sfrom\s+)?['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/gm;
  for (const m of text.matchAll(re)) found.push((m[1] ?? m[2])!);
  return found;
}

function staticGraph(entry: string): { files: Set<string>; packages: Set<string> } {
  const files = new Set<string>();
  const packages = new Set<string>();
  const visit = (file: string) => {
    if (files.has(file)) return;
    files.add(file);
    const text = readFileSync(file, 'utf8');
    for (const spec of runtimeImports(file)) {
      // dynamic import() is loaded on demand, not at start-up
      if (text.includes(`import('${spec}')`)) continue;
      if (spec.startsWith('.')) visit(resolve(dirname(file), spec.replace(/\.js$/, '.ts')));
      else packages.add(spec);
    }
  };
  visit(entry);
  return { files, packages };
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sourceFiles(join(dir, e.name)) : /\.tsx?$/.test(e.name) ? [join(dir, e.name)] : [],
  );
}

describe('import graph', () => {
  it('sees the packages a module imports (the scanner works)', () => {
    expect(staticGraph(join(SRC, 'manager/properties.ts')).packages).toContain('zod');
  });

  it('the API client loads node built-ins only', () => {
    const { packages } = staticGraph(join(SRC, 'api/index.ts'));
    expect([...packages].filter((p) => !p.startsWith('node:'))).toEqual([]);
  });

  it('nothing in src/api or src/manager imports Ink or React', () => {
    const offenders = [...sourceFiles(join(SRC, 'api')), ...sourceFiles(join(SRC, 'manager'))].filter((f) =>
      runtimeImports(f).some((s) => /^(ink|react)(\/|$)|^ink-/.test(s)),
    );
    expect(offenders).toEqual([]);
  });
});
