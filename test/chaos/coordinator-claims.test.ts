import { describe, expect, it } from 'vitest';
import { CoordinatorClaims } from '../helpers/mariadb-group-chaos.js';

/** The real group tier's judge of what members answer (test/helpers/mariadb-group-chaos.ts): it must see what it is there to see. */
describe('CoordinatorClaims', () => {
  const claim = (member: string, term: number | null, sentAt: number, doneAt = sentAt + 5) => ({ member, term, sentAt, doneAt });

  it('two members answering as coordinator within a third of a TTL are two coordinators; further apart they may be a takeover', () => {
    const judge = new CoordinatorClaims(1000);
    expect(judge.judge([claim('db1', 3, 0), claim('db2', 7, 400)]).map((f) => f.kind)).toEqual(['two-coordinators']);
    expect(new CoordinatorClaims(1000).judge([claim('db1', 3, 0, 100), claim('db2', 7, 900, 1200)])).toEqual([]);
  });

  it('two members in one term are two coordinators, however far apart', () => {
    expect(new CoordinatorClaims(1000).judge([claim('db1', 3, 0), claim('db2', 3, 5000)]).map((f) => f.kind)).toEqual(['two-coordinators']);
  });

  it('a member acting in a lower term after another was seen acting in a higher one has regressed; a slow answer from before has not', () => {
    const judge = new CoordinatorClaims(1000);
    expect(judge.judge([claim('db2', 9, 10_000)])).toEqual([]);
    // Asked before db2's answer arrived (plus the margin): it may describe a moment before the takeover.
    expect(judge.judge([claim('db1', 4, 10_500)])).toEqual([]);
    const late = judge.judge([claim('db1', 4, 12_000)]);
    expect(late.map((f) => f.kind)).toEqual(['term-regressed']);
    expect(late[0]!.detail).toMatch(/db1 answered as coordinator in term 4, asked 1995 ms after db2 answered in term 9/);
  });

  it('one coordinator after another, each in a higher term, is a healthy group', () => {
    const judge = new CoordinatorClaims(1000);
    for (const [i, c] of [claim('db2', 3, 0), claim('db2', 3, 250), claim('db1', 12, 4000), claim('db3', 20, 9000), claim('db3', 20, 9250)].entries()) {
      expect(judge.judge([c]), `claim ${i}`).toEqual([]);
    }
  });
});
