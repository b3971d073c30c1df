/**
 * What decoding a JSON inference body costs, on one [1, 3, 48, 192] FP32 image (534 KB, the HTTP
 * benchmark's JSON request): servable's `decodeInferJson`, which reads each input's numeric data
 * straight from the body's bytes, against `JSON.parse` of the body's text alone, the least any
 * decoder built on it pays before a single value reaches a tensor. Alternating blocks of calls,
 * CPU time per call (the process's, so time the thread waits for a core does not count); medians.
 * BENCH_ROUNDS sets the blocks per path.
 */
import { decodeInferJson } from 'servable/protocol';
import { inferRequest } from './http-request.js';
import { median, table } from './stats.js';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 15);
const CALLS = 20;

function cpuMsPerCall(call: () => unknown): number {
  const start = process.cpuUsage();
  for (let i = 0; i < CALLS; i++) call();
  const used = process.cpuUsage(start);
  return (used.user + used.system) / 1000 / CALLS;
}

export async function run(): Promise<void> {
  const { body } = inferRequest('json', 1, 1);
  const bytes = new Uint8Array(body.buffer, body.byteOffset, body.byteLength);
  const text = new TextDecoder();
  const paths: Record<string, () => unknown> = {
    'JSON.parse of the body text alone (TextDecoder + JSON.parse)': () => JSON.parse(text.decode(bytes)),
    'servable decodeInferJson (body to FP32 tensor)': () => decodeInferJson(bytes, 1 << 20),
  };
  const times = Object.fromEntries(Object.keys(paths).map((name) => [name, [] as number[]]));
  for (const call of Object.values(paths)) cpuMsPerCall(call);
  for (let round = 0; round < ROUNDS; round++) {
    for (const [name, call] of Object.entries(paths)) times[name]!.push(cpuMsPerCall(call));
  }
  console.log(`# json: decoding one ${(bytes.byteLength / 1024).toFixed(0)} KiB JSON image body, ${ROUNDS} alternating blocks of ${CALLS} calls per path`);
  console.log(table(['path', 'CPU ms per body (median)', 'min', 'max'], Object.entries(times).map(([name, t]) => [name, median(t), Math.min(...t), Math.max(...t)])));
  const [parse, servable] = Object.values(times).map(median) as [number, number];
  console.log(`\nservable's decode ÷ JSON.parse alone: ${(servable / parse).toFixed(2)} (below 1: faster than the parse any JSON.parse-based decoder starts with)`);
}
