import { expect } from 'vitest';
import { Hl7ParseError, Hl7PathError } from '../../engine/hl7/index.js';

/** The error `fn` throws, asserting it is an instance of `type`. */
export function thrown<E extends Error>(fn: () => unknown, type: new (...args: never[]) => E): E {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(type);
    return e as E;
  }
  throw new Error(`expected an ${type.name}, nothing was thrown`);
}

/** The error thrown by `fn`, asserting it is an Hl7ParseError. */
export const parseError = (fn: () => unknown): Hl7ParseError => thrown(fn, Hl7ParseError);

/** The error thrown by `fn`, asserting it is an Hl7PathError. */
export const pathError = (fn: () => unknown): Hl7PathError => thrown(fn, Hl7PathError);
