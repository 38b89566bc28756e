import { execFileSync, spawn } from 'node:child_process';
import { appendFileSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FrameReader, LISTING_SECTION, parseListing, parseProbe, probeScript, streamScript, type FrameHeader, type FrameTrailer } from '../../src/diag/remote.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'tpm-remote-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

interface Frame {
  header: FrameHeader;
  data: Buffer;
  trailer?: FrameTrailer;
}

async function readFrames(output: Buffer | NodeJS.ReadableStream): Promise<Frame[]> {
  const frames: Frame[] = [];
  const reader = new FrameReader({
    open: (_i, header) => void frames.push({ header, data: Buffer.alloc(0) }),
    data: (_i, chunk) => void (frames.at(-1)!.data = Buffer.concat([frames.at(-1)!.data, chunk])),
    close: (_i, trailer) => void (frames.at(-1)!.trailer = trailer),
  });
  if (Buffer.isBuffer(output)) reader.end(output);
  else output.pipe(reader);
  await new Promise((resolve, reject) => reader.on('finish', resolve).on('error', reject));
  return frames;
}

describe('the probe script (sh)', () => {
  it('prints every OS fact and the listing as sections, with exit codes and stderr', () => {
    const install = join(dir, 'inst');
    mkdirSync(join(install, 'service_logs'), { recursive: true });
    mkdirSync(join(install, 'conf'));
    writeFileSync(join(install, 'service_logs', 'trepsvc.log'), 'x'.repeat(1000));
    writeFileSync(join(install, 'conf', 'static-alpha.properties'), 'a=1\n');
    symlinkSync('/nonexistent/connector.log', join(install, 'service_logs', 'connector.log'));
    const probe = probeScript(install);
    const sections = parseProbe(execFileSync('sh', ['-c', probe.script]), probe.boundary);
    expect(sections.map((s) => s.name)).toEqual(['os_info/uname.txt', 'os_info/uptime.txt', 'os_info/df.txt', 'os_info/free.txt', 'os_info/etc_hosts.txt', LISTING_SECTION]);
    expect(sections[0]!.data.toString()).toBe(execFileSync('uname', ['-a']).toString());
    const listing = parseListing(sections.at(-1)!.data.toString(), install);
    expect(listing.root).toBe(install);
    expect(listing.listed).toEqual(
      expect.arrayContaining([
        { kind: 'log', path: 'service_logs/trepsvc.log', source: join(install, 'service_logs', 'trepsvc.log'), size: 1000 },
        { kind: 'conf', path: 'conf/static-alpha.properties', source: join(install, 'conf', 'static-alpha.properties'), size: 4 },
      ]),
    );
    expect(listing.skipped).toContainEqual({ path: 'service_logs/connector.log', reason: 'dangling symlink to /nonexistent/connector.log (that component is not installed on this host)' });
  });

  it('says so when the installation directory is missing', () => {
    const probe = probeScript(join(dir, 'none'));
    const listing = parseProbe(execFileSync('sh', ['-c', probe.script]), probe.boundary).find((s) => s.name === LISTING_SECTION)!;
    expect(parseListing(listing.data.toString(), join(dir, 'none')).missing).toEqual([{ path: join(dir, 'none'), reason: `no installation directory ${join(dir, 'none')}` }]);
  });

  it('keeps a failing command in its section with its exit code and last stderr line', () => {
    const sections = parseProbe(Buffer.from('--B a\nout\n\n--B. 0 \n--B b\n\n--B. 2 free: not found\n'), 'B');
    expect(sections).toEqual([
      { name: 'a', data: Buffer.from('out\n'), code: 0, error: '' },
      { name: 'b', data: Buffer.alloc(0), code: 2, error: 'free: not found' },
    ]);
  });
});

describe('the file stream script (sh)', () => {
  it('sends whole files, the last bytes of long ones, and says which cannot be opened', async () => {
    const log = join(dir, 'trepsvc.log');
    writeFileSync(log, Buffer.from(Array.from({ length: 20_000 }, (_, i) => `line ${i}\n`).join('')));
    const conf = join(dir, 'it\'s a conf');
    writeFileSync(conf, 'password=x\n');
    const empty = join(dir, 'empty.log');
    writeFileSync(empty, '');
    const script = streamScript([
      { source: log, tailBytes: 1000 },
      { source: join(dir, 'missing.log'), tailBytes: 0 },
      { source: conf, tailBytes: 0 },
      { source: empty, tailBytes: 10 },
      { source: log, tailBytes: 0 },
    ]);
    const frames = await readFrames(execFileSync('sh', ['-c', script]));
    const whole = execFileSync('cat', [log]);
    expect(frames[0]).toEqual({ header: { ok: true, sourceBytes: whole.length, bytes: 1000 }, data: whole.subarray(whole.length - 1000), trailer: { code: 0, copied: 1000, error: '' } });
    expect(frames[1]!.header).toEqual({ ok: false, error: expect.stringMatching(/missing\.log.*(No such file|nonexistent)/i) });
    expect(frames[2]!.data.toString()).toBe('password=x\n');
    expect(frames[3]).toEqual({ header: { ok: true, sourceBytes: 0, bytes: 0 }, data: Buffer.alloc(0), trailer: { code: 0, copied: 0, error: '' } });
    expect(frames[4]!.data.equals(whole)).toBe(true);
    expect(frames).toHaveLength(5);
  });

  it('a log that grows while it is sent keeps the framing: the size at its turn is what is sent', async () => {
    const log = join(dir, 'growing.log');
    writeFileSync(log, Buffer.alloc(8 << 20, 0x61));
    const child = spawn('sh', ['-c', streamScript([{ source: log, tailBytes: 0 }, { source: log, tailBytes: 4096 }])], { stdio: ['ignore', 'pipe', 'inherit'] });
    let grown = 0;
    child.stdout.once('data', () => {
      for (; grown < 64; grown++) appendFileSync(log, Buffer.alloc(64 << 10, 0x62));
    });
    const frames = await readFrames(child.stdout);
    expect(frames[0]!.header).toEqual({ ok: true, sourceBytes: 8 << 20, bytes: 8 << 20 });
    expect(frames[0]!.data.length).toBe(8 << 20);
    expect(frames[0]!.trailer).toMatchObject({ code: 0, copied: 8 << 20 });
    expect(frames[1]!.header).toMatchObject({ ok: true, bytes: 4096 });
    expect(frames[1]!.data.equals(Buffer.alloc(4096, 0x62))).toBe(true);
  });

  it('a fractional --log-size keeps whole bytes from the end, never the whole file', async () => {
    const log = join(dir, 'trepsvc.log');
    writeFileSync(log, Buffer.alloc(10_000, 0x61));
    const frames = await readFrames(execFileSync('sh', ['-c', streamScript([{ source: log, tailBytes: 0.3 * 1024 }])]));
    expect(frames[0]!.header).toEqual({ ok: true, sourceBytes: 10_000, bytes: 307 });
  });

  it('rejects a garbled stream with a clear error', async () => {
    await expect(readFrames(Buffer.from('hello\n'))).rejects.toThrow(/garbled: "hello"/);
  });
});
