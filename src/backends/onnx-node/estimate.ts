import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { abortError, BackendError } from '../../core/index.js';
import { checkLoadOptions, type LoadOptions } from '../index.js';

/**
 * What an onnx-node model is estimated to occupy once loaded: its bytes' length, or its file's
 * size on disk (TF Serving's estimate); undefined for a path that names no regular file.
 * @throws BackendError naming the file when it cannot be read (missing, not permitted), as its load would fail;
 * the abort error when `signal` aborts, whatever the source.
 */
export async function estimateOnnxBytes(source: string | Uint8Array, options: LoadOptions): Promise<number | undefined> {
  checkLoadOptions(options);
  const { signal } = options;
  if (signal?.aborted) throw abortError(signal);
  if (source instanceof Uint8Array) return source.byteLength;
  const file = resolve(source);
  let info;
  try {
    info = await stat(file);
  } catch (error) {
    if (signal?.aborted) throw abortError(signal);
    throw new BackendError(`Cannot read the model file ${file}: ${(error as Error).message}`, { cause: error });
  }
  if (signal?.aborted) throw abortError(signal);
  return info.isFile() ? info.size : undefined;
}
