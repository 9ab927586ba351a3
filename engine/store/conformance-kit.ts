/** Harness types and helpers shared by the conformance suite's files. */
import { afterEach, beforeEach, expect } from 'vitest';
import type { OpenStoreOptions } from './index.js';
import type { MessageStore, NewMessage, StoreStats } from './types.js';

export type TestStore = MessageStore & { stats(): StoreStats };

export interface StoreOpenOptions {
  readonly encryptionKey?: string | Buffer;
  readonly maxBatch?: number;
}

/** One empty database (a temp directory, or a throwaway PostgreSQL schema). */
export interface StoreLocation {
  /** Opens (and initialises) a store on this location. */
  open(options?: StoreOpenOptions): Promise<TestStore>;
  /** Runs SQL on the location over a separate connection; `?` placeholders. */
  rows(sql: string, params?: unknown[]): Promise<Record<string, unknown>[]>;
  /** Every byte the database holds for this location (files, or every row's values). */
  dump(): Promise<Buffer>;
  /** Options for `openStore` in another process (the durability test). */
  childOptions(options?: StoreOpenOptions): OpenStoreOptions;
  dispose(): Promise<void>;
}

export interface StoreHarness {
  readonly name: string;
  location(): Promise<StoreLocation>;
}

/** Every byte value, inside an HL7-looking message, so round trips are checked byte for byte. */
export const BINARY = Buffer.concat([
  Buffer.from('MSH|^~\\&|LAB|HOSP|SLUICE|HOSP|20240101120000||ORU^R01|CTRL1|P|2.5\rPID|1||MRN12345^^^HOSP^MR||DOE^JANE\r'),
  Buffer.from(Array.from({ length: 256 }, (_, i) => i)),
]);

export function msg(over: Partial<NewMessage> = {}): NewMessage {
  return {
    channel: 'adt', receivedAt: 1_700_000_000_000, sourceKind: 'mllp', peer: '10.0.0.7:40001', controlId: 'CTRL1',
    sender: 'LAB^HOSP', messageType: 'ORU^R01', patientId: 'MRN12345', orderingKey: 'MRN12345', raw: BINARY, ...over,
  };
}

/** A fresh location and open store per test, closed and dropped afterwards. */
export function useStore(harness: StoreHarness, options?: StoreOpenOptions): { readonly loc: StoreLocation; readonly store: TestStore } {
  const ctx = {} as { loc: StoreLocation; store: TestStore };
  beforeEach(async () => {
    ctx.loc = await harness.location();
    ctx.store = await ctx.loc.open(options);
  });
  afterEach(async () => {
    await ctx.loc.dispose();
  });
  return ctx;
}

/**
 * After a version 1 store (one content, 'old run', stage transformed) was opened and migrated:
 * its content is run 0, a save of the same run joins it, and a reprocess adds run 1.
 */
export async function expectContentRunsAfterMigration(store: MessageStore, id: string): Promise<void> {
  await store.saveContent(id, 'sent', 'old run sent', 'text/plain', 'd');
  await store.markForReprocess(id);
  await store.saveContent(id, 'transformed', 'new run', 'text/plain');
  const contents = (await store.get(id))!.contents;
  expect(contents.map((c) => [c.run, c.stage, Buffer.from(c.content).toString()])).toEqual([
    [0, 'transformed', 'old run'], [0, 'sent', 'old run sent'], [1, 'transformed', 'new run'],
  ]);
}
