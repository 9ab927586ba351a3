import type { ChannelConfig, EngineConfig } from '../config/schema.js';
import { buildChannel } from './channel/build.js';
import { Channel } from './channel/channel.js';
import { channelFingerprint } from './channel/fingerprint.js';
import type { ChannelLookup } from './channel/components/destinations.js';
import { ConnectionPool } from './connections.js';
import type { Logger } from './log.js';
import { openStore } from './store/index.js';
import { MessageNotFoundError, PENDING_STATUSES } from './store/rows.js';
import type { MessageStore } from './store/types.js';

const PRUNE_EVERY_MS = 60 * 60_000;

/** The channel exists but is not in a state to do what was asked. */
export class ChannelStateError extends Error {
  override readonly name = 'ChannelStateError';
}

/**
 * The running engine: one message store and the deployed channels. Channels can be
 * deployed, undeployed, started, stopped and paused while it runs.
 */
/** What reload() did, channel by channel. */
export interface ReloadResult {
  readonly deployed: string[];
  readonly redeployed: string[];
  readonly undeployed: string[];
  readonly unchanged: string[];
  /** Channels that could not be (re)deployed or started, with why; the others went ahead. */
  readonly failed: { readonly channel: string; readonly error: string }[];
}

export class Engine implements ChannelLookup {
  private readonly channels = new Map<string, Channel>();
  /** What each deployed channel was built from (config and script files), to tell what a reload changes. */
  private readonly fingerprints = new Map<string, string>();
  private pruneTimer: NodeJS.Timeout | undefined;
  readonly connections: ConnectionPool;

  private constructor(readonly config: EngineConfig, readonly store: MessageStore, private readonly logger: Logger) {
    this.connections = new ConnectionPool(config.connections, {
      dataDir: config.dataDir, logger: logger.child({ component: 'connection' }), engine: this,
      ...(config.store.encryptionKey ? { encryptionKey: config.store.encryptionKey } : {}),
    });
  }

  /** Opens the store; call deploy() for each channel, or use startAll(). */
  static async open(config: EngineConfig, logger: Logger, store?: MessageStore): Promise<Engine> {
    const s = store ?? await openStore({
      url: config.store.url, dataDir: config.dataDir, encryptionKey: config.store.encryptionKey,
      onBackgroundError: (message) => logger.error({ err: message }, 'message store background work failed'),
    });
    const engine = new Engine(config, s, logger);
    engine.schedulePrune();
    return engine;
  }

  /** Deploys and starts every enabled channel. */
  async startAll(channels: readonly ChannelConfig[]): Promise<void> {
    for (const c of channels) {
      if (!c.enabled) continue;
      this.deploy(c);
    }
    for (const c of this.channels.values()) await c.start();
  }

  /** Creates a channel's components and registers it (stopped). Replaces nothing: undeploy first. */
  deploy(cfg: ChannelConfig): Channel {
    if (this.channels.has(cfg.name)) throw new Error(`channel "${cfg.name}" is already deployed`);
    // Before the build reads the script files: an edit during it is then seen by the next reload.
    const fingerprint = channelFingerprint(cfg);
    const logger = this.logger.child({ channel: cfg.name });
    const def = buildChannel(cfg, {
      channel: cfg.name, dataDir: this.config.dataDir, logger, engine: this,
      connection: <T>(name: string, type: string) => this.connections.get<T>(name, type),
      connectionsOfType: (type: string) => this.connections.ofType(type),
    });
    const channel = new Channel(def, this.store, logger);
    this.channels.set(cfg.name, channel);
    this.fingerprints.set(cfg.name, fingerprint);
    return channel;
  }

  /** Stops a channel (draining in-flight work) and removes it. */
  async undeploy(name: string): Promise<void> {
    const c = this.require(name);
    await c.stop();
    this.channels.delete(name);
    this.fingerprints.delete(name);
  }

  /**
   * Brings the deployed channels in line with `configs` (the channel files as read again):
   * new enabled channels are deployed and started, changed ones undeployed (drained) and
   * deployed again, removed or disabled ones undeployed; unchanged ones keep running as
   * they are (a paused channel stays paused).
   */
  async reload(configs: readonly ChannelConfig[]): Promise<ReloadResult> {
    const result: ReloadResult = { deployed: [], redeployed: [], undeployed: [], unchanged: [], failed: [] };
    const wanted = new Map(configs.filter((c) => c.enabled).map((c) => [c.name, c]));
    for (const name of [...this.channels.keys()]) {
      if (wanted.has(name)) continue;
      try {
        await this.undeploy(name);
        result.undeployed.push(name);
      } catch (error) {
        result.failed.push({ channel: name, error: (error as Error).message });
      }
    }
    for (const cfg of wanted.values()) {
      const current = this.fingerprints.get(cfg.name);
      if (current && current === channelFingerprint(cfg)) {
        result.unchanged.push(cfg.name);
        continue;
      }
      let created: Channel | undefined;
      try {
        if (current) await this.undeploy(cfg.name);
        created = this.deploy(cfg);
        await created.start();
        (current ? result.redeployed : result.deployed).push(cfg.name);
      } catch (error) {
        // A channel this reload made but could not start (its port taken, say) is not left half deployed.
        if (created && this.channels.get(cfg.name) === created) await this.undeploy(cfg.name).catch(() => undefined);
        result.failed.push({ channel: cfg.name, error: (error as Error).message });
      }
    }
    return result;
  }

  /**
   * Re-runs a finished message (SENT, ERROR or FILTERED) in its channel, which must be
   * deployed and not stopped (a paused channel's queues still run). An unfinished one is
   * refused: its delivery may still be retrying in memory, and it would go out twice.
   */
  async reprocess(id: string, reason?: string): Promise<void> {
    const message = await this.store.get(id);
    if (!message) throw new MessageNotFoundError(id);
    if (PENDING_STATUSES.includes(message.status)) {
      throw new ChannelStateError(`message ${id} is ${message.status}: still in progress, reprocess it once it has finished`);
    }
    const channel = this.channels.get(message.channel);
    if (!channel) throw new ChannelStateError(`channel "${message.channel}" is not deployed`);
    if (channel.state === 'stopped') throw new ChannelStateError(`channel "${message.channel}" is stopped`);
    await channel.reprocess(id, reason);
  }

  channel(name: string): Channel | undefined {
    return this.channels.get(name);
  }

  list(): Channel[] {
    return [...this.channels.values()];
  }

  intakeOf(name: string): Channel['intake'] | undefined {
    const c = this.channels.get(name);
    // A paused channel takes nothing, from its source or from other channels.
    return c && c.state === 'started' ? c.intake : undefined;
  }

  /** Graceful shutdown: every channel drains, then the connections and the store close. */
  async stop(): Promise<void> {
    clearInterval(this.pruneTimer);
    await Promise.all([...this.channels.values()].map((c) => c.stop()));
    await this.connections.closeAll();
    await this.store.close();
  }

  private require(name: string): Channel {
    const c = this.channels.get(name);
    if (!c) throw new Error(`no channel named "${name}" (deployed: ${[...this.channels.keys()].join(', ') || 'none'})`);
    return c;
  }

  private schedulePrune(): void {
    const retention = this.config.store.retention;
    if (!retention) return;
    const prune = (): void => {
      this.store.prune(Date.now() - retention).then(
        (n) => { if (n > 0) this.logger.info({ pruned: n }, 'retention: old messages pruned'); },
        (err: unknown) => this.logger.error({ err: (err as Error).message }, 'retention pruning failed'),
      );
    };
    this.pruneTimer = setInterval(prune, PRUNE_EVERY_MS);
    this.pruneTimer.unref();
    setImmediate(prune);
  }
}
