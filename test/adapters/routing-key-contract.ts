import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { InferenceService, ModelRegistry, type MemoryModel, type Tensor } from 'servable';
import { memoryBackend } from 'servable/testing';
import type { StartServer, TestServer } from './http-contract.js';

/** X FP32 [n, 3] in, Y FP32 [n, 1] out, every element `tag`: a version's answer says which version it is. */
function tagged(tag: number): MemoryModel {
  return {
    inputs: [{ name: 'X', datatype: 'FP32', shape: [-1, 3] }],
    outputs: [{ name: 'Y', datatype: 'FP32', shape: [-1, 1] }],
    run: ({ X }) => ({ Y: { datatype: 'FP32', shape: [X!.shape[0]!, 1], data: new Float32Array(X!.shape[0]!).fill(tag) } as Tensor }),
  };
}

type Protocol = 'oip' | 'binary' | 'tf';

/** The path, headers and body of a request of `protocol` for model `split` (at `version` when given). */
function requestOf(protocol: Protocol, version: string | undefined): { path: string; headers: Record<string, string>; body: string | Uint8Array } {
  const at = version === undefined ? '' : `/versions/${version}`;
  if (protocol === 'tf') return { path: `/v1/models/split${at}:predict`, headers: {}, body: '{"instances": [[1, 2, 3]]}' };
  if (protocol === 'oip') {
    const body = JSON.stringify({ inputs: [{ name: 'X', datatype: 'FP32', shape: [1, 3], data: [1, 2, 3] }] });
    return { path: `/v2/models/split${at}/infer`, headers: { 'content-type': 'application/json' }, body };
  }
  const data = new Uint8Array(new Float32Array([1, 2, 3]).buffer);
  const header = new TextEncoder().encode(JSON.stringify({ inputs: [{ name: 'X', datatype: 'FP32', shape: [1, 3], parameters: { binary_data_size: data.byteLength } }] }));
  const body = new Uint8Array(header.byteLength + data.byteLength);
  body.set(header);
  body.set(data, header.byteLength);
  return { path: `/v2/models/split${at}/infer`, headers: { 'content-type': 'application/octet-stream', 'inference-header-content-length': String(header.byteLength) }, body };
}

/** The status and the tag that answered (or the error body) of a reply to a request of `protocol`. */
function tagIn(protocol: Protocol, status: number, reply: { outputs?: { data: number[] }[]; predictions?: number[][] }): [number, unknown] {
  if (status !== 200) return [status, reply];
  return [200, protocol === 'tf' ? reply.predictions![0]![0] : reply.outputs![0]!.data[0]];
}

/** A request of `protocol` for model `split` (at `version` when given), with `headers`; resolves with the status and the tag that answered (or the error body). */
async function ask(server: TestServer, protocol: Protocol, headers: Record<string, string>, version?: string): Promise<[number, unknown]> {
  const request = requestOf(protocol, version);
  const res = await fetch(`${server.url}${request.path}`, { method: 'POST', headers: { ...request.headers, ...headers }, body: request.body });
  return tagIn(protocol, res.status, (await res.json()) as never);
}

/** {@link ask} with header `name` sent as one field line per value, which fetch would join into one. */
function askLines(server: TestServer, protocol: Protocol, name: string, values: readonly string[]): Promise<[number, unknown]> {
  const request = requestOf(protocol, undefined);
  return new Promise((resolve, reject) => {
    const req = http.request(`${server.url}${request.path}`, { method: 'POST', headers: { ...request.headers, [name]: [...values] } });
    req.once('error', reject);
    req.once('response', (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (c: string) => (text += c)).once('end', () => resolve(tagIn(protocol, res.statusCode!, JSON.parse(text) as never)));
    });
    req.end(request.body);
  });
}

/** The tag that answered a request of `protocol`, which must succeed. */
async function tagOf(server: TestServer, protocol: Protocol, headers: Record<string, string>, version?: string): Promise<unknown> {
  const [status, tag] = await ask(server, protocol, headers, version);
  assert.equal(status, 200, JSON.stringify(tag));
  return tag;
}

const PROTOCOLS: readonly Protocol[] = ['oip', 'binary', 'tf'];

/**
 * The `routingKeyHeader` option, over real HTTP: model `split` has versions 1 and 2 (each answering
 * its number) under a 50/50 split, on a service whose unkeyed draws alternate between them.
 */
export function routingKeyContract(adapter: string, start: StartServer): void {
  describe(`${adapter}: a routing key header makes a traffic split sticky`, () => {
    let registry: ModelRegistry;
    let keyed: TestServer;
    let plain: TestServer;
    let draws = 0;
    const outcomes: [string, string][] = [];

    before(async () => {
      registry = new ModelRegistry({ backends: [memoryBackend()] });
      await registry.load({ name: 'split', version: '1', source: tagged(1), warmup: [] });
      await registry.load({ name: 'split', version: '2', source: tagged(2), warmup: [] });
      registry.setTraffic('split', { split: [{ version: '1', weight: 1 }, { version: '2', weight: 1 }] });
      // Unkeyed requests alternate: 0.25 draws version 1, 0.75 version 2.
      const service = new InferenceService({ registry, random: () => (draws++ % 2 ? 0.75 : 0.25) });
      service.on('request', (e) => outcomes.push([e.version, e.outcome]));
      // Named in mixed case: matched case-insensitively.
      keyed = await start({ service, routingKeyHeader: 'X-User-Id' });
      plain = await start({ service });
    });

    after(async () => {
      await keyed.close();
      await plain.close();
      await registry.close();
    });

    test(`the header's value fixes the version on OIP (JSON and binary) and TF :predict alike; different values reach both`, async () => {
      const users = Array.from({ length: 20 }, (_, i) => `user-${i}`);
      const byProtocol: unknown[][] = [];
      for (const protocol of PROTOCOLS) {
        const tags: unknown[] = [];
        for (const user of users) tags.push(await tagOf(keyed, protocol, { 'x-user-id': user }));
        byProtocol.push(tags);
      }
      assert.deepEqual(byProtocol[1], byProtocol[0], 'binary as JSON');
      assert.deepEqual(byProtocol[2], byProtocol[0], 'TF as OIP');
      assert.deepEqual(new Set(byProtocol[0]), new Set([1, 2]), 'both versions get users');
      for (const tag of [1, 2]) {
        const user = users[byProtocol[0]!.indexOf(tag)]!;
        const seen: unknown[] = [];
        for (let i = 0; i < 20; i++) seen.push(await tagOf(keyed, PROTOCOLS[i % 3]!, { 'X-USER-ID': user }));
        assert.deepEqual(seen, Array(20).fill(tag), `${user} stays on version ${tag}`);
      }
    });

    test(`without the header, or without the option, requests are drawn at random as before`, async () => {
      for (const protocol of PROTOCOLS) {
        draws = 0;
        const tags: unknown[] = [];
        for (let i = 0; i < 4; i++) tags.push(await tagOf(keyed, protocol, {}));
        assert.deepEqual(tags, [1, 2, 1, 2], `${protocol} without the header`);
        draws = 0;
        const ignored: unknown[] = [];
        // Off by default: no header name is read, servable's own included.
        for (let i = 0; i < 4; i++) ignored.push(await tagOf(plain, protocol, { 'x-user-id': 'user-0', 'servable-routing-key': 'user-0' }));
        assert.deepEqual(ignored, [1, 2, 1, 2], `${protocol} without the option`);
      }
    });

    test(`a version in the URL wins over the header`, async () => {
      for (const protocol of PROTOCOLS) {
        const user = 'user-0';
        const drawn = await tagOf(keyed, protocol, { 'x-user-id': user });
        const other = drawn === 1 ? '2' : '1';
        assert.equal(await tagOf(keyed, protocol, { 'x-user-id': user }, other), Number(other), protocol);
        assert.equal(await tagOf(keyed, protocol, { 'x-user-id': user }), drawn, protocol);
      }
    });

    test(`a label in a :predict URL wins over the header`, async () => {
      const user = 'user-0';
      const drawn = await tagOf(keyed, 'tf', { 'x-user-id': user });
      registry.setLabel('split', 'other', drawn === 1 ? '2' : '1');
      const res = await fetch(`${keyed.url}/v1/models/split/labels/other:predict`, { method: 'POST', headers: { 'x-user-id': user }, body: '{"instances": [[1, 2, 3]]}' });
      assert.deepEqual([res.status, await res.json()], [200, { predictions: [[drawn === 1 ? 2 : 1]] }]);
    });

    test(`bodies decoded on a JSON worker carry the key as bodies decoded in place do`, async () => {
      const users = Array.from({ length: 20 }, (_, i) => `user-${i}`);
      const inPlace: unknown[] = [];
      for (const user of users) inPlace.push(await tagOf(keyed, 'oip', { 'x-user-id': user }));
      // jsonWorkerMinBytes 0: every body, a binary one's JSON header included, is decoded on a worker.
      const workers = await start({ service: new InferenceService({ registry, random: () => (draws++ % 2 ? 0.75 : 0.25) }), routingKeyHeader: 'x-user-id', jsonWorkerMinBytes: 0 });
      try {
        for (const protocol of PROTOCOLS) {
          const tags: unknown[] = [];
          for (const user of users) tags.push(await tagOf(workers, protocol, { 'x-user-id': user }));
          assert.deepEqual(tags, inPlace, protocol);
        }
      } finally {
        await workers.close();
      }
    });

    test(`a value longer than 256 characters is a 400 naming the header, counted as an invalid request; an empty one is no key`, async () => {
      for (const protocol of PROTOCOLS) {
        outcomes.length = 0;
        assert.deepEqual(await ask(keyed, protocol, { 'x-user-id': 'u'.repeat(257) }), [
          400,
          { error: "The routing key header 'x-user-id' holds 257 characters; it may hold at most 256", code: 'ERR_SERVABLE_INVALID_INPUT' },
        ], protocol);
        assert.deepEqual(outcomes, [['', 'invalid']], protocol);
        assert.equal(await ask(keyed, protocol, { 'x-user-id': 'u'.repeat(256) }).then(([status]) => status), 200, protocol);
        draws = 0;
        assert.deepEqual([await tagOf(keyed, protocol, { 'x-user-id': '' }), await tagOf(keyed, protocol, { 'x-user-id': '' })], [1, 2], protocol);
      }
      assert.equal(await ask(plain, 'oip', { 'x-user-id': 'u'.repeat(257) }).then(([status]) => status), 200, 'read only when asked for');
    });

    test(`sent as two field lines, the header's values are one key, the two joined as Node joins them, on every protocol`, async () => {
      const users = Array.from({ length: 20 }, (_, i) => `user-${i}`);
      for (const protocol of PROTOCOLS) {
        const lines: unknown[] = [];
        const joined: unknown[] = [];
        const first: unknown[] = [];
        for (const user of users) {
          const [status, tag] = await askLines(keyed, protocol, 'X-User-Id', [user, 'gateway']);
          assert.equal(status, 200, JSON.stringify(tag));
          lines.push(tag);
          joined.push(await tagOf(keyed, protocol, { 'x-user-id': `${user}, gateway` }));
          first.push(await tagOf(keyed, protocol, { 'x-user-id': user }));
        }
        assert.deepEqual(lines, joined, protocol);
        // So that the test tells the joined key from the first value alone.
        assert.notDeepEqual(joined, first, protocol);
      }
      const long = await askLines(keyed, 'tf', 'x-user-id', ['u'.repeat(200), 'u'.repeat(55)]);
      assert.deepEqual(long, [400, { error: "The routing key header 'x-user-id' holds 257 characters; it may hold at most 256", code: 'ERR_SERVABLE_INVALID_INPUT' }]);
    });

    test(`a header name that is no HTTP token is refused when the adapter is made, quoting it`, async () => {
      const service = new InferenceService({ registry });
      await assert.rejects(start({ service, routingKeyHeader: 'x user' }), {
        name: 'TypeError',
        message: 'Expected `routingKeyHeader` to be a header name (an HTTP token), got "x user" (string)',
      });
    });
  });
}
