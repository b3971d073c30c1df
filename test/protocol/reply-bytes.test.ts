import { test } from 'node:test';
import assert from 'node:assert/strict';
import { joinBody, utf8Length } from '../../src/protocol/binary.js';
import { matchRoute, routeMatcher, type RouteFamilies } from '../../src/protocol/routes.js';

const encoder = new TextEncoder();

test('utf8Length counts the bytes TextEncoder writes, lone surrogates as U+FFFD', () => {
  const texts = ['', '{"a":1}', 'é', '€', '😀', 'a😀b', '\ud83d', '\ude00', 'x\ud83dy', '\ude00\ud83d', '\ud83d\ud83d\ude00', '\u07ff\u0800\uffff', 'ünïcödé "mödel"'];
  for (const text of texts) assert.equal(utf8Length(text), encoder.encode(text).byteLength, `the UTF-8 length of ${JSON.stringify(text)}`);
});

test('joinBody writes the header as TextEncoder encodes it, then the chunks, and announces its length', () => {
  for (const json of ['{"model_name":"m"}', '{"model_name":"mödel 😀","id":"\ud83d"}', `{"data":"${'ü😀\ud83d'.repeat(2000)}"}`]) {
    const { body, headerLength } = joinBody(json, [Uint8Array.of(1, 2, 3), new Uint8Array(0), Uint8Array.of(4)]);
    const header = encoder.encode(json);
    assert.equal(headerLength, header.byteLength);
    assert.deepEqual([...body], [...header, 1, 2, 3, 4]);
  }
});

test('joinBody gives each reply bytes of its own, small and large', () => {
  const bodies = Array.from({ length: 300 }, (_, i) => {
    const size = i % 3 === 0 ? 5000 : i;
    return { fill: i % 251, body: joinBody('{}', [new Uint8Array(size).fill(i % 251)]).body };
  });
  for (const { fill, body } of bodies) {
    assert.deepEqual([...body.subarray(0, 2)], [0x7b, 0x7d], 'the header');
    assert.ok(body.subarray(2).every((b) => b === fill), `a body of ${body.byteLength} bytes kept its ${fill}s`);
  }
});

test('joinBody still answers after a caller transferred a small reply\'s shared buffer away', () => {
  const sent = joinBody('{"a":1}', [Uint8Array.of(1)]).body;
  // Against the TSDoc, but one caller's postMessage(..., [body.buffer]) must not break every later reply.
  structuredClone(sent, { transfer: [sent.buffer as ArrayBuffer] });
  assert.equal(sent.buffer.byteLength, 0, 'the shared buffer is detached');
  const { body, headerLength } = joinBody('{"b":2}', [Uint8Array.of(7)]);
  assert.equal(headerLength, 7);
  assert.deepEqual([...body], [...encoder.encode('{"b":2}'), 7]);
});

const families: RouteFamilies = { tfServing: true, repository: false, statistics: false };

test('routeMatcher answers as matchRoute does, whether it has seen the path or not', () => {
  const match = routeMatcher(families);
  const requests: [string, string][] = [
    ['POST', '/v2/models/m/infer'], ['POST', '/v2/models/m/versions/2/infer'], ['GET', '/v2/models/m/infer'],
    ['GET', '/v2/health/ready'], ['HEAD', '/v2'], ['GET', '/v2/nope'], ['POST', '/v2/models/%ZZ/infer'],
    ['POST', '/v1/models/m:predict'], ['POST', '/v1/models/m:nope'], ['GET', '/v2/models/m/infer?x=1'], ['POST', '/v2/models/m%2Fx/infer'],
  ];
  for (let round = 0; round < 2; round++) {
    for (const [method, path] of requests) assert.deepEqual(match(method, path), matchRoute(method, path, families), `${method} ${path}, round ${round}`);
  }
});

test('routeMatcher keeps a bounded number of paths: past it, it matches anew and answers the same', () => {
  const match = routeMatcher(families);
  const first = match('POST', '/v2/models/m0/infer');
  assert.equal(match('POST', '/v2/models/m0/infer'), first, 'a path seen before is answered from memory');
  for (let i = 1; i <= 256; i++) match('POST', `/v2/models/m${i}/infer`);
  const again = match('POST', '/v2/models/m0/infer');
  assert.notEqual(again, first, 'forgotten once more paths came than it keeps');
  assert.deepEqual(again, first);
  assert.deepEqual(match('PUT', '/v2/models/m0/infer'), { allow: ['POST'] });
});

test('routeMatcher does not keep a long path, so that what it keeps stays small whatever URLs a server accepts', () => {
  const match = routeMatcher(families);
  const long = `/v2/models/${'m'.repeat(600)}/infer`;
  const first = match('POST', long);
  assert.deepEqual(first, matchRoute('POST', long, families));
  assert.notEqual(match('POST', long), first, 'a path of 600 characters and more is matched anew each time');
  const short = `/v2/models/${'m'.repeat(200)}/infer`;
  assert.equal(match('POST', short), match('POST', short), 'a path of a model name of 200 characters is kept');
});
