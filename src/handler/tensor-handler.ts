import { concatBatch, InvalidInputError, sliceBatch, type Tensor, type TensorMap } from '../core/index.js';
import { checkFeeds } from '../backends/index.js';
import { Handler } from './handler.js';
import type { InferenceRequest, InferenceResponse } from './types.js';

/**
 * The default handler: requests are tensors whose first dimension is the batch, batched by
 * concatenation and answered with the matching rows of each output.
 */
export class TensorHandler extends Handler<InferenceRequest, InferenceResponse> {
  override validate(request: InferenceRequest): void {
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
    if (rows === 0) throw new InvalidInputError('The request holds no items (batch dimension 0)');
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

  /** Each output's rows of every part, in order. */
  override merge(parts: readonly InferenceResponse[]): InferenceResponse {
    const outputs: TensorMap = {};
    for (const name of Object.keys(parts[0]!.outputs)) outputs[name] = concatBatch(parts.map((p) => p.outputs[name]!));
    return { outputs };
  }

  override preprocess(requests: readonly InferenceRequest[]): TensorMap {
    const feeds: TensorMap = {};
    for (const { name } of this.context.inputs) {
      feeds[name] = concatBatch(requests.map((r) => r.inputs[name] as Tensor));
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
        if (out) mine[name] = requests.length === 1 ? out : sliceBatch(out, row, row + rows);
      }
      row += rows;
      return { outputs: mine };
    });
  }
}
