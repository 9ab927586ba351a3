/**
 * What the simulated server declares, in one table: the CapabilityStatement, the search
 * layer (which parameters are honoured) and the write rules all read it, so they cannot
 * disagree. Shapes follow a production Epic R4 CapabilityStatement (EPIC.md "Epic R4 behaviour").
 */
export type Interaction = 'read' | 'search-type' | 'create' | 'update' | 'vread';

export interface ResourceRules {
  interactions: Interaction[];
  /** Search parameter name -> FHIR search param type. Anything else is silently ignored. */
  searchParams: Record<string, string>;
  /** `_include` values honoured when the server supports includes. */
  includes?: string[];
  /** Searches need the patient (Epic refuses unbounded searches on clinical data). */
  requiresPatient: boolean;
}

const READ_SEARCH: Interaction[] = ['read', 'search-type'];
const clinical = { patient: 'reference', subject: 'reference', _id: 'token', _lastUpdated: 'date' };

export const RESOURCE_RULES: Record<string, ResourceRules> = {
  Patient: {
    interactions: ['read', 'search-type', 'create'],
    searchParams: { _id: 'token', identifier: 'token', name: 'string', family: 'string', given: 'string', birthdate: 'date', gender: 'token', telecom: 'token', address: 'string' },
    requiresPatient: false,
  },
  Observation: {
    interactions: ['read', 'search-type', 'create', 'update'],
    searchParams: { ...clinical, code: 'token', category: 'token', date: 'date', encounter: 'reference', status: 'token', 'value-quantity': 'quantity' },
    includes: ['Observation:patient', 'Observation:subject', 'Observation:encounter'],
    requiresPatient: true,
  },
  DocumentReference: {
    interactions: ['read', 'search-type', 'create', 'update'],
    searchParams: { ...clinical, category: 'token', type: 'token', date: 'date', encounter: 'reference', status: 'token' },
    includes: ['DocumentReference:patient', 'DocumentReference:encounter'],
    requiresPatient: true,
  },
  AllergyIntolerance: {
    interactions: ['read', 'search-type', 'create'],
    searchParams: { ...clinical, 'clinical-status': 'token' },
    includes: ['AllergyIntolerance:patient'],
    requiresPatient: true,
  },
  Condition: {
    interactions: ['read', 'search-type', 'create'],
    searchParams: { ...clinical, category: 'token', 'clinical-status': 'token', code: 'token', encounter: 'reference' },
    includes: ['Condition:patient', 'Condition:encounter'],
    requiresPatient: true,
  },
  Encounter: {
    interactions: READ_SEARCH,
    searchParams: { ...clinical, date: 'date', class: 'token', status: 'token', identifier: 'token' },
    includes: ['Encounter:patient'],
    requiresPatient: true,
  },
  Provenance: {
    interactions: ['read'],
    searchParams: {},
    requiresPatient: false,
  },
};

/** The one revinclude Epic advertises. */
const REV_INCLUDES = ['Provenance:target'];

export function allows(resourceType: string, interaction: Interaction): boolean {
  return RESOURCE_RULES[resourceType]?.interactions.includes(interaction) ?? false;
}

export function capabilityStatement(fhirBase: string, tokenUrl: string, authorizeUrl: string, supportsInclude: boolean): Record<string, unknown> {
  return {
    resourceType: 'CapabilityStatement',
    status: 'active',
    date: '2024-01-01T00:00:00Z',
    publisher: 'Sluice Epic simulator',
    kind: 'instance',
    software: { name: 'Epic (simulated by Sluice)', version: 'sim' },
    implementation: { description: 'Sluice Epic simulator', url: fhirBase },
    fhirVersion: '4.0.1',
    format: ['xml', 'json'],
    rest: [{
      mode: 'server',
      security: {
        extension: [{
          url: 'http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris',
          extension: [{ url: 'authorize', valueUri: authorizeUrl }, { url: 'token', valueUri: tokenUrl }],
        }],
        service: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/restful-security-service', code: 'SMART-on-FHIR' }] }],
      },
      resource: Object.entries(RESOURCE_RULES).map(([type, rules]) => ({
        type,
        interaction: rules.interactions.map((code) => ({ code })),
        versioning: 'no-version',
        readHistory: false,
        updateCreate: false,
        conditionalCreate: false,
        conditionalRead: 'not-supported',
        conditionalUpdate: false,
        conditionalDelete: 'not-supported',
        ...(supportsInclude && rules.includes ? { searchInclude: rules.includes } : {}),
        ...(rules.interactions.includes('search-type') ? { searchRevInclude: REV_INCLUDES } : {}),
        searchParam: Object.entries(rules.searchParams).map(([name, type]) => ({ name, type })),
      })),
    }],
  };
}

export function smartConfiguration(tokenUrl: string, authorizeUrl: string, assertionAlgorithms: readonly string[]): Record<string, unknown> {
  return {
    issuer: tokenUrl.replace(/\/oauth2\/token$/, ''),
    authorization_endpoint: authorizeUrl,
    token_endpoint: tokenUrl,
    token_endpoint_auth_methods_supported: ['client_secret_basic', 'private_key_jwt'],
    token_endpoint_auth_signing_alg_values_supported: [...assertionAlgorithms],
    grant_types_supported: ['authorization_code', 'client_credentials', 'refresh_token'],
    scopes_supported: ['openid', 'fhirUser', 'launch', 'launch/patient', 'offline_access', 'online_access'],
    response_types_supported: ['code'],
    code_challenge_methods_supported: ['S256'],
    capabilities: [
      'launch-ehr', 'launch-standalone', 'client-public', 'client-confidential-symmetric', 'client-confidential-asymmetric',
      'context-ehr-patient', 'context-ehr-encounter', 'context-standalone-patient', 'permission-offline', 'permission-online',
      'permission-patient', 'permission-user', 'permission-v1', 'permission-v2', 'sso-openid-connect',
    ],
  };
}
