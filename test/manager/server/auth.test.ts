/** The Basic check prepared once per server: what it accepts and refuses. */
import { describe, expect, it } from 'vitest';
import { basicAuthenticator } from '../../../src/manager/server/auth.js';

const check = basicAuthenticator({ user: 'tungsten', password: 's3cret-pw' });
const basic = (pair: string) => `Basic ${Buffer.from(pair, 'utf8').toString('base64')}`;

describe('Basic authenticator', () => {
  it('accepts the configured pair and names its user', () => {
    expect(check(basic('tungsten:s3cret-pw'))).toBe('tungsten');
  });

  it('accepts what HTTP allows in the header: any case of the scheme, base64 without padding, trailing space', () => {
    const padded = basicAuthenticator({ user: 'tungsten', password: 'pw' });
    const b64 = Buffer.from('tungsten:pw').toString('base64');
    expect(b64.endsWith('=')).toBe(true);
    expect(padded(`basic ${b64}`)).toBe('tungsten');
    expect(padded(`Basic ${b64.replace(/=+$/, '')}`)).toBe('tungsten');
    expect(padded(`Basic   ${b64}  `)).toBe('tungsten');
  });

  it.each([
    ['a wrong password of the same length', 'tungsten:s3cret-px'],
    ['a wrong password of another length', 'tungsten:s3cret'],
    ['a wrong user', 'admin:s3cret-pw'],
    ['user and password swapped', 's3cret-pw:tungsten'],
    ['an empty password', 'tungsten:'],
    ['the pair with something after it', 'tungsten:s3cret-pw '],
    ['no colon at all', 'tungstens3cret-pw'],
  ])('refuses %s', (_what, pair) => {
    expect(check(basic(pair))).toBeNull();
  });

  it.each([
    ['no header', undefined],
    ['an empty header', ''],
    ['another scheme', 'Bearer dHVuZ3N0ZW46czNjcmV0LXB3'],
    ['characters that are not base64', 'Basic tungsten:s3cret-pw'],
  ])('refuses %s', (_what, header) => {
    expect(check(header)).toBeNull();
  });

  it('never accepts a configured user name holding a colon (Basic splits at the first one)', () => {
    const withColon = basicAuthenticator({ user: 'a:b', password: 'c' });
    expect(withColon(basic('a:b:c'))).toBeNull();
  });

  it('compares bytes: a password with non-ASCII characters must match exactly', () => {
    const accented = basicAuthenticator({ user: 'ops', password: 'pässwörd' });
    expect(accented(basic('ops:pässwörd'))).toBe('ops');
    expect(accented(basic('ops:passwörd'))).toBeNull();
  });
});
