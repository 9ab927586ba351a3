/** The one error type the codec throws: where (character offset, 0-based) and why. */
export class Hl7ParseError extends Error {
  override readonly name = 'Hl7ParseError';
  constructor(
    readonly reason: string,
    /** Character offset in the input where the problem was found. */
    readonly position: number,
    /** 1-based segment (line) number, when known. */
    readonly segment?: number,
  ) {
    super(`${reason} (at offset ${position}${segment !== undefined ? `, segment ${segment}` : ''})`);
  }
}

/** A path string that does not match the path grammar, e.g. `PID-x`. */
export class Hl7PathError extends Error {
  override readonly name = 'Hl7PathError';
  constructor(readonly path: string, reason: string) {
    super(`invalid HL7 path "${path}": ${reason}`);
  }
}
