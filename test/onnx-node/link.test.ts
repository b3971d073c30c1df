import { test } from 'node:test';
import assert from 'node:assert/strict';
import { availableParallelism } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { addBusyThreads, checkPreemptions, spinAllowed, Link, pauseSpinning } from '../../src/backends/onnx-node/link.js';
import { PREEMPTIONS, takeMessage } from '../../src/backends/onnx-node/link-end.js';

test('a core counts as free while the inference threads leave one, and not while spinning is paused', async () => {
  assert.equal(spinAllowed(), true);
  addBusyThreads(availableParallelism());
  assert.equal(spinAllowed(), false, 'every core runs inference');
  addBusyThreads(-availableParallelism());
  assert.equal(spinAllowed(), true);
  pauseSpinning();
  pauseSpinning();
  assert.equal(spinAllowed(), false, 'paused');
  await sleep(150);
  assert.equal(spinAllowed(), true, 'spinning resumes after 100 ms');
});

test('spinning pauses when workers report 5 preemptions within 100 ms, not fewer', async () => {
  const { shared } = new Link(true).end;
  await sleep(150);
  checkPreemptions(); // opens a new window
  Atomics.add(shared, PREEMPTIONS, 4);
  checkPreemptions();
  assert.equal(spinAllowed(), true, '4 preemptions are the hypervisor at work');
  Atomics.add(shared, PREEMPTIONS, 1);
  checkPreemptions();
  assert.equal(spinAllowed(), false, 'the fifth within the window pauses spinning');
  await sleep(150);
  assert.equal(spinAllowed(), true);
});

test('takeMessage reads the messages in order, whether they were posted before it waits or not', async () => {
  for (const spin of [true, false]) {
    const link = new Link(spin);
    link.send({ n: 1 }, []);
    link.send({ n: 2 }, []);
    assert.deepEqual(takeMessage(link.end, 0), { n: 1 });
    assert.deepEqual(takeMessage(link.end, 1), { n: 2 });
    const data = new Float32Array([1, 2]);
    link.send({ n: 3, data }, [data.buffer]);
    assert.equal(data.length, 0, 'the transfer list moved the buffer');
    assert.deepEqual(takeMessage(link.end, 2), { n: 3, data: new Float32Array([1, 2]) });
    link.port.close();
    link.end.port.close();
  }
});
