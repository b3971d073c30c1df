import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHttpHandler, type TenantOf } from '../../src/protocol/index.js';
import { random } from '../batching/helpers.js';
import { answer, BODY_LIMIT, checkReply, describeCase, mutate, pick, SEED, setup, validCase } from './fuzz-harness.js';

// The request headers fuzzed (see fuzz-harness.ts): a routing key header and the tenantOf option's answers.

test('routing key headers and tenantOf answers, odd and over the limit: a 2xx or a 4xx, and a key past 256 characters a 400 naming the header', async () => {
  const { registry, service, seen } = await setup(false);
  // Every answer TenantOf's type allows, odd ones included, in turn.
  const tenants: ReturnType<TenantOf>[] = ['', ' ', 't1', '\u0000', '\ud800', 'x'.repeat(100_000), '__proto__', 'a, b', undefined, Promise.resolve('t1'), Promise.resolve(undefined), Promise.resolve('')];
  let turn = 0;
  const http = createHttpHandler({ service, bodyLimit: BODY_LIMIT, routingKeyHeader: 'X-User-Id', tenantOf: () => tenants[turn++ % tenants.length] });
  const KEYS: (string | string[])[] = [
    '', 'u1', ' ', '\u0000', 'x'.repeat(256), 'x'.repeat(257), 'é'.repeat(256), 'é'.repeat(257), '日本'.repeat(128), '日本'.repeat(129), '\ud800'.repeat(300),
    [], [''], ['', ''], ['a', 'b'], ['x'.repeat(127), 'y'.repeat(127)], ['x'.repeat(128), 'y'.repeat(127)], ['x'.repeat(256)], ['x'.repeat(257)],
  ];
  const rng = random(SEED + 4);
  const INFER_KINDS = ['oip', 'binary', 'tf-row', 'tf-columnar'] as const;
  for (let i = 0; i < 400; i++) {
    const c = validCase(rng, pick(rng, INFER_KINDS), pick(rng, ['lin', 'mix'] as const));
    const valid = rng() < 0.5;
    if (!valid) mutate(rng, c);
    const key = pick(rng, KEYS);
    c.headers['x-user-id'] = key;
    c.mutations.push(`X-User-Id ${JSON.stringify(key).slice(0, 40)}`);
    seen.length = 0;
    const reply = await answer(http, c);
    checkReply(c, reply, seen.at(-1));
    if (!valid) continue;
    const length = typeof key === 'string' ? key.length : key.join(', ').length;
    if (length <= 256) assert.equal(reply.status, 200, `${String(reply.body)} for ${describeCase(c)}`);
    else assert.deepEqual([reply.status, (JSON.parse(reply.body as string) as { error: string }).error], [400, `The routing key header 'x-user-id' holds ${length} characters; it may hold at most 256`]);
  }
  await registry.close();
});
