/** FHIR R4 validation (HAPI FHIR's instance validator) and the conformance comparison. */
export { startFhirValidator, ensureFhirValidatorBuilt, FhirValidatorUnavailableError, FHIR_VALIDATOR_BUILD_COMMAND, DEFAULT_JAVA_OPTIONS, type FhirValidator, type StartOptions } from './validator.js';
export { applyDowngrades, formatIssue, isError, placeInBundle, type BundleIssuePlace, DOWNGRADE_RULES, type DowngradeRule, type IssueSeverity, type ValidationIssue } from './issues.js';
