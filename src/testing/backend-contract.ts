import { allocate, isDataType, sliceBatch, type Tensor, type TensorMap } from '../core/index.js';
import { shapeFits, type Backend, type ModelSession, type ModelSource } from '../backends/index.js';
import type { ContractTest } from './cache-store-contract.js';

/** A backend and a model source it can load. */
export interface BackendContractSubject {
  readonly backend: Backend;
  readonly source: ModelSource;
}

/** Options of {@link backendContract}. */
export interface BackendContractOptions {
  /** Prefixes every test name. @default 'backend' */
  readonly name?: string;
  /**
   * A valid batch of feeds. When every input's first dimension is dynamic and the batch has
   * several rows, the concurrency clause also runs each row alone and compares it with its rows
   * of `expected`.
   */
  readonly feeds: TensorMap;
  /** The outputs `feeds` must give (every output named here is checked). */
  readonly expected: TensorMap;
  /** The largest absolute difference allowed per element of a numeric output. @default 0 (exact) */
  readonly tolerance?: number;
  /** The device the session must report, when the test knows it. */
  readonly device?: string;
  /** Runs started at once in the concurrency clause (at least twice the session's concurrency). @default 4 */
  readonly concurrentRuns?: number;
}

/**
 * The Backend/ModelSession contract as a test suite, in keyv's test-suite style: pass your
 * runner's test function (node:test's `test`, vitest's `it`; called once per clause), a factory
 * for a fresh backend and a model source, and a batch with its expected outputs. Clauses:
 * metadata shape; correct outputs; invalid feeds rejected (never thrown) with
 * `ERR_SERVABLE_INVALID_INPUT` while the session stays usable; an already aborted signal rejected
 * with `ERR_SERVABLE_CANCELLED`; when the backend has `estimateBytes`, the source's estimate a
 * number of bytes >= 0 or undefined, and an already aborted signal rejected with
 * `ERR_SERVABLE_CANCELLED`; concurrent runs each getting their own answer; dispose letting
 * runs in flight finish, refusing later runs with `ERR_SERVABLE_CLOSED`, and being safe to call
 * twice. Each clause loads its own session and disposes it. Every run gets fresh copies of the
 * feeds, so backends that transfer feed buffers to a worker pass too. The suite throws plain
 * Errors and imports nothing from Node, so it runs in browser test runners as well.
 *
 * @example
 * ```ts
 * import { test } from 'node:test';
 * import { backendContract } from 'servable/testing';
 *
 * backendContract(test, () => ({ backend: myBackend(), source: 'model.bin' }), {
 *   name: 'my-backend',
 *   feeds: { x: { datatype: 'FP32', shape: [2, 2], data: new Float32Array([1, 2, 3, 4]) } },
 *   expected: { y: { datatype: 'FP32', shape: [2, 1], data: new Float32Array([3, 7]) } },
 * });
 * ```
 */
export function backendContract(
  test: ContractTest,
  makeSubject: () => BackendContractSubject | Promise<BackendContractSubject>,
  options: BackendContractOptions,
): void {
  const name = options.name ?? 'backend';
  const tolerance = options.tolerance ?? 0;
  const concurrentRuns = options.concurrentRuns ?? 4;

  const withSession = (title: string, body: (session: ModelSession, subject: BackendContractSubject) => Promise<void>) =>
    test(`${name}: ${title}`, async () => {
      const subject = await makeSubject();
      const session = await subject.backend.load(subject.source, { label: `${name}:contract` });
      try {
        await body(session, subject);
      } finally {
        await session.dispose();
      }
    });

  withSession('accepts its source and describes the loaded model', async (session, { backend, source }) => {
    check(typeof backend.name === 'string' && backend.name.length > 0, `backend.name must be a non-empty string, got ${String(backend.name)}`);
    check(backend.accepts(source), `backend.accepts(source) must be true for the source it loads`);
    checkSpecs('inputs', session.inputs);
    checkSpecs('outputs', session.outputs);
    for (const feed of Object.keys(options.feeds)) {
      check(session.inputs.some((s) => s.name === feed), `session.inputs must include the feed '${feed}'`);
    }
    for (const output of Object.keys(options.expected)) {
      check(session.outputs.some((s) => s.name === output), `session.outputs must include the expected output '${output}'`);
    }
    check(typeof session.device === 'string' && session.device.length > 0, `session.device must be a non-empty string, got ${String(session.device)}`);
    if (options.device !== undefined) check(session.device === options.device, `session.device must be '${options.device}', got '${session.device}'`);
    check(Array.isArray(session.fallbacks), 'session.fallbacks must be an array');
    for (const f of session.fallbacks) {
      check(typeof f.device === 'string' && typeof f.reason === 'string' && f.reason.length > 0, `each fallback needs a device and a reason, got ${JSON.stringify(f)}`);
    }
    check(Number.isInteger(session.concurrency) && session.concurrency >= 1, `session.concurrency must be an integer >= 1, got ${session.concurrency}`);
  });

  withSession('runs the model and gives the expected outputs', async (session) => {
    const outputs = await session.run(cloneFeeds(options.feeds));
    compareOutputs('run', session, outputs, options.expected, tolerance);
  });

  withSession('rejects invalid feeds with ERR_SERVABLE_INVALID_INPUT and stays usable', async (session) => {
    for (const [what, feeds] of invalidFeeds(options.feeds, session)) {
      let pending: Promise<unknown>;
      try {
        pending = session.run(feeds);
      } catch (error) {
        throw new Error(`run() with ${what} threw synchronously instead of rejecting: ${(error as Error).message}`, { cause: error });
      }
      const error = await pending.then(
        () => undefined,
        (e: unknown) => e,
      );
      check(error !== undefined, `run() with ${what} must reject, but it resolved`);
      check(codeOf(error) === 'ERR_SERVABLE_INVALID_INPUT', `run() with ${what} must reject with ERR_SERVABLE_INVALID_INPUT, got ${describeError(error)}`);
    }
    compareOutputs('run after invalid feeds', session, await session.run(cloneFeeds(options.feeds)), options.expected, tolerance);
  });

  withSession('rejects a run whose signal is already aborted with ERR_SERVABLE_CANCELLED', async (session) => {
    const error = await session.run(cloneFeeds(options.feeds), { signal: AbortSignal.abort() }).then(
      () => undefined,
      (e: unknown) => e,
    );
    check(error !== undefined, 'run() with an aborted signal must reject, but it resolved');
    check(codeOf(error) === 'ERR_SERVABLE_CANCELLED', `run() with an aborted signal must reject with ERR_SERVABLE_CANCELLED, got ${describeError(error)}`);
  });

  withSession('gives every concurrent run its own answer', async (session) => {
    const cases = concurrentCases(options.feeds, options.expected, session, Math.max(concurrentRuns, 2 * session.concurrency));
    const results = await Promise.all(cases.map((c) => session.run(cloneFeeds(c.feeds))));
    results.forEach((outputs, i) => compareOutputs(`concurrent run ${i} (${cases[i]!.what})`, session, outputs, cases[i]!.expected, tolerance));
  });

  test(`${name}: estimates its source's bytes when it has estimateBytes, and rejects an aborted signal with ERR_SERVABLE_CANCELLED`, async () => {
    const { backend, source } = await makeSubject();
    if (backend.estimateBytes === undefined) return;
    check(typeof backend.estimateBytes === 'function', `backend.estimateBytes must be a function when present, got ${typeof backend.estimateBytes}`);
    const label = `${name}:contract`;
    const estimating = settle('estimateBytes(source)', () => backend.estimateBytes!(source, { label }));
    const bytes = await estimating.catch((error: unknown) => {
      throw new Error(`Backend contract: estimateBytes(source) must resolve for the source the backend loads, got ${describeError(error)}`, { cause: error });
    });
    check(bytes === undefined || (typeof bytes === 'number' && Number.isFinite(bytes) && bytes >= 0), `estimateBytes(source) must resolve a number of bytes >= 0 or undefined, got ${JSON.stringify(bytes) ?? String(bytes)} (${typeof bytes})`);
    const error = await settle('estimateBytes(source) with an aborted signal', () => backend.estimateBytes!(source, { label, signal: AbortSignal.abort() })).then(
      () => undefined,
      (e: unknown) => e,
    );
    check(error !== undefined, 'estimateBytes(source) with an aborted signal must reject, but it resolved');
    check(codeOf(error) === 'ERR_SERVABLE_CANCELLED', `estimateBytes(source) with an aborted signal must reject with ERR_SERVABLE_CANCELLED, got ${describeError(error)}`);
  });

  withSession('lets runs in flight finish on dispose, then refuses new runs with ERR_SERVABLE_CLOSED', async (session) => {
    const inFlight = session.run(cloneFeeds(options.feeds));
    const disposed = session.dispose();
    compareOutputs('run in flight during dispose', session, await inFlight, options.expected, tolerance);
    await disposed;
    const error = await session.run(cloneFeeds(options.feeds)).then(
      () => undefined,
      (e: unknown) => e,
    );
    check(error !== undefined, 'run() after dispose() must reject, but it resolved');
    check(codeOf(error) === 'ERR_SERVABLE_CLOSED', `run() after dispose() must reject with ERR_SERVABLE_CLOSED, got ${describeError(error)}`);
    await session.dispose();
  });
}

function check(condition: boolean, message: string): asserts condition {
  if (!condition) throw new Error(`Backend contract: ${message}`);
}

/** What `call` gives, as a promise; one that throws synchronously, where it should reject, breaks the contract. */
function settle<T>(what: string, call: () => Promise<T>): Promise<T> {
  try {
    return Promise.resolve(call());
  } catch (error) {
    throw new Error(`Backend contract: ${what} threw synchronously instead of rejecting: ${(error as Error).message}`, { cause: error });
  }
}

function codeOf(error: unknown): unknown {
  return (error as { code?: unknown } | null | undefined)?.code;
}

function describeError(error: unknown): string {
  if (error instanceof Error) return `${error.name}${codeOf(error) ? ` (${String(codeOf(error))})` : ''}: ${error.message}`;
  return String(error);
}

function checkSpecs(what: string, specs: ModelSession['inputs']): void {
  check(Array.isArray(specs) && specs.length > 0, `session.${what} must be a non-empty array`);
  const names = new Set<string>();
  for (const s of specs) {
    check(typeof s.name === 'string' && s.name.length > 0 && !names.has(s.name), `session.${what} needs unique non-empty names, got ${JSON.stringify(s.name)}`);
    names.add(s.name);
    check(isDataType(s.datatype), `session.${what} '${s.name}' needs an OIP datatype, got ${JSON.stringify(s.datatype)}`);
    check(
      Array.isArray(s.shape) && s.shape.every((d: number) => Number.isInteger(d) && d >= -1),
      `session.${what} '${s.name}' needs integer dimensions, -1 for dynamic, got ${JSON.stringify(s.shape)}`,
    );
  }
}

function cloneTensor(t: Tensor): Tensor {
  return { datatype: t.datatype, shape: [...t.shape], data: t.data.slice() } as Tensor;
}

function cloneFeeds(feeds: TensorMap): TensorMap {
  return Object.fromEntries(Object.entries(feeds).map(([k, t]) => [k, cloneTensor(t)]));
}

function compareOutputs(what: string, session: ModelSession, got: TensorMap, expected: TensorMap, tolerance: number): void {
  for (const [name, want] of Object.entries(expected)) {
    const t = got[name];
    check(t !== undefined, `${what}: output '${name}' is missing (got ${Object.keys(got).join(', ') || 'none'})`);
    check(t.datatype === want.datatype, `${what}: output '${name}' must be ${want.datatype}, got ${t.datatype}`);
    check(
      t.shape.length === want.shape.length && t.shape.every((d, i) => d === want.shape[i]),
      `${what}: output '${name}' must have shape [${want.shape.join(', ')}], got [${t.shape.join(', ')}]`,
    );
    const spec = session.outputs.find((s) => s.name === name);
    if (spec) check(shapeFits(spec.shape, t.shape), `${what}: output '${name}' of shape [${t.shape.join(', ')}] does not fit its spec [${spec.shape.join(', ')}]`);
    check(t.data.length === want.data.length, `${what}: output '${name}' must hold ${want.data.length} elements, got ${t.data.length}`);
    for (let i = 0; i < want.data.length; i++) {
      const a = t.data[i];
      const b = want.data[i];
      const ok = typeof a === 'number' && typeof b === 'number' ? Math.abs(a - b) <= tolerance || (Number.isNaN(a) && Number.isNaN(b)) : a === b;
      check(ok, `${what}: output '${name}'[${i}] must be ${String(b)}${tolerance ? ` ± ${tolerance}` : ''}, got ${String(a)}`);
    }
  }
}

/** Feeds that break the contract in one way each, derived from a valid batch and the input specs. */
function invalidFeeds(feeds: TensorMap, session: ModelSession): [string, TensorMap][] {
  const entries = Object.entries(feeds);
  const [firstName, first] = entries[0] ?? [];
  if (firstName === undefined || first === undefined) throw new Error('Backend contract: `feeds` must hold at least one input');
  const replace = (t: Tensor): TensorMap => ({ ...cloneFeeds(feeds), [firstName]: t });
  const n = first.data.length;
  const cases: [string, TensorMap][] = [
    [`input '${firstName}' missing`, Object.fromEntries(entries.slice(1).map(([k, t]) => [k, cloneTensor(t)]))],
    ['an unknown input', { ...cloneFeeds(feeds), __servable_contract_unknown__: cloneTensor(first) }],
    [
      `input '${firstName}' with the wrong datatype`,
      replace(first.datatype === 'FP32' ? { datatype: 'FP64', shape: first.shape, data: new Float64Array(n) } : { datatype: 'FP32', shape: first.shape, data: new Float32Array(n) }),
    ],
    [`input '${firstName}' with an extra dimension`, replace({ ...cloneTensor(first), shape: [...first.shape, 1] })],
  ];
  if (n > 0) cases.push([`input '${firstName}' with fewer elements than its shape`, replace({ ...cloneTensor(first), data: first.data.slice(0, n - 1) } as Tensor)]);
  const spec = session.inputs.find((s) => s.name === firstName);
  const fixed = spec?.shape.findIndex((d, i) => i > 0 && d > 0) ?? -1;
  if (spec && fixed > 0) {
    const shape = first.shape.map((d, i) => (i === fixed ? d + 1 : d));
    const data = allocate(first.datatype, shape.reduce((a, b) => a * b, 1));
    cases.push([`input '${firstName}' with dimension ${fixed} other than its fixed ${spec.shape[fixed]}`, replace({ datatype: first.datatype, shape, data } as Tensor)]);
  }
  return cases;
}

interface RunCase {
  readonly what: string;
  readonly feeds: TensorMap;
  readonly expected: TensorMap;
}

/** `count` runs: each row of the batch alone (when the batch axis is dynamic) and the whole batch, in turn. */
function concurrentCases(feeds: TensorMap, expected: TensorMap, session: ModelSession, count: number): RunCase[] {
  const whole: RunCase = { what: 'whole batch', feeds, expected };
  const rows = Object.values(feeds)[0]?.shape[0] ?? 0;
  const batched =
    rows > 1 &&
    session.inputs.every((s) => s.shape[0] === -1 && feeds[s.name]?.shape[0] === rows) &&
    Object.values(expected).every((t) => t.shape[0] === rows);
  const pool: RunCase[] = [whole];
  if (batched) {
    for (let r = 0; r < rows; r++) {
      const slice = (m: TensorMap) => Object.fromEntries(Object.entries(m).map(([k, t]) => [k, sliceBatch(t, r, r + 1)]));
      pool.push({ what: `row ${r}`, feeds: slice(feeds), expected: slice(expected) });
    }
  }
  return Array.from({ length: Math.max(count, pool.length) }, (_, i) => pool[(i + 1) % pool.length]!);
}
