import { test } from 'node:test';
import assert from 'node:assert/strict';
import threads, { Worker } from 'node:worker_threads';
import { getEventListeners } from 'node:events';
import { syncBuiltinESMExports } from 'node:module';
import { JsonWorkerPool } from '../../src/adapters/json-workers.js';
import { PayloadTooLargeError, type UnavailableError } from '../../src/core/index.js';
import { decodeInferBinary, decodeInferJson, decodePredictJson } from '../../src/protocol/index.js';

const body = (value: unknown) => new TextEncoder().encode(JSON.stringify(value));

test('a JSON worker decodes an OIP body exactly as in place: every datatype, binary_data flags, names such as __proto__ kept as plain names', async () => {
  const pool = new JsonWorkerPool(1, 0, 64);
  const request = body({
    id: 'r1',
    parameters: { priority: 2, timeout: 5000, tag: { nested: [1, 'two'] } },
    inputs: [
      { name: '__proto__', datatype: 'FP32', shape: [2, 2], data: [[0.1, -2.5], [3e-8, 65504]] },
      { name: 'constructor', datatype: 'INT64', shape: [2], data: [9007199254740991, -3] },
      { name: 'text', datatype: 'BYTES', shape: [2], data: ['héllo', ''] },
      { name: 'half', datatype: 'FP16', shape: [1], data: [1.5] },
      { name: 'flags', datatype: 'BOOL', shape: [3], data: [true, false, true] },
    ],
    outputs: [{ name: 'Y', parameters: { binary_data: true } }, { name: 'Z', parameters: { classification: 3 } }],
  });
  const got = await pool.infer(request, 1000);
  const expected = decodeInferJson(request, 1000);
  assert.equal(Object.getPrototypeOf(got.request.inputs), null);
  assert.deepEqual(Object.keys(got.request.inputs), ['__proto__', 'constructor', 'text', 'half', 'flags']);
  assert.deepEqual({ ...got, request: { ...got.request, inputs: { ...got.request.inputs } } }, { ...expected, request: { ...expected.request, inputs: { ...expected.request.inputs } } });
  assert.deepEqual(got.binaryOutputs, new Map([['Y', true], ['Z', undefined]]));
  assert.deepEqual(got.classification, new Map([['Z', 3]]));
  assert.deepEqual([got.timeoutMs, got.priority], [5, 2]);
});

test('a JSON worker decodes a :predict body as in place, and answers a bad body with the same InvalidInputError', async () => {
  const pool = new JsonWorkerPool(1, 0, 64);
  const inputs = [{ name: 'X', datatype: 'FP32' as const, shape: [-1, 3] }];
  const rows = body({ instances: [[1, 2, 3], [4, 5, 6]] });
  assert.deepEqual(await pool.predict(rows, inputs, 100), decodePredictJson(rows, inputs, 100));
  const ragged = body({ instances: [[1, 2, 3], [4, 5]] });
  const inPlace = (() => {
    try {
      decodePredictJson(ragged, inputs, 100);
    } catch (error) {
      return error as Error;
    }
  })();
  await assert.rejects(pool.predict(ragged, inputs, 100), { name: 'InvalidInputError', code: 'ERR_SERVABLE_INVALID_INPUT', message: inPlace!.message });
  await assert.rejects(pool.infer(new Uint8Array([0xff, 0xfe]), 100), { name: 'InvalidInputError', message: /^The request body is not valid UTF-8/ });
});

test('a body that needs more heap than the worker may use is a 413, and the body queued behind it is decoded', async () => {
  const pool = new JsonWorkerPool(1, 0, 16);
  const bomb = body({ inputs: [{ name: 'X', datatype: 'FP32', shape: [1, 3], data: Array.from({ length: 1_500_000 }, () => []) }] });
  const fine = body({ inputs: [{ name: 'X', datatype: 'FP32', shape: [1, 3], data: [1, 2, 3] }] });
  const [refused, decoded] = await Promise.allSettled([pool.infer(bomb, 100), pool.infer(fine, 100)]);
  assert.equal(refused.status, 'rejected');
  assert.ok(refused.reason instanceof PayloadTooLargeError);
  assert.equal(refused.reason.status, 413);
  assert.equal(decoded.status, 'fulfilled');
  assert.deepEqual(decoded.value.request.inputs['X']!.data, new Float32Array([1, 2, 3]));
});

test('a body that could need more heap than a worker may use is refused unparsed: JSON.parse past the limit would abort the process, not the worker', async () => {
  const pool = new JsonWorkerPool(1, 0, 16);
  // Four million integers end in one 32 MB array: past a 16 MB heap, V8 aborts the process.
  const ints = new TextEncoder().encode(`{"inputs":[{"name":"X","datatype":"INT64","shape":[4000000],"data":[${'0,'.repeat(3_999_999)}0]}]}`);
  await assert.rejects(pool.infer(ints, 1e7), { name: 'PayloadTooLargeError', status: 413, message: /^Decoding this JSON body could take \d+ MB of memory, more than the 8 MB a JSON worker takes for one body \(half of jsonWorkerHeapMb\); send large tensors as binary data$/ });
  // Bare tokens an INT64 input is given are parsed whole (to be refused by name); an FP32 input's are read from the bytes.
  const tokens = new TextEncoder().encode(`{"instances":[${'Inf,'.repeat(999_999)}Inf]}`);
  await assert.rejects(pool.predict(tokens, [{ name: 'X', datatype: 'INT64', shape: [-1] }], 1e7), { name: 'PayloadTooLargeError', status: 413 });
  const infinite = (await pool.predict(tokens, [{ name: 'X', datatype: 'FP32', shape: [-1] }], 1e7)).request.inputs['X']!.data as Float32Array;
  assert.deepEqual([infinite.length, infinite[0], infinite[999_999]], [1_000_000, Infinity, Infinity]);
  // FP32 data is read from the bytes, with no heap to speak of: as many numbers pass.
  const floats = new TextEncoder().encode(`{"inputs":[{"name":"X","datatype":"FP32","shape":[4000000],"data":[${'0.5,'.repeat(3_999_999)}0.25]}]}`);
  const data = (await pool.infer(floats, 1e7)).request.inputs['X']!.data as Float32Array;
  assert.deepEqual([data.length, data[0], data[3_999_999]], [4_000_000, 0.5, 0.25]);
  // So is a TF-Serving body's, in either format.
  const inputs = [{ name: 'X', datatype: 'FP32' as const, shape: [-1] }];
  for (const tf of [`{"instances":[${'0.5,'.repeat(999_999)}0.25]}`, `{"inputs":{"X":[${'0.5,'.repeat(999_999)}0.25]}}`]) {
    const tensor = (await pool.predict(new TextEncoder().encode(tf), inputs, 1e7)).request.inputs['X']!;
    assert.deepEqual([tensor.shape, tensor.data.length, tensor.data[0], tensor.data[999_999]], [[1_000_000], 1_000_000, 0.5, 0.25]);
  }
});

test('parameters of many empty values, within the heap estimate, decode on a 16 MB worker without ending it', async () => {
  const pool = new JsonWorkerPool(1, 0, 16);
  // Estimated just under the 8 MB a body may take; checking them once held a path for each value at once.
  const empties = new TextEncoder().encode(`{"parameters":{"p":[${'{},'.repeat(59_000)}[]]},"inputs":[{"name":"X","datatype":"FP32","shape":[1],"data":[1]}]}`);
  assert.equal(((await pool.infer(empties, 10)).request.parameters!['p'] as unknown[]).length, 59_001);
});

test('a :predict body of many short rows is refused by its heap estimate, not by running its worker out of heap', async () => {
  const pool = new JsonWorkerPool(1, 0, 16);
  const inputs = [{ name: 'X', datatype: 'FP32' as const, shape: [-1, 1] }];
  // Under the estimate with each row left out, a 400 KB body of them took more than the worker's 16 MB once each was marked.
  const rows = new TextEncoder().encode(`{"instances":[${'{"X":[1]},'.repeat(35_999)}{"X":[1]}]}`);
  await assert.rejects(pool.predict(rows, inputs, 1e6), (error: Error) => error instanceof PayloadTooLargeError && error.message.startsWith('Decoding this JSON body could take'));
});

test('a body with binary tensor data decodes on a worker as in place, header and data; a header that could need more heap than the worker may use is refused unparsed', async () => {
  const pool = new JsonWorkerPool(1, 0, 16);
  const header = new TextEncoder().encode(JSON.stringify({
    id: 'b1',
    inputs: [
      { name: 'X', datatype: 'FP32', shape: [2], parameters: { binary_data_size: 8 } },
      { name: 'n', datatype: 'INT32', shape: [3], data: [1, -2, 3] },
      { name: 's', datatype: 'BYTES', shape: [1], parameters: { binary_data_size: 6 } },
    ],
    outputs: [{ name: 'Y', parameters: { binary_data: true } }],
  }));
  const data = new Uint8Array([...new Uint8Array(new Float32Array([1.5, -2]).buffer), 2, 0, 0, 0, 0x68, 0x69]);
  const whole = new Uint8Array([...header, ...data]);
  const got = await pool.inferBinary(whole, header.byteLength, 100);
  const expected = decodeInferBinary(header, data, 100);
  assert.deepEqual({ ...got, request: { ...got.request, inputs: { ...got.request.inputs } } }, { ...expected, request: { ...expected.request, inputs: { ...expected.request.inputs } } });
  assert.deepEqual(got.request.inputs['X']!.data, new Float32Array([1.5, -2]));
  assert.deepEqual(got.request.inputs['s']!.data, ['hi']);
  // Its errors are the in-place decoder's, by name.
  await assert.rejects(pool.inferBinary(whole.subarray(0, whole.byteLength - 1), header.byteLength, 100), { name: 'InvalidInputError', message: "Input 's': binary_data_size 6 runs past the end of the binary data (5 bytes left)" });
  const bomb = new TextEncoder().encode(`{"inputs":[{"name":"X","datatype":"FP32","shape":[1,3],"data":[${'[],'.repeat(300_000)}1,2,3]}]}`);
  await assert.rejects(pool.inferBinary(bomb, bomb.byteLength, 100), { name: 'PayloadTooLargeError', status: 413, message: /^Decoding this JSON body could take \d+ MB of memory/ });
});

test('a body whose client went away while it waited for the worker is dropped, not decoded', async () => {
  const pool = new JsonWorkerPool(1, 0, 64);
  const first = pool.infer(body({ inputs: [{ name: 'X', datatype: 'FP32', shape: [1, 3], data: [1, 2, 3] }] }), 100);
  const gone = new AbortController();
  // Malformed: decoded, it would be a 400.
  const waiting = pool.infer(new TextEncoder().encode('{"inputs": 3}'), 100, gone.signal);
  gone.abort();
  await assert.rejects(waiting, { name: 'CancelledError', code: 'ERR_SERVABLE_CANCELLED' });
  assert.deepEqual((await first).request.inputs['X']!.data, new Float32Array([1, 2, 3]));
});

test('a body whose client goes away while it waits for the worker leaves the queue then, not once the worker is free: the bodies of gone clients are not held', async () => {
  const pool = new JsonWorkerPool(1, 0, 64);
  const settled: string[] = [];
  const first = pool.infer(body({ inputs: [{ name: 'X', datatype: 'FP32', shape: [1, 3], data: [1, 2, 3] }] }), 100).then(() => settled.push('first decoded'));
  const gone = new AbortController();
  const waiting = pool.infer(body({ inputs: [] }), 100, gone.signal).catch((error: Error) => settled.push(`waiting ${error.name}`));
  gone.abort();
  // The first body's worker is still starting: a thread takes far longer than a turn of the loop.
  await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual(settled, ['waiting CancelledError']);
  await first;
  // A signal already aborted is refused at once, and one that aborts after its body was handed to a worker changes nothing.
  const late = new AbortController();
  const handed = pool.infer(body({ inputs: [] }), 100, late.signal);
  await assert.rejects(pool.infer(body({ inputs: [] }), 100, AbortSignal.abort()), { name: 'CancelledError' });
  await new Promise((resolve) => setImmediate(resolve));
  late.abort();
  assert.deepEqual(Object.keys((await handed).request.inputs), []);
  // Twenty bodies pipelined on one connection wait on its one signal: no listener leak warning.
  const warnings: string[] = [];
  const onWarning = (warning: Error) => warnings.push(warning.name);
  process.on('warning', onWarning);
  const connection = new AbortController();
  const pipelined = Array.from({ length: 20 }, () => pool.infer(body({ inputs: [] }), 100, connection.signal));
  assert.equal(getEventListeners(connection.signal, 'abort').length, 1);
  await Promise.all(pipelined);
  // Once workers took them, nothing listens: the connection's later requests do not find them, nor keep their bodies.
  assert.equal(getEventListeners(connection.signal, 'abort').length, 0);
  await new Promise((resolve) => setImmediate(resolve));
  process.off('warning', onWarning);
  assert.deepEqual(warnings, []);
  await pool.close();
});

test('parameters nested deeper than 32 levels are a 400 on a worker as in place, and the worker decodes the next body', { timeout: 20_000 }, async () => {
  const pool = new JsonWorkerPool(1, 0, 64);
  const fine = body({ inputs: [{ name: 'X', datatype: 'FP32', shape: [1, 3], data: [1, 2, 3] }] });
  // 2,000 levels would overflow this thread's stack rebuilding the reply; 50,000 the worker's, copying it.
  for (const depth of [32, 2_000, 50_000]) {
    const tag = '{"a":'.repeat(depth) + '1' + '}'.repeat(depth);
    const deep = new TextEncoder().encode(`{"parameters":{"tag":${tag}},"inputs":[{"name":"X","datatype":"FP32","shape":[1,3],"data":[1,2,3]}]}`);
    const message = /^Expected `parameters` to nest at most 32 levels deep; `parameters\.tag(\.a){31}` is deeper$/;
    assert.throws(() => decodeInferJson(deep, 100), { name: 'InvalidInputError', message });
    await assert.rejects(pool.infer(deep, 100), { name: 'InvalidInputError', message });
    assert.deepEqual((await pool.infer(fine, 100)).request.inputs['X']!.data, new Float32Array([1, 2, 3]), `after ${depth}`);
  }
  const tag = '{"a":'.repeat(31) + '1' + '}'.repeat(31);
  const deepest = new TextEncoder().encode(`{"parameters":{"tag":${tag}},"inputs":[{"name":"X","datatype":"FP32","shape":[1,3],"data":[1,2,3]}]}`);
  assert.deepEqual((await pool.infer(deepest, 100)).request.parameters, decodeInferJson(deepest, 100).request.parameters);
});

test('a closed pool ends its workers once the bodies they hold and those queued are decoded; a body sent later gets a worker that ends once done', async () => {
  const pool = new JsonWorkerPool(2, 0, 64);
  const input = (x: number) => body({ inputs: [{ name: 'X', datatype: 'FP32', shape: [1, 3], data: [x, 2, 3] }] });
  const decoding = [1, 2, 3].map((x) => pool.infer(input(x), 100));
  assert.equal(pool.threads, 2);
  const closed = pool.close();
  const decoded = await Promise.all(decoding);
  assert.deepEqual(decoded.map((d) => Array.from(d.request.inputs['X']!.data as Float32Array)), [[1, 2, 3], [2, 2, 3], [3, 2, 3]]);
  await closed;
  assert.equal(pool.threads, 0);
  assert.deepEqual((await pool.infer(input(4), 100)).request.inputs['X']!.data, new Float32Array([4, 2, 3]));
  await pool.close();
  assert.equal(pool.threads, 0);
});

test('a body with binary tensor data sends its worker only the JSON header; the data, far larger, is read in place, as views of the body', async (t) => {
  const pool = new JsonWorkerPool(1, 0, 64);
  // What each job posted held, read before its buffer moves to the worker (tsx, which runs the worker's TypeScript here, posts messages of its own).
  const posted: unknown[][] = [];
  const post = Worker.prototype.postMessage;
  t.mock.method(Worker.prototype, 'postMessage', function (this: Worker, message: { kind?: string; binaryLength: number; body: Uint8Array }, transfer?: readonly ArrayBuffer[]) {
    if (message.kind !== undefined) posted.push([message.kind, message.body.byteLength, message.binaryLength]);
    post.call(this, message, transfer);
  });
  const x = new Float32Array(256 * 1024).map((_, i) => i / 8);
  const header = new TextEncoder().encode(JSON.stringify({
    inputs: [
      { name: 'X', datatype: 'FP32', shape: [x.length], parameters: { binary_data_size: x.byteLength } },
      { name: 'n', datatype: 'INT32', shape: [2], data: [7, -7] },
      { name: 'b', datatype: 'BOOL', shape: [3], parameters: { binary_data_size: 3 } },
    ],
  }));
  const at = Math.ceil(header.byteLength / 8) * 8;
  const whole = new Uint8Array(at + x.byteLength + 3);
  whole.fill(0x20, header.byteLength, at);
  whole.set(header);
  whole.set(new Uint8Array(x.buffer), at);
  whole.set([0, 5, 1], at + x.byteLength);
  const got = await pool.inferBinary(whole, at, 1 << 20);
  assert.deepEqual(posted, [['infer-binary', at, x.byteLength + 3]]);
  const X = got.request.inputs['X']!.data as Float32Array;
  assert.deepEqual(X, x);
  assert.equal(X.buffer, whole.buffer, 'a view of the body, not a copy');
  assert.deepEqual(got.request.inputs['n']!.data, new Int32Array([7, -7]));
  assert.deepEqual(got.request.inputs['b']!.data, new Uint8Array([0, 1, 1]));
  assert.deepEqual(Object.keys(got.request.inputs), ['X', 'n', 'b']);
  await pool.close();
});

test('binary data refused for what it holds comes first, as in place, before an error the worker found later in the header', async () => {
  const pool = new JsonWorkerPool(1, 0, 64);
  const whole = (inputs: unknown[], data: number[]) => {
    const header = new TextEncoder().encode(JSON.stringify({ inputs }));
    return { header, body: new Uint8Array([...header, ...data]) };
  };
  const notUtf8 = { name: 's', datatype: 'BYTES', shape: [1], parameters: { binary_data_size: 5 } };
  const cases = [
    whole([notUtf8, { name: 'x', datatype: 'FP32', shape: [2], data: [1] }], [1, 0, 0, 0, 0xff]),
    whole([notUtf8, notUtf8], [1, 0, 0, 0, 0xff, 1, 0, 0, 0, 0x61]),
    whole([notUtf8], [1, 0, 0, 0, 0xff, 9]),
    whole([{ name: 'x', datatype: 'FP32', shape: [2], parameters: { binary_data_size: 4 } }, { name: 'y', datatype: 'INT8', shape: [1], data: [300] }], [0, 0, 0, 0]),
  ];
  for (const { header, body } of cases) {
    const inPlace = (() => {
      try {
        decodeInferBinary(header, body.subarray(header.byteLength), 100);
      } catch (error) {
        return error as Error;
      }
    })();
    assert.ok(inPlace);
    await assert.rejects(pool.inferBinary(body, header.byteLength, 100), { name: inPlace.name, message: inPlace.message });
  }
  await pool.close();
});

test('a worker thread that cannot be spawned fails only the body it was for, on a request or on the respawn after a worker ended mid-body, and the next body gets a worker', async (t) => {
  // `new Worker()` throws at once when it cannot create the thread (ERR_WORKER_INIT_FAILED: threads
  // or memory short); spawnWorker's import of Worker is made to throw so while `refuse` is set.
  const workers: Worker[] = [];
  let refuse = false;
  const Real = threads.Worker;
  threads.Worker = function (this: unknown, ...args: ConstructorParameters<typeof Worker>) {
    if (refuse) throw Object.assign(new Error('Worker initialization failure: 11'), { code: 'ERR_WORKER_INIT_FAILED' });
    const worker = new Real(...args);
    workers.push(worker);
    return worker;
  } as unknown as typeof Worker;
  syncBuiltinESMExports();
  t.after(() => {
    threads.Worker = Real;
    syncBuiltinESMExports();
  });
  const uncaught: unknown[] = [];
  const onUncaught = (error: unknown) => uncaught.push(error);
  process.on('uncaughtException', onUncaught);
  t.after(() => process.off('uncaughtException', onUncaught));
  const pool = new JsonWorkerPool(1, 0, 64);
  const input = (x: number) => body({ inputs: [{ name: 'X', datatype: 'FP32', shape: [1, 3], data: [x, 2, 3] }] });
  // A 503 the client may retry, the spawn's own error in its cause.
  const unspawned = (error: unknown) => {
    assert.deepEqual([(error as UnavailableError).name, (error as UnavailableError).status, (error as Error).message], ['UnavailableError', 503, 'No JSON worker could decode this body: a worker thread could not be started; try again']);
    assert.deepEqual([((error as Error).cause as { code: string }).code, ((error as Error).cause as Error).message], ['ERR_WORKER_INIT_FAILED', 'Worker initialization failure: 11']);
    return true;
  };

  refuse = true;
  await assert.rejects(pool.infer(input(1), 100), unspawned);
  assert.equal(pool.threads, 0);
  refuse = false;
  assert.deepEqual((await pool.infer(input(2), 100)).request.inputs['X']!.data, new Float32Array([2, 2, 3]));

  // The worker ends while it holds a body, with another queued: the respawn for that one, in the worker's 'exit' listener, throws.
  // The held body is a million values, tens of milliseconds to decode, so that the worker is still at it when it is terminated
  // (a three-value body could be decoded and its reply queued first, under a full test run's load).
  const held = pool.infer(body({ inputs: [{ name: 'X', datatype: 'FP32', shape: [1, 1_000_000], data: new Array(1_000_000).fill(0.5) }] }), 2_000_000);
  const queued = pool.infer(input(4), 100);
  refuse = true;
  void workers[0]!.terminate();
  await assert.rejects(held, { name: 'UnavailableError', code: 'ERR_SERVABLE_UNAVAILABLE', message: 'No JSON worker could decode this body: its worker thread ended; try again', cause: undefined });
  await assert.rejects(queued, unspawned);
  assert.equal(pool.threads, 0);
  refuse = false;
  assert.deepEqual((await pool.infer(input(5), 100)).request.inputs['X']!.data, new Float32Array([5, 2, 3]));
  assert.equal(workers.length, 2);
  await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual(uncaught, []);
  await pool.close();
});
