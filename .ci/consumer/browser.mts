// A browser consumer of the isomorphic core: type-checked with the DOM's types and not Node's, never run.
import { DynamicBatcher, InferenceService, ModelRegistry, ResultCache, memoryBackend, type InferenceRequest } from 'servable';

const registry = new ModelRegistry({ backends: [memoryBackend()] });
const service = new InferenceService({ registry });
const request: InferenceRequest = { inputs: { x: { datatype: 'FP32', shape: [1, 2], data: new Float32Array(2) } } };
export const parts = [service.infer('model', request, { signal: new AbortController().signal }), DynamicBatcher, ResultCache];
