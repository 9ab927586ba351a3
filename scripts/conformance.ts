/*
 * `npm run conformance`: converts every corpus message, validates the output with HAPI
 * FHIR's validator, compares it with Microsoft FHIR-Converter's expected outputs, and
 * writes docs/CONFORMANCE.md and docs/notes/validation-findings.md. The comparison logic
 * lives in transforms/validate/compare.ts and the rendering in report.ts; this script
 * only runs the converter, the validator and the comparison.
 * The output has no timestamps, so a change in the report is a change in behaviour.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseHl7 } from '../engine/hl7/index.js';
import type { FhirBundle } from '../transforms/types.js';
import { SUPPORTED_TYPES, v2ToFhir } from '../transforms/v2-fhir/index.js';
import { compareBundles } from '../transforms/validate/compare.js';
import { supportedCorpus } from '../transforms/validate/corpus.js';
import { isError, placeInBundle, startFhirValidator, type FhirValidator } from '../transforms/validate/index.js';
import { conformanceReport, findingsReport, type Row } from '../transforms/validate/report.js';

const ROOT = path.resolve(import.meta.dirname, '..');
const REPORT = path.join(ROOT, 'docs/CONFORMANCE.md');
const FINDINGS = path.join(ROOT, 'docs/notes/validation-findings.md');

async function main(): Promise<void> {
  const corpus = supportedCorpus(SUPPORTED_TYPES);
  const rows: Row[] = corpus.map((m) => {
    try {
      return { m, bundle: v2ToFhir(readFileSync(m.file)).result };
    } catch (e) {
      return { m, failure: (e as Error).message };
    }
  });

  let validator: FhirValidator | undefined;
  let validatorProblem: string | undefined;
  try {
    validator = await startFhirValidator();
  } catch (e) {
    validatorProblem = (e as Error).message.split('\n')[0];
  }
  try {
    for (const row of rows) {
      if (row.bundle && validator) {
        const bundle = row.bundle;
        row.errors = (await validator.validate(bundle)).filter(isError).map((i) => {
          const place = placeInBundle(i.location, bundle);
          return { message: row.m.name, resourceType: place.resourceType ?? 'Bundle', path: place.path, text: i.message };
        });
      }
      if (row.bundle && row.m.microsoftExpected) {
        const theirs = JSON.parse(readFileSync(row.m.microsoftExpected, 'utf8')) as FhirBundle;
        row.comparison = compareBundles(row.bundle, theirs, parseHl7(readFileSync(row.m.file)));
      }
    }
  } finally {
    await validator?.close();
  }

  mkdirSync(path.dirname(FINDINGS), { recursive: true });
  writeFileSync(REPORT, conformanceReport(rows, validatorProblem));
  writeFileSync(FINDINGS, findingsReport(rows, validatorProblem));
  const failed = rows.filter((r) => r.failure).length;
  const errors = rows.reduce((n, r) => n + (r.errors?.length ?? 0), 0);
  process.stdout.write(`${rows.length} messages, ${failed} failed to convert, ${errors} validation errors; wrote ${path.relative(ROOT, REPORT)} and ${path.relative(ROOT, FINDINGS)}\n`);
}

await main();
