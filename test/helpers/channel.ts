import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { BUILTIN_QUEUE, type ChannelConfig, type EngineConfig, type QueueConfig, type FilterConfig, type RouteRule } from '../../config/schema.js';
import { destinationQueue } from '../../config/load.js';
import '../../engine/channel/components/index.js';
import { getComponent, type ComponentKind } from '../../engine/registry.js';

/** A component block with its options run through the registered schema (defaults applied). */
function ref(kind: ComponentKind, block: Record<string, unknown>): { component: string; options: unknown } {
  const [name, options] = Object.entries(block)[0]!;
  const spec = getComponent(kind, name);
  if (!spec) throw new Error(`no ${kind} ${name}`);
  return { component: name, options: spec.schema.parse(options ?? {}) };
}

export interface TestChannel {
  name?: string;
  source: Record<string, unknown>;
  respondFrom?: ChannelConfig['respondFrom'];
  dataType?: ChannelConfig['dataType'];
  duplicates?: { enabled: boolean; window: number };
  maxBacklog?: number;
  filter?: FilterConfig;
  steps?: Record<string, unknown>[];
  route?: RouteRule[];
  destinations: Record<string, Record<string, unknown> & { queue?: Partial<QueueConfig> }>;
}

/** Builds a ChannelConfig the way the loader would, for runtime tests. */
export function channelConfig(t: TestChannel): ChannelConfig {
  const destinations: ChannelConfig['destinations'] = {};
  for (const [name, block] of Object.entries(t.destinations)) {
    const { queue, ...rest } = block;
    const component = ref('destination', rest);
    destinations[name] = { name, ...component, queue: destinationQueue(component.component, undefined, queue) };
  }
  return {
    name: t.name ?? 'test',
    enabled: true,
    source: ref('source', t.source),
    respondFrom: t.respondFrom ?? 'received',
    dataType: t.dataType ?? 'hl7v2',
    duplicates: t.duplicates ?? { enabled: true, window: 86_400_000 },
    maxBacklog: t.maxBacklog ?? 10_000,
    orderingKey: 'PID-3.1',
    filter: t.filter,
    steps: (t.steps ?? []).map((s) => ref('step', s)),
    route: t.route ?? [{ to: Object.keys(t.destinations), continue: false }],
    destinations,
  };
}

export async function tempEngineConfig(overrides: Partial<EngineConfig> = {}): Promise<EngineConfig> {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'sluice-engine-'));
  return {
    file: undefined, dataDir, store: {}, channels: [], log: { level: 'silent' }, connections: {}, defaults: { queue: BUILTIN_QUEUE },
    ...overrides,
  };
}

export function adt(controlId: string, mrn: string, extra = ''): string {
  return `MSH|^~\\&|ADT|HOSP|RCV|RFAC|20240101120000||ADT^A01^ADT_A01|${controlId}|P|2.5.1\rEVN|A01|20240101120000\rPID|1||${mrn}^^^HOSP^MR||DOE^JANE||19800101|F\rPV1|1|I|WARD^1^A${extra}\r`;
}
