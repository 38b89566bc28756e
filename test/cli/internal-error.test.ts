/**
 * A bug is said as one, by every program the same way: "internal error (a bug in PROGRAM, not a
 * refusal)", the stack in a file whose path is printed, a request to report it, exit 70. A refusal
 * stays a refusal (exit 1).
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { cctrlCommands } from '../../commands/cctrl/index.js';
import { ExitCode, ToolkitError } from '../../src/errors.js';
import { asToolkitError, reportFailure } from '../../src/failure.js';
import { jsonDocument } from '../../src/format/render.js';
import { Shell } from '../../src/shell/session.js';
import { runCommand } from '../helpers/tpmBin.js';
import { startVirtualManager } from '../helpers/virtual-manager.js';

const crashes = mkdtempSync(join(tmpdir(), 'crash-'));
afterAll(() => rmSync(crashes, { recursive: true, force: true }));
const bin = (name: string) => fileURLToPath(new URL(`../../dist/src/cli/${name}.js`, import.meta.url));

function crashFileNamed(stderr: string): string {
  const m = /the details are in (\S+);/.exec(stderr);
  expect(m, stderr).not.toBeNull();
  return m![1]!;
}

describe('the shared failure path', () => {
  it('passes a ToolkitError through and prints its message and hint', () => {
    const out: string[] = [];
    const refusal = new ToolkitError('refused', 'no eligible slave', 'check ls');
    expect(asToolkitError('tpm', refusal)).toBe(refusal);
    expect(reportFailure('tpm', refusal, { write: (t: string) => out.push(t) })).toBe(ExitCode.failed);
    expect(out.join('')).toBe('tpm: no eligible slave\n  check ls\n');
  });

  it('turns anything else into an internal error with the stack (and its cause) in a file', () => {
    const bug = new TypeError('x is undefined', { cause: new Error('the root') });
    const e = asToolkitError('tungsten-manager', bug, { env: { TUNGSTEN_CRASH_DIR: crashes } });
    expect(e.kind).toBe('internal');
    expect(e.exitCode).toBe(ExitCode.internal);
    expect(e.exitCode).toBe(70);
    expect(e.message).toBe('internal error (a bug in tungsten-manager, not a refusal): x is undefined');
    expect(e.hint).toMatch(/please report the bug with that file$/);
    const file = crashFileNamed(`${e.hint}`);
    const text = readFileSync(file, 'utf8');
    expect(text).toContain('TypeError: x is undefined');
    expect(text).toContain('internal-error.test.ts');
    expect(text).toContain('caused by:\nError: the root');
  });
});

describe('each program', () => {
  for (const [program, file, args] of [
    ['cctrl', 'cctrl', ['-e', 'ls']],
    ['tpm', 'tpm', ['query', 'version']],
    ['tungsten-manager', 'manager', ['--demo', '--port', '0']],
    ['tungsten-connector', 'connector', ['--manager', 'http://127.0.0.1:9', '--service', 'alpha', '--listen', '127.0.0.1:0']],
  ] as const) {
    it(`${program}: a bug exits 70, says so, and leaves the stack in the file it names`, async () => {
      const r = await runCommand(process.execPath, [bin(file), ...args], { env: { TUNGSTEN_SIMULATE_BUG: program, TUNGSTEN_CRASH_DIR: crashes }, timeoutMs: 15_000 });
      expect(r.code, r.stderr).toBe(70);
      expect(r.stderr).toContain(`${program}: internal error (a bug in ${program}, not a refusal): simulated bug`);
      expect(r.stderr).toContain('please report the bug with that file');
      expect(r.stderr).not.toMatch(/^\s+at /m);
      const crash = crashFileNamed(r.stderr);
      expect(crash.startsWith(crashes)).toBe(true);
      expect(readFileSync(crash, 'utf8')).toMatch(/TypeError: simulated bug[^\n]*\n\s+at /);
    });
  }
});

describe('cctrl: a bug in a command against a refusal', () => {
  async function shell(options: { confirm?: boolean; serviceStatus?: () => Promise<never> } = {}) {
    const { api } = await startVirtualManager();
    // A bug no manager answer produces: the client's read itself throwing, put in its place.
    if (options.serviceStatus) api.serviceStatus = options.serviceStatus;
    return new Shell({ api, commands: cctrlCommands, state: { service: 'alpha', expert: false, multi: false }, timeoutMs: 1000, confirm: async () => options.confirm ?? false, refusalHint: '' });
  }

  it('an unexpected exception is an internal error (exit 70, kind internal in --json), not "refused"', async () => {
    const before = new Set(readdirSync(tmpdir()));
    const previous = process.env['TUNGSTEN_CRASH_DIR'];
    process.env['TUNGSTEN_CRASH_DIR'] = crashes;
    try {
      const outcome = await (
        await shell({
          serviceStatus: async () => {
            throw new TypeError("Cannot read properties of undefined (reading 'role')");
          },
        })
      ).run({ text: 'ls', words: ['ls'] });
      expect(outcome.exitCode).toBe(70);
      expect(outcome.error?.kind).toBe('internal');
      expect(outcome.error?.message).toMatch(/^internal error \(a bug in cctrl, not a refusal\): Cannot read properties/);
      expect(JSON.parse(jsonDocument(outcome)).error.kind).toBe('internal');
      expect(readFileSync(crashFileNamed(outcome.error!.hint!), 'utf8')).toContain('TypeError: Cannot read properties');
    } finally {
      if (previous === undefined) delete process.env['TUNGSTEN_CRASH_DIR'];
      else process.env['TUNGSTEN_CRASH_DIR'] = previous;
    }
    expect([...readdirSync(tmpdir())].filter((f) => !before.has(f) && f.startsWith('cctrl-internal-error'))).toEqual([]);
  });

  it('a refusal stays a refusal: exit 1, kind refused, no file', async () => {
    const files = readdirSync(crashes).length;
    // The manager refuses a failover while its master is ONLINE.
    const outcome = await (await shell({ confirm: true })).run({ text: 'failover', words: ['failover'] });
    expect(outcome.exitCode).toBe(1);
    expect(outcome.error).toMatchObject({ kind: 'refused', message: "cannot fail over: the master 'db1@alpha' is ONLINE, not FAILED" });
    expect(readdirSync(crashes).length).toBe(files);
  });
});
