import type { z } from 'zod';

/**
 * The one registry of components. Config validation, the JSON Schema, the reference docs
 * and `sluice list` are all generated from what is registered here and nothing else.
 */
/**
 * A `connection` is engine-wide: declared once under `connections:` in sluice.yaml, created
 * once per engine (lazily, on first use), shared by every channel that names it, and closed
 * when the engine stops.
 */
export type ComponentKind = 'source' | 'step' | 'destination' | 'connection';

export interface ComponentSpec<K extends ComponentKind = ComponentKind, S extends z.ZodType = z.ZodType, I = unknown> {
  readonly kind: K;
  /** The YAML key that selects it, e.g. `mllp` under `source:` or `file` under a destination. */
  readonly name: string;
  /** One line for `sluice list` and the docs. */
  readonly description: string;
  /** Options schema; strict objects, so unknown keys are errors. */
  readonly schema: S;
  /** Longer docs (markdown) and a YAML example for the generated reference. */
  readonly docs?: string;
  readonly example?: string;
  /** Builds the runtime object from validated options. */
  readonly create: (options: z.output<S>, ctx: CreateContext) => I;
  /**
   * Destinations: queue settings that suit this kind better than the built-in ones. They sit
   * under the engine file's `defaults.queue` and the destination's own `queue:` block.
   */
  readonly queueDefaults?: { readonly concurrency?: number };
}

/** What a factory may use: the engine's logger, data directory and named connections. */
export interface CreateContext {
  readonly channel: string;
  readonly dataDir: string;
  readonly logger: import('./log.js').Logger;
  /** Resolves a named channel for the `channel` destination. */
  readonly engine?: unknown;
  /**
   * The shared instance of the engine connection `name`, which must be of `type` (the
   * registered connection component, e.g. `kafka`, `fhir`). Throws a clear error when it
   * is not declared or of another type. Absent outside an engine (e.g. unit tests).
   */
  readonly connection?: <T>(name: string, type: string) => T;
  /** For a connection: its name under `connections:`. */
  readonly connectionName?: string;
  /** The engine's `store.encryptionKey`, for components that keep secrets at rest (rotated tokens). */
  readonly encryptionKey?: string;
  /** Names of the declared connections of one type, so a component can pick the only one. */
  readonly connectionsOfType?: (type: string) => string[];
}

const components = new Map<string, ComponentSpec>();

function keyOf(kind: ComponentKind, name: string): string {
  return `${kind}:${name}`;
}

export function registerComponent<K extends ComponentKind, S extends z.ZodType, I>(spec: ComponentSpec<K, S, I>): ComponentSpec<K, S, I> {
  const key = keyOf(spec.kind, spec.name);
  const existing = components.get(key);
  if (existing && existing !== (spec as unknown as ComponentSpec)) throw new Error(`component ${key} is registered twice`);
  components.set(key, spec as unknown as ComponentSpec);
  return spec;
}

export function getComponent(kind: ComponentKind, name: string): ComponentSpec | undefined {
  return components.get(keyOf(kind, name));
}

export function listComponents(kind?: ComponentKind): ComponentSpec[] {
  return [...components.values()].filter((c) => !kind || c.kind === kind).sort((a, b) => a.kind.localeCompare(b.kind) || a.name.localeCompare(b.name));
}
