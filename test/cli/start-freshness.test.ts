/** `npm start` reaches the prompt without a rebuild when nothing changed (scripts/build-if-stale.mjs). */
import { spawnSync } from 'node:child_process';
import { statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '../..');
const script = join(root, 'scripts', 'build-if-stale.mjs');
const stamp = join(root, 'dist', '.build-stamp');

describe('npm start with nothing changed', () => {
  it('does not start tsc: the build step ends at once and leaves the last build as it was', () => {
    // The first run builds if a source changed since the last start (or never built).
    expect(spawnSync(process.execPath, [script], { stdio: 'inherit' }).status).toBe(0);
    const before = statSync(stamp).mtimeMs;
    const started = Date.now();
    const again = spawnSync(process.execPath, [script], { encoding: 'utf8' });
    const took = Date.now() - started;
    expect(again.status).toBe(0);
    expect(statSync(stamp).mtimeMs).toBe(before);
    // tsc, even incremental with nothing to do, takes seconds; a freshness check, a fraction of one.
    expect(took).toBeLessThan(2_000);
  }, 120_000);
});
