import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseTungstenIni } from '../../src/config/tungstenIni.js';
import { scanArchive, scannable, SecretSearch, secretsOfConfig } from '../../src/diag/secretScan.js';
import { padding, TAR_END, tarHeader } from '../../src/diag/tarFormat.js';

let dir: string;
beforeEach(() => void (dir = mkdtempSync(join(tmpdir(), 'tpm-scan-'))));
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function archive(entries: Record<string, Buffer>): string {
  const parts: Buffer[] = [];
  for (const [name, data] of Object.entries(entries)) parts.push(gzipSync(Buffer.concat([tarHeader({ name, type: 'file', size: data.length, mtime: new Date() }), data, padding(data.length)])));
  parts.push(gzipSync(TAR_END));
  const path = join(dir, 'a.tgz');
  writeFileSync(path, Buffer.concat(parts));
  return path;
}

describe('the final scan of the archive for known passwords', () => {
  it('finds a password split across two chunks, wherever the cut falls', async () => {
    const secret = { value: 'pw-split-42', from: 'x' };
    const text = Buffer.from(`${'a'.repeat(5000)}pw-split-42${'b'.repeat(5000)}`);
    for (let cut = 4995; cut <= 5016; cut++) {
      const search = new SecretSearch([secret, { value: 'other-longer-secret-value', from: 'y' }]);
      for (const part of [text.subarray(0, cut - 3000), text.subarray(cut - 3000, cut), text.subarray(cut)]) search.write(part);
      await new Promise((r) => search.end(r));
      expect(search.found, `cut at ${cut}`).toBe(secret);
    }
  });

  it('finds a password deep in a large member and names the member that holds it', async () => {
    for (const at of [(1 << 20) - 600, (1 << 20) - 520, (1 << 20) - 513]) {
      const data = Buffer.concat([Buffer.alloc(at, 0x61), Buffer.from('pw-straddle-1'), Buffer.alloc(1 << 20, 0x62)]);
      const hit = await scanArchive(archive({ 'top/db1/clean.log': Buffer.alloc(100, 0x63), 'top/db1/leak.log': data }), [{ value: 'pw-straddle-1', from: 'replication-password in t.ini' }]);
      expect(hit).toEqual({ secret: { value: 'pw-straddle-1', from: 'replication-password in t.ini' }, member: 'top/db1/leak.log' });
    }
  });

  it('finds nothing in a clean archive; short values and switches are not searched for', async () => {
    const path = archive({ 'top/x.log': Buffer.from('true false abc ********\n') });
    expect(await scanArchive(path, [{ value: 'abc', from: 'x' }, { value: 'true', from: 'y' }, { value: '********', from: 'z' }])).toBeUndefined();
    expect(['abc', 'true', '@{APPLIER.REPL_DBPASSWORD}', '${PW}', 'hunter2'].map(scannable)).toEqual([false, false, false, false, true]);
  });

  it('knows every password of a tungsten.ini, defaults and dataservices', () => {
    const config = parseTungstenIni('[defaults]\nreplication-password=one-pw\nreplication-user=tungsten\n[alpha]\nmembers=db1\nconnector-password=two-pw\n', '/etc/tungsten/tungsten.ini');
    expect(secretsOfConfig(config).map((s) => `${s.value} ${s.from}`)).toEqual(['one-pw replication-password in /etc/tungsten/tungsten.ini', 'two-pw connector-password in /etc/tungsten/tungsten.ini']);
  });
});
