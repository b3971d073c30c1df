import { open, realpath, stat } from 'node:fs/promises';
import { dirname, isAbsolute, relative, resolve, sep } from 'node:path';
import { abortError, BackendError } from '../../core/index.js';
import { checkLoadOptions, type LoadOptions } from '../index.js';
import { externalRefs, type ExternalRef } from './onnx-walk.js';

/**
 * What an onnx-node model is estimated to occupy once loaded: its bytes' length, or for a path its
 * file's size on disk (TF Serving's estimate) plus the external data its tensors reference (the
 * weights an ONNX model over 2 GB keeps in files beside it): for each external file, the bytes its
 * references take (the sum of their `length`s, or the file's size when one gives none), each file
 * counted once. The model file is read in small pieces, its own weights skipped, never read whole.
 * Undefined for a path that names no regular file.
 * @throws BackendError naming the file when it cannot be read (missing, not permitted) or is no valid
 * ONNX protobuf, or an external file that is missing, no regular file, not within the model's
 * directory (an absolute location, one leading out of it, or a link that does: ONNX Runtime, which
 * resolves links, refuses those too) or shorter
 * than a reference's offset and length, as its load would fail; the abort error when `signal`
 * aborts, whatever the source.
 */
export async function estimateOnnxBytes(source: string | Uint8Array, options: LoadOptions): Promise<number | undefined> {
  checkLoadOptions(options);
  const { signal } = options;
  if (signal?.aborted) throw abortError(signal);
  if (source instanceof Uint8Array) return source.byteLength;
  const file = resolve(source);
  const size = await guard(file, signal, async () => {
    const info = await stat(file);
    return info.isFile() ? info.size : undefined;
  });
  if (size === undefined) return undefined;
  const refs = await guard(file, signal, async () => {
    const handle = await open(file);
    try {
      return await externalRefs(handle, file, size, signal);
    } finally {
      await handle.close();
    }
  });
  return size + (await externalBytes(file, refs, signal));
}

/** Runs a read of `file`, its failures (but a BackendError of its own) a BackendError naming it; an abort wins. */
async function guard<T>(file: string, signal: AbortSignal | undefined, read: () => Promise<T>): Promise<T> {
  let result: T;
  try {
    result = await read();
  } catch (error) {
    if (signal?.aborted) throw abortError(signal);
    if (error instanceof BackendError) throw error;
    throw new BackendError(`Cannot read the model file ${file}: ${(error as Error).message}`, { cause: error });
  }
  if (signal?.aborted) throw abortError(signal);
  return result;
}

interface Usage {
  bytes: number;
  /** Every reference gave a length. */
  whole: boolean;
  /** The furthest byte a reference reaches (its offset and length). */
  reach: number;
}

async function externalBytes(file: string, refs: readonly ExternalRef[], signal: AbortSignal | undefined): Promise<number> {
  const dir = dirname(file);
  const usage = new Map<string, Usage>();
  for (const ref of refs) {
    const path = within(file, dir, ref.location);
    const offset = decimal(file, ref, 'offset') ?? 0;
    const length = decimal(file, ref, 'length');
    const u = usage.get(path) ?? { bytes: 0, whole: true, reach: 0 };
    if (length === undefined) u.whole = false;
    else u.bytes += length;
    u.reach = Math.max(u.reach, offset + (length ?? 0));
    usage.set(path, u);
  }
  let total = 0;
  let realDir: string | undefined;
  for (const [path, u] of usage) {
    if (signal?.aborted) throw abortError(signal);
    let info, real;
    try {
      info = await stat(path);
      // ONNX Runtime resolves links before it checks that a file is within the model's directory.
      real = await realpath(path);
      realDir ??= await realpath(dir);
    } catch (error) {
      if (signal?.aborted) throw abortError(signal);
      throw new BackendError(`Cannot read the external data file ${path} of the model file ${file}: ${(error as Error).message}`, { cause: error });
    }
    if (!info.isFile()) throw new BackendError(`The external data file ${path} of the model file ${file} is no regular file`);
    if (!inside(realDir, real)) throw new BackendError(`The external data file ${path} of the model file ${file} leads outside its directory through a link`);
    if (u.reach > info.size) throw new BackendError(`The model file ${file} reads external data up to byte ${u.reach} of ${path}, which holds ${info.size}`);
    total += u.whole ? u.bytes : info.size;
  }
  if (signal?.aborted) throw abortError(signal);
  return total;
}

/** The external file a location names, refused when absolute or outside the model's directory. */
function within(file: string, dir: string, location: string | undefined): string {
  if (!location) throw new BackendError(`The model file ${file} has a tensor with external data and no location`);
  const path = resolve(dir, location);
  if (isAbsolute(location) || !inside(dir, path)) {
    throw new BackendError(`The model file ${file} references external data at ${JSON.stringify(location)}, outside its directory`);
  }
  return path;
}

/** Whether `path` lies below `dir` (both absolute). */
function inside(dir: string, path: string): boolean {
  const rel = relative(dir, path);
  return rel !== '' && rel !== '..' && !rel.startsWith('..' + sep) && !isAbsolute(rel);
}

function decimal(file: string, ref: ExternalRef, key: 'offset' | 'length'): number | undefined {
  const text = ref[key];
  if (text === undefined) return undefined;
  const value = /^\d+$/.test(text) ? Number(text) : NaN;
  if (!Number.isSafeInteger(value)) {
    throw new BackendError(`The model file ${file} gives external data at ${JSON.stringify(ref.location)} the ${key} ${JSON.stringify(text)}, no number of bytes`);
  }
  return value;
}
