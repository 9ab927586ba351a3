import { parsePath, type Hl7Message, type Hl7Path } from '../../engine/hl7/index.js';
import { systemName } from '../fhir-v2/datatypes.js';
import { lookupSystem } from '../v2-fhir/codesystems.js';
import type { CodeMapResult, UnmappedCode } from './apply.js';
import type { CodeMap } from './load.js';

/*
 * A code map applied to HL7 v2 content: each CWE at `path` (e.g. OBX-3, in every OBX)
 * whose coding system is mapped gets the mapped code as its alternate identifier
 * (components 4-6), when that slot is free; the original code stays in components 1-3.
 */

/** The system a map would list for a CWE coding-system name: its URI when known, else the name itself. */
function mappedSystem(map: CodeMap, name: string): string | undefined {
  const found = lookupSystem(name);
  if (found.kind === 'known' && map.covers(found.uri)) return found.uri;
  return map.covers(name) ? name : undefined;
}

/** Parses a codemap path: a segment and field (optionally one repetition), never a component. */
export function v2CodePath(path: string): Hl7Path {
  const p = parsePath(path);
  if (p.field === undefined || p.component !== undefined) throw new Error(`codemap path ${path}: give a segment and a CWE field, e.g. OBX-3`);
  return p;
}

export function applyCodeMapV2(msg: Hl7Message, path: string, map: CodeMap): CodeMapResult {
  const p = v2CodePath(path);
  const unmapped: UnmappedCode[] = [];
  const sources = new Set<string>();
  let mapped = 0;
  const segments = msg.all(p.segment);
  segments.forEach((_, i) => {
    const seg = i === 0 ? p.segment : `${p.segment}[${i + 1}]`;
    const reps = p.repetition !== undefined ? [p.repetition] : Array.from({ length: msg.repetitions(`${seg}-${p.field}`) }, (_r, r) => r + 1);
    for (const r of reps) {
      const at = `${seg}-${p.field}[${r}]`;
      const code = msg.get(`${at}.1`);
      const system = mappedSystem(map, msg.get(`${at}.3`));
      if (code === '' || system === undefined) continue;
      sources.add(system);
      const target = map.lookup(system, code)?.[0];
      if (!target) {
        unmapped.push({ system, code, path: at });
        continue;
      }
      if (msg.get(`${at}.4`) !== '') continue; // the alternate slot already holds a code: leave the sender's
      msg.set(`${at}.4`, target.code);
      msg.set(`${at}.5`, target.display ?? '');
      msg.set(`${at}.6`, systemName({ system: target.system }));
      mapped++;
    }
  });
  return { mapped, unmapped, sources };
}
