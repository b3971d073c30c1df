/**
 * The model repository on disk (`servable/repository`, Node only): `<root>/<model>/config.json`
 * plus `<root>/<model>/<version>/model.onnx`, loaded into a ModelRegistry under the `none`,
 * `explicit` or `poll` control mode.
 *
 * ```ts
 * import { ModelRegistry } from 'servable';
 * import { onnxNode } from 'servable/onnx-node';
 * import { ModelRepository } from 'servable/repository';
 *
 * const registry = new ModelRegistry({ backends: [onnxNode()] });
 * const repository = new ModelRepository({ root: './models', registry, mode: 'poll', pollIntervalMs: 2000 });
 * await repository.start();
 * ```
 * @module servable/repository
 */
export { ModelRepository, type RepositoryOptions, type RepositoryEvents, type ControlMode } from './model-repository.js';
export { defaultBackends, type BackendFactory } from './backends.js';
export { parseConfig, DEFAULT_BACKEND, type RepositoryModelConfig, type BackendSpec, type HandlerSpec } from './config-file.js';
