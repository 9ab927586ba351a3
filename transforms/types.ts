/*
 * Contracts shared by the converters in transforms/. The converters depend on the HL7
 * codec (engine/hl7) and nothing else of the engine: they are usable alone, from the CLI
 * (`sluice convert`) and as channel steps.
 */

/** A FHIR resource as plain JSON. */
export type FhirResource = { resourceType: string; id?: string } & Record<string, unknown>;

export interface FhirBundle extends FhirResource {
  resourceType: 'Bundle';
  type: 'transaction' | 'batch' | 'collection' | 'message';
  entry?: Array<{ fullUrl?: string; resource?: FhirResource; request?: { method: string; url: string; ifNoneExist?: string } } & Record<string, unknown>>;
}

/**
 * Something a converter noticed but did not stop for: messy input becomes a warning and
 * the best valid output, never an exception.
 */
export interface ConversionWarning {
  /** Stable machine code, e.g. `nm-not-numeric`, `unknown-code-system`, `missing-required`. */
  readonly code: string;
  readonly message: string;
  /** Where in the input: an HL7 path (`OBX[3]-5`) or a FHIR path (`Observation/abc.valueQuantity`). */
  readonly path?: string;
}

export interface ConversionResult<T> {
  readonly result: T;
  readonly warnings: ConversionWarning[];
}

/** Thrown only when the input cannot be converted at all (not HL7, unsupported message type). */
export class ConversionError extends Error {
  constructor(message: string, readonly code = 'unsupported') {
    super(message);
    this.name = 'ConversionError';
  }
}
