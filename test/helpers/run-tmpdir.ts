/**
 * vitest globalSetup: the run's own temporary directory. TMPDIR names it before any worker starts,
 * so every test (os.tmpdir() reads TMPDIR) and every process a test starts with the environment it
 * inherits make their temporary files there: two runs at once never share one, and what a test
 * leaves behind (a server's directory after a failure, a home for a subprocess) goes with the run
 * instead of piling up in /tmp. At the end, the entries left are named by prefix on stderr, so a
 * test that forgets to clean up is seen, and the directory is removed.
 */
import { chmodSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Set when a run sets up its own directory; a nested run (a test running vitest) reuses its parent's. */
const MARK = 'TUNGSTEN_TEST_TMPDIR';

export default function setup(): (() => void) | undefined {
  if (process.env[MARK]) return undefined;
  const root = mkdtempSync(join(tmpdir(), 'tungsten-tests-'));
  // As /tmp is: a server that drops privileges still makes its files here.
  chmodSync(root, 0o1777);
  process.env['TMPDIR'] = root;
  process.env[MARK] = root;
  return () => {
    const left = leftovers(root);
    if (left.length > 0) process.stderr.write(`temporary entries tests left behind (removed with the run's directory): ${left.join(', ')}\n`);
    rmSync(root, { recursive: true, force: true, maxRetries: 3 });
  };
}

/** `prefix ×count`, most first (then by name): mkdtemp names end in six random characters. */
export function leftovers(root: string): string[] {
  const counts = new Map<string, number>();
  for (const name of readdirSync(root)) {
    const prefix = name.replace(/[-_.]?[A-Za-z0-9]{6}$/, '');
    counts.set(prefix, (counts.get(prefix) ?? 0) + 1);
  }
  return [...counts].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0])).map(([prefix, n]) => `${prefix} ×${n}`);
}
