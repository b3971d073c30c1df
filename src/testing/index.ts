/**
 * Test helpers for users of servable: a fake clock, the memory backend, a harness that drives
 * your Handler over a JavaScript model with no timers and no native code, and conformance suites
 * for your own backends and cache stores.
 * @module servable/testing
 */
export { FakeClock } from './fake-clock.js';
export { memoryBackend, type MemoryBackend, type MemoryBackendOptions, type MemoryModel, type MemoryCall } from '../backends/index.js';
export { handlerHarness, expectOk, expectError, type HandlerHarness, type HarnessOptions, type ItemResult } from './handler-harness.js';
export { backendContract, type BackendContractSubject, type BackendContractOptions } from './backend-contract.js';
export { cacheStoreContract, type ContractSubject, type ContractTest } from './cache-store-contract.js';
