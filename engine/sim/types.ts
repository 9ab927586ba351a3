import type { JSONWebKeySet } from 'jose';
import type { Logger } from '../log.js';

export type { JSONWebKeySet };

/** Options for {@link startEpicSim}. Every field has an Epic-production-like default. */
export interface EpicSimOptions {
  /** 0 (default) = a free port. */
  port?: number;
  /** Interface to bind: 127.0.0.1 unless given (a container sets 0.0.0.0). */
  host?: string;
  /** The base URL it advertises (token URL, `aud`, paging links), e.g. `http://epic-sim:8040` behind a container name; default http://127.0.0.1:PORT. */
  publicUrl?: string;
  /** Seed for the generated data and for fault dice; the same seed gives the same data. */
  seed?: number;
  /** Generated patients (each with Observations, Encounters, Conditions, AllergyIntolerances, a DocumentReference). */
  patients?: number;
  observationsPerPatient?: number;
  /** Access token lifetime; SMART's 300 s by default (Epic's example shows 3600). */
  tokenLifetimeSeconds?: number;
  /** Messy production data: missing values, local OID codes, valueString numbers, odd statuses. */
  messy?: boolean;
  /** Whether `_include` is honoured and advertised. Epic: false (ignored silently). */
  supportsInclude?: boolean;
  /** Default page size when `_count` is absent (Epic pages go up to 1000). */
  pageSize?: number;
  clients?: SimClient[];
  faults?: Partial<SimFaults>;
  /** Current time in ms; lets tests move time forward (token expiry, jti windows). */
  clock?: () => number;
  /**
   * JWS algorithms accepted on backend-services assertions. Default: Epic's RSA-only
   * (RS384, RS256, RS512). `['RS384', 'ES384']` imitates the SMART reference servers.
   */
  assertionAlgorithms?: string[];
  /** Where internal errors go (path and message only, never query strings or bodies). Default: silent. */
  logger?: Logger;
}

/** A registered OAuth client (Epic's "app"). */
export interface SimClient {
  clientId: string;
  /** Inline public keys for backend-services assertions. */
  jwks?: JSONWebKeySet;
  /** Hosted JWKS (what Epic requires in production). */
  jwksUrl?: string;
  redirectUris?: string[];
  /** Scopes the client may be granted; requested scopes outside this list are dropped. Absent = any. */
  scopes?: string[];
  confidential?: boolean;
  clientSecret?: string;
}

export interface SimFaults {
  /** Fraction (0..1) of FHIR requests answered 429. */
  rate429: number;
  /** Deterministic storms: of every `every` FHIR requests, the first `length` get 429. */
  burst429?: { every: number; length: number };
  retryAfter: 'seconds' | 'http-date';
  retryAfterSeconds: number;
  /** Fraction of FHIR requests answered 503 (with Retry-After). */
  rate503: number;
  /** Added latency for every FHIR request. */
  slowMs: number;
  /** Fraction of FHIR requests whose socket is destroyed without an answer. */
  dropRate: number;
}

export interface SimCounts {
  requests: number;
  /** HTTP status code -> responses sent. */
  byStatus: Record<string, number>;
  tokensIssued: number;
  refreshes: number;
  throttled: number;
  unavailable: number;
  dropped: number;
  unauthorized: number;
  /** Resource type -> resources held. */
  resources: Record<string, number>;
  patients: number;
}

/** The context an EHR launch carries into the token response. */
export interface LaunchContext {
  patient?: string;
  encounter?: string;
}

export interface EpicSim {
  /** The port it listens on (the URLs may name another host: publicUrl). */
  readonly port: number;
  readonly url: string;
  readonly fhirBase: string;
  readonly tokenUrl: string;
  readonly authorizeUrl: string;
  registerClient(c: SimClient): void;
  setFaults(f: Partial<SimFaults>): void;
  faults(): SimFaults;
  counts(): SimCounts;
  patientIds(): string[];
  /** Mints an EHR `launch` token carrying this context (what the EHR puts in the launch URL). */
  createLaunch(context?: LaunchContext): string;
  close(): Promise<void>;
}

export const DEFAULT_FAULTS: SimFaults = {
  rate429: 0,
  retryAfter: 'seconds',
  retryAfterSeconds: 1,
  rate503: 0,
  slowMs: 0,
  dropRate: 0,
};
