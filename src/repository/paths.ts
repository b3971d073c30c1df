import { realpath } from 'node:fs/promises';
import path from 'node:path';
import { ModelNotFoundError, optionError } from '../core/index.js';

/** What a model name may look like: letters, digits, `_`, `.` and `-`, not starting with `.` or `-`. */
const MODEL_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,199}$/;

/** What a version directory is called: digits (Triton's numeric versions). */
export const VERSION_NAME = /^[0-9]{1,18}$/;

/** True when `name` can name a model directory. */
export function isModelName(name: unknown): name is string {
  return typeof name === 'string' && MODEL_NAME.test(name);
}

/**
 * True when `child` is `parent` or lies below it. A name below it may start with `..`, as the
 * `..data` and `..<time>` directories of a Kubernetes volume do: only a `..` segment leads out.
 */
export function isWithin(parent: string, child: string): boolean {
  const rel = path.relative(parent, child);
  return rel === '' || (rel !== '..' && !rel.startsWith(`..${path.sep}`) && !path.isAbsolute(rel));
}

/**
 * The real path of a model's directory. Names that are not plain directory names never touch the
 * file system; a directory that resolves (through links) outside the root is refused.
 * @throws ModelNotFoundError naming the model, never the path outside the root.
 */
export async function modelDir(root: string, name: string): Promise<string> {
  if (!isModelName(name)) throw new ModelNotFoundError(`Model ${JSON.stringify(String(name).slice(0, 100))} is not a valid model name`);
  let real: string;
  try {
    real = await realpath(path.join(root, name));
  } catch {
    throw new ModelNotFoundError(`Model '${name}' not found in the repository`);
  }
  if (!isWithin(root, real) || real === root) throw new ModelNotFoundError(`Model '${name}' lies outside the repository`);
  return real;
}

/**
 * Resolves a file named by a config (a model file, a handler module) inside `dir`.
 * @throws TypeError naming the config file and field when it would leave `dir`, with `code` `'ERR_SERVABLE_INVALID_OPTION'`.
 */
export async function fileWithin(dir: string, relative: string, where: string): Promise<string> {
  const joined = path.resolve(dir, relative);
  if (!isWithin(dir, joined)) throw optionError(`${where} to name a file inside ${dir}, got ${JSON.stringify(relative)}`);
  let real: string;
  try {
    real = await realpath(joined);
  } catch {
    return joined;
  }
  if (!isWithin(dir, real)) throw optionError(`${where} to name a file inside ${dir}, got ${JSON.stringify(relative)}, which links outside it`);
  return real;
}
