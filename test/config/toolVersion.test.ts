/** One version source: package.json, read by toolVersion(), is what every program and the manager's API say. */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { toolVersion } from '../../src/config/toolVersion.js';
import { createDemoManager } from '../../src/manager/index.js';
import { runCommand } from '../helpers/tpmBin.js';

const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
const bin = (name: string) => new URL(`../../dist/src/cli/${name}.js`, import.meta.url).pathname;

describe('the version', () => {
  it('is package.json\'s, for toolVersion(), cctrl --version, tpm --version and the manager\'s status', async () => {
    expect(toolVersion()).toBe(pkg.version);
    for (const name of ['cctrl', 'tpm']) {
      const r = await runCommand(process.execPath, [bin(name), '--version']);
      expect(r.stdout.trim(), name).toBe(pkg.version);
    }
    const manager = await createDemoManager();
    try {
      expect(manager.info().version).toBe(pkg.version);
    } finally {
      await manager.close();
    }
  });
});
