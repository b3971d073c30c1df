import type { Backend, InferenceResponse, MemoryModel, Tensor } from 'servable';
import { memoryBackend } from 'servable/testing';

/** A memory backend whose sessions fail to dispose, as a lost device does. */
export function disposeFailing(): Backend {
  const memory = memoryBackend();
  return {
    name: 'lossy',
    accepts: (source) => memory.accepts(source),
    async load(source, options) {
      const session = await memory.load(source, options);
      session.dispose = () => Promise.reject(new Error('device lost'));
      return session;
    },
  };
}

/** y = 2x + offset, row by row: the answer tells which version ran. */
export function doubler(offset: number, latencyMs = 0): MemoryModel {
  return {
    inputs: [{ name: 'x', datatype: 'FP32', shape: [-1, 2] }],
    outputs: [{ name: 'y', datatype: 'FP32', shape: [-1, 2] }],
    latencyMs,
    run: ({ x }) => ({ y: { datatype: 'FP32', shape: x!.shape, data: (x!.data as Float32Array).map((v) => 2 * v + offset) } }),
  };
}

/** A tensor request of rows of two values. */
export function request(...rows: number[][]) {
  return { inputs: { x: { datatype: 'FP32', shape: [rows.length, 2], data: new Float32Array(rows.flat()) } as Tensor } };
}

/** The output values of a response. */
export function values(response: InferenceResponse): number[] {
  return Array.from(response.outputs.y!.data as Float32Array);
}

/** The offset a {@link doubler} answer to `request([0, 0])` reveals. */
export function offsetOf(response: InferenceResponse): number {
  return (response.outputs.y!.data as Float32Array)[0]!;
}

/** Records the events of an emitter as strings. */
export function record<E extends string>(
  emitter: { on(event: E, fn: (payload: any) => void): unknown },
  events: readonly E[],
  format: (event: E, payload: any) => string,
): string[] {
  const log: string[] = [];
  for (const event of events) emitter.on(event, (payload: unknown) => log.push(format(event, payload)));
  return log;
}

/** Lets pending promise callbacks and immediate timers run. */
export async function flush(rounds = 20): Promise<void> {
  for (let i = 0; i < rounds; i++) await new Promise((r) => setImmediate(r));
}
