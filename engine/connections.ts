import type { ComponentRef } from '../config/components.js';
import { getComponent, type CreateContext } from './registry.js';

/** What a connection instance may offer the engine; `close` runs once when the engine stops. */
interface Closable {
  close?: () => Promise<void> | void;
}

/**
 * The engine's named connections (`connections:` in sluice.yaml). Each is created on first
 * use, so a connection no channel uses never dials anything, and the one instance is shared
 * by every channel that names it (one Kafka producer, one FHIR token manager per Epic).
 */
export class ConnectionPool {
  private readonly instances = new Map<string, unknown>();

  constructor(
    private readonly declared: Readonly<Record<string, ComponentRef>>,
    private readonly base: Omit<CreateContext, 'channel' | 'connection' | 'connectionsOfType'>,
  ) {}

  names(): string[] {
    return Object.keys(this.declared);
  }

  ofType(type: string): string[] {
    return Object.entries(this.declared).filter(([, ref]) => ref.component === type).map(([name]) => name);
  }

  get<T>(name: string, type: string): T {
    const ref = this.declared[name];
    if (!ref) {
      const known = this.names();
      throw new Error(`unknown connection "${name}" (known: ${known.join(', ') || 'none'})`);
    }
    if (ref.component !== type) throw new Error(`connection "${name}" is a ${ref.component} connection, expected ${type}`);
    if (this.instances.has(name)) return this.instances.get(name) as T;
    const spec = getComponent('connection', type);
    if (!spec) throw new Error(`connection type "${type}" is not registered`);
    const instance = spec.create(ref.options, { ...this.base, channel: `connection:${name}`, connectionName: name });
    this.instances.set(name, instance);
    return instance as T;
  }

  /** Closes every created instance; errors are logged, not thrown, so all get their turn. */
  async closeAll(): Promise<void> {
    const logger = this.base.logger;
    const open = [...this.instances.entries()];
    this.instances.clear();
    await Promise.all(open.map(async ([name, inst]) => {
      try {
        await (inst as Closable).close?.();
      } catch (err) {
        logger.error({ connection: name, err: (err as Error).message }, 'connection close failed');
      }
    }));
  }
}
