import { describe, expect, it } from 'vitest';
import { formatAlertTime } from '../../src/format/time.js';

describe('formatAlertTime (yyyy/MM/dd hh:mm:ss a z)', () => {
  it('names the zone as cctrl did, in summer and winter', () => {
    expect(formatAlertTime('2013-05-03T20:11:10Z', 'Europe/London')).toBe('2013/05/03 09:11:10 PM BST');
    expect(formatAlertTime('2013-12-03T00:05:01Z', 'Europe/London')).toBe('2013/12/03 12:05:01 AM GMT');
    expect(formatAlertTime('2025-01-24T14:59:42Z', 'UTC')).toBe('2025/01/24 02:59:42 PM UTC');
    expect(formatAlertTime('2025-01-24T12:00:00Z', 'America/New_York')).toBe('2025/01/24 07:00:00 AM EST');
    expect(formatAlertTime('2025-07-24T12:00:00Z', 'America/New_York')).toBe('2025/07/24 08:00:00 AM EDT');
  });

  it('uses the local zone (TZ) when none is given', () => {
    const expected = formatAlertTime('2013-05-03T20:11:10Z', Intl.DateTimeFormat().resolvedOptions().timeZone);
    expect(formatAlertTime('2013-05-03T20:11:10Z')).toBe(expected);
  });

  it('says UNKNOWN TIME for a value that is not a date', () => {
    expect(formatAlertTime('not a date')).toBe('UNKNOWN TIME');
  });
});
