import {
  assertBoolean,
  assertOptionKeys,
  assertNumber,
  assertObject,
  assertOneOf,
  checkAllowedBatchSizes,
  checkPadValue,
  concatBatch,
  describe,
  InvalidInputError,
  padBatch,
  paddedBatchSize,
  padToCommonShape,
  sliceBatch,
  type Tensor,
  type TensorMap,
} from '../core/index.js';
import { checkFeeds } from '../backends/index.js';
import { Handler } from './handler.js';
import type { HandlerContext, InferenceRequest, InferenceResponse } from './types.js';

/** Options of {@link TensorHandler}: how a batch is shaped before it runs. */
export interface TensorHandlerOptions {
  /**
   * Batch sizes a batch is padded up to with rows of `padValue` (see `padRows`), ascending, the
   * last at least the model's `maxBatchSize` (TF Serving's `allowed_batch_sizes`): the backend
   * then sees only these shapes, as fixed-shape engines (TensorRT profiles, compiled graphs) need.
   * Padding rows are run and dropped; each caller gets its own rows.
   * @default none (a batch holds exactly its items)
   */
  readonly allowedBatchSizes?: readonly number[];
  /**
   * Pads every input's dimensions after the batch one to the longest in the batch with
   * `padValue` (TF Serving's `pad_variable_length_inputs`), so that requests of different lengths
   * (token sequences, text-line images of different widths) share a batch instead of being kept
   * apart by shape. Outputs come back at the padded length; the true lengths are each request's
   * own input shapes, which {@link TensorHandler.postprocess} receives, so a subclass can trim
   * them. @default false (only requests of the same shape share a batch)
   */
  readonly padVariableLength?: boolean;
  /**
   * The number padding is filled with, stored as each input's datatype stores it (a value, not
   * FP16 half bits); BYTES inputs are padded with `''` whatever it is. An integer input must hold
   * it as it is (0-255 for UINT8, 0 or 1 for BOOL), checked when the version loads. @default 0
   */
  readonly padValue?: number;
  /**
   * What the rows `allowedBatchSizes` adds hold: `'value'`, `padValue`; `'repeat'`, copies of
   * the first row of the batch's last request, as TF Serving pads: a real input, for a model that
   * fails on `padValue` (a BYTES input it decodes, which fails on `''`). @default 'value'
   */
  readonly padRows?: 'value' | 'repeat';
}

const OPTION_KEYS = ['allowedBatchSizes', 'padVariableLength', 'padValue', 'padRows'];
const PAD_ROWS = ['value', 'repeat'] as const;

/**
 * The default handler: requests are tensors whose first dimension is the batch, batched by
 * concatenation and answered with the matching rows of each output.
 *
 * @example
 * ```ts
 * // A TensorRT engine built for batches of 1, 4 and 8, fed text lines of any width.
 * await registry.load({
 *   name: 'rec', source: 'rec.onnx', batching: { maxBatchSize: 8 },
 *   handler: () => new TensorHandler({ allowedBatchSizes: [1, 4, 8], padVariableLength: true }),
 * });
 * ```
 */
export class TensorHandler extends Handler<InferenceRequest, InferenceResponse> {
  readonly #allowed: readonly number[] | undefined;
  readonly #padLengths: boolean;
  readonly #padValue: number;
  readonly #repeatRows: boolean;

  /** @throws TypeError or RangeError naming the option and quoting the bad value, with `code` `'ERR_SERVABLE_INVALID_OPTION'`. */
  constructor(options: TensorHandlerOptions = {}) {
    super();
    assertObject('options', options as unknown);
    assertOptionKeys('TensorHandler', options, OPTION_KEYS);
    // Checked against maxBatchSize when the version loads (initialize), where it is known.
    if (options.allowedBatchSizes !== undefined) checkAllowedBatchSizes(options.allowedBatchSizes);
    if (options.padVariableLength !== undefined) assertBoolean('padVariableLength', options.padVariableLength);
    if (options.padValue !== undefined) assertNumber('padValue', options.padValue, -Number.MAX_VALUE);
    this.#allowed = options.allowedBatchSizes && [...options.allowedBatchSizes];
    this.#padLengths = options.padVariableLength ?? false;
    this.#padValue = options.padValue ?? 0;
    const padRows = options.padRows ?? 'value';
    assertOneOf('padRows', padRows, PAD_ROWS);
    this.#repeatRows = padRows === 'repeat';
  }

  override initialize(context: HandlerContext): void {
    super.initialize(context);
    if (this.#allowed) checkAllowedBatchSizes(this.#allowed, context.maxBatchSize);
    if (this.#allowed || this.#padLengths) {
      for (const { name, datatype } of context.inputs) if (datatype !== 'BYTES') checkPadValue(datatype, this.#padValue, `\`padValue\` of input '${name}'`);
    }
  }

  override validate(request: InferenceRequest): void {
    checkRequestForm(request);
    checkFeeds(this.context.inputs, request.inputs);
    let rows: number | undefined;
    for (const [name, t] of Object.entries(request.inputs)) {
      const n = t.shape[0];
      if (n === undefined) throw new InvalidInputError(`Input '${name}' has no batch dimension`);
      if (rows !== undefined && n !== rows) {
        throw new InvalidInputError(`Input '${name}' has batch size ${n}, other inputs have ${rows}`);
      }
      rows = n;
    }
    if (rows === 0) throw new InvalidInputError(`Input '${Object.keys(request.inputs)[0]}' has batch dimension 0: the request holds no items`);
    if (request.outputs) {
      const known = new Set(this.context.outputs.map((o) => o.name));
      for (const name of request.outputs) {
        if (!known.has(name)) throw new InvalidInputError(`Unknown output '${name}'; the model has ${[...known].map((n) => `'${n}'`).join(', ')}`);
      }
    }
  }

  override sizeOf(request: InferenceRequest): number {
    return Object.values(request.inputs)[0]?.shape[0] ?? 1;
  }

  override batchKey(request: InferenceRequest): string {
    // Padded to a common shape, requests of any lengths share a batch (their rank is the model's).
    if (this.#padLengths) return '';
    // Built by concatenation: this runs for every request, and map/slice/join allocate arrays.
    let key = '';
    for (const name of Object.keys(request.inputs)) {
      const shape = request.inputs[name]!.shape;
      key += name;
      for (let i = 1; i < shape.length; i++) key += `${i === 1 ? ':' : 'x'}${shape[i]}`;
      key += ';';
    }
    return key;
  }

  /** Parts of the request's rows, as views of its inputs. */
  override split(request: InferenceRequest, sizes: readonly number[]): InferenceRequest[] {
    let row = 0;
    return sizes.map((rows) => {
      const inputs: TensorMap = {};
      for (const [name, t] of Object.entries(request.inputs)) inputs[name] = sliceBatch(t, row, row + rows);
      row += rows;
      return { ...request, inputs };
    });
  }

  /** Each output's rows of every part, in order; padded to one length first when parts ran in batches padded to different ones. */
  override merge(parts: readonly InferenceResponse[]): InferenceResponse {
    const outputs: TensorMap = {};
    for (const name of Object.keys(parts[0]!.outputs)) {
      const rows = parts.map((p) => p.outputs[name]!);
      outputs[name] = concatBatch(this.#padLengths ? padToCommonShape(rows, this.#padValue) : rows);
    }
    return { outputs };
  }

  /** Runs the model on the feeds: they are the client's tensors, so feeds the model does not take stay the client's 400. */
  override inference(feeds: TensorMap, signal?: AbortSignal): Promise<TensorMap> {
    return this.context.session.run(feeds, { signal });
  }

  override preprocess(requests: readonly InferenceRequest[]): TensorMap {
    const largest = this.#allowed?.at(-1);
    // With batching, no batch outgrows maxBatchSize; without it a request runs whole, and alone.
    if (largest !== undefined && requests.length === 1 && this.sizeOf(requests[0]!) > largest) {
      throw new InvalidInputError(`The request holds ${this.sizeOf(requests[0]!)} items, more than the largest of allowedBatchSizes (${largest})`);
    }
    const feeds: TensorMap = {};
    for (const { name } of this.context.inputs) {
      const parts = requests.map((r) => r.inputs[name] as Tensor);
      let batch = concatBatch(this.#padLengths ? padToCommonShape(parts, this.#padValue) : parts);
      if (this.#allowed) {
        const rows = paddedBatchSize(batch.shape[0]!, this.#allowed);
        batch = this.#repeatRows ? repeatRow(batch, rows, batch.shape[0]! - this.sizeOf(requests.at(-1)!)) : padBatch(batch, rows, this.#padValue);
      }
      feeds[name] = batch;
    }
    return feeds;
  }

  override postprocess(outputs: TensorMap, requests: readonly InferenceRequest[]): InferenceResponse[] {
    let row = 0;
    return requests.map((request) => {
      const rows = this.sizeOf(request);
      const wanted = request.outputs ?? Object.keys(outputs);
      const mine: TensorMap = {};
      for (const name of wanted) {
        const out = outputs[name];
        // Alone in an unpadded batch, a request gets every output whole, batched or not ([K, 4] boxes, a scalar).
        if (out) mine[name] = requests.length === 1 && !this.#allowed ? out : sliceBatch(out, row, row + rows);
      }
      row += rows;
      return { outputs: mine };
    });
  }
}

/** `t` with copies of its row `row` appended up to `rows` rows; `t` itself when it has them. */
function repeatRow(t: Tensor, rows: number, row: number): Tensor {
  const have = t.shape[0]!;
  if (have >= rows) return t;
  const copy = sliceBatch(t, row, row + 1);
  return concatBatch([t, ...Array.from({ length: rows - have }, () => copy)]);
}

/**
 * Refuses a request that is not `{inputs: {name: tensor}, outputs?: string[]}` with a 400 quoting
 * it: one passed in from JSON or JavaScript (`service.infer(model, body)` in an app's route) would
 * otherwise fail on reading it, with a TypeError and no code.
 */
function checkRequestForm(request: unknown): void {
  if (typeof request !== 'object' || request === null) {
    throw new InvalidInputError(`Expected the request to be an object with \`inputs\`, got ${describe(request)}`);
  }
  // Its inputs are checkFeeds' to check, against the model's.
  const { outputs } = request as Record<string, unknown>;
  if (outputs !== undefined && (!Array.isArray(outputs) || !outputs.every((o) => typeof o === 'string'))) {
    throw new InvalidInputError(`Expected \`outputs\` to be an array of output names, got ${describe(outputs)}`);
  }
}
