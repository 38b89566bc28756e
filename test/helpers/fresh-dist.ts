/**
 * vitest globalSetup: the subprocess and system tests run dist/, so dist/ must be the build of the
 * sources on disk. When any source is newer than the last check, this runs the incremental build
 * (nothing to emit takes ~2 s; a stale dist/ is rebuilt) and fails the run with the compiler's
 * errors when it does not build. Nothing is checked while sources stay untouched (a few ms).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

const ROOT = resolve(import.meta.dirname, '../..');
/** Written after a build that matched the sources; its mtime is the time of that check. */
export const STAMP = join(ROOT, 'dist/.sources-built');

function newestMtime(path: string): number {
  const st = statSync(path);
  if (!st.isDirectory()) return /\.(ts|tsx|json)$/.test(path) ? st.mtimeMs : 0;
  let newest = 0;
  for (const entry of readdirSync(path)) newest = Math.max(newest, newestMtime(join(path, entry)));
  return newest;
}

/** The newest mtime of what the build reads. */
export function newestSource(root = ROOT): number {
  return Math.max(...['src', 'commands', 'tsconfig.json', 'tsconfig.build.json', 'package.json'].map((p) => (existsSync(join(root, p)) ? newestMtime(join(root, p)) : 0)));
}

export function distIsFresh(root = ROOT, stamp = STAMP): boolean {
  return existsSync(stamp) && statSync(stamp).mtimeMs >= newestSource(root);
}

export default function setup(): void {
  if (distIsFresh()) return;
  const started = Date.now();
  try {
    execFileSync(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', join(ROOT, 'tsconfig.build.json')], { cwd: ROOT, stdio: 'pipe' });
  } catch (e) {
    const out = (e as { stdout?: Buffer }).stdout?.toString() ?? String(e);
    throw new Error(`dist/ is older than the sources and they do not build, so the subprocess tests would run old code. Fix the errors and rerun:\n${out}`);
  }
  writeFileSync(STAMP, `${new Date().toISOString()} (${Date.now() - started} ms)\n`);
}
