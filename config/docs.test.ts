import { beforeAll, describe, expect, it } from 'vitest';
import { listComponents } from '../engine/registry.js';
import { generateReferenceDocs } from './index.js';
import { registerFakes } from './testing/fakes.js';

beforeAll(registerFakes);

describe('reference docs', () => {
  it('has one page per component kind plus the file formats and an index', () => {
    expect(Object.keys(generateReferenceDocs()).sort()).toEqual(['channel.md', 'connections.md', 'destinations.md', 'engine.md', 'index.md', 'sources.md', 'steps.md']);
  });

  it('has a section for every registered component, on the page of its kind, with its description', () => {
    const docs = generateReferenceDocs();
    const page = { source: 'sources.md', step: 'steps.md', destination: 'destinations.md', connection: 'connections.md' } as const;
    const components = listComponents();
    expect(components.length).toBeGreaterThanOrEqual(6);
    for (const c of components) {
      const text = docs[page[c.kind]]!;
      expect(text, c.name).toContain(`## \`${c.name}\`\n\n${c.description}`);
      for (const other of Object.values(page)) if (other !== page[c.kind]) expect(docs[other], c.name).not.toContain(`## \`${c.name}\``);
      expect(docs['index.md']).toContain(`\`${c.name}\``);
    }
  });

  it('tables the options from the schema, nested ones dotted, with the docs and example', () => {
    const sources = generateReferenceDocs()['sources.md']!;
    expect(sources).toContain('| `port` | integer | yes |  | TCP port. |');
    expect(sources).toContain('| `host` | string | no |  | Interface to listen on. |');
    expect(sources).toContain('Listens on nothing; for tests.');
    expect(sources).toContain('### Example\n\n```yaml\nsource:\n  fake: { port: 2575 }\n```');
    const dests = generateReferenceDocs()['destinations.md']!;
    expect(dests).toContain('| `retry.times` | integer | no | `1` |  |');
    const steps = generateReferenceDocs()['steps.md']!;
    expect(steps).toContain('| `mode` | `upper` \\| `lower` | no | `"upper"` |  |');
    expect(steps).toMatch(/## `noop`\n\nDoes nothing\.\n\n### Options\n\n_No options\._/);
  });

  it('documents the channel and engine files', () => {
    const docs = generateReferenceDocs();
    expect(docs['channel.md']).toContain('| `destinations` | map | yes |');
    expect(docs['channel.md']).toContain('| `duplicates.window` | string | no | `"24h"` |');
    expect(docs['channel.md']).toContain('| `route[].to` | string or list of string | yes |');
    expect(docs['engine.md']).toContain('| `dataDir` | string | no | `"./data"` |');
    expect(docs['engine.md']).toContain('| `log.level` |');
  });
});
