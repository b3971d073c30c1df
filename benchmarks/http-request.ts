/** The inference request both HTTP load generators of the benchmark send (http-client.ts and wrk). */
import { pseudoRandom } from '../test/fixtures/ocr-models.js';

/** The route the requests go to. */
export const INFER_PATH = '/v2/models/textdir/infer';

/** The classifier's output per image: 2 FP32 scores. */
export const OUTPUT_BYTES = 2 * 4;

const IMAGE = 3 * 48 * 192;

/**
 * A request of `images` pseudo-random images (from `seed`) as JSON or as binary tensor data asking
 * for binary outputs: its body and the headers it needs besides Host and Content-Length.
 */
export function inferRequest(mode: 'json' | 'binary', seed: number, images: number): { headers: Record<string, string>; body: Buffer } {
  const x = pseudoRandom(images * IMAGE, seed);
  const shape = [images, 3, 48, 192];
  if (mode === 'json') {
    const body = Buffer.from(JSON.stringify({ inputs: [{ name: 'x', datatype: 'FP32', shape, data: Array.from(x) }] }));
    return { headers: { 'Content-Type': 'application/json' }, body };
  }
  const header = Buffer.from(
    JSON.stringify({
      inputs: [{ name: 'x', datatype: 'FP32', shape, parameters: { binary_data_size: x.byteLength } }],
      parameters: { binary_data_output: true },
    }),
  );
  return {
    headers: { 'Content-Type': 'application/octet-stream', 'Inference-Header-Content-Length': String(header.byteLength) },
    body: Buffer.concat([header, Buffer.from(x.buffer, x.byteOffset, x.byteLength)]),
  };
}
