import assert from 'node:assert/strict';
import test from 'node:test';
import { ngramEmbedder } from '../../src/cache/semantic/embedders.js';
import { SemanticCache } from '../../src/cache/semantic/semantic-cache.js';
import type { TensorMap } from '../../src/core/index.js';
import { ANCHORS } from './fixtures/semantic-pairs.js';

const answer = (i: number): TensorMap => ({ y: { datatype: 'FP32', shape: [1], data: Float32Array.from([i]) } });

test('a SemanticCache holding the 40 anchors\' answers at the documented 0.925 with ngramEmbedder answers no probe of another meaning, and each hit with its own anchor\'s answer, never the first stored (GPTCache#694, #388, #379)', async () => {
  const cache = new SemanticCache<string>({ embed: ngramEmbedder(), dimensions: 384, threshold: 0.925, maxEntries: 1000 });
  for (const [i, anchor] of ANCHORS.entries()) await cache.store(anchor.text, answer(i));
  const wrong: string[] = [];
  let same = 0;
  let hits = 0;
  for (const [i, anchor] of ANCHORS.entries()) {
    const exact = await cache.lookup(anchor.text);
    if (exact?.value.y!.data[0] !== i || !exact.exact) wrong.push(`${anchor.text}: exact lookup gave ${exact?.value.y!.data[0]}`);
    for (const probe of anchor.probes) {
      const found = await cache.lookup(probe.text);
      if (!probe.differs) same++;
      if (found === undefined) continue;
      hits++;
      const got = found.value.y!.data[0] as number;
      if (probe.differs) wrong.push(`${probe.text} (${probe.differs}) hit '${ANCHORS[got]!.text}' at ${found.similarity!.toFixed(3)}`);
      else if (got !== i) wrong.push(`${probe.text} hit '${ANCHORS[got]!.text}', not its own anchor`);
    }
  }
  assert.deepEqual(wrong, []);
  assert.ok(hits > same / 3, `${hits} hits of ${same} same-meaning probes`);
  await cache.close();
});
