import assert from 'node:assert/strict';
import test from 'node:test';
import { FlatIndex } from '../../src/cache/semantic/flat-index.js';
import { normalized } from '../../src/cache/semantic/vector.js';

/** A seeded generator, so every run checks the same vectors. */
function random(seed: number): () => number {
  return () => {
    seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
    return seed / 2 ** 32 - 0.5;
  };
}

function unit(values: ArrayLike<number>): Float32Array {
  return normalized(values, values.length);
}

/** The best row by a plain float64 scan: the reference every search must match. */
function bruteForce(rows: Float32Array[], query: Float32Array, minScore: number): { slot: number; score: number } | undefined {
  let best: { slot: number; score: number } | undefined;
  rows.forEach((row, slot) => {
    let s = 0;
    for (let i = 0; i < row.length; i++) s += row[i]! * query[i]!;
    if (s >= minScore && (!best || s > best.score + 1e-12)) best = { slot, score: s };
  });
  return best;
}

for (const dims of [384, 100, 7]) {
  test(`FlatIndex with ${dims} dimensions: the int8-screened search returns exactly what a full scan returns`, () => {
    const rnd = random(dims);
    const rows = Array.from({ length: 3000 }, () => unit(Array.from({ length: dims }, rnd)));
    const screened = new FlatIndex(dims, { accelerateAt: 1000 });
    const plain = new FlatIndex(dims, { accelerate: false });
    for (const row of rows) {
      screened.add(row);
      plain.add(row);
    }
    assert.equal(screened.accelerated, true, 'WebAssembly SIMD is available in Node 20');
    assert.equal(plain.accelerated, false);
    let matches = 0;
    for (let k = 0; k < 60; k++) {
      const base = rows[(k * 37) % rows.length]!;
      const noise = [0.02, 0.3, 1, 5][k % 4]!;
      const query = unit(Array.from(base, (v) => v + rnd() * noise / Math.sqrt(dims)));
      for (const threshold of [-1, 0, 0.2, 0.5, 0.8, 0.95, 0.999]) {
        const a = screened.search(query, threshold);
        const b = plain.search(query, threshold);
        const c = bruteForce(rows, query, threshold);
        assert.deepEqual(a, b, `query ${k}, threshold ${threshold}`);
        assert.equal(a?.slot, c?.slot, `query ${k}, threshold ${threshold}: reference`);
        if (a) {
          assert.ok(Math.abs(a.score - c!.score) < 1e-6);
          matches++;
        }
      }
    }
    assert.ok(matches > 100, `${matches} searches found a row`);
  });
}

test('FlatIndex removes a row by moving the last one into its slot, in both representations', () => {
  const rnd = random(7);
  const rows = Array.from({ length: 1100 }, () => unit(Array.from({ length: 64 }, rnd)));
  const index = new FlatIndex(64, { accelerateAt: 1024 });
  for (const row of rows) index.add(row);
  assert.equal(index.accelerated, true);
  assert.equal(index.remove(5), 1099, 'the last row moved into slot 5');
  assert.equal(index.remove(index.size - 1), -1, 'removing the last row moves nothing');
  assert.equal(index.size, 1098);
  const moved = index.search(rows[1099]!, 0.999);
  assert.deepEqual(moved?.slot, 5);
  assert.equal(index.search(rows[5]!, 0.999), undefined, 'the removed row is gone');
  assert.equal(index.search(rows[1098]!, 0.999), undefined);
  assert.throws(() => index.remove(1098), /Expected a slot between 0 and 1097, got 1098/);
});

test('FlatIndex gives back the memory of rows removed: its buffer halves once a quarter is in use, and the int8 rows follow, the answers unchanged', () => {
  const rnd = random(11);
  const rows = Array.from({ length: 1000 }, () => unit(Array.from({ length: 8 }, rnd)));
  const index = new FlatIndex(8, { accelerateAt: 64 });
  const live = [...rows];
  for (const row of rows) index.add(row);
  const steps: string[] = [`${index.size}/${index.capacity} ${index.accelerated}`];
  const check = () => {
    for (let k = 0; k < 20; k++) {
      const query = unit(Array.from({ length: 8 }, rnd));
      for (const threshold of [-1, 0.5, 0.9]) assert.equal(index.search(query, threshold)?.slot, bruteForce(live, query, threshold)?.slot);
    }
  };
  for (const size of [256, 32, 3]) {
    while (index.size > size) {
      const slot = Math.floor((rnd() + 0.5) * index.size);
      index.remove(slot);
      live[slot] = live[live.length - 1]!;
      live.pop();
    }
    steps.push(`${index.size}/${index.capacity} ${index.accelerated}`);
    check();
  }
  for (const row of rows.slice(0, 100)) {
    index.add(row);
    live.push(row);
  }
  steps.push(`${index.size}/${index.capacity} ${index.accelerated}`);
  check();
  assert.deepEqual(steps, ['1000/1024 true', '256/512 true', '32/64 false', '3/8 false', '103/128 true']);
});

test('FlatIndex starts with room for one row, as a partition of one entry (one per tenant, say) needs no more', () => {
  const index = new FlatIndex(384);
  assert.equal(index.capacity, 1);
  index.add(unit(Array.from({ length: 384 }, random(3))));
  assert.deepEqual([index.size, index.capacity], [1, 1]);
  index.add(unit(Array.from({ length: 384 }, random(4))));
  assert.deepEqual([index.size, index.capacity], [2, 2]);
});

test('FlatIndex asks `accept` only about rows that would improve the best, and skips refused ones', () => {
  const index = new FlatIndex(2, { accelerate: false });
  index.add(unit([1, 0]));
  index.add(unit([1, 0.1]));
  index.add(unit([0, 1]));
  const asked: number[] = [];
  const match = index.search(unit([1, 0]), 0.5, (slot) => {
    asked.push(slot);
    return slot !== 0;
  });
  assert.deepEqual(asked, [0, 1]);
  assert.equal(match?.slot, 1);
  assert.equal(index.search(unit([-1, 0]), 0.5), undefined);
  assert.throws(() => index.search(new Float32Array(3), 0), /Expected a query of 2 dimensions, got 3/);
});

test('FlatIndex validates its options, quoting the bad value', () => {
  assert.throws(() => new FlatIndex(0), /`dimensions` to be an integer between 1 and 65536, got 0/);
  assert.throws(() => new FlatIndex(4, { accelerateAt: 0.5 }), /`accelerateAt` to be an integer, got 0.5/);
});
