/*
 * HL7 table 0396 coding-system names → FHIR code system URIs, for the systems the
 * V2-to-FHIR IG names. The reverse map (helper fhir-v2) reads the same table.
 */

export const CODE_SYSTEMS: Readonly<Record<string, string>> = Object.freeze({
  LN: 'http://loinc.org',
  LOINC: 'http://loinc.org',
  SCT: 'http://snomed.info/sct',
  SNM: 'http://snomed.info/sct',
  SNOMED: 'http://snomed.info/sct',
  SNOMEDCT: 'http://snomed.info/sct',
  I9: 'http://hl7.org/fhir/sid/icd-9-cm',
  I9C: 'http://hl7.org/fhir/sid/icd-9-cm',
  I9CDX: 'http://hl7.org/fhir/sid/icd-9-cm',
  I10: 'http://hl7.org/fhir/sid/icd-10',
  I10C: 'http://hl7.org/fhir/sid/icd-10-cm',
  ICD10CM: 'http://hl7.org/fhir/sid/icd-10-cm',
  I10P: 'http://www.cms.gov/Medicare/Coding/ICD10',
  UCUM: 'http://unitsofmeasure.org',
  C4: 'http://www.ama-assn.org/go/cpt',
  CPT: 'http://www.ama-assn.org/go/cpt',
  RXNORM: 'http://www.nlm.nih.gov/research/umls/rxnorm',
  RXN: 'http://www.nlm.nih.gov/research/umls/rxnorm',
  NDC: 'http://hl7.org/fhir/sid/ndc',
  CVX: 'http://hl7.org/fhir/sid/cvx',
  MVX: 'http://hl7.org/fhir/sid/mvx',
  CDCREC: 'urn:oid:2.16.840.1.113883.6.238',
  ISO3166_1: 'urn:iso:std:iso:3166',
  'ISO3166-1': 'urn:iso:std:iso:3166',
  ISO639: 'urn:ietf:bcp:47',
  NUBC: 'https://www.nubc.org/CodeSystem/RevenueCodes',
  HCPCS: 'http://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets',
  NPI: 'http://hl7.org/fhir/sid/us-npi',
});

export const UCUM = 'http://unitsofmeasure.org';

/**
 * Codes of the HL7 tables we emit with a v2-nnnn system. A code outside its table (sites
 * send local values) is kept without a system, so validators do not reject it.
 */
export const V2_TABLE_CODES: Readonly<Record<string, ReadonlySet<string>>> = {
  '0007': new Set(['A', 'C', 'E', 'L', 'N', 'R', 'U']),
  '0023': new Set(['1', '2', '3', '4', '5', '6', '7', '8', '9']),
  '0069': new Set(['CAR', 'MED', 'PUL', 'SUR', 'URO']),
  '0230': new Set(['A', 'D', 'I', 'P']),
  '0086': new Set(['HMO', 'PPO', 'POS', 'DENTAL', 'MEDICARE', 'MEDICAID']),
  '0092': new Set(['R']),
  '0112': new Set(['01', '02', '03', '04', '05', '06', '07', '08', '09', '20', '21', '30', '40', '41', '42', '43', '50', '51', '61', '62', '63', '64', '65', '66', '70', '71', '72']),
  '0203': new Set([
    'ACSN', 'AM', 'AMA', 'AN', 'ANC', 'AND', 'ANON', 'ANT', 'APRN', 'ASID', 'BA', 'BC', 'BCFN', 'BCT', 'BR', 'BRN', 'BSNR', 'CAII', 'CC', 'CONM', 'CY', 'CZ', 'DC', 'DCFN', 'DDS', 'DEA', 'DFN', 'DI', 'DL', 'DN', 'DO', 'DP', 'DPM', 'DR', 'DS', 'DSG', 'EI', 'EN', 'ESN', 'FDR', 'FDRFN', 'FGN', 'FI', 'FILL', 'GI', 'GIN', 'GL', 'GN', 'HC', 'IND', 'IRISTEM', 'JHN', 'LACSN', 'LANR', 'LI', 'LN', 'LR', 'MA', 'MB', 'MC', 'MCD', 'MCN', 'MCR', 'MCT', 'MD', 'MI', 'MR', 'MRT', 'MS', 'NBSNR', 'NCT', 'NE', 'NH', 'NI', 'NII', 'NIIP', 'NNxxx', 'NP', 'NPI', 'OBI', 'OD', 'PA', 'PC', 'PCN', 'PE', 'PEN', 'PHC', 'PHE', 'PHO', 'PI', 'PIN', 'PLAC', 'PN', 'PNT', 'PPIN', 'PPN', 'PRC', 'PRN', 'PT', 'QA', 'RI', 'RN', 'RPH', 'RR', 'RRI', 'RRP', 'SAMN', 'SB', 'SID', 'SL', 'SN', 'SNBSN', 'SNO', 'SP', 'SR', 'SRX', 'SS', 'STN', 'TAX', 'TN', 'TPR', 'TRL', 'U', 'UDI', 'UPIN', 'USID', 'VN', 'VP', 'VS', 'WC', 'WCN', 'WP', 'XV', 'XX',
  ]),
};

/** ISO 639-2 (three-letter) language codes v2 senders use → BCP-47. */
export const LANGUAGE_3_TO_2: Readonly<Record<string, string>> = {
  eng: 'en', spa: 'es', fra: 'fr', fre: 'fr', deu: 'de', ger: 'de', ara: 'ar', zho: 'zh', chi: 'zh', rus: 'ru', por: 'pt', vie: 'vi',
  kor: 'ko', jpn: 'ja', ita: 'it', hin: 'hi', pol: 'pl', tgl: 'tl', nld: 'nl', dut: 'nl', swe: 'sv', nor: 'no', dan: 'da', fin: 'fi',
  gre: 'el', ell: 'el', heb: 'he', tur: 'tr', urd: 'ur', ben: 'bn', pan: 'pa', fas: 'fa', per: 'fa', som: 'so', hmn: 'hmn', hat: 'ht',
};
export const V2_TABLE = 'http://terminology.hl7.org/CodeSystem/v2-';

export type SystemLookup =
  | { readonly kind: 'known'; readonly uri: string }
  /** A local code (`L`, `99zzz`, `LOCAL`): kept without a system, no warning. */
  | { readonly kind: 'local' }
  | { readonly kind: 'unknown' };

const HL7_TABLE = /^HL7(\d{4})$/;

/** Looks up a v2 coding-system name (CWE.3); URIs, OIDs and v2 tables are understood too. */
export function lookupSystem(name: string): SystemLookup {
  const known = CODE_SYSTEMS[name] ?? CODE_SYSTEMS[name.toUpperCase()];
  if (known) return { kind: 'known', uri: known };
  const table = HL7_TABLE.exec(name);
  if (table) return { kind: 'known', uri: `${V2_TABLE}${table[1]}` };
  if (name === 'L' || name.toUpperCase() === 'LOCAL' || name.startsWith('99')) return { kind: 'local' };
  if (name.startsWith('urn:') || name.startsWith('http://') || name.startsWith('https://')) return { kind: 'known', uri: name };
  if (isOid(name)) return { kind: 'known', uri: `urn:oid:${name}` };
  return { kind: 'unknown' };
}

/** A valid OID: first arc 0, 1 or 2, digits only, no leading zeros (what validators check). */
export function isOid(text: string): boolean {
  if (text.length < 3) return false;
  const first = text.charCodeAt(0);
  if (first < 48 || first > 50 || text.charCodeAt(1) !== 46) return false;
  let arcStart = 0;
  for (let i = 0; i <= text.length; i++) {
    const c = i < text.length ? text.charCodeAt(i) : 46;
    if (c === 46) {
      if (i === arcStart) return false;
      if (text.charCodeAt(arcStart) === 48 && i - arcStart > 1) return false;
      arcStart = i + 1;
    } else if (c < 48 || c > 57) return false;
  }
  return true;
}

export function isUuid(text: string): boolean {
  return text.length === 36 && text[8] === '-' && text[13] === '-' && text[18] === '-' && text[23] === '-';
}
