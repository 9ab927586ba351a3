import type { ChannelConfig, QueueConfig } from '../../config/schema.js';
import { getComponent, type ComponentKind, type CreateContext } from '../registry.js';
import type { ChannelDefinition, CompiledRoute } from './channel.js';
import { compileCondition } from './condition.js';
import { FILTERED } from './envelope.js';
import type { QueuePolicy } from './policy.js';
import type { Destination, Source, Step } from './types.js';
import './components/index.js';

function create<T>(kind: ComponentKind, name: string, options: unknown, ctx: CreateContext): T {
  const spec = getComponent(kind, name);
  if (!spec) throw new Error(`channel ${ctx.channel}: no ${kind} named "${name}" is registered`);
  return spec.create(options, ctx) as T;
}

function policyOf(q: QueueConfig): QueuePolicy {
  return { mode: q.mode, maxAttempts: q.maxAttempts, initialBackoffMs: q.backoff.initial, maxBackoffMs: q.backoff.max, factor: q.backoff.factor, concurrency: q.concurrency };
}

/** Turns a validated channel config into a runnable definition, creating its components. */
export function buildChannel(cfg: ChannelConfig, ctx: CreateContext, replaceDestination?: (name: string) => Destination): ChannelDefinition {
  const filterCondition = cfg.filter ? compileCondition(cfg.filter, 'filter') : undefined;
  const filter: Step | undefined = filterCondition ? (env) => (filterCondition(env) ? env : FILTERED) : undefined;
  const route: CompiledRoute[] = cfg.route.map((r) => ({ when: r.when ? compileCondition(r.when, 'route') : undefined, to: r.to, continue: r.continue }));
  return {
    name: cfg.name,
    source: create<Source>('source', cfg.source.component, cfg.source.options, ctx),
    respondFrom: cfg.respondFrom,
    dataType: cfg.dataType,
    duplicates: { enabled: cfg.duplicates.enabled, windowMs: cfg.duplicates.window },
    maxBacklog: cfg.maxBacklog,
    orderingKey: cfg.orderingKey,
    patientPath: 'PID-3[1].1',
    filter,
    steps: cfg.steps.map((s, i) => ({ name: `${s.component}#${i + 1}`, step: create<Step>('step', s.component, s.options, ctx) })),
    route,
    destinations: Object.values(cfg.destinations).map((d) => ({
      name: d.name,
      // Channel tests swap destinations for recorders; nothing else should.
      destination: replaceDestination ? replaceDestination(d.name) : create<Destination>('destination', d.component, d.options, ctx),
      policy: policyOf(d.queue),
    })),
  };
}
