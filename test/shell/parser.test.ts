import { describe, expect, it } from 'vitest';
import { isToolkitError } from '../../src/errors.js';
import { MAX_LINE_LENGTH, parseLine, splitForCompletion } from '../../src/shell/parser.js';

describe('parseLine', () => {
  it('splits statements on ; and words on blanks', () => {
    expect(parseLine('use alpha;set policy maintenance')).toEqual([
      { text: 'use alpha', words: ['use', 'alpha'] },
      { text: 'set policy maintenance', words: ['set', 'policy', 'maintenance'] },
    ]);
  });

  it('keeps quoted ; and blanks inside a word, and honours backslash escapes', () => {
    expect(parseLine(`ls "a;b" 'c d' e\\ f`)[0]!.words).toEqual(['ls', 'a;b', 'c d', 'e f']);
    expect(parseLine(`x "say \\"hi\\""`)[0]!.words).toEqual(['x', 'say "hi"']);
    expect(parseLine(`x ''`)[0]!.words).toEqual(['x', '']);
  });

  it('drops empty statements and blank lines', () => {
    expect(parseLine('  ;; ls ;  ')).toEqual([{ text: 'ls', words: ['ls'] }]);
    expect(parseLine('')).toEqual([]);
  });

  it('treats # at the start of a word as a comment to the end of the line', () => {
    expect(parseLine('# switch back after the maintenance window')).toEqual([]);
    expect(parseLine('ls db1   # the old master')).toEqual([{ text: 'ls db1', words: ['ls', 'db1'] }]);
    expect(parseLine('use alpha; set policy manual # for the upgrade; switch')).toEqual([
      { text: 'use alpha', words: ['use', 'alpha'] },
      { text: 'set policy manual', words: ['set', 'policy', 'manual'] },
    ]);
    expect(parseLine("datasource db#2 shun '#kept'")[0]!.words).toEqual(['datasource', 'db#2', 'shun', '#kept']);
  });

  it('refuses an unterminated quote with a usage error', () => {
    expect(() => parseLine('ls "db1')).toThrow(/unterminated double quote/);
    try {
      parseLine("ls 'x");
    } catch (e) {
      expect(isToolkitError(e) && e.kind).toBe('usage');
    }
  });

  it('refuses absurdly long lines instead of parsing them', () => {
    expect(() => parseLine('x'.repeat(MAX_LINE_LENGTH + 1))).toThrow(/line too long/);
  });

  it('fuzz: random input parses or raises a usage error, never anything else', () => {
    const alphabet = ['a', 'b', ' ', '\t', ';', '"', "'", '\\', '\n', '\u0000', '\u001b', 'é', '🙂', '-', '/'];
    let seed = 42;
    const rand = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    for (let i = 0; i < 5000; i++) {
      const len = rand(40);
      let line = '';
      for (let j = 0; j < len; j++) line += alphabet[rand(alphabet.length)];
      try {
        const statements = parseLine(line);
        for (const s of statements) expect(s.words.length).toBeGreaterThan(0);
      } catch (e) {
        expect(isToolkitError(e) && e.kind === 'usage').toBe(true);
      }
      expect(() => splitForCompletion(line)).not.toThrow();
    }
  });
});

describe('splitForCompletion', () => {
  it('separates the words typed from the word being typed, in the last statement', () => {
    expect(splitForCompletion('ls; datasource d')).toEqual({ words: ['datasource'], partial: 'd' });
    expect(splitForCompletion('datasource ')).toEqual({ words: ['datasource'], partial: '' });
    expect(splitForCompletion('')).toEqual({ words: [], partial: '' });
  });
});
