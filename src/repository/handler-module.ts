import { createHash } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { pathToFileURL } from 'node:url';
import { describe, optionError } from '../core/index.js';
import { TensorHandler, type Handler, type TensorHandlerOptions } from '../handler/index.js';
import type { HandlerSpec } from './config-file.js';
import { fileWithin } from './paths.js';

type HandlerClass = new (options?: unknown) => Handler<unknown, unknown>;

/**
 * Imports a model's handler module and returns a factory of its Handler subclass. The module must
 * lie in the model's directory; a changed file is imported afresh. With no module, the factory
 * makes the TensorHandler with the spec's options.
 * @throws TypeError starting with the config file, naming the field.
 */
export async function loadHandler(dir: string, spec: HandlerSpec, configFile: string): Promise<() => Handler<unknown, unknown>> {
  if (spec.module === undefined) return () => new TensorHandler(spec.options as TensorHandlerOptions | undefined) as Handler<unknown, unknown>;
  const file = await fileWithin(dir, spec.module, `${configFile}: Expected \`handler.module\``);
  const info = await stat(file).catch(() => undefined);
  if (!info?.isFile()) throw optionError(`${configFile}: Expected \`handler.module\` to name a file, got ${describe(spec.module)}, which does not exist`);
  let mod: Record<string, unknown>;
  try {
    mod = (await import(`${pathToFileURL(file).href}?mtime=${info.mtimeMs}`)) as Record<string, unknown>;
  } catch (error) {
    throw optionError(`${configFile}: Cannot import \`handler.module\` ${describe(spec.module)}: ${(error as Error).message}`, TypeError, { cause: error });
  }
  const exported = mod[spec.export];
  if (!isHandlerClass(exported)) {
    throw optionError(`${configFile}: Expected \`handler.export\` ${describe(spec.export)} of ${spec.module} to be a Handler subclass, got ${describe(exported)}`);
  }
  return () => new exported(spec.options);
}

/** A digest of the handler module's bytes ('' without one, or when it cannot be read), not its time, which a Kubernetes volume update changes. */
export async function digestHandler(dir: string, spec: HandlerSpec | undefined, configFile: string): Promise<string> {
  if (spec?.module === undefined) return '';
  const file = await fileWithin(dir, spec.module, `${configFile}: Expected \`handler.module\``);
  const bytes = await readFile(file).catch(() => undefined);
  return bytes ? createHash('sha256').update(bytes).digest('hex') : '';
}

function isHandlerClass(value: unknown): value is HandlerClass {
  const proto = (value as { prototype?: Record<string, unknown> } | undefined)?.prototype;
  return typeof value === 'function' && typeof proto?.preprocess === 'function' && typeof proto.postprocess === 'function';
}
