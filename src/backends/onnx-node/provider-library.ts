/**
 * Whether an execution provider that does not ship in onnxruntime-node's npm package (CUDA,
 * TensorRT) has its library installed, asked of the file system rather than of ONNX Runtime:
 * ONNX Runtime's own failed attempt prints an error line to the console, which a server that
 * falls back to the CPU by design would print on every start.
 */
import { existsSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { DeviceName } from './devices.js';

/** Providers whose libraries `--onnxruntime-node-install=cuda12` adds beside the binding. */
const INSTALLED_SEPARATELY: Partial<Record<DeviceName, string>> = { cuda: 'cuda', tensorrt: 'tensorrt' };

let bindingDir: string | null | undefined;

/** The folder of onnxruntime-node's native binding for this platform, or null when it cannot be found. */
function findBindingDir(): string | null {
  try {
    const bin = join(dirname(createRequire(import.meta.url).resolve('onnxruntime-node/package.json')), 'bin');
    for (const napi of readdirSync(bin)) {
      const dir = join(bin, napi, process.platform, process.arch);
      if (existsSync(join(dir, 'onnxruntime_binding.node'))) return dir;
    }
  } catch {
    // Not laid out as expected: let ONNX Runtime try, and say why it fails.
  }
  return null;
}

/**
 * Why `device` cannot load here, when its provider library is missing beside the binding; undefined
 * when it ships in the package, is there, or cannot be checked (other than Linux, an unknown layout).
 */
export function missingProviderLibrary(device: DeviceName): string | undefined {
  const provider = INSTALLED_SEPARATELY[device];
  if (provider === undefined || process.platform !== 'linux') return undefined;
  bindingDir ??= findBindingDir();
  if (bindingDir === null) return undefined;
  const file = `libonnxruntime_providers_${provider}.so`;
  if (existsSync(join(bindingDir, file))) return undefined;
  return `Failed to load shared library ${file}: it is not installed beside onnxruntime-node's binding (${bindingDir}); install onnxruntime-node with --onnxruntime-node-install=cuda12, and CUDA and cuDNN`;
}
