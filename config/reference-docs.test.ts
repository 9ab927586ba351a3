import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import '../engine/channel/components/index.js';
import { generateReferenceDocs } from './index.js';

const DIR = path.resolve(import.meta.dirname, '../docs/reference');

describe('docs/reference', () => {
  it('matches what the registry generates (regenerate: node bin/sluice.js schema --docs docs/reference)', () => {
    for (const [name, text] of Object.entries(generateReferenceDocs())) {
      expect(readFileSync(path.join(DIR, name), 'utf8'), name).toBe(text);
    }
  });
});
