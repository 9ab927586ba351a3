import { describe, expect, it } from 'vitest';
import { ulid } from './ids.js';

describe('ulid', () => {
  it('is 26 Crockford base-32 characters, the first 10 the time', () => {
    const id = ulid(1_700_000_000_000);
    expect(id).toMatch(/^[0-9A-HJKMNP-TV-Z]{26}$/);
    expect(ulid(1_700_000_000_001).slice(0, 10) > id.slice(0, 10)).toBe(true);
  });

  it('increases within one millisecond and across many, and draws fresh randomness per millisecond', () => {
    const ids: string[] = [];
    // 1,000 milliseconds x 3 ids: crosses several refills of the random pool (16 bytes per millisecond).
    for (let ms = 0; ms < 1000; ms++) for (let k = 0; k < 3; k++) ids.push(ulid(1_800_000_000_000 + ms));
    expect([...ids].sort()).toEqual(ids);
    expect(new Set(ids).size).toBe(ids.length);
    const randomParts = new Set(ids.filter((_, i) => i % 3 === 0).map((id) => id.slice(10)));
    expect(randomParts.size).toBe(1000);
  });

  it('a clock that goes back does not break the order', () => {
    const a = ulid(1_900_000_000_500);
    const b = ulid(1_900_000_000_100);
    expect(b > a).toBe(true);
  });
});
