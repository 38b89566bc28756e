import { describe, expect, it } from 'vitest';
import { hasControls, neutraliseControls, terminalJson } from '../src/controlChars.js';

describe('text from a host or a manager, made safe for a terminal', () => {
  it('shows every C0 control but newline and tab, DEL and every C1 control as \\xNN', () => {
    expect(neutraliseControls('a\x1b]0;pwned\x07b\x9b31mc\x7fd\ne\tf\x00')).toBe('a\\x1b]0;pwned\\x07b\\x9b31mc\\x7fd\ne\tf\\x00');
    expect(hasControls('plain\ttext\n')).toBe(false);
    expect(hasControls('x\x85')).toBe(true);
  });

  it('JSON for a terminal escapes the C1 controls JSON.stringify leaves raw, and still parses to the same value', () => {
    const value = { error: 'x\x9b2J\x1b[0m\x7f' };
    const text = terminalJson(value);
    expect([...text].some((c) => c.charCodeAt(0) === 0x1b || (c.charCodeAt(0) >= 0x7f && c.charCodeAt(0) <= 0x9f))).toBe(false);
    expect(JSON.parse(text)).toEqual(value);
  });
});
