import { test } from 'node:test';
import assert from 'node:assert/strict';
import { availableParallelism } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { once } from 'node:events';
import { receiveMessageOnPort } from 'node:worker_threads';
import { readTensors, writeTensors } from '../../src/backends/onnx-node/arena.js';
import { addBusyThreads, checkPreemptions, spinAllowed, Link, pauseSpinning } from '../../src/backends/onnx-node/link.js';
import { enterNative, giveBack, leaveNative, postReply, PREEMPTIONS, replyInArena, takeMessage } from '../../src/backends/onnx-node/link-end.js';
import { takeBuffer, type TensorMap } from '../../src/core/index.js';

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
  const { shared } = new Link(1).end;
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
  for (const spinMs of [1, 0]) {
    const link = new Link(spinMs);
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

/** A link whose arena replies are `done` messages with tensor `y`, as the onnx-node pool sets it up. */
function arenaLink(): Link {
  const link = new Link(1);
  link.readArena = (arena) => ({ type: 'done', value: readTensors(arena, ['y']) });
  return link;
}

function closeLink(link: Link): void {
  link.port.close();
  link.end.port.close();
}

const y: TensorMap = { y: { datatype: 'FP32', shape: [2], data: new Float32Array([1.5, -2]) } };
const write = (arena: SharedArrayBuffer) => writeTensors(arena, ['y'], y);

test('while the pool polls, a reply that fits comes through the arena and no message is posted', () => {
  const link = arenaLink();
  assert.equal(replyInArena(link.end, write), false, 'not polled: the worker must post its reply');
  assert.equal(link.receive(), undefined);
  link.setPolled(true);
  assert.equal(link.polled, true);
  assert.equal(replyInArena(link.end, write), true);
  assert.deepEqual(link.receive(), { type: 'done', value: y });
  assert.equal(link.receive(), undefined, 'a reply is read once');
  assert.equal(receiveMessageOnPort(link.port), undefined, 'nothing was posted');
  closeLink(link);
});

test('a reply that lands in the arena as the pool stops polling wakes the event loop, and is delivered once', async () => {
  const link = arenaLink();
  const replies: unknown[] = [];
  link.onReply((message) => replies.push(message), (error) => assert.fail(error));
  link.setPolled(true);
  // The pool stops polling while the worker writes; the worker sees it and posts a wake-up.
  assert.equal(replyInArena(link.end, (arena) => (link.setPolled(false), write(arena))), true);
  await once(link.port, 'message');
  assert.deepEqual(replies, [{ type: 'done', value: y }]);

  // Here the pool's last look after it stopped polling finds the reply first: the wake-up finds none.
  link.setPolled(true);
  replyInArena(link.end, (arena) => (link.setPolled(false), write(arena)));
  assert.deepEqual(link.receive(), { type: 'done', value: y });
  await once(link.port, 'message');
  assert.equal(replies.length, 1, 'not delivered twice');
  closeLink(link);
});

test('a reply goes through the arena only once every earlier reply is read, so replies are read in order', () => {
  const link = arenaLink();
  link.setPolled(true);
  postReply(link.end, { type: 'done', value: 'first' }, []);
  assert.equal(replyInArena(link.end, write), false, 'the first reply waits unread on the port');
  postReply(link.end, { type: 'done', value: 'second' }, []);
  assert.deepEqual(link.receive(), { type: 'done', value: 'first' });
  assert.deepEqual(link.receive(), { type: 'done', value: 'second' });
  assert.equal(replyInArena(link.end, write), true, 'every reply is read: the next may use the arena');
  assert.deepEqual(link.receive(), { type: 'done', value: y });
  assert.equal(link.hasReply(), false);
  closeLink(link);
});

/** An object nested deeper than this thread's stack lets it be read back, though it can be posted. */
function tooDeep(): unknown {
  let value: unknown = 1;
  for (let i = 0; i < 2_000; i++) value = { a: value };
  return value;
}

test('a reply that cannot be read is reported, whether the event loop or a poll comes to it, and the next reply may use the arena again', async () => {
  const link = arenaLink();
  const replies: unknown[] = [];
  const unreadable: Error[] = [];
  link.onReply((message) => replies.push(message), (error) => unreadable.push(error));
  link.setPolled(true);

  postReply(link.end, { type: 'done', value: tooDeep() }, []);
  await once(link.port, 'messageerror');
  assert.deepEqual(unreadable.map((e) => e.message), ['Maximum call stack size exceeded']);
  assert.equal(link.hasReply(), false, 'the reply counts as read');
  assert.equal(replyInArena(link.end, write), true, 'every reply is read: the next may use the arena');
  assert.deepEqual(link.receive(), { type: 'done', value: y });

  postReply(link.end, { type: 'done', value: tooDeep() }, []);
  postReply(link.end, { type: 'done', value: 'after it' }, []);
  assert.equal(link.receive(), undefined, 'a poll that finds the reply unreadable does not throw');
  assert.equal(unreadable.length, 2);
  assert.deepEqual(link.receive(), { type: 'done', value: 'after it' });
  assert.equal(replyInArena(link.end, write), true);
  assert.deepEqual(link.receive(), { type: 'done', value: y });
  assert.deepEqual(replies, [], 'the event loop delivered nothing twice');
  closeLink(link);
});

test('buffers given back are recycled, whether the event loop or a poll reads the notice', async () => {
  const link = arenaLink();
  link.onReply(() => assert.fail('a notice is not a reply'), (error) => assert.fail(error));
  const pattern = (n: number) => new Float32Array(13).fill(n);
  giveBack(link.end, [pattern(1).buffer]);
  await once(link.port, 'message');
  assert.deepEqual(new Float32Array(takeBuffer(13 * 4)), pattern(1), 'recycled by the listener');

  giveBack(link.end, [pattern(2).buffer]);
  postReply(link.end, { type: 'done', value: 'after the notice' }, []);
  assert.deepEqual(link.receive(), { type: 'done', value: 'after the notice' }, 'a poll reads past the notice to the reply');
  assert.deepEqual(new Float32Array(takeBuffer(13 * 4)), pattern(2), 'and recycles on the way');
  closeLink(link);
});

test('a start called off inside a native step is never to be terminated, and one called off before it never enters one, whichever comes first', () => {
  const inside = new Link(0);
  assert.equal(enterNative(inside.end), true, 'the worker enters its native step');
  assert.equal(inside.callOffStart(), false, 'called off inside the step: the pool must wait for the worker to exit');
  assert.equal(leaveNative(inside.end), false, 'leaving the step, the worker finds its start called off and exits');
  closeLink(inside);

  const before = new Link(0);
  assert.equal(before.callOffStart(), true, 'called off in JavaScript: the pool may terminate the worker');
  assert.equal(enterNative(before.end), false, 'the worker then never enters a native step');
  closeLink(before);

  const after = new Link(0);
  assert.equal(enterNative(after.end), true);
  assert.equal(leaveNative(after.end), true, 'the step ends before any call-off: the worker goes on');
  assert.equal(after.callOffStart(), true, 'called off back in JavaScript: the pool may terminate the worker');
  closeLink(after);
});
