/**
 * What decoding a JSON inference body costs, on one [1, 3, 48, 192] FP32 image (534 KB, the HTTP
 * benchmark's JSON request), as an OIP body and as a TF-Serving `:predict` body (`instances`, the
 * image nested as a client's `tolist()` writes it): servable's `decodeInferJson` and
 * `decodePredictJson`, which read numeric data straight from the body's bytes, each against
 * `JSON.parse` of its body's text alone, the least any decoder built on it pays before a single
 * value reaches a tensor. Alternating blocks of calls, CPU time per call (the process's, so time
 * the thread waits for a core does not count); medians. BENCH_ROUNDS sets the blocks per path.
 */
import { decodeInferJson, decodePredictJson } from 'servable/protocol';
import { pseudoRandom } from '../test/fixtures/ocr-models.js';
import { inferRequest } from './http-request.js';
import { median, table } from './stats.js';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 15);
const CALLS = 20;
const SHAPE = [3, 48, 192] as const;

function cpuMsPerCall(call: () => unknown): number {
  const start = process.cpuUsage();
  for (let i = 0; i < CALLS; i++) call();
  const used = process.cpuUsage(start);
  return (used.user + used.system) / 1000 / CALLS;
}

/** The image the OIP body holds, as one TF-Serving instance: nested lists of the same numbers. */
function predictBody(): Uint8Array {
  const x = Array.from(pseudoRandom(SHAPE[0] * SHAPE[1] * SHAPE[2], 1));
  const rows = (from: number, dims: readonly number[]): unknown[] => {
    const [d, ...inner] = dims;
    const size = inner.reduce((a, b) => a * b, 1);
    return Array.from({ length: d! }, (_, i) => (inner.length === 0 ? x[from + i] : rows(from + i * size, inner)));
  };
  return new TextEncoder().encode(JSON.stringify({ instances: [rows(0, SHAPE)] }));
}

export async function run(): Promise<void> {
  const { body } = inferRequest('json', 1, 1);
  const infer = new Uint8Array(body.buffer, body.byteOffset, body.byteLength);
  const predict = predictBody();
  const inputs = [{ name: 'x', datatype: 'FP32' as const, shape: [-1, ...SHAPE] }];
  const text = new TextDecoder();
  const paths: Record<string, () => unknown> = {
    'OIP: JSON.parse of the body text alone (TextDecoder + JSON.parse)': () => JSON.parse(text.decode(infer)),
    'OIP: servable decodeInferJson (body to FP32 tensor)': () => decodeInferJson(infer, 1 << 20),
    'TF: JSON.parse of the body text alone (TextDecoder + JSON.parse)': () => JSON.parse(text.decode(predict)),
    'TF: servable decodePredictJson (instances to FP32 tensor)': () => decodePredictJson(predict, inputs, 1 << 20),
  };
  const times = Object.fromEntries(Object.keys(paths).map((name) => [name, [] as number[]]));
  for (const call of Object.values(paths)) cpuMsPerCall(call);
  for (let round = 0; round < ROUNDS; round++) {
    for (const [name, call] of Object.entries(paths)) times[name]!.push(cpuMsPerCall(call));
  }
  const kb = (bytes: Uint8Array): string => (bytes.byteLength / 1024).toFixed(0);
  console.log(`# json: decoding one JSON image body (OIP ${kb(infer)} KiB, TF ${kb(predict)} KiB), ${ROUNDS} alternating blocks of ${CALLS} calls per path`);
  console.log(table(['path', 'CPU ms per body (median)', 'min', 'max'], Object.entries(times).map(([name, t]) => [name, median(t), Math.min(...t), Math.max(...t)])));
  const [oipParse, oip, tfParse, tf] = Object.values(times).map(median) as [number, number, number, number];
  console.log(`\nservable's decode ÷ JSON.parse alone: OIP ${(oip / oipParse).toFixed(2)}, TF ${(tf / tfParse).toFixed(2)} (below 1: faster than the parse any JSON.parse-based decoder starts with)`);
}
