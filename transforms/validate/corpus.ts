/*
 * The v2 → FHIR test corpus (test/fixtures/v2-fhir): which messages there are, which
 * message type each one is (from its file name, `<source>__<TYPE>__<name>.hl7`), and
 * where Microsoft's expected output sits. Shared by the corpus tests and the conformance
 * report so that both look at exactly the same messages.
 */
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';

export const CORPUS_DIR = path.resolve(import.meta.dirname, '../../test/fixtures/v2-fhir');

export interface CorpusMessage {
  /** File name, e.g. `ms__ADT_A01__ADT-A01-01.hl7`. */
  readonly name: string;
  readonly file: string;
  /** `ms`, `lfh`, `ig`, `ti`. */
  readonly source: string;
  /** Message type as `CODE^TRIGGER`, e.g. `ADT^A01`. */
  readonly type: string;
  /** Microsoft's expected output beside it (`ms__*.expected.json`), if any. */
  readonly microsoftExpected?: string;
}

function listCorpus(dir = CORPUS_DIR): CorpusMessage[] {
  return readdirSync(dir)
    .filter((name) => name.endsWith('.hl7') && !name.endsWith('.expected.hl7'))
    .sort()
    .map((name) => {
      const [source = '', rawType = ''] = name.split('__');
      const expected = path.join(dir, name.replace(/\.hl7$/, '.expected.json'));
      return {
        name,
        file: path.join(dir, name),
        source,
        type: rawType.replace('_', '^'),
        ...(source === 'ms' && existsSync(expected) ? { microsoftExpected: expected } : {}),
      };
    });
}

/** The corpus messages whose type the converter supports. */
export function supportedCorpus(supportedTypes: readonly string[], dir = CORPUS_DIR): CorpusMessage[] {
  return listCorpus(dir).filter((m) => supportedTypes.includes(m.type));
}
