import { expect } from 'vitest';
import { Hl7ParseError } from '../../engine/hl7/index.js';

/** The error thrown by `fn`, asserting it is an Hl7ParseError. */
export function parseError(fn: () => unknown): Hl7ParseError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(Hl7ParseError);
    return e as Hl7ParseError;
  }
  throw new Error('expected an Hl7ParseError, nothing was thrown');
}
