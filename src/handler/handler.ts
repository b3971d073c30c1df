import { BackendError, InvalidInputError, type TensorMap } from '../core/index.js';
import type { HandlerContext } from './types.js';

/**
 * The handler of one model version, TorchServe-style: `initialize` once, then per batch
 * `preprocess` → `inference` → `postprocess`. Requests are checked one by one in `validate`
 * before they are queued, so a bad request fails alone with a 400 and never reaches a batch.
 *
 * Subclass it to serve your own request and response shapes; {@link TensorHandler} passes
 * tensors through.
 *
 * @typeParam Req - what a caller sends.
 * @typeParam Res - what a caller gets back.
 */
export abstract class Handler<Req, Res> {
  #context: HandlerContext | undefined;

  /** The model version this handler serves; set by {@link Handler.initialize}. */
  protected get context(): HandlerContext {
    if (!this.#context) throw new Error(`${this.constructor.name} is not initialized`);
    return this.#context;
  }

  /** Called once after the model is loaded and before any request. Override to load vocabularies and the like; call super. */
  initialize(context: HandlerContext): void | Promise<void> {
    this.#context = context;
  }

  /** Checks one request before it is queued; throw an InvalidInputError to reject it with a 400. */
  validate(_request: Req): void | Promise<void> {}

  /** How many items a request holds, counted against the batch size. @default 1 */
  sizeOf(_request: Req): number {
    return 1;
  }

  /** A key that only requests which may share a batch have in common (e.g. an image width). @default one key for all */
  batchKey(_request: Req): string {
    return '';
  }

  /**
   * Splits a request holding more items than the batch cap into parts of `sizes` items, in order,
   * so that it runs over several batches and its parts' responses are {@link Handler.merge}d (TF
   * Serving's `enable_large_batch_splitting`). Without the pair such a request is refused with a
   * 400. {@link TensorHandler} splits along the batch dimension.
   */
  split?(request: Req, sizes: readonly number[]): Req[];

  /** Joins the responses of a split request's parts, in order, into its response. */
  merge?(parts: readonly Res[]): Res;

  /** Turns a batch of requests into the model's feeds. Throwing fails the batch, which is then re-run request by request. */
  abstract preprocess(requests: readonly Req[]): TensorMap | Promise<TensorMap>;

  /**
   * Runs the model on the feeds. Override to chain models or post-filter outputs.
   *
   * Feeds the model does not take (an unknown or missing input, another datatype or shape) are
   * this handler's fault, never the client's: they fail the batch with a {@link BackendError}
   * (500) naming the handler and the model, the backend's `InvalidInputError` its `cause`. An
   * override that calls `this.context.session.run` itself gets that `InvalidInputError` (400).
   */
  async inference(feeds: TensorMap, signal?: AbortSignal): Promise<TensorMap> {
    try {
      return await this.context.session.run(feeds, { signal });
    } catch (error) {
      if (!(error instanceof InvalidInputError)) throw error;
      const { name, version } = this.context;
      throw new BackendError(`${this.constructor.name}.preprocess built feeds that model '${name}' version '${version}' does not take: ${error.message}`, { cause: error });
    }
  }

  /** Splits the batch's outputs into one response per request, in order; an Error in a slot fails that request alone. */
  abstract postprocess(outputs: TensorMap, requests: readonly Req[]): readonly (Res | Error)[] | Promise<readonly (Res | Error)[]>;

  /** Called when the version is unloaded. */
  dispose(): void | Promise<void> {}
}
