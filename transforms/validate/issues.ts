/*
 * What the validator reports, and the one place where we change its severities.
 *
 * We validate offline: there is no terminology server, only the code systems HAPI holds in
 * memory (the FHIR R4 base code systems and value sets, UCUM, MIME types, languages,
 * countries...). For anything else the validator can only say "I could not check this";
 * such messages tell nothing about the resource, so they are downgraded to `information`.
 * Everything else keeps HAPI's severity, including "Unknown code" for a code system HAPI
 * does know (e.g. `gender: "yes"`): that one is a real error.
 */

export type IssueSeverity = 'fatal' | 'error' | 'warning' | 'information';

export interface ValidationIssue {
  readonly severity: IssueSeverity;
  /** FHIRPath-like location, e.g. `Patient.gender` or `Bundle.entry[2].resource/*Patient/x*\/.gender`. */
  readonly location: string;
  readonly message: string;
  /** HAPI's message id (e.g. `Terminology_TX_NoValid_16`); stable across wording changes. */
  readonly messageId?: string;
  /** Position in the JSON text that was validated (1-based), when HAPI gives it. */
  readonly line?: number;
  readonly col?: number;
  /** Set when a downgrade rule changed the severity: HAPI's original severity. */
  readonly downgradedFrom?: IssueSeverity;
  /** The id of the rule in DOWNGRADE_RULES that applied. */
  readonly downgradeRule?: string;
}

export interface DowngradeRule {
  readonly id: string;
  /** Matched against the message text (HAPI reuses message ids for unrelated messages). */
  readonly pattern: RegExp;
  readonly why: string;
}

/** Message kinds we downgrade to `information`, and why. Documented in docs/DECISIONS.md. */
export const DOWNGRADE_RULES: readonly DowngradeRule[] = [
  {
    id: 'unknown-code-system',
    // Anchored: "The value provided was not found in the value set (... CodeSystem is
    // unknown ...)" on a required binding stays an error (the system itself is wrong there).
    pattern: /^(?:CodeSystem is unknown and can't be validated|A definition for CodeSystem .* could not be found, so the code cannot be validated|Unknown code ?system\b)/i,
    why: 'LOINC, SNOMED CT, local OIDs and other external code systems are not loaded offline; the code is kept as sent, not known to be wrong.',
  },
  {
    id: 'terminology-unavailable',
    pattern: /terminology (?:server|service)|tx[- ]server|No (?:terminology|tx) server|Unable to (?:validate|check) (?:the )?code|could not be validated (?:as )?(?:the|no) (?:terminology|value set)|Unable to connect to terminology/i,
    why: 'No terminology server is reachable by design (offline validation); a check that needs one is skipped, not failed.',
  },
  {
    id: 'value-set-not-expandable',
    pattern: /^(?:Unable to (?:resolve|expand) (?:the )?value ?set|ValueSet .* (?:not found|could not be (?:found|expanded))|The value set .* could not be expanded)/i,
    why: 'Value sets drawn from external code systems (e.g. LOINC answer lists) cannot be expanded offline.',
  },
];

/** Applies DOWNGRADE_RULES: errors and warnings matching a rule become `information`. */
export function applyDowngrades(issues: readonly ValidationIssue[]): ValidationIssue[] {
  return issues.map((issue) => {
    if (issue.severity === 'information' || issue.severity === 'fatal') return issue;
    const rule = DOWNGRADE_RULES.find((r) => r.pattern.test(issue.message));
    if (!rule) return issue;
    return { ...issue, severity: 'information', downgradedFrom: issue.severity, downgradeRule: rule.id };
  });
}

export function isError(issue: ValidationIssue): boolean {
  return issue.severity === 'error' || issue.severity === 'fatal';
}

/** `severity location: message`, the CLI's line format. */
export function formatIssue(issue: ValidationIssue): string {
  return `${issue.severity} ${issue.location}: ${issue.message}`;
}

/** Where an issue sits inside a Bundle: entry index, resource type and the path within it. */
export interface BundleIssuePlace {
  readonly entry?: number;
  readonly resourceType?: string;
  /** Path inside the resource, e.g. `Patient.identifier[0].system`, or the whole location when not in an entry. */
  readonly path: string;
}

const ENTRY_LOCATION = /^Bundle\.entry\[(\d+)\]\.resource(?:\/\*([A-Za-z]+)\/[^*]*\*\/)?\.?(.*)$/;

/** Splits HAPI's `Bundle.entry[3].resource/*Patient/id*\/.gender` into entry 3, Patient, `Patient.gender`. */
export function placeInBundle(location: string, bundle?: { entry?: Array<{ resource?: { resourceType?: string } }> }): BundleIssuePlace {
  const m = ENTRY_LOCATION.exec(location);
  if (!m) return { path: location };
  const entry = Number(m[1]);
  const resourceType = m[2] ?? bundle?.entry?.[entry]?.resource?.resourceType;
  const rest = m[3] ?? '';
  const prefix = resourceType ?? 'resource';
  return { entry, resourceType, path: rest === '' ? prefix : `${prefix}.${rest}` };
}
