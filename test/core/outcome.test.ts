import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ModelNotReadyError, ModelTooLargeError, outcomeOf } from 'servable';

// docs/metrics.md: a ModelTooLargeError a handler throws counts as not-ready, as the ModelNotReadyError a request whose load meets one gets.
test('a ModelTooLargeError counts as not-ready, as a failed load does for a request, not as a backend failure', () => {
  const tooLarge = new ModelTooLargeError("Model 'm' version '1' is estimated at 1500 bytes, more than `maxLoadedBytes` (1000) by 500 bytes", 1500, 1000);
  const failedLoad = new ModelNotReadyError("Model 'm' version '1' failed to load", { cause: tooLarge, retryAfterMs: null });
  assert.deepEqual([outcomeOf(tooLarge), outcomeOf(failedLoad)], ['not-ready', 'not-ready']);
});
