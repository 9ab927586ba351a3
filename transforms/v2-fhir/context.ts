import type { Delimiters, Hl7Message } from '../../engine/hl7/index.js';
import type { ConversionWarning, FhirResource } from '../types.js';
import { v2Date, v2DateTime } from './datetime.js';
import { originalTimeElement } from './extensions.js';
import { resourceId } from './ids.js';

export interface V2ToFhirOptions {
  bundle: 'transaction' | 'batch' | 'collection' | 'message';
  /** IANA zone for v2 timestamps without an offset; never the host's zone. */
  timezone: string;
  provenance: boolean;
  /** Provenance carries the original message as an attachment. */
  attachOriginal: boolean;
  /**
   * ServiceRequest conditional updates also search by identifier type
   * (`identifier:of-type=v2-0203|FILL|n`), so another order's placer number equal to this
   * filler number in the same namespace does not match. Off by default: not every server
   * supports `:of-type`.
   */
  typedOrderSearch: boolean;
}

export const DEFAULT_OPTIONS: Readonly<V2ToFhirOptions> = Object.freeze({
  bundle: 'transaction',
  timezone: 'UTC',
  provenance: true,
  attachOriginal: false,
  typedOrderSearch: false,
});

/** One produced resource and how a transaction should write it. */
export interface Produced {
  readonly resource: FhirResource;
  readonly fullUrl: string;
  /** Search query (`identifier=sys|val`) for a conditional update; absent → PUT Type/id. */
  readonly conditional?: string;
}

export type Reference = { reference?: string; display?: string; identifier?: Record<string, unknown>; type?: string };

/** Per-message state: options, warnings and the resources produced so far. */
export class Ctx {
  readonly warnings: ConversionWarning[] = [];
  readonly produced: Produced[] = [];
  private readonly byId = new Map<string, Produced>();
  /** Patient of the message (first PID), referenced by most resources. */
  patient: Reference | undefined;
  encounter: Reference | undefined;

  constructor(
    readonly msg: Hl7Message,
    readonly options: V2ToFhirOptions,
    /** Sending facility (MSH-4) or application (MSH-3): the authority for ids of things without their own. */
    readonly sender: string,
    readonly controlId: string,
    /** MSH-10, or a hash of the message when MSH-10 is empty: what keys resources without identifiers. */
    readonly messageKey: string = controlId,
  ) {}

  get d(): Delimiters {
    return this.msg.delimiters;
  }

  warn(code: string, message: string, path?: string): void {
    this.warnings.push(path === undefined ? { code, message } : { code, message, path });
  }

  /**
   * Adds a resource with a deterministic id over (type, authority, key). A second resource
   * with the same id (the same patient twice) is merged into the first: the first wins.
   */
  add(resource: FhirResource, authority: string, key: string, conditional?: string): Reference {
    const id = resourceId(resource.resourceType, authority, key);
    const fullUrl = `urn:uuid:${id}`;
    if (!this.byId.has(id)) {
      resource.id = id;
      const entry: Produced = conditional === undefined ? { resource, fullUrl } : { resource, fullUrl, conditional };
      this.byId.set(id, entry);
      this.produced.push(entry);
    }
    return { reference: fullUrl };
  }

  /** The resource a reference from `add` stands for: the first one added with that id. */
  resourceOf(ref: Reference): FhirResource {
    const id = (ref.reference ?? '').slice('urn:uuid:'.length);
    const entry = this.byId.get(id);
    if (!entry) throw new Error(`no resource for ${ref.reference}`);
    return entry.resource;
  }

  /** A key for a resource with no identifier of its own: unique within this message. */
  localKey(segmentIndex: number, suffix = ''): string {
    return `${this.messageKey}|${segmentIndex}${suffix}`;
  }

  /**
   * The key of things outside any order (an ADT OBX, a lone SPM): their patient and their
   * message, so two patients or two messages never share an id.
   */
  noOrderKey(patient: Reference | undefined): string {
    return `${patient?.reference ?? 'no-patient'}|${this.messageKey}`;
  }

  /**
   * Sets `target[field]` to the FHIR dateTime of a v2 DTM, and `_field` to the original text
   * when the FHIR form differs in detail. Warns on text that is not a timestamp.
   */
  dateTime(target: Record<string, unknown>, field: string, text: string, path: string): void {
    if (text === '') return;
    const t = v2DateTime(text, this.options.timezone);
    if (!t) {
      this.warn('bad-timestamp', `not a valid HL7 timestamp: ${JSON.stringify(text.slice(0, 40))}`, path);
      // No value, but the text is kept: a primitive may carry just an extension.
      target[`_${field}`] = originalTimeElement(text);
      return;
    }
    target[field] = t.value;
    if (t.lossy) target[`_${field}`] = originalTimeElement(text);
  }

  /** Returns the FHIR dateTime of a v2 DTM, or undefined (with a warning when malformed). */
  dateTimeValue(text: string, path: string): string | undefined {
    if (text === '') return undefined;
    const t = v2DateTime(text, this.options.timezone);
    if (!t) this.warn('bad-timestamp', `not a valid HL7 timestamp: ${JSON.stringify(text.slice(0, 40))}`, path);
    return t?.value;
  }

  /** Sets a FHIR `date` element; a time part is kept in the `_field` extension. */
  date(target: Record<string, unknown>, field: string, text: string, path: string): void {
    if (text === '') return;
    const d = v2Date(text);
    if (!d) {
      this.warn('bad-timestamp', `not a valid HL7 date: ${JSON.stringify(text.slice(0, 40))}`, path);
      target[`_${field}`] = originalTimeElement(text);
      return;
    }
    target[field] = d;
    if (text.length > 8) target[`_${field}`] = originalTimeElement(text);
  }
}
