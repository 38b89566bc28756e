/**
 * Golden files: a test compares its output with a file under fixtures/. A missing or different file
 * fails; only `npm run golden:update` (UPDATE_GOLDEN=1) writes them, to be reviewed in the diff.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { relative } from 'node:path';
import { expect } from 'vitest';

export const UPDATE_HINT = 'run `npm run golden:update` and review the diff';

export function expectGolden(file: string, text: string, env: NodeJS.ProcessEnv = process.env): void {
  if (env['UPDATE_GOLDEN'] === '1') {
    writeFileSync(file, text);
    return;
  }
  const name = relative(process.cwd(), file);
  if (!existsSync(file)) throw new Error(`golden file ${name} is missing: ${UPDATE_HINT}`);
  expect(text, `differs from ${name} (if the change is intended, ${UPDATE_HINT})`).toBe(readFileSync(file, 'utf8'));
}
