/**
 * The few tar records diag writes (files and directories), encoded by hand so that an entry can be
 * compressed as its own gzip member: ustar headers, a pax header for names or sizes ustar cannot
 * hold, padding to 512 bytes and the end-of-archive blocks.
 */
export const BLOCK = 512;
/** Two zero blocks end a tar archive. */
export const TAR_END = Buffer.alloc(2 * BLOCK);

const USTAR_MAX_SIZE = 0o77777777777;

export interface TarEntry {
  name: string;
  type: 'file' | 'directory';
  size: number;
  mtime: Date;
  mode?: number;
}

function octal(value: number, width: number): string {
  return value.toString(8).padStart(width - 1, '0') + '\0';
}

function splitUstarName(name: string): { name: string; prefix: string } | undefined {
  if (Buffer.byteLength(name) <= 100) return { name, prefix: '' };
  for (let cut = name.indexOf('/'); cut > 0; cut = name.indexOf('/', cut + 1)) {
    const prefix = name.slice(0, cut);
    const rest = name.slice(cut + 1);
    if (Buffer.byteLength(prefix) <= 155 && Buffer.byteLength(rest) <= 100 && rest.length > 0) return { name: rest, prefix };
  }
  return undefined;
}

function ustarHeader(name: string, prefix: string, size: number, typeflag: string, mode: number, mtime: Date): Buffer {
  const h = Buffer.alloc(BLOCK);
  h.write(name, 0, 100, 'utf8');
  h.write(octal(mode, 8), 100, 'ascii');
  h.write(octal(0, 8), 108, 'ascii');
  h.write(octal(0, 8), 116, 'ascii');
  h.write(octal(size, 12), 124, 'ascii');
  h.write(octal(Math.floor(mtime.getTime() / 1000), 12), 136, 'ascii');
  h.write('        ', 148, 'ascii');
  h.write(typeflag, 156, 'ascii');
  h.write('ustar\0', 257, 'ascii');
  h.write('00', 263, 'ascii');
  h.write(octal(0, 8), 329, 'ascii');
  h.write(octal(0, 8), 337, 'ascii');
  h.write(prefix, 345, 155, 'utf8');
  let sum = 0;
  for (const byte of h) sum += byte;
  h.write(octal(sum, 7) + ' ', 148, 'ascii');
  return h;
}

function paxRecord(key: string, value: string): string {
  const body = ` ${key}=${value}\n`;
  let length = Buffer.byteLength(body) + 1;
  while (String(length).length + Buffer.byteLength(body) !== length) length = String(length).length + Buffer.byteLength(body);
  return `${length}${body}`;
}

export function padding(size: number): Buffer {
  const rest = size % BLOCK;
  return rest === 0 ? Buffer.alloc(0) : Buffer.alloc(BLOCK - rest);
}

/** The header block(s) of one entry; a pax extended header precedes it when ustar is not enough. */
export function tarHeader(entry: TarEntry): Buffer {
  const name = entry.type === 'directory' && !entry.name.endsWith('/') ? `${entry.name}/` : entry.name;
  const size = entry.type === 'directory' ? 0 : entry.size;
  const mode = entry.mode ?? (entry.type === 'directory' ? 0o755 : 0o644);
  const typeflag = entry.type === 'directory' ? '5' : '0';
  const split = splitUstarName(name);
  if (split && size <= USTAR_MAX_SIZE) return ustarHeader(split.name, split.prefix, size, typeflag, mode, entry.mtime);
  const records = (split ? '' : paxRecord('path', name)) + (size > USTAR_MAX_SIZE ? paxRecord('size', String(size)) : '');
  const pax = Buffer.from(records);
  const short = split ?? { name: Buffer.from(name).subarray(0, 100).toString('utf8').replace(/\uFFFD+$/, ''), prefix: '' };
  return Buffer.concat([
    ustarHeader(`PaxHeader/${short.name}`.slice(0, 100), '', pax.length, 'x', 0o644, entry.mtime),
    pax,
    padding(pax.length),
    ustarHeader(short.name, short.prefix, Math.min(size, USTAR_MAX_SIZE), typeflag, mode, entry.mtime),
  ]);
}
