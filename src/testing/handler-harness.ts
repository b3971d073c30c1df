import { assertInteger, assertOptionKeys, assertObject, assertString, ServableError, type TensorMap } from '../core/index.js';
import { memoryBackend, type MemoryCall, type MemoryModel, type TensorSpec } from '../backends/index.js';
import type { Handler } from '../handler/index.js';

/** The outcome of one request in a batch: its response, or the error it failed with. */
export type ItemResult<Res> = { readonly ok: true; readonly value: Res } | { readonly ok: false; readonly error: Error };

/** Options of {@link handlerHarness}. */
export interface HarnessOptions {
  /** The model name the handler sees. @default 'model' */
  readonly name?: string;
  /** The version the handler sees. @default '1' */
  readonly version?: string;
  /** Input specs pinning dynamic dimensions, as in `ModelRegistry.load({inputs})`. @default the model's */
  readonly inputs?: readonly TensorSpec[];
  /** The batch cap the handler is told, as the batching config's `maxBatchSize`; `runBatch` holds no batch to it. @default 1 */
  readonly maxBatchSize?: number;
}

/** Drives a Handler over a memory model, batch by batch, with no timers and no native code. */
export interface HandlerHarness<Req, Res> {
  /** The initialized handler. */
  readonly handler: Handler<Req, Res>;
  /** Every model run, with the feeds the handler built. */
  readonly calls: readonly MemoryCall[];
  /**
   * Sends requests through the handler as one batch, as the registry would: each request is
   * validated alone, the valid ones are preprocessed, run and postprocessed together, and a batch
   * that throws is re-run request by request. Resolves with one result per request, in order.
   * The batch is the one passed: it is neither capped at `maxBatchSize` nor split by `batchKey`.
   */
  runBatch(requests: readonly Req[]): Promise<ItemResult<Res>[]>;
  /** Runs one request alone and resolves with its response, or rejects with its error. */
  infer(request: Req): Promise<Res>;
}

/**
 * Loads `model` into a memory backend, initializes `handler` against it, and returns a harness
 * for unit tests of the handler's preprocess, postprocess and validation.
 */
export async function handlerHarness<Req, Res>(
  handler: Handler<Req, Res>,
  model: MemoryModel,
  options: HarnessOptions = {},
): Promise<HandlerHarness<Req, Res>> {
  assertObject('options', options as unknown);
  assertOptionKeys('handlerHarness', options, ['name', 'version', 'inputs', 'maxBatchSize']);
  const backend = memoryBackend();
  const name = options.name ?? 'model';
  const version = options.version ?? '1';
  assertString('name', name);
  assertString('version', version);
  if (options.maxBatchSize !== undefined) assertInteger('maxBatchSize', options.maxBatchSize, 1);
  const session = await backend.load(model, { label: `${name}:${version}` });
  const inputs = options.inputs ?? session.inputs;
  await handler.initialize({ name, version, session, inputs, outputs: session.outputs, maxBatchSize: options.maxBatchSize ?? 1 });

  async function runTogether(requests: readonly Req[]): Promise<ItemResult<Res>[]> {
    const feeds: TensorMap = await handler.preprocess(requests);
    const outputs = await handler.inference(feeds);
    const results = await handler.postprocess(outputs, requests);
    if (results.length !== requests.length) {
      throw new Error(`${handler.constructor.name}.postprocess returned ${results.length} results for ${requests.length} requests`);
    }
    return results.map((r) => (r instanceof Error ? { ok: false, error: r } : { ok: true, value: r }));
  }

  async function runValid(requests: readonly Req[]): Promise<ItemResult<Res>[]> {
    try {
      return await runTogether(requests);
    } catch (error) {
      if (requests.length === 1) return [{ ok: false, error: asError(error) }];
      return (await Promise.all(requests.map((r) => runValid([r])))).flat();
    }
  }

  async function runBatch(requests: readonly Req[]): Promise<ItemResult<Res>[]> {
    const results: (ItemResult<Res> | undefined)[] = [];
    const valid: { index: number; request: Req }[] = [];
    for (const [index, request] of requests.entries()) {
      try {
        await handler.validate(request);
        valid.push({ index, request });
      } catch (error) {
        results[index] = { ok: false, error: asError(error) };
      }
    }
    if (valid.length > 0) {
      const ran = await runValid(valid.map((v) => v.request));
      valid.forEach((v, i) => (results[v.index] = ran[i]));
    }
    return results as ItemResult<Res>[];
  }

  return {
    handler,
    calls: backend.calls,
    runBatch,
    async infer(request) {
      const [result] = await runBatch([request]);
      if (!result?.ok) throw result?.error;
      return result.value;
    },
  };
}

function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}

/** Asserts that a result succeeded and returns its value. */
export function expectOk<Res>(result: ItemResult<Res> | undefined): Res {
  if (!result) throw new Error('Expected a result, got none');
  if (!result.ok) throw new Error(`Expected success, got ${result.error.name}: ${result.error.message}`, { cause: result.error });
  return result.value;
}

/** Asserts that a result failed, with `code` when given, and returns the error. */
export function expectError(result: ItemResult<unknown> | undefined, code?: string): Error {
  if (!result) throw new Error('Expected a result, got none');
  if (result.ok) throw new Error(`Expected an error${code ? ` with code ${code}` : ''}, got success`);
  if (code !== undefined && (!(result.error instanceof ServableError) || result.error.code !== code)) {
    throw new Error(`Expected error code ${code}, got ${(result.error as Partial<ServableError>).code ?? result.error.name}: ${result.error.message}`);
  }
  return result.error;
}
