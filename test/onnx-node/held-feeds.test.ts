import { test } from 'node:test';
import assert from 'node:assert/strict';
import { receiveMessageOnPort } from 'node:worker_threads';
import { HELD_BATCHES, HELD_BYTES, HeldFeeds } from '../../src/backends/onnx-node/held-feeds.js';
import { Link } from '../../src/backends/onnx-node/link.js';
import { takeMessage } from '../../src/backends/onnx-node/link-end.js';

/** The byte lengths of the buffers in the recycle notices posted to the pool so far, one list per message. */
function notices(link: Link): number[][] {
  const out: number[][] = [];
  for (let m = receiveMessageOnPort(link.port); m; m = receiveMessageOnPort(link.port)) {
    out.push((m.message as { buffers: ArrayBuffer[] }).buffers.map((b) => b.byteLength));
  }
  return out;
}

test('feed buffers go back in one message once HELD_BATCHES batches are held, not one message a batch', () => {
  const link = new Link(0);
  const held = new HeldFeeds(link.end);
  for (let batch = 1; batch < HELD_BATCHES; batch++) held.add([new ArrayBuffer(batch * 8)]);
  held.add([]);
  assert.deepEqual(notices(link), [], 'nothing posted while fewer batches are held; an empty batch does not count');
  held.add([new ArrayBuffer(HELD_BATCHES * 8), new ArrayBuffer(4)]);
  assert.deepEqual(notices(link), [[...Array.from({ length: HELD_BATCHES }, (_, i) => (i + 1) * 8), 4]]);
  held.add([new ArrayBuffer(16)]);
  held.flush();
  held.flush();
  assert.deepEqual(notices(link), [[16]], 'flush posts what is held, and nothing when none is');
  link.port.close();
  link.end.port.close();
});

test('takeMessage calls idle before it sleeps, not when the job is already there, and a job posted by idle is taken', () => {
  for (const spinMs of [0, 1]) {
    const link = new Link(spinMs);
    let idled = 0;
    link.send({ n: 1 }, []);
    assert.deepEqual(takeMessage(link.end, 0, () => idled++), { n: 1 });
    assert.equal(idled, 0, 'the job was posted before it looked');
    const message = takeMessage(link.end, 1, () => {
      idled++;
      link.send({ n: 2 }, []);
    });
    assert.deepEqual(message, { n: 2 });
    assert.equal(idled, 1, `called once before sleeping (spinMs ${spinMs})`);
    link.port.close();
    link.end.port.close();
  }
});

test('large batches go back at once: a worker holds under HELD_BYTES of feeds between replies', () => {
  const link = new Link(0);
  const held = new HeldFeeds(link.end);
  held.add([new ArrayBuffer(HELD_BYTES - 8)]);
  assert.deepEqual(notices(link), [], 'held while under HELD_BYTES');
  held.add([new ArrayBuffer(8)]);
  assert.deepEqual(notices(link), [[HELD_BYTES - 8, 8]], 'moved back once HELD_BYTES are held, fewer than HELD_BATCHES batches');
  held.add([new ArrayBuffer(20 * 1024 * 1024)]);
  assert.deepEqual(notices(link), [[20 * 1024 * 1024]], 'a batch of HELD_BYTES or more goes back after its own reply');
  link.port.close();
  link.end.port.close();
});
