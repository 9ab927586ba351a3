import { buildAck, parseHeader, parseHl7, Hl7ParseError, type AckCode, type AckOptions, type Hl7Message } from '../hl7/index.js';
import type { Content } from './envelope.js';
import type { SourceMeta } from './types.js';

/**
 * What a channel takes in (Mirth's "inbound data type"). HL7 v2 is the default; `fhir`
 * takes FHIR R4 JSON (a resource or a Bundle), e.g. Observations from a Kafka topic on
 * their way to an ORU^R01.
 */
export type DataType = 'hl7v2' | 'fhir';

/** One received payload, understood: its content and what the store indexes it by. */
export interface ParsedInput {
  readonly content: Content;
  /** For duplicate detection: MSH-10, or the source's own id (Kafka topic/partition/offset). */
  readonly controlId: string | undefined;
  readonly sender: string;
  readonly messageType: string | undefined;
  readonly patientId: string | undefined;
  readonly orderingKey: string;
  /** The HL7 acknowledgement to answer with, for sources that speak HL7; undefined otherwise. */
  ack(code: AckCode, options?: Omit<AckOptions, 'code'>): string | undefined;
  /**
   * Keeps the header as received for later ack() calls: steps edit the content in place, and
   * an ACK built after them (respondFrom processed or delivered) must answer the sender.
   */
  keepHeader(): void;
}

/** The payload is not of the channel's data type; the message is stored as ERROR and answered AR. */
export class InputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InputError';
  }
}

export interface InputOptions {
  /** HL7 path of the ordering key (hl7v2). */
  readonly orderingKey: string;
  /** HL7 path of the patient identifier stored for search (hl7v2). */
  readonly patientPath: string;
}

export function parseInput(dataType: DataType, raw: Uint8Array, meta: SourceMeta, o: InputOptions): ParsedInput {
  return dataType === 'fhir' ? parseFhir(raw, meta) : parseV2(raw, meta, o);
}

function parseV2(raw: Uint8Array, meta: SourceMeta, o: InputOptions): ParsedInput {
  let message: Hl7Message;
  try {
    message = meta.parsed ?? parseHl7(raw);
  } catch (err) {
    if (err instanceof Hl7ParseError) throw new InputError(`not a valid HL7 v2 message: ${err.message}`);
    throw err;
  }
  let header: Hl7Message | undefined;
  return {
    content: { kind: 'hl7v2', message },
    controlId: message.controlId || meta.sourceId,
    sender: `${message.getRaw('MSH-3')}^${message.getRaw('MSH-4')}`,
    messageType: message.messageType,
    patientId: message.get(o.patientPath) || undefined,
    orderingKey: message.get(o.orderingKey) || '',
    ack: (code, options) => buildAck(header ?? message, { ...options, code }),
    keepHeader: () => { header ??= parseHeader(raw) ?? message; },
  };
}

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

function parseFhir(raw: Uint8Array, meta: SourceMeta): ParsedInput {
  let resource: unknown;
  try {
    resource = JSON.parse(Buffer.from(raw).toString('utf8'));
  } catch (err) {
    // V8's message quotes the input around the error, and the input is PHI: keep only where.
    const at = /position (\d+)/.exec((err as Error).message)?.[1];
    throw new InputError(`not valid FHIR JSON${at ? ` (syntax error at position ${at})` : ''}`);
  }
  if (!isObject(resource) || typeof resource.resourceType !== 'string' || resource.resourceType === '') {
    throw new InputError('not a FHIR resource: expected a JSON object with a resourceType');
  }
  const patient = fhirPatientKey(resource);
  const version = isObject(resource.meta) && typeof resource.meta.versionId === 'string' ? `/_history/${resource.meta.versionId}` : '';
  return {
    content: { kind: 'fhir', resource },
    // A source's own id (Kafka offset, file name) identifies a redelivery exactly; else the resource version.
    controlId: meta.sourceId ?? (typeof resource.id === 'string' ? `${resource.resourceType}/${resource.id}${version}` : undefined),
    sender: meta.kind,
    messageType: resource.resourceType,
    patientId: patient,
    orderingKey: patient ?? '',
    ack: () => undefined,
    keepHeader: () => undefined,
  };
}

function referenceOf(v: unknown): string | undefined {
  return isObject(v) && typeof v.reference === 'string' && v.reference !== '' ? v.reference : undefined;
}

/**
 * The patient a FHIR resource is about, as a reference (`Patient/123`), so one patient's
 * resources stay in order. A Bundle is keyed by its first entry that names a patient.
 */
export function fhirPatientKey(resource: Json): string | undefined {
  if (resource.resourceType === 'Patient') return typeof resource.id === 'string' ? `Patient/${resource.id}` : undefined;
  if (resource.resourceType === 'Bundle' && Array.isArray(resource.entry)) {
    for (const entry of resource.entry) {
      if (!isObject(entry) || !isObject(entry.resource)) continue;
      const key = fhirPatientKey(entry.resource);
      if (key) return key;
    }
    return undefined;
  }
  return referenceOf(resource.subject) ?? referenceOf(resource.patient) ?? referenceOf(resource.beneficiary);
}
