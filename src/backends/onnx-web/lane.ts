/**
 * The one line of work of an onnxruntime-web runtime. Its WebAssembly module holds a single
 * active session: while a WebGPU run awaits the GPU, a run of another session of the same runtime
 * fails with 'Session mismatch' or 'Session already started', or corrupts the module's memory
 * ('memory access out of bounds' in chromium). So every session of a runtime runs, and releases,
 * in turn.
 */
export interface Lane {
  /** Settles when everything queued so far has finished. */
  tail: Promise<void>;
}

const lanes = new WeakMap<object, Lane>();

/** The lane of the runtime whose `env.wasm` is `wasm`, shared by every session it creates. */
export function laneOf(wasm: object): Lane {
  let lane = lanes.get(wasm);
  if (!lane) {
    lane = { tail: Promise.resolve() };
    lanes.set(wasm, lane);
  }
  return lane;
}
