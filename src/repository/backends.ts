import { describe, INVALID_OPTION, optionError } from '../core/index.js';
import type { Backend } from '../backends/index.js';
import { onnxNode, type OnnxNodeOptions } from '../backends/onnx-node/index.js';
import type { BackendSpec } from './config-file.js';

/** Makes a backend from the options in a model's `config.json` (`backend` minus its `name`). */
export type BackendFactory = (options: Readonly<Record<string, unknown>>) => Backend;

/** The backends a repository knows by default: `onnx-node`, made with the config's `devices`, `instances`, ... */
export const defaultBackends: Readonly<Record<string, BackendFactory>> = {
  'onnx-node': (options) => onnxNode(options as OnnxNodeOptions),
};

/** Makes each distinct backend config once and hands out the same backend after. */
export class BackendCache {
  readonly #factories: Readonly<Record<string, BackendFactory>>;
  readonly #made = new Map<string, Backend>();

  constructor(factories: Readonly<Record<string, BackendFactory>>) {
    this.#factories = factories;
  }

  /**
   * The backend for a config's `backend` field.
   * @throws TypeError or RangeError starting with the config file, naming `backend.<option>`, with
   * `code` `'ERR_SERVABLE_INVALID_OPTION'` unless the factory gave it a code of its own: a
   * factory is handed the config's options alone, so a TypeError or RangeError it throws while it
   * makes the backend is the config's mistake, plain (`new TypeError(...)`) or not.
   */
  get(spec: BackendSpec, configFile: string): Backend {
    const key = JSON.stringify(spec);
    const made = this.#made.get(key);
    if (made) return made;
    const factory = Object.hasOwn(this.#factories, spec.name) ? this.#factories[spec.name] : undefined;
    if (!factory) {
      const known = Object.keys(this.#factories).map((n) => `'${n}'`).join(', ');
      throw optionError(`${configFile}: Expected \`backend.name\` to be one of ${known}, got ${describe(spec.name)}`);
    }
    let backend: Backend;
    try {
      backend = factory(spec.options);
    } catch (error) {
      if (error instanceof TypeError || error instanceof RangeError) {
        error.message = `${configFile}: ${error.message.replace(/`(?!backend\.)([^`]+)`/, '`backend.$1`')}`;
        if ((error as { code?: unknown }).code === undefined) Object.assign(error, { code: INVALID_OPTION });
      }
      throw error;
    }
    this.#made.set(key, backend);
    return backend;
  }
}
