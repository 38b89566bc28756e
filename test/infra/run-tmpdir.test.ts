import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { leftovers } from '../helpers/run-tmpdir.js';

describe("the run's own temporary directory", () => {
  it('is what os.tmpdir() gives every test and every process it starts', () => {
    const root = process.env['TUNGSTEN_TEST_TMPDIR'];
    expect(root).toMatch(/tungsten-tests-/);
    expect(tmpdir()).toBe(root);
  });

  it('names what tests left behind by prefix, most first', () => {
    const dir = mkdtempSync(join(tmpdir(), 'leftovers-'));
    try {
      for (const name of ['cctrl-home-a1B2c3', 'cctrl-home-Z9y8X7', 'tls-qwErty', 'series.txt']) mkdirSync(join(dir, name));
      writeFileSync(join(dir, 'props-000001'), '');
      expect(leftovers(dir)).toEqual(['cctrl-home ×2', 'props ×1', 'series.txt ×1', 'tls ×1']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
