import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { padding, TAR_END, tarHeader } from '../../src/diag/tarFormat.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'tpm-tar-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const mtime = new Date('2026-01-02T03:04:05Z');

function entry(name: string, data: Buffer): Buffer {
  return Buffer.concat([tarHeader({ name, type: 'file', size: data.length, mtime }), data, padding(data.length)]);
}

describe('tar entries as separate gzip members', () => {
  it('the system tar and gzip read the concatenation whole, long names included', () => {
    const long = `top/db1/conf/${'deep/'.repeat(30)}static-alpha.properties`;
    const unsplittable = `top/${'x'.repeat(120)}.log`;
    const members = [
      gzipSync(tarHeader({ name: 'top', type: 'directory', size: 0, mtime })),
      gzipSync(entry('top/a.txt', Buffer.from('hello\n'))),
      gzipSync(entry(long, Buffer.from('a=1\n'))),
      gzipSync(entry(unsplittable, Buffer.alloc(513, 0x41))),
      gzipSync(TAR_END),
    ];
    const file = join(dir, 'x.tgz');
    writeFileSync(file, Buffer.concat(members));
    expect(spawnSync('gzip', ['-t', file]).status).toBe(0);
    const list = spawnSync('tar', ['-tvzf', file], { encoding: 'utf8' });
    expect(list.status, list.stderr).toBe(0);
    expect(list.stdout.trim().split('\n').map((l) => l.split(/\s+/).at(-1))).toEqual(['top/', 'top/a.txt', long, unsplittable]);
    expect(spawnSync('tar', ['-xzf', file, '-C', dir]).status).toBe(0);
    expect(readFileSync(join(dir, long), 'utf8')).toBe('a=1\n');
    expect(readFileSync(join(dir, unsplittable)).equals(Buffer.alloc(513, 0x41))).toBe(true);
  });
});
