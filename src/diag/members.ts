/**
 * Names and paths a host sends are data from a stranger: before one becomes a member of the archive
 * or a path tpm asks the host to read, it is checked here. A member name is relative, normalised
 * (no `.`, `..`, empty or trailing components), free of control characters and of bounded length,
 * so that every member stays inside its host's folder whatever tool extracts the archive.
 */
import { posix } from 'node:path';
import { hasControls, neutraliseControls } from '../controlChars.js';

/** Longest member name accepted (bytes); a component may have at most NAME_MAX bytes. */
export const MAX_MEMBER_BYTES = 1024;
export const NAME_MAX = 255;
/** Longest absolute path on a host accepted (PATH_MAX). */
export const MAX_PATH_BYTES = 4096;

/** Why a relative member name is refused, or undefined when it is safe. */
export function memberNameProblem(name: string): string | undefined {
  if (name === '') return 'an empty name';
  if (hasControls(name) || name.includes('\0')) return 'a name with control characters';
  if (Buffer.byteLength(name) > MAX_MEMBER_BYTES) return `a name of over ${MAX_MEMBER_BYTES} bytes`;
  if (name.startsWith('/')) return 'an absolute name';
  const parts = name.split('/');
  if (parts.some((p) => p === '..')) return 'a name that climbs out of its folder (..)';
  if (parts.some((p) => p === '' || p === '.')) return 'a name that is not normalised';
  if (parts.some((p) => Buffer.byteLength(p) > NAME_MAX)) return `a name with a component of over ${NAME_MAX} bytes`;
  return undefined;
}

/** Why an absolute path on the host is refused, or undefined when it is a plain canonical path. */
export function hostPathProblem(path: string): string | undefined {
  if (!path.startsWith('/')) return 'a relative path';
  if (hasControls(path) || path.includes('\0')) return 'a path with control characters';
  if (Buffer.byteLength(path) > MAX_PATH_BYTES) return `a path of over ${MAX_PATH_BYTES} bytes`;
  if (path !== '/' && (posix.normalize(path) !== path || path.endsWith('/'))) return 'a path that is not canonical';
  return undefined;
}

/** True when `path` is `root` or lies below it (both canonical). */
export function isInside(path: string, root: string): boolean {
  return path === root || path.startsWith(root.endsWith('/') ? root : `${root}/`);
}

/** A host-supplied name as it may be shown in the manifest or on a terminal: neutralised and cut. */
export function shownName(name: string, max = 200): string {
  // Tabs and newlines are kept by neutraliseControls (they are layout in a message), not in a name.
  const shown = neutraliseControls(name).replace(/[\t\n]/g, (c) => (c === '\t' ? '\\x09' : '\\x0a'));
  return shown.length > max ? `${shown.slice(0, max)}…` : shown;
}
