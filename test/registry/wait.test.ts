import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeClock } from 'servable/testing';
import { CancelledError } from '../../src/core/index.js';
import { waitFor } from '../../src/registry/wait.js';
import { flush } from './helpers.js';

test('waitFor() with a signal aborted already rejects with its reason, clears its timer, and still handles the rejection of what it waited for', async () => {
  const clock = new FakeClock();
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown) => unhandled.push(reason);
  process.on('unhandledRejection', onUnhandled);
  try {
    const reason = new Error('client gone');
    let fail!: (error: Error) => void;
    const loading = new Promise<string>((_, reject) => (fail = reject));
    await assert.rejects(waitFor(loading, 'm', { signal: AbortSignal.abort(reason), timeoutMs: 1000 }, clock), (e) => e === reason);
    await assert.rejects(waitFor(Promise.resolve('v'), 'm', { signal: AbortSignal.abort() }, clock), CancelledError);
    assert.equal(clock.pending, 0);
    fail(new Error('load called off'));
    await flush();
    assert.deepEqual(unhandled, []);
  } finally {
    process.off('unhandledRejection', onUnhandled);
  }
});
