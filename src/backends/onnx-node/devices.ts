import { assertInteger, assertOneOf, describe, optionError } from '../../core/index.js';

/** The devices (ONNX Runtime execution providers) the onnx-node backend can run a model on. */
export type DeviceName = 'cpu' | 'cuda' | 'tensorrt' | 'webgpu';

/** Every {@link DeviceName}. */
export const DEVICE_NAMES: readonly DeviceName[] = ['cpu', 'cuda', 'tensorrt', 'webgpu'];

/** The CPU: always available. */
export interface CpuDevice {
  readonly name: 'cpu';
}

/** An NVIDIA GPU through the CUDA execution provider (Linux x64; CUDA 12 and cuDNN 9). */
export interface CudaDevice {
  readonly name: 'cuda';
  /** Which GPU. @default 0 */
  readonly deviceId?: number;
}

/** An NVIDIA GPU through the TensorRT execution provider (Linux x64; CUDA 12, cuDNN 9, TensorRT 10). */
export interface TensorRtDevice {
  readonly name: 'tensorrt';
  /** Which GPU. @default 0 */
  readonly deviceId?: number;
}

/** A GPU through Dawn's WebGPU (Vulkan, Metal or D3D12); experimental in ONNX Runtime. */
export interface WebGpuDevice {
  readonly name: 'webgpu';
  /** Layout for layout-sensitive operators. @default 'NCHW' */
  readonly preferredLayout?: 'NCHW' | 'NHWC';
  /** How much WebGPU validation runs. @default 'basic' */
  readonly validationMode?: 'disabled' | 'wgpuOnly' | 'basic' | 'full';
  /** Nodes (by name) to keep on the CPU. */
  readonly forceCpuNodeNames?: readonly string[];
}

/** A device by name, or with its settings. */
export type Device = DeviceName | CpuDevice | CudaDevice | TensorRtDevice | WebGpuDevice;

/**
 * The keys each device object may carry. onnxruntime-node's binding reads only `deviceId` for
 * cuda and tensorrt (1.30: gpu_mem_limit, cudnn_conv_algo_search, trt_fp16_enable and the rest
 * are not passed through), so servable rejects those keys instead of silently ignoring them.
 */
const KEYS: Record<DeviceName, readonly string[]> = {
  cpu: ['name'],
  cuda: ['name', 'deviceId'],
  tensorrt: ['name', 'deviceId'],
  webgpu: ['name', 'preferredLayout', 'validationMode', 'forceCpuNodeNames'],
};

/** True when `value` names a device. */
export function isDeviceName(value: unknown): value is DeviceName {
  return typeof value === 'string' && (DEVICE_NAMES as readonly string[]).includes(value);
}

/** The name of a device entry. */
export function deviceName(device: Device): DeviceName {
  return typeof device === 'string' ? device : device.name;
}

/**
 * Checks one entry of the `devices` option.
 * @throws TypeError or RangeError naming the entry and quoting the bad value.
 */
export function assertDevice(name: string, device: unknown): asserts device is Device {
  if (typeof device === 'string') {
    assertOneOf(name, device, DEVICE_NAMES);
    return;
  }
  if (typeof device !== 'object' || device === null || Array.isArray(device)) {
    throw optionError(`Expected \`${name}\` to be a device name (${DEVICE_NAMES.join(', ')}) or {name, ...}, got ${describe(device)}`);
  }
  const entry = device as Record<string, unknown>;
  assertOneOf(`${name}.name`, entry['name'], DEVICE_NAMES);
  const allowed = KEYS[entry['name']];
  for (const key of Object.keys(entry)) {
    if (!allowed.includes(key)) {
      throw optionError(
        `Unknown key \`${key}\` in \`${name}\` (${entry['name']} takes ${allowed.join(', ')}; onnxruntime-node passes no other option to this provider)`,
      );
    }
  }
  if (entry['deviceId'] !== undefined) assertInteger(`${name}.deviceId`, entry['deviceId'], 0);
  if (entry['preferredLayout'] !== undefined) assertOneOf(`${name}.preferredLayout`, entry['preferredLayout'], ['NCHW', 'NHWC']);
  if (entry['validationMode'] !== undefined) {
    assertOneOf(`${name}.validationMode`, entry['validationMode'], ['disabled', 'wgpuOnly', 'basic', 'full']);
  }
  const cpuNodes = entry['forceCpuNodeNames'];
  // Array.from, not every: a hole would be skipped and reach ONNX Runtime as undefined.
  if (cpuNodes !== undefined && !(Array.isArray(cpuNodes) && Array.from(cpuNodes).every((n) => typeof n === 'string'))) {
    throw optionError(`Expected \`${name}.forceCpuNodeNames\` to be an array of strings, got ${describe(cpuNodes)}`);
  }
}
