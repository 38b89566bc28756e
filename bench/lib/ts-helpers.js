/**
 * The benchmark reuses the system-test helpers (test/helpers/*.ts: the sshd fleet, the MariaDB
 * servers) instead of copies. They are TypeScript outside the build, so they are transpiled here
 * (types dropped, nothing checked) into .tmp/ inside the repository, where their package imports
 * still resolve from node_modules.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ROOT } from './proc.js';

export async function importTestHelper(name) {
  const ts = (await import('typescript')).default;
  const source = readFileSync(join(ROOT, 'test/helpers', `${name}.ts`), 'utf8');
  const { outputText } = ts.transpileModule(source, {
    compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022, esModuleInterop: true },
    fileName: `${name}.ts`,
  });
  const dir = join(ROOT, '.tmp', 'bench-helpers');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${name}.mjs`);
  // import.meta.dirname in a helper must still point at test/helpers.
  writeFileSync(file, outputText.replaceAll('import.meta.dirname', JSON.stringify(join(ROOT, 'test/helpers'))));
  return import(pathToFileURL(file).href);
}
