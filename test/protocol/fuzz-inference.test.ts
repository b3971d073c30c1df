import { test } from 'node:test';
import assert from 'node:assert/strict';
import { random } from '../batching/helpers.js';
import { answer, checkReply, describeCase, int, KINDS, mutate, numberOf, outputsOf, pick, project, sameFloat, SEED, sentFloats, setup, validCase } from './fuzz-harness.js';

// The inference routes fuzzed (see fuzz-harness.ts): /infer (JSON and binary) and :predict, with the GET routes beside them.

test('every valid base request on every route is answered 200 with what the model computes', async () => {
  const { registry, http, seen } = await setup(false);
  const rng = random(SEED);
  for (let i = 0; i < 200; i++) {
    const c = validCase(rng, pick(rng, KINDS), pick(rng, ['lin', 'mix'] as const));
    seen.length = 0;
    const reply = await answer(http, c);
    assert.equal(reply.status, 200, `${String(reply.body)} for ${describeCase(c)}`);
    checkReply(c, reply, seen.at(-1));
    if (c.kind !== 'get') assert.equal(seen.length, 1);
  }
  await registry.close();
});

test('mutated requests: the handler always answers, a 2xx or a 4xx with a JSON error, a 200 with the model\'s answer, and the heap stays bounded', async () => {
  const { registry, http, viaDecoder, seen } = await setup(false);
  const rng = random(SEED + 1);
  const statuses = new Map<number, number>();
  const baseline = process.memoryUsage().heapUsed;
  const CASES = Number(process.env.FUZZ_CASES ?? 2000);
  for (let i = 0; i < CASES; i++) {
    const c = mutate(rng, validCase(rng, pick(rng, KINDS), pick(rng, ['lin', 'mix'] as const)));
    seen.length = 0;
    const reply = await answer(http, c);
    statuses.set(reply.status, (statuses.get(reply.status) ?? 0) + 1);
    checkReply(c, reply, seen.at(-1));
    const decoded = await answer(viaDecoder, c);
    assert.deepEqual([decoded.status, decoded.body], [reply.status, reply.body], `through a JsonDecoder: ${describeCase(c)}`);
    const grown = process.memoryUsage().heapUsed - baseline;
    assert.ok(grown < 200 * 1024 * 1024, `heap grew by ${grown} bytes after case ${i}: ${describeCase(c)}`);
  }
  // The mutations reach both outcomes, and more than one kind of refusal.
  assert.ok((statuses.get(200) ?? 0) > CASES / 20, JSON.stringify([...statuses]));
  assert.ok((statuses.get(400) ?? 0) > CASES / 4, JSON.stringify([...statuses]));
  assert.ok([404, 405, 413, 415].every((s) => statuses.has(s)), JSON.stringify([...statuses]));
  await registry.close();
});

test('mutated requests batched with a valid one never change its answer, and each one accepted gets its own', async () => {
  const { registry, http, seen } = await setup(true);
  const rng = random(SEED + 2);
  const INFER_KINDS = ['oip', 'binary', 'tf-row', 'tf-columnar'] as const;
  let shared = 0;
  for (let round = 0; round < 80; round++) {
    const model = pick(rng, ['blin', 'bmix'] as const);
    const valid = validCase(rng, pick(rng, INFER_KINDS), model);
    const others = Array.from({ length: 7 }, () => {
      const c = validCase(rng, pick(rng, INFER_KINDS), model);
      return rng() < 0.8 ? mutate(rng, c) : c;
    });
    seen.length = 0;
    const at = int(rng, others.length + 1);
    const all = [...others.slice(0, at), valid, ...others.slice(at)];
    const replies = await Promise.all(all.map((c) => answer(http, c)));
    const reply = replies[at]!;
    assert.equal(reply.status, 200, `${String(reply.body)} for ${describeCase(valid)}`);
    const out = outputsOf(valid, reply);
    if (model === 'blin') {
      // JSON writes -0 as 0.
      assert.deepEqual(out.get('y')!.values.map((v) => Math.fround(numberOf(v)) + 0), [...project(valid.sent.x.map(Math.fround))].map((v) => v + 0), describeCase(valid));
    } else {
      const ids = out.get('ids');
      const s = out.get('s');
      assert.ok(ids !== undefined || s !== undefined);
      if (ids !== undefined) assert.deepEqual(ids.values.map((v) => BigInt(v as string)), valid.sent.ids, describeCase(valid));
      if (s !== undefined) assert.deepEqual(s.values, valid.sent.s, describeCase(valid));
    }
    for (const [i, c] of all.entries()) {
      if (i === at) continue;
      checkReply(c, replies[i]!, replies[i]!.status === 200 ? seen[0] : undefined, true);
      const sent = replies[i]!.status === 200 && model === 'blin' ? sentFloats(c) : undefined;
      if (sent === undefined) continue;
      const values = outputsOf(c, replies[i]!).get('y')!.values;
      const expected = project(sent.map((v) => Math.fround(numberOf(v))));
      values.forEach((v, j) => assert.ok(sameFloat(v, expected[j]!), `y[${j}] = ${String(v)}, expected ${expected[j]} for ${describeCase(c)}`));
    }
    // Fewer runs than requests answered: some shared a batch.
    if (seen.length < replies.filter((r) => r.status === 200).length) shared++;
  }
  assert.ok(shared > 5, `only ${shared} rounds batched requests together`);
  await registry.close();
});
