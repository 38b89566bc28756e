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

/**
 * Imports test/helpers/<name>.ts, transpiled with every test helper it imports (`./X.js`), each
 * written as .tmp/bench-helpers/X.js so the relative imports resolve as written. The caller names
 * the module's type (`typeof import('../../test/helpers/X.js')`): the transpiled copy has none.
 * @param {string} name
 * @returns {Promise<unknown>}
 */
export async function importTestHelper(name) {
  const ts = (await import('typescript')).default;
  const src = join(ROOT, 'test/helpers');
  const out = join(ROOT, '.tmp', 'bench-helpers');
  mkdirSync(out, { recursive: true });
  /** @type {Set<string>} */
  const done = new Set();
  /** @param {string} file */
  const transpile = (file) => {
    if (done.has(file)) return;
    done.add(file);
    const { outputText } = ts.transpileModule(readFileSync(join(src, `${file}.ts`), 'utf8'), {
      compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022, esModuleInterop: true },
      fileName: `${file}.ts`,
    });
    // import.meta.dirname in a helper must still point at test/helpers; what it imports from the
    // product's sources (TypeScript) comes from the build, dist/src/ (so `npm run build` first).
    const text = outputText.replaceAll('import.meta.dirname', JSON.stringify(src)).replace(/(from\s+['"])\.\.\/\.\.\/src\//g, '$1../../dist/src/');
    writeFileSync(join(out, `${file}.js`), text);
    for (const m of outputText.matchAll(/from\s+['"]\.\/([\w-]+)\.js['"]/g)) transpile(/** @type {string} */ (m[1]));
  };
  transpile(name);
  return import(pathToFileURL(join(out, `${name}.js`)).href);
}
