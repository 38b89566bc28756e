#!/usr/bin/env node
/**
 * `npm start`'s build step: runs the TypeScript build only when a source is newer than the last
 * successful build (dist/.build-stamp), so a start with nothing changed reaches the prompt without
 * starting tsc (which takes seconds even when incremental has nothing to do).
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const stamp = join(root, 'dist', '.build-stamp');

function newest(path) {
  let st;
  try {
    st = statSync(path);
  } catch {
    return 0;
  }
  if (!st.isDirectory()) return st.mtimeMs;
  let latest = st.mtimeMs;
  for (const name of readdirSync(path)) latest = Math.max(latest, newest(join(path, name)));
  return latest;
}

const built = newest(stamp);
const sources = Math.max(...['src', 'commands', 'tsconfig.json', 'tsconfig.build.json', 'package.json', 'package-lock.json'].map((p) => newest(join(root, p))));
if (built === 0 || sources >= built) {
  const tsc = spawnSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(root, 'tsconfig.build.json')], { stdio: 'inherit' });
  if (tsc.status !== 0) process.exit(tsc.status ?? 1);
  writeFileSync(stamp, `${new Date().toISOString()}\n`);
}
