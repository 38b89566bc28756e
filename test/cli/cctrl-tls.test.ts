/** cctrl against a manager serving HTTPS with a self-signed certificate: --cacert, --insecure. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeSelfSignedCert, type SelfSignedCert } from '../helpers/tls.js';
import { requireBuild, runCctrl, startTestManager, type TestManager } from '../e2e/cctrl-helpers.js';

let manager: TestManager;
let cert: SelfSignedCert;

beforeAll(async () => {
  requireBuild();
  cert = makeSelfSignedCert();
  manager = await startTestManager([], { cert: cert.cert, key: cert.key });
});
afterAll(async () => {
  await manager?.close();
});

describe('cctrl over TLS', () => {
  it('refuses an unknown certificate (exit 3) and says how to trust it', async () => {
    expect(manager.url).toMatch(/^https:/);
    const r = await runCctrl([...manager.args, '-e', 'members']);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/certificate/);
    expect(r.stderr).toContain('--cacert FILE');
    expect(r.stderr).toContain('--insecure');
  });

  it('trusts the manager with --cacert, or anything with --insecure', async () => {
    const withCa = await runCctrl([...manager.args, '--cacert', cert.certFile, '-e', 'members']);
    expect(withCa.stderr).toBe('');
    expect(withCa.code).toBe(0);
    expect(withCa.stdout).toContain('alpha/db1(ONLINE)');
    const insecure = await runCctrl([...manager.args, '--insecure', '-e', 'members']);
    expect(insecure.code).toBe(0);
  });
});
