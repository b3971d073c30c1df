import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkFeeds, type Backend, type ModelSession, type Tensor, type TensorMap, type TensorSpec } from 'servable';
import { backendContract } from 'servable/testing';
import { B, expected, feeds, W } from './linear-case.js';

const inputs: TensorSpec[] = [{ name: 'X', datatype: 'FP32', shape: [-1, 2] }];
const outputs: TensorSpec[] = [{ name: 'Y', datatype: 'FP32', shape: [-1, 3] }];

function linear(x: Tensor | undefined): TensorMap {
  const data = x!.data as Float32Array;
  const n = x!.shape[0]!;
  const y = new Float32Array(n * 3);
  for (let i = 0; i < n; i++) for (let j = 0; j < 3; j++) y[i * 3 + j] = B[j]! + data[i * 2]! * W[0]![j]! + data[i * 2 + 1]! * W[1]![j]!;
  return { Y: { datatype: 'FP32', shape: [n, 3], data: y } };
}

/** A session that keeps the contract, with hooks to break one clause at a time. */
function session(flaw: Partial<ModelSession> & { ignoreSignal?: boolean; skipChecks?: boolean; shared?: boolean } = {}): ModelSession {
  let disposed = false;
  let last: TensorMap | undefined;
  const s: ModelSession = {
    inputs,
    outputs,
    device: 'cpu',
    fallbacks: [],
    concurrency: 1,
    async run(f, options = {}) {
      if (disposed && !flaw.dispose) throw Object.assign(new Error('disposed'), { code: 'ERR_SERVABLE_CLOSED' });
      if (options.signal?.aborted && !flaw.ignoreSignal) throw Object.assign(new Error('cancelled'), { code: 'ERR_SERVABLE_CANCELLED' });
      if (!flaw.skipChecks) checkFeeds(inputs, f);
      const out = linear(f.X);
      // A backend that hands every caller of a burst the answer of the last run started.
      if (flaw.shared) {
        last = out;
        await new Promise((resolve) => setImmediate(resolve));
        return last;
      }
      return out;
    },
    async dispose() {
      disposed = true;
    },
  };
  return { ...s, ...flaw, run: flaw.run ?? s.run, dispose: s.dispose };
}

/** Runs the whole contract against `make` and returns the names of the clauses that failed. */
async function failures(make: () => ModelSession, expectedOutputs = expected, estimateBytes?: Backend['estimateBytes']): Promise<string[]> {
  const clauses: [string, () => Promise<void>][] = [];
  const backend: Backend = { name: 'flawed', accepts: () => true, load: async () => make(), ...(estimateBytes && { estimateBytes }) };
  backendContract((name, fn) => clauses.push([name, fn]), () => ({ backend, source: {} }), { name: 'flawed', feeds, expected: expectedOutputs });
  const failed: string[] = [];
  for (const [name, fn] of clauses) {
    await fn().catch(() => failed.push(name.replace('flawed: ', '')));
  }
  return failed;
}

test('a backend that keeps the contract passes every clause', async () => {
  assert.deepEqual(await failures(() => session()), []);
});

test('the contract catches a backend that breaks one clause', async () => {
  assert.deepEqual(await failures(() => session({ ignoreSignal: true })), ['rejects a run whose signal is already aborted with ERR_SERVABLE_CANCELLED']);
  assert.deepEqual(await failures(() => session({ skipChecks: true })), ['rejects invalid feeds with ERR_SERVABLE_INVALID_INPUT and stays usable']);
  assert.deepEqual(await failures(() => session({ shared: true })), ['gives every concurrent run its own answer']);
  assert.deepEqual(await failures(() => session({ concurrency: 0 })), ['accepts its source and describes the loaded model']);
  assert.deepEqual(await failures(() => session({ inputs: [{ name: 'X', datatype: 'float32' as 'FP32', shape: [-1, 2] }] })), [
    'accepts its source and describes the loaded model',
  ]);
  const wrong: TensorMap = { Y: { ...expected.Y!, data: (expected.Y!.data as Float32Array).map((v, i) => (i === 5 ? v + 1e-3 : v)) } };
  assert.deepEqual(await failures(() => session(), wrong), [
    'runs the model and gives the expected outputs',
    'rejects invalid feeds with ERR_SERVABLE_INVALID_INPUT and stays usable',
    'gives every concurrent run its own answer',
    'lets runs in flight finish on dispose, then refuses new runs with ERR_SERVABLE_CLOSED',
  ]);
});

test('the contract catches a session that still runs after dispose', async () => {
  const leaky = () => {
    const s = session();
    return { ...s, dispose: async () => {} };
  };
  assert.deepEqual(await failures(leaky), ['lets runs in flight finish on dispose, then refuses new runs with ERR_SERVABLE_CLOSED']);
});

/** An estimate that keeps the contract: a size, and an aborted signal rejected with ERR_SERVABLE_CANCELLED; `bytes` and `ignoreSignal` break it. */
function estimate({ bytes = 1234 as unknown, ignoreSignal = false } = {}): NonNullable<Backend['estimateBytes']> {
  return async (_source, options) => {
    if (options?.signal?.aborted && !ignoreSignal) throw Object.assign(new Error('cancelled'), { code: 'ERR_SERVABLE_CANCELLED' });
    return bytes as number;
  };
}

test('the contract checks estimateBytes when the backend has it: a number of bytes >= 0 or undefined, and an aborted signal rejected', async () => {
  const clause = "estimates its source's bytes when it has estimateBytes, and rejects an aborted signal with ERR_SERVABLE_CANCELLED";
  assert.deepEqual(await failures(() => session(), expected, estimate()), []);
  assert.deepEqual(await failures(() => session(), expected, estimate({ bytes: undefined })), []);
  for (const bytes of [-1, Number.NaN, Infinity, '1234', null]) {
    assert.deepEqual(await failures(() => session(), expected, estimate({ bytes })), [clause], `an estimate of ${String(bytes)}`);
  }
  assert.deepEqual(await failures(() => session(), expected, estimate({ ignoreSignal: true })), [clause]);
  assert.deepEqual(await failures(() => session(), expected, async () => Promise.reject(new Error('no such file'))), [clause]);
  const sync = (() => {
    throw new Error('sync');
  }) as unknown as Backend['estimateBytes'];
  assert.deepEqual(await failures(() => session(), expected, sync), [clause]);
});
