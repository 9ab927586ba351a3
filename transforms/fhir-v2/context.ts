import type { ConversionWarning, FhirResource } from '../types.js';
import { obj, str, type Json } from './json.js';

export interface FhirToV2Options {
  /** HL7 version in MSH-12. */
  version: string;
  /** MSH-3..6, written as HD text (`LAB^1.2.3^ISO` for components). */
  sendingApplication: string;
  sendingFacility: string;
  receivingApplication: string;
  receivingFacility: string;
  /** MSH-11: P (production), T (training), D (debugging). */
  processingId: string;
  /**
   * The trigger for a Patient (+ Encounter): A08 update, A28 add person, A31 update person.
   * Default: the MessageHeader's event when it is one of these, else A08.
   */
  adtEvent: 'A08' | 'A28' | 'A31';
  /**
   * Which message to build. `auto`: the family a MessageHeader names (a bundle from our
   * v2 → FHIR map), else DiagnosticReport/Observation → ORU, ServiceRequest → ORM, Patient → ADT.
   */
  message: 'auto' | 'ORU' | 'ORM' | 'ADT';
  /** MSH-7; the current time when absent. Pass it (and controlId) for repeatable output. */
  now: Date;
  /** MSH-10; a new unique id when absent. */
  controlId: string;
}

export const DEFAULT_FHIR_TO_V2: Readonly<Omit<FhirToV2Options, 'now' | 'controlId' | 'adtEvent'>> = Object.freeze({
  version: '2.5.1',
  sendingApplication: 'SLUICE',
  sendingFacility: '',
  receivingApplication: '',
  receivingFacility: '',
  processingId: 'P',
  message: 'auto',
});

/**
 * The resources being converted, indexed so references resolve inside a bundle by
 * fullUrl or `Type/id` (relative or absolute), and the warnings collected on the way.
 */
export class Resources {
  readonly all: Json[] = [];
  readonly warnings: ConversionWarning[] = [];
  private readonly byKey = new Map<string, Json>();

  constructor(input: FhirResource) {
    if (input.resourceType === 'Bundle') this.addBundle(input);
    else this.add(input, undefined);
  }

  private addBundle(bundle: Json): void {
    const entries = Array.isArray(bundle.entry) ? bundle.entry : [];
    entries.forEach((raw, i) => {
      const entry = obj(raw);
      let resource = obj(entry?.resource);
      // Seen in the wild (and in Microsoft's sample): the resource written as the entry itself.
      if (!resource && typeof entry?.resourceType === 'string') {
        resource = entry;
        this.warn('malformed-entry', 'bundle entry holds the resource directly instead of in entry.resource; read it anyway', `Bundle.entry[${i}]`);
      }
      if (!resource || typeof resource.resourceType !== 'string') {
        this.warn('malformed-entry', 'bundle entry without a resource; skipped', `Bundle.entry[${i}]`);
        return;
      }
      this.add(resource, str(entry?.fullUrl));
    });
  }

  private add(resource: Json, fullUrl: string | undefined): void {
    this.all.push(resource);
    if (fullUrl) this.byKey.set(fullUrl, resource);
    const id = str(resource.id);
    if (id) this.byKey.set(`${String(resource.resourceType)}/${id}`, resource);
  }

  warn(code: string, message: string, path?: string): void {
    this.warnings.push(path === undefined ? { code, message } : { code, message, path });
  }

  ofType(type: string): Json[] {
    return this.all.filter((r) => r.resourceType === type);
  }

  /** The resource a Reference points at, when it is in the input (contained ones too). */
  resolve(reference: unknown, from?: Json): Json | undefined {
    const ref = str(obj(reference)?.reference);
    if (!ref) return undefined;
    if (ref.startsWith('#') && from) {
      const contained = Array.isArray(from.contained) ? from.contained.map(obj) : [];
      return contained.find((c) => c && str(c.id) === ref.slice(1));
    }
    const direct = this.byKey.get(ref);
    if (direct) return direct;
    // An absolute URL (https://server/fhir/Patient/1, maybe with /_history/2) → Patient/1.
    const m = /([A-Z][A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})(?:\/_history\/[^/]+)?$/.exec(ref);
    return m ? this.byKey.get(`${m[1]}/${m[2]}`) : undefined;
  }

  /** `Type/id` for warning paths. */
  static label(r: Json): string {
    const id = str(r.id);
    return id ? `${String(r.resourceType)}/${id}` : String(r.resourceType);
  }
}

/** What the segment writers share while one message is built. */
export interface Build {
  readonly w: import('./encode.js').MessageWriter;
  readonly res: Resources;
  readonly opts: FhirToV2Options;
}
