import { isDeviceName, type DeviceName } from './devices.js';
import { importOrt } from './runtime.js';

/** A device the installed onnxruntime-node was built for. */
export interface DeviceSupport {
  readonly name: DeviceName;
  /**
   * True when its provider ships inside the npm package (cpu, webgpu). False for cuda and
   * tensorrt, whose libraries come from `--onnxruntime-node-install=cuda12` plus the CUDA, cuDNN
   * (and TensorRT) installs: listed does not mean loadable, loading tells.
   */
  readonly bundled: boolean;
}

/**
 * The devices the installed onnxruntime-node reports (`listSupportedBackends()`), in its order.
 * @throws BackendUnavailableError when onnxruntime-node is not installed.
 */
export async function supportedDevices(): Promise<DeviceSupport[]> {
  const ort = await importOrt();
  return ort
    .listSupportedBackends()
    .flatMap((b) => (isDeviceName(b.name) ? [{ name: b.name, bundled: b.bundled }] : []));
}
