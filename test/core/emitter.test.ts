import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Emitter } from '../../src/core/index.js';
import { catchingUncaught } from '../fixtures/uncaught.js';

const settle = () => new Promise((resolve) => setImmediate(resolve));

test('a throwing listener does not stop the listeners after it; each error is rethrown later', async () => {
  await catchingUncaught(async (uncaught) => {
    const emitter = new Emitter<{ batch: [size: number] }>();
    const seen: string[] = [];
    emitter.on('batch', (size) => seen.push(`first ${size}`));
    emitter.on('batch', () => {
      throw new Error('a user listener bug');
    });
    emitter.on('batch', (size) => seen.push(`metrics ${size}`));
    emitter.on('batch', () => {
      throw new Error('a second bug');
    });
    emitter.on('batch', (size) => seen.push(`last ${size}`));
    assert.equal(emitter.emit('batch', 4), true);
    assert.deepEqual(seen, ['first 4', 'metrics 4', 'last 4']);
    await settle();
    assert.deepEqual(uncaught.map((e) => (e as Error).message), ['a user listener bug', 'a second bug']);
  });
});

test('a throwing once listener runs once, and the listeners after it run on every emit', async () => {
  await catchingUncaught(async (uncaught) => {
    const emitter = new Emitter<{ load: [name: string] }>();
    const seen: string[] = [];
    emitter.once('load', (name) => seen.push(`once before ${name}`));
    emitter.once('load', () => {
      throw new Error('a once bug');
    });
    emitter.once('load', (name) => seen.push(`once after ${name}`));
    emitter.on('load', (name) => seen.push(`on ${name}`));
    emitter.emit('load', 'a');
    emitter.emit('load', 'b');
    assert.deepEqual(seen, ['once before a', 'once after a', 'on a', 'on b']);
    assert.equal(emitter.listenerCount('load'), 1);
    await settle();
    assert.deepEqual(uncaught.map((e) => (e as Error).message), ['a once bug']);
  });
});

test('as in eventemitter3, a listener removed or added by an earlier one still runs or waits for the next emit', async () => {
  await catchingUncaught(async (uncaught) => {
    const emitter = new Emitter<{ unload: [] }>();
    const seen: string[] = [];
    const later = () => seen.push('removed by the first, still run');
    const added = () => seen.push('added');
    emitter.on('unload', () => {
      emitter.off('unload', later);
      emitter.on('unload', added);
      throw new Error('after changing the listeners');
    });
    emitter.on('unload', later);
    emitter.emit('unload');
    assert.deepEqual(seen, ['removed by the first, still run']);
    emitter.emit('unload');
    assert.deepEqual(seen, ['removed by the first, still run', 'added']);
    await settle();
    assert.equal(uncaught.length, 2);
  });
});

test('a listener runs with its context, and emit answers whether there were listeners', () => {
  const emitter = new Emitter<{ hit: [key: string] }>();
  assert.equal(emitter.emit('hit', 'k'), false);
  const context = { keys: [] as string[] };
  emitter.on('hit', function (this: typeof context, key) {
    this.keys.push(key);
  }, context);
  assert.equal(emitter.emit('hit', 'k'), true);
  assert.deepEqual(context.keys, ['k']);
});
