import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { closeSync, constants, mkdtempSync, openSync, readdirSync, readlinkSync, rmSync, writeSync } from 'node:fs';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { availableParallelism, tmpdir } from 'node:os';
import { onnxNode, supportedDevices, type OnnxNodeOptions } from '../../src/backends/onnx-node/index.js';
import { resolveOptions } from '../../src/backends/onnx-node/options.js';
import { missingProviderLibrary } from '../../src/backends/onnx-node/provider-library.js';
import { BackendUnavailableError, CancelledError, type TensorMap } from '../../src/core/index.js';
import { linearModel } from '../fixtures/onnx-models.js';
import { clsModelPath, pseudoRandom } from '../fixtures/ocr-models.js';
import { until } from '../fixtures/until.js';
import { liveWorkers } from './models.js';

const run = promisify(execFile);
const model = linearModel([[1], [2]], [0.5]);

test('supportedDevices lists what the installed onnxruntime-node was built for', async () => {
  const devices = await supportedDevices();
  assert.deepEqual(devices.find((d) => d.name === 'cpu'), { name: 'cpu', bundled: true });
  for (const d of devices) assert.ok(['cpu', 'cuda', 'tensorrt', 'webgpu'].includes(d.name), d.name);
});

test('cuda then cpu: falls back to cpu and reports why cuda failed', async (t) => {
  const session = await onnxNode({ devices: [{ name: 'cuda', deviceId: 0 }, 'cpu'], instances: 2 }).load(model, { label: 'm:1' });
  try {
    if (session.device === 'cuda') return t.skip('CUDA loads on this machine, so there is no fallback to observe');
    assert.equal(session.device, 'cpu');
    assert.equal(session.fallbacks.length, 1);
    assert.equal(session.fallbacks[0]!.device, 'cuda');
    assert.match(session.fallbacks[0]!.reason, /Failed to load shared library/);
    // Without the provider's library, servable says so itself instead of letting ONNX Runtime log an error line.
    if (missingProviderLibrary('cuda') !== undefined) assert.match(session.fallbacks[0]!.reason, /libonnxruntime_providers_cuda\.so: it is not installed beside onnxruntime-node's binding/);
    const out = await session.run({ X: { datatype: 'FP32', shape: [1, 2], data: new Float32Array([1, 1]) } });
    assert.deepEqual(Array.from(out['Y']!.data as Float32Array), [3.5], 'both instances run on cpu');
    const again = await session.run({ X: { datatype: 'FP32', shape: [1, 2], data: new Float32Array([2, 0]) } });
    assert.deepEqual(Array.from(again['Y']!.data as Float32Array), [2.5]);
  } finally {
    await session.dispose();
  }
});

test('strict: the first device failing fails the load, listing its reason, without trying the rest', async (t) => {
  const error = await onnxNode({ devices: ['cuda', 'cpu'], strict: true, instances: 1 })
    .load(model, { label: 'm:1' })
    .then(async (s) => {
      await s.dispose();
      return s.device;
    }, (e: unknown) => e);
  if (error === 'cuda') return t.skip('CUDA loads on this machine, so strict has nothing to refuse');
  assert.ok(error instanceof BackendUnavailableError, String(error));
  assert.equal(error.code, 'ERR_SERVABLE_BACKEND_UNAVAILABLE');
  assert.deepEqual(error.failures.map((f) => f.device), ['cuda']);
  assert.match(error.failures[0]!.reason, /Failed to load shared library/);
  assert.match(error.message, /^onnx-node m:1: could not load m:1 on cuda, and with strict set it does not fall back to cpu: \[cuda\] .*Failed to load shared library/);
});

test('no device working fails the load with every reason', async (t) => {
  const error = await onnxNode({ devices: ['tensorrt', 'cuda'], instances: 1 })
    .load(model, { label: 'm:1' })
    .then(async (s) => {
      await s.dispose();
      return s.device;
    }, (e: unknown) => e);
  if (typeof error === 'string') return t.skip(`${error} loads on this machine`);
  assert.ok(error instanceof BackendUnavailableError, String(error));
  assert.deepEqual(error.failures.map((f) => f.device), ['tensorrt', 'cuda']);
  assert.match(error.message, /could not load m:1 on tensorrt, cuda: \[tensorrt\] .+; \[cuda\] .+/);
});

test('a model that does not parse fails with the reason on each device tried', async () => {
  const error = await onnxNode({ instances: 1 }).load(new Uint8Array([1, 2, 3]), { label: 'junk:1' }).catch((e: unknown) => e);
  assert.ok(error instanceof BackendUnavailableError);
  assert.equal(error.failures[0]!.device, 'cpu');
  assert.match(error.failures[0]!.reason, /protobuf parsing failed/);
});

test('options are checked when the backend is made, quoting the bad value', () => {
  const bad: [OnnxNodeOptions, RegExp, ErrorConstructor][] = [
    [[] as never, /^Expected `options` to be an object, got \[\] \(array\)$/, TypeError],
    [['cpu'] as never, /^Expected `options` to be an object, got \["cpu"\] \(array\)$/, TypeError],
    [null as never, /^Expected `options` to be an object, got null \(null\)$/, TypeError],
    [{ devices: [] }, /Expected `devices` to be a non-empty array, got \[\] \(array\)/, TypeError],
    [{ devices: ['gpu' as 'cpu'] }, /Expected `devices\[0\]` to be one of "cpu", "cuda", "tensorrt", "webgpu", got "gpu" \(string\)/, TypeError],
    [{ devices: [, 'cpu'] as never }, /Expected `devices\[0\]` to be a device name \(cpu, cuda, tensorrt, webgpu\) or \{name, \.\.\.\}, got undefined/, TypeError],
    [{ devices: [{ name: 'webgpu', forceCpuNodeNames: [, 'a'] as never }] }, /Expected `devices\[0\].forceCpuNodeNames` to be an array of strings, got \[/, TypeError],
    [{ devices: [{ name: 'cuda', gpuMemLimit: 1 } as never] }, /Unknown key `gpuMemLimit` in `devices\[0\]` \(cuda takes name, deviceId/, TypeError],
    [{ devices: [{ name: 'cuda', deviceId: -1 }] }, /Expected `devices\[0\].deviceId` to be an integer >= 0, got -1 \(number\)/, RangeError],
    [{ devices: [{ name: 'webgpu', preferredLayout: 'NWHC' as 'NHWC' }] }, /`devices\[0\].preferredLayout` to be one of "NCHW", "NHWC", got "NWHC"/, TypeError],
    [{ instances: 0 }, /Expected `instances` to be an integer between 1 and 256, got 0 \(number\)/, RangeError],
    [{ instances: 1.5 }, /Expected `instances` to be an integer, got 1.5 \(number\)/, TypeError],
    [{ intraOpNumThreads: 0 }, /`intraOpNumThreads` to be an integer between 1 and 1024, got 0/, RangeError],
    [{ interOpNumThreads: '2' as unknown as number }, /`interOpNumThreads` to be an integer, got "2" \(string\)/, TypeError],
    [{ graphOptimizationLevel: 'max' as 'all' }, /`graphOptimizationLevel` to be one of "disabled", "basic", "extended", "all", got "max"/, TypeError],
    [{ strict: 'yes' as unknown as boolean }, /Expected `strict` to be a boolean, got "yes" \(string\)/, TypeError],
    [{ spinWaitMs: true as unknown as number }, /Expected `spinWaitMs` to be a finite number, got true \(boolean\)/, TypeError],
    [{ spinWaitMs: -1 }, /Expected `spinWaitMs` to be a number between 0 and 1000, got -1/, RangeError],
    [{ intraOpSpinning: 'off' as unknown as boolean }, /Expected `intraOpSpinning` to be a boolean, got "off" \(string\)/, TypeError],
    [{ workerNice: 20 }, /Expected `workerNice` to be an integer between 0 and 19, got 20/, RangeError],
    [{ workerNice: -5 }, /Expected `workerNice` to be an integer between 0 and 19, got -5/, RangeError],
    [{ workerNice: 2.5 }, /Expected `workerNice` to be an integer, got 2.5/, TypeError],
    [{ pipelineDepth: 0 }, /Expected `pipelineDepth` to be an integer between 1 and 4, got 0/, RangeError],
    [{ pipelineDepth: 1.5 }, /Expected `pipelineDepth` to be an integer, got 1.5/, TypeError],
    [{ runTimeoutMs: 0 }, /Expected `runTimeoutMs` to be a number >= 1, got 0 \(number\)/, RangeError],
    [{ runTimeoutMs: '60s' as unknown as number }, /Expected `runTimeoutMs` to be a finite number, got "60s" \(string\)/, TypeError],
    [{ runTimeoutMs: Number.NaN }, /Expected `runTimeoutMs` to be a finite number, got NaN/, TypeError],
    [{ device: ['cuda'] } as OnnxNodeOptions, /Unknown option `device`; onnxNode takes devices, instances/, TypeError],
  ];
  for (const [options, message, type] of bad) {
    assert.throws(() => onnxNode(options), (e: unknown) => e instanceof type && message.test((e as Error).message), JSON.stringify(options));
  }
});

test('defaults: instances min(2, cores), intra-op threads split the cores between them', () => {
  const { options } = onnxNode();
  assert.deepEqual(options.devices, ['cpu']);
  assert.equal(options.instances, Math.min(2, availableParallelism()));
  assert.equal(options.intraOpNumThreads, Math.max(1, Math.floor(availableParallelism() / options.instances)));
  assert.equal(options.graphOptimizationLevel, 'all');
  assert.equal(options.strict, false);
  assert.equal(options.transferFeeds, true);
  assert.equal(options.spinWaitMs, 1);
  assert.equal(options.workerNice, 5);
  assert.equal(options.pipelineDepth, 1);
  assert.equal(options.runTimeoutMs, 120_000);
  assert.equal(onnxNode({ runTimeoutMs: Infinity }).options.runTimeoutMs, Infinity);
  assert.equal(onnxNode({ instances: 1 }).options.intraOpNumThreads, availableParallelism());
});

test("ONNX Runtime's intra-op threads spin only while the instances' threads leave a core free", () => {
  const cores = availableParallelism();
  assert.equal(resolveOptions({ instances: 1, intraOpNumThreads: 2 }, 2).intraOpSpinning, false, '1 × 2 on 2 cores');
  assert.equal(resolveOptions({ instances: 2, intraOpNumThreads: 4 }, 16).intraOpSpinning, true, '2 × 4 on 16 cores');
  assert.equal(resolveOptions({ instances: 2, intraOpNumThreads: 8 }, 16).intraOpSpinning, false, '2 × 8 on 16 cores');
  assert.equal(resolveOptions({ instances: 1, intraOpNumThreads: 2, intraOpSpinning: true }, 2).intraOpSpinning, true, 'asked for');
  assert.equal(onnxNode().options.intraOpSpinning, onnxNode().options.instances * onnxNode().options.intraOpNumThreads < cores);
});

test('without onnxruntime-node, the import succeeds and load fails with an install hint', async () => {
  // A resolve hook that hides onnxruntime-node, as if it were not installed.
  const hook = `data:text/javascript,${encodeURIComponent(
    `export async function resolve(s, c, next) { if (s === 'onnxruntime-node') { const e = new Error("Cannot find package 'onnxruntime-node'"); e.code = 'ERR_MODULE_NOT_FOUND'; throw e; } return next(s, c); }`,
  )}`;
  const register = `data:text/javascript,${encodeURIComponent(`import { register } from 'node:module'; register(${JSON.stringify(hook)});`)}`;
  const script = `
    const { onnxNode } = await import('./src/backends/onnx-node/index.ts');
    const backend = onnxNode();
    try { await backend.load('model.onnx'); } catch (e) { console.log(JSON.stringify({ name: e.name, code: e.code, message: e.message, failures: e.failures })); }
  `;
  const { stdout } = await run(process.execPath, ['--import', 'tsx', '--import', register, '--input-type=module', '-e', script], {
    cwd: path.resolve(import.meta.dirname, '../..'),
  });
  const error = JSON.parse(stdout) as { name: string; code: string; message: string; failures: { device: string; reason: string }[] };
  assert.equal(error.name, 'BackendUnavailableError');
  assert.equal(error.code, 'ERR_SERVABLE_BACKEND_UNAVAILABLE');
  assert.match(error.message, /^onnx-node needs the onnxruntime-node package, which is not installed: \[onnx-node\] Cannot find package 'onnxruntime-node'; install it with `npm i onnxruntime-node`/);
  assert.equal(error.failures[0]!.device, 'onnx-node');
});

let cudaError: string | undefined;

before(async () => {
  try {
    const probe = await onnxNode({ devices: ['cuda'], instances: 1 }).load(model);
    await probe.dispose();
  } catch (e) {
    cudaError = (e as Error).message;
  }
});

test('on CUDA, the cls model gives the CPU answers', async (t) => {
  if (cudaError !== undefined) return t.skip(`SKIPPED: no CUDA provider loads on this machine (${cudaError.slice(0, 160)})`);
  const feeds = (): TensorMap => ({ x: { datatype: 'FP32', shape: [8, 3, 48, 192], data: pseudoRandom(8 * 3 * 48 * 192, 3) } });
  const gpu = await onnxNode({ devices: ['cuda'], instances: 1, strict: true }).load(clsModelPath, { label: 'cls:gpu' });
  const cpu = await onnxNode({ devices: ['cpu'], instances: 1 }).load(clsModelPath, { label: 'cls:cpu' });
  try {
    assert.equal(gpu.device, 'cuda');
    const [a, b] = await Promise.all([gpu.run(feeds()), cpu.run(feeds())]);
    const x = a['softmax_0.tmp_0']!.data as Float32Array;
    const y = b['softmax_0.tmp_0']!.data as Float32Array;
    for (let i = 0; i < x.length; i++) assert.ok(Math.abs(x[i]! - y[i]!) <= 1e-3, `element ${i}: ${x[i]} vs ${y[i]}`);
  } finally {
    await Promise.all([gpu.dispose(), cpu.dispose()]);
  }
});

test('a load called off while a device\'s session create is under way tries no further device: its worker exits once that create returns', { timeout: 60_000 }, async () => {
  // The model is a FIFO the test holds open to write: ONNX Runtime's session create blocks reading
  // it until the test closes it, a gate inside the worker's native start step, where the pool must
  // not terminate the worker. A create that opens it with no writer left blocks in opening it.
  const dir = mkdtempSync(path.join(tmpdir(), 'servable-fifo-'));
  const fifo = path.join(dir, 'model.onnx');
  await run('mkfifo', [fifo]);
  const opened = () => readdirSync('/proc/self/fd').filter((fd) => {
    try {
      return readlinkSync(`/proc/self/fd/${fd}`) === fifo;
    } catch {
      return false;
    }
  }).length;
  let writer: number | undefined = openSync(fifo, constants.O_RDWR);
  const baseline = liveWorkers();
  const controller = new AbortController();
  let settled = false;
  let outcome: unknown;
  const loading = onnxNode({ devices: ['cpu', 'cpu'] }).load(fifo, { signal: controller.signal }).then(
    (session) => {
      outcome = session;
    },
    (error: unknown) => {
      outcome = error;
    },
  ).finally(() => {
    settled = true;
  });
  try {
    await until(() => opened() === 2, 'the first device\'s session create opened the model', 30_000);
    controller.abort();
    writeSync(writer, 'not a model');
    closeSync(writer);
    writer = undefined;
    // Trying the second device, the worker would open the FIFO again and wait there for good.
    await until(() => settled, 'the load settled: the worker exited after the first device', 10_000);
    assert.ok(outcome instanceof CancelledError, String(outcome));
    assert.equal(liveWorkers(), baseline);
  } finally {
    controller.abort();
    if (writer !== undefined) closeSync(writer);
    // A create still waiting to open the FIFO is let through to fail.
    while (!settled) {
      try {
        closeSync(openSync(fifo, constants.O_WRONLY | constants.O_NONBLOCK));
      } catch {
        // No create is waiting yet.
      }
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    await loading;
    rmSync(dir, { recursive: true, force: true });
  }
});

test('onnxNode refuses empty devices, a device that is neither a name nor {name, ...}, or has an unknown key, with code ERR_SERVABLE_INVALID_OPTION', () => {
  assert.throws(() => onnxNode({ devices: [] }), { name: 'TypeError', code: 'ERR_SERVABLE_INVALID_OPTION' });
  assert.throws(() => onnxNode({ devices: [42] } as never), { name: 'TypeError', code: 'ERR_SERVABLE_INVALID_OPTION' });
  assert.throws(() => onnxNode({ devices: [{ name: 'cpu', foo: 1 }] } as never), { name: 'TypeError', code: 'ERR_SERVABLE_INVALID_OPTION' });
});
