/**
 * The message-store conformance suite: the same tests for every backend. A backend's test
 * file supplies a `StoreHarness` and calls `describeStore(harness)`.
 */
import { describe } from 'vitest';
import { describeBasics, describeSearch } from './conformance-basics.js';
import type { StoreHarness } from './conformance-kit.js';
import { describeEncryption } from './conformance-crypto.js';
import { describeStoreOperations } from './conformance-ops.js';

export * from './conformance-kit.js';

export function describeStore(harness: StoreHarness): void {
  describe(`message store conformance: ${harness.name}`, () => {
    describe('basics', () => describeBasics(harness));
    describe('search', () => describeSearch(harness));
    describe('operations', () => describeStoreOperations(harness));
    describe('encryption at rest', () => describeEncryption(harness));
  });
}

