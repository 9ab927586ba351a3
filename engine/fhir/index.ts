// The FHIR client's public surface (see docs/DECISIONS.md "FHIR client").
export { FhirHttp, type FhirHttpOptions, type HttpCounters, type HttpEvent, type HttpRequest, type HttpResponse } from './http.js';
export { FhirClient, splitEntries, type Bundle, type BundleEntry, type Resource, type SearchWarning } from './client.js';
export { FhirError, AuthError, outcomeIssues, redactUrl, type OutcomeIssue } from './outcome.js';
export { TokenManager, renewalLeadSeconds, type TokenCounters } from './auth/manager.js';
export { BackendServicesGrant, createClientAssertion, type BackendServicesOptions } from './auth/backend.js';
export { AuthorizationCodeGrant, buildAuthorizationRequest, parseAuthorizationResponse, type PendingAuthorization } from './auth/launch.js';
export type { Grant, LaunchContext, TokenResponse } from './auth/token.js';
export { checkSearch, fetchCapabilities, parseCapabilityStatement, parseQuery, supportsInteraction, type Capabilities, type ResourceCapability, type SmartConfiguration } from './capabilities.js';
export { planSearch, runSearch, search, type SearchItem, type SearchOptions, type SearchPlan } from './planner.js';
export { normalizeObservation, countWarnings, type ObservationReading, type ObservationWarning } from './normalize.js';
export { FhirConnection, fhirConnectionSchema, type FhirConnectionOptions } from './connection.js';
