import { z } from 'zod';
import { getComponent, listComponents, type ComponentKind, type ComponentSpec } from '../engine/registry.js';
import { didYouMean, unknownName, type PathSegment } from './errors.js';
import { forwardIssues, parseWith } from './issues.js';

/**
 * `{ <component name>: <options> }` blocks. Validation looks the name up in the registry at
 * parse time (components registered later are included); the JSON Schema is a union of one
 * strict single-key object per registered component, built when it is generated.
 */
export type SchemaMode = 'validate' | 'json';

/** A selected component and its validated options (the output of the component's schema). */
export interface ComponentRef {
  /** The registered name, e.g. `mllp`. */
  readonly component: string;
  readonly options: unknown;
}

type Ctx = { issues: z.core.$ZodRawIssue[]; value: unknown };

const LABEL: Record<ComponentKind, string> = { source: 'source', step: 'step', destination: 'destination type', connection: 'connection type' };

function names(kind: ComponentKind): string[] {
  return listComponents(kind).map((c) => c.name);
}

function custom(ctx: Ctx, path: PathSegment[], message: string): void {
  ctx.issues.push({ code: 'custom', path, message, input: ctx.value });
}

/** Unwraps optional/default/pipe wrappers to see whether a schema takes a mapping. */
function takesObject(schema: z.ZodType): boolean {
  let def = (schema as unknown as { _zod: { def: { type: string; innerType?: z.ZodType; in?: z.ZodType } } })._zod.def;
  for (let i = 0; i < 10; i++) {
    if (def.type === 'object' || def.type === 'record') return true;
    const inner = def.innerType ?? def.in;
    if (!inner) return false;
    def = (inner as unknown as { _zod: { def: typeof def } })._zod.def;
  }
  return false;
}

/** Validates `options` with a component's schema; `name:` with nothing after it means `{}`. */
function parseOptions(spec: ComponentSpec, options: unknown, ctx: Ctx, path: PathSegment[]): { ok: true; value: unknown } | { ok: false } {
  const input = options === null && takesObject(spec.schema) ? {} : options;
  const r = parseWith(spec.schema, input);
  if (r.success) return { ok: true, value: r.data };
  ctx.issues.push(...forwardIssues(r.issues, path));
  return { ok: false };
}

/**
 * Picks the one registered component among the keys of `obj` (ignoring `extras`) and
 * validates its options. Reports every unknown key and every second component.
 */
function select(kind: ComponentKind, obj: Record<string, unknown>, extras: readonly string[], ctx: Ctx): ComponentRef | undefined {
  const known = names(kind);
  const keys = Object.keys(obj).filter((k) => !extras.includes(k));
  const registered = keys.filter((k) => getComponent(kind, k));
  const label = LABEL[kind];
  const plus = extras.length ? ` plus optional ${extras.join(', ')}` : '';
  for (const k of keys) {
    if (registered.includes(k)) continue;
    if (registered.length === 0) {
      custom(ctx, [k], unknownName(label, k, known));
    } else {
      const guess = didYouMean(k, [...extras, ...known]);
      const hint = guess ? `did you mean "${guess}"? ` : '';
      custom(ctx, [k], `unknown key "${k}" (${hint}expected one ${label} ("${registered[0]}")${plus})`);
    }
  }
  for (const k of registered.slice(1)) custom(ctx, [k], `only one ${label} allowed here; "${k}" conflicts with "${registered[0]}"`);
  if (keys.length === 0) {
    custom(ctx, [], `expected one ${label} as key, e.g. "${known[0] ?? 'name'}: { ... }" (${knownList(kind)})`);
  }
  const name = registered[0];
  if (name === undefined) return undefined;
  const parsed = parseOptions(getComponent(kind, name)!, obj[name], ctx, [name]);
  return parsed.ok && registered.length === 1 && keys.length === 1 ? { component: name, options: parsed.value } : undefined;
}

function knownList(kind: ComponentKind): string {
  const known = names(kind);
  return known.length ? `known: ${known.join(', ')}` : `no ${LABEL[kind]}s are registered`;
}

/** The message when the block is missing or not a mapping (names computed when reported). */
const MAPPING_ERROR = (kind: ComponentKind) => ({
  error: (iss: { input?: unknown }) =>
    iss.input === undefined
      ? `is required (one ${LABEL[kind]} as key; ${knownList(kind)})`
      : `expected a mapping with one ${LABEL[kind]} as key (${knownList(kind)})`,
});

/** `{ <name>: <options> }` for a source or a step. */
export function componentRef(kind: ComponentKind, mode: SchemaMode) {
  if (mode === 'json') return componentUnion(kind, {});
  return z.record(z.string(), z.unknown(), MAPPING_ERROR(kind)).transform((obj, ctx): ComponentRef => select(kind, obj, [], ctx) ?? z.NEVER);
}

/**
 * A destination entry: `{ <destination type>: <options>, ...extras }`. `extras` are plain
 * schemas validated alongside (the queue).
 */
export function componentWith<E extends Record<string, z.ZodType>>(kind: ComponentKind, mode: SchemaMode, extras: E) {
  if (mode === 'json') return componentUnion(kind, extras);
  const extraNames = Object.keys(extras);
  return z.record(z.string(), z.unknown(), MAPPING_ERROR(kind)).transform((obj, ctx) => {
    const ref = select(kind, obj, extraNames, ctx);
    const out: Record<string, unknown> = {};
    let ok = ref !== undefined;
    for (const [key, schema] of Object.entries(extras)) {
      const r = parseWith(schema, obj[key]);
      if (r.success) out[key] = r.data;
      else {
        ctx.issues.push(...forwardIssues(r.issues, [key]));
        ok = false;
      }
    }
    if (!ok || !ref) return z.NEVER;
    return { ...ref, ...out } as ComponentRef & { [K in keyof E]: z.output<E[K]> };
  });
}

/** For the JSON Schema: one strict `{ name: options }` object per registered component. */
function componentUnion(kind: ComponentKind, extras: Record<string, z.ZodType>) {
  const options = listComponents(kind).map((c) =>
    z.strictObject({ [c.name]: c.schema, ...extras }).meta({ title: `${c.name} (${kind})`, description: c.description }),
  );
  if (options.length === 0) return z.never().meta({ description: `no ${LABEL[kind]}s are registered` });
  return z.union(options as unknown as [z.ZodType, ...z.ZodType[]]);
}
