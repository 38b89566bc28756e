/**
 * test/helpers/manager-group.ts for the benchmark. Unlike the other test helpers it imports from
 * the product's sources (`../../src/.../etcd-client.js`, TypeScript there), which importTestHelper
 * cannot resolve from .tmp/: here it is transpiled the same way with those imports pointed at the
 * build (dist/src/...), so `npm run build` must have run. Its sibling helpers come from
 * importTestHelper.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ROOT } from './proc.js';
import { importTestHelper } from './ts-helpers.js';

export async function importManagerGroupHelper() {
  const ts = (await import('typescript')).default;
  const src = join(ROOT, 'test/helpers');
  const out = join(ROOT, '.tmp', 'bench-helpers');
  const { outputText } = ts.transpileModule(readFileSync(join(src, 'manager-group.ts'), 'utf8'), {
    compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022, esModuleInterop: true },
    fileName: 'manager-group.ts',
  });
  // The sibling helpers it imports, written to .tmp/bench-helpers/ beside it.
  for (const m of outputText.matchAll(/from\s+['"]\.\/([\w-]+)\.js['"]/g)) await importTestHelper(m[1]);
  const text = outputText
    .replaceAll('import.meta.dirname', JSON.stringify(src))
    .replace(/(from\s+['"])\.\.\/\.\.\/src\//g, '$1../../dist/src/');
  const file = join(out, 'manager-group.bench.js');
  writeFileSync(file, text);
  return import(pathToFileURL(file).href);
}
