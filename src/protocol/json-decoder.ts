/**
 * Decoding whole JSON request bodies into tensors: in place, or through a {@link JsonDecoder}
 * that does it off the event loop. `JSON.parse` of one 534 KB image takes 3-6 ms and cannot be
 * interrupted; a body of nested empty arrays within the default body limit takes seconds and
 * nearly a gigabyte of heap.
 */
import type { TensorSpec } from '../backends/index.js';
import { assertInteger, assertNumber, describe, optionError, InvalidInputError, PayloadTooLargeError } from '../core/index.js';
import { BinaryReader, type BinarySource } from './binary.js';
import { bodyText, isObject, parseJsonObject } from './json-body.js';
import { OIP_DATA, parseWithDataRanges, TF_TENSORS, type DataRanges, type RangePaths } from './json-data-ranges.js';
import { checkJsonHeap } from './json-heap.js';
import { hasLeadingRun } from './json-nesting.js';
import { parseNonFinite } from './json-non-finite.js';
import { decodeInferRequestData, MAX_RANK, type InferRequestData } from './oip-request.js';
import { decodeRangedPredict, type DecodedPredict } from './tf-request.js';

/**
 * The smallest body whose data is read from its bytes: below about this, finding the ranges costs
 * more than JSON.parse saves (measured: 1.4 µs more on a 126-byte body, 1.6 µs less on 1.3 KB).
 */
const MIN_RANGED_BYTES = 1024;

/** What the JSON part of a body with binary tensor data is called in errors. */
const BINARY_HEADER = 'The JSON header of the body';

/** Told to a client whose body is not UTF-8: binary data needs the header. */
const BINARY_HINT = '; a body with binary tensor data needs the Inference-Header-Content-Length header, the byte length of its JSON part';

/**
 * Decodes JSON request bodies somewhere other than the event loop. The protocol hands it the
 * bodies of at least `minBytes` that are JSON alone (an OIP body with binary tensor data keeps its
 * small JSON header in place); servable's Node adapters pass one backed by worker threads (their
 * `jsonWorkers` options). Each method resolves with what decoding in place would return, or
 * rejects with the error it would throw: InvalidInputError (400) for a body that does not decode,
 * or a ServableError with status 413 for one that needs more memory than the decoder allows.
 */
export interface JsonDecoder {
  /** The smallest body, in bytes, worth handing over. */
  readonly minBytes: number;
  /**
   * Decodes an OIP inference request body, as {@link decodeInferJson} does. A body whose `signal`
   * aborted (the client went away) before decoding started may be dropped with the signal's error.
   */
  infer(body: Uint8Array | string, maxElements: number, signal?: AbortSignal): Promise<InferRequestData>;
  /**
   * Decodes an OIP inference request body with binary tensor data whose JSON header, its first
   * `headerLength` bytes, is of at least `minBytes`, as {@link decodeInferBinary} does with the body
   * split there; `signal` as for `infer`. A decoder without it leaves such headers to be decoded in place.
   * Only the header need go where it is decoded: servable's own decoder sends it alone, decodes it
   * with a BinaryLayout, and reads the data of the spans that records from `body` in place.
   */
  inferBinary?(body: Uint8Array, headerLength: number, maxElements: number, signal?: AbortSignal): Promise<InferRequestData>;
  /** Decodes a TF-Serving `:predict` body against the model's inputs, as {@link decodePredictJson} does; `signal` as for `infer`. */
  predict(body: Uint8Array | string, inputs: readonly TensorSpec[], maxElements: number, signal?: AbortSignal): Promise<DecodedPredict>;
}

/**
 * Decodes an OIP inference request body that is JSON alone. With `maxHeapBytes` (a JSON worker's
 * budget), a body whose parsing could take more memory than that is refused unparsed.
 * @throws InvalidInputError saying what was wrong; PayloadTooLargeError past `maxHeapBytes`;
 * TypeError or RangeError quoting an argument that is not valid (a `maxElements` not an integer >= 1, say).
 */
export function decodeInferJson(body: Uint8Array | string, maxElements: number, maxHeapBytes?: number): InferRequestData {
  checkArguments('body', body, maxElements, maxHeapBytes);
  return decodeRanged(body, OIP_DATA, maxHeapBytes, (json, ranges) => decodeInferRequestData(json, { maxElements, ranges }), BINARY_HINT);
}

/**
 * Decodes an OIP inference request body with binary tensor data: its JSON header `json`, and
 * `binary`, the data of the inputs that have `binary_data_size`, one after another (or, internally,
 * a source of it such as a BinaryLayout); `maxHeapBytes` as for {@link decodeInferJson}, for the header.
 * @throws InvalidInputError saying what was wrong; PayloadTooLargeError past `maxHeapBytes`;
 * TypeError or RangeError quoting an argument that is not valid, as {@link decodeInferJson}.
 */
export function decodeInferBinary(json: Uint8Array | string, binary: Uint8Array | BinarySource, maxElements: number, maxHeapBytes?: number): InferRequestData {
  checkArguments('json', json, maxElements, maxHeapBytes);
  const bytes = binary instanceof Uint8Array;
  if (!bytes && (typeof binary?.tensorData !== 'function' || typeof binary.finish !== 'function')) {
    throw optionError(`Expected \`binary\` to be a Uint8Array or a BinarySource ({tensorData, finish}), got ${describe(binary)}`);
  }
  checkJsonHeap(json, maxHeapBytes);
  const header = parseJsonObject(bodyText(json, BINARY_HEADER), BINARY_HEADER, parseNonFinite);
  return decodeInferRequestData(header, { maxElements, binary: bytes ? new BinaryReader(binary) : binary });
}

/**
 * Decodes a TF-Serving `:predict` body against the model's inputs; `maxHeapBytes` as for {@link decodeInferJson}.
 * @throws InvalidInputError naming the input that is wrong; PayloadTooLargeError past `maxHeapBytes`;
 * TypeError or RangeError quoting an argument that is not valid, as {@link decodeInferJson}.
 */
export function decodePredictJson(body: Uint8Array | string, inputs: readonly TensorSpec[], maxElements: number, maxHeapBytes?: number): DecodedPredict {
  checkArguments('body', body, maxElements, maxHeapBytes);
  if (!Array.isArray(inputs)) throw optionError(`Expected \`inputs\` to be an array of tensor specs, got ${describe(inputs)}`);
  // Only float tensors are read from the bytes; a body whose first elements nest deeper than any
  // tensor may is refused from them whatever its datatypes (see DataRanges.leadsDeeper). Any other
  // body is parsed once, whole.
  const floats = inputs.some((spec) => spec.datatype === 'FP32' || spec.datatype === 'FP64');
  const paths = floats || (typeof body !== 'string' && hasLeadingRun(body, MAX_RANK - 1)) ? TF_TENSORS : [];
  return decodeRanged(body, paths, maxHeapBytes, (json, ranges) => decodeRangedPredict(json, inputs, maxElements, ranges));
}

/**
 * Refuses the arguments every decoder takes, quoting them: a `maxElements` that is not an integer
 * would let any claimed shape through (NaN compares false), and bytes in another form (an
 * ArrayBuffer) would be read as text.
 */
function checkArguments(name: string, body: unknown, maxElements: unknown, maxHeapBytes: unknown): void {
  if (typeof body !== 'string' && !(body instanceof Uint8Array)) throw optionError(`Expected \`${name}\` to be a Uint8Array or a string, got ${describe(body)}`);
  assertInteger('maxElements', maxElements, 1);
  if (maxHeapBytes !== undefined) assertNumber('maxHeapBytes', maxHeapBytes, 0);
}

/**
 * `decode` of the body with the arrays at `paths` left in its bytes (see json-data-ranges.ts), or,
 * when that fails or leaves a range unread, of the body parsed whole: errors are always the whole
 * body's, and a body under {@link MIN_RANGED_BYTES} is read whole at once. A refusal once every
 * range was read is the whole body's already, and stands: each range then proved one JSON value,
 * so the decoder saw what JSON.parse of the whole gives, and reading it again to refuse it cost
 * two to three times serving a good body of its size.
 */
function decodeRanged<T>(body: Uint8Array | string, paths: RangePaths, maxHeapBytes: number | undefined, decode: (json: Record<string, unknown>, ranges?: DataRanges) => T, hint?: string): T {
  const parsed = typeof body === 'string' || body.byteLength < MIN_RANGED_BYTES || paths.length === 0 ? undefined : parseWithDataRanges(body, paths, maxHeapBytes);
  if (parsed && isObject(parsed.json)) {
    try {
      const decoded = decode(parsed.json, parsed.ranges);
      if (parsed.ranges.allClaimed) return decoded;
    } catch (error) {
      if (error instanceof PayloadTooLargeError || (error instanceof InvalidInputError && parsed.ranges.allClaimed)) throw error;
      // Read whole below, which gives the error a client can act on: JSON.parse's, or the decoder's.
    }
  }
  checkJsonHeap(body, maxHeapBytes);
  return decode(parseJsonObject(bodyText(body, undefined, hint), undefined, parseNonFinite));
}

/** True when `decoder` takes a body of this size. */
export function handsOver(decoder: JsonDecoder | undefined, body: Uint8Array | string): decoder is JsonDecoder {
  return decoder !== undefined && (typeof body === 'string' ? body.length : body.byteLength) >= decoder.minBytes;
}
