import { timingSafeEqual } from 'node:crypto';

export interface ApiCredentials {
  user: string;
  password: string;
}

/** Checks an `Authorization` header; returns the user name when it carries the credentials, else null. */
export type BasicAuthenticator = (authorization: string | undefined) => string | null;

const BASIC = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i;
const COLON = 0x3a;

/**
 * HTTP Basic check in constant time, with the expected side prepared once. User and password are
 * compared together as one `user:password` byte string, so neither a wrong user nor a wrong
 * password answers faster; a presented string of another length is not compared with the
 * expected one at all, but the same comparison is still made (the expected bytes with themselves),
 * so its length does not show in the time either.
 */
export function basicAuthenticator(expected: ApiCredentials): BasicAuthenticator {
  // Basic splits at the first colon: a user name holding one can never be presented.
  const usable = !expected.user.includes(':');
  const expectedBytes = Buffer.from(`${expected.user}:${expected.password}`, 'utf8');
  return (authorization) => {
    const m = BASIC.exec(authorization ?? '');
    if (!m) return null;
    const presented = Buffer.from(m[1]!, 'base64');
    if (presented.indexOf(COLON) < 0) return null;
    const sameLength = presented.length === expectedBytes.length;
    const same = timingSafeEqual(sameLength ? presented : expectedBytes, expectedBytes) && sameLength;
    return same && usable ? expected.user : null;
  };
}
