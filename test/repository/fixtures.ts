import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { memoryBackend, type Backend, type MemoryModel } from 'servable';
import type { BackendFactory } from 'servable/repository';

/** y = 2x + offset on [n, 2] tensors; `fail` makes every run throw. */
export function doubler(offset: number, fail = false): MemoryModel {
  return {
    inputs: [{ name: 'x', datatype: 'FP32', shape: [-1, 2] }],
    outputs: [{ name: 'y', datatype: 'FP32', shape: [-1, 2] }],
    run: ({ x }) => {
      if (fail) throw new Error('the weights are corrupt');
      return { y: { datatype: 'FP32', shape: x!.shape, data: (x!.data as Float32Array).map((v) => 2 * v + offset) } };
    },
  };
}

/**
 * A backend for `model.json` files holding `{"offset": n, "fail"?: true}`: a fast stand-in for
 * ONNX files in tests of the repository's own logic. Its options (`scale`) are checked like a real backend's.
 */
export function jsonBackends(loads: string[] = []): { backends: Record<string, BackendFactory>; memory: ReturnType<typeof memoryBackend> } {
  const memory = memoryBackend();
  const json: BackendFactory = (options) => {
    for (const key of Object.keys(options)) if (key !== 'scale') throw new TypeError(`Unknown option \`${key}\`; json takes scale`);
    const scale = (options.scale as number | undefined) ?? 1;
    if (!(scale > 0)) throw new RangeError(`Expected \`scale\` to be a positive number, got ${scale}`);
    // A refusal with a code of the backend's own, which the repository keeps.
    if (scale === 13) throw Object.assign(new RangeError('Expected `scale` not to be 13, got 13'), { code: 'ERR_JSON_UNLUCKY' });
    const backend: Backend = {
      name: 'json',
      accepts: (source) => typeof source === 'string' && source.endsWith('.json'),
      async load(source, loadOptions) {
        loads.push(loadOptions?.label ?? '?');
        const { offset, fail, hang } = JSON.parse(await readFile(source as string, 'utf8')) as { offset: number; fail?: boolean; hang?: boolean };
        // A load that never ends: it ends only when the registry aborts it (its loadTimeoutMs).
        if (hang) return new Promise<never>((_, reject) => loadOptions!.signal!.addEventListener('abort', () => reject(loadOptions!.signal!.reason as Error)));
        return memory.load(doubler(offset * scale, fail), loadOptions);
      },
    };
    return backend;
  };
  return { backends: { json }, memory };
}

/** A fresh repository root in the system's temporary directory. */
export async function tempRoot(): Promise<{ root: string; remove: () => Promise<void> }> {
  const root = await mkdtemp(path.join(tmpdir(), 'servable-repo-'));
  return { root, remove: () => rm(root, { recursive: true, force: true }) };
}

/** Writes `<root>/<name>/config.json`. */
export async function writeConfig(root: string, name: string, config: object | string): Promise<void> {
  await mkdir(path.join(root, name), { recursive: true });
  await writeFile(path.join(root, name, 'config.json'), typeof config === 'string' ? config : JSON.stringify(config, null, 2));
}

/** Writes `<root>/<name>/<version>/model.json`. */
export async function writeVersion(root: string, name: string, version: string, model: { offset: number; fail?: boolean; hang?: boolean }): Promise<void> {
  await mkdir(path.join(root, name, version), { recursive: true });
  await writeFile(path.join(root, name, version, 'model.json'), JSON.stringify(model));
}

/** The config of a json-backed model with the given extra fields. */
export function jsonConfig(extra: object = {}): object {
  return { backend: 'json', modelFile: 'model.json', ...extra };
}

/** Writes json-backed models `names`, each with version 1 of offset 1. */
export async function writeModels(root: string, names: readonly string[]): Promise<void> {
  for (const name of names) {
    await writeConfig(root, name, jsonConfig());
    await writeVersion(root, name, '1', { offset: 1 });
  }
}
