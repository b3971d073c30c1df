/**
 * One instance of the onnx-node backend: a worker thread holding one ONNX Runtime session. It
 * opens the session on the first device that works, then runs the batches it takes from its link
 * one at a time, so ONNX Runtime's synchronous `run()` blocks this thread and never the
 * application's event loop. Between batches it waits on the link, not on its own event loop.
 */
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import { messageOf, type AttemptFailure, type Tensor, type TensorData, type TensorMap } from '../../core/index.js';
import { dataTypeOf, ortType, tensorSpec, type ValueMetadata } from '../index.js';
import { deviceName } from './devices.js';
import { missingProviderLibrary } from './provider-library.js';
import { writeReply, type RunResult } from './arena.js';
import { enterNative, leaveNative, postReply, replyInArena, startCalledOff, takeMessage, type LinkEnd } from './link-end.js';
import { toWireError, type FromWorker, type OrtWorkerInfo, type OrtWorkerInit, type ToWorker, type WorkerStart } from './protocol.js';
import { importOrt, type Ort } from './runtime.js';
import { lowerThreadPriority } from './thread-priority.js';
import { runNow } from './run-now.js';
import { HeldFeeds } from './held-feeds.js';
import { forTransfer } from './transfer.js';

type Session = Awaited<ReturnType<Ort['InferenceSession']['create']>>;
type OrtTensor = InstanceType<Ort['Tensor']>;
type TensorConstructor = new (type: string, data: TensorData, dims: readonly number[]) => OrtTensor;
type Reply = FromWorker<OrtWorkerInfo, RunResult>;

if (!parentPort) throw new Error('worker.ts runs as a worker thread of the onnx-node backend');
const { data, link } = workerData as WorkerStart;
void start(parentPort, data as OrtWorkerInit, link);

async function start(port: MessagePort, init: OrtWorkerInit, link: LinkEnd): Promise<void> {
  // Before ONNX Runtime starts any thread of its own, so that they inherit the priority.
  lowerThreadPriority(init.workerNice);
  if (!enterNative(link)) process.exit(0);
  const loaded = await load(init, link);
  // The pool called the start off while it was in onnxruntime-node, and waits for this thread to exit.
  if (!leaveNative(link)) return 'session' in loaded ? close(loaded.session) : process.exit(0);
  if (!('session' in loaded)) {
    port.postMessage({ type: 'failed', ...loaded } satisfies Reply);
    return;
  }
  const { ort, session, info } = loaded;
  const outputNames = info.outputs.map((o) => o.name);
  const held = new HeldFeeds(link);
  port.postMessage({ type: 'ready', info } satisfies Reply);
  for (let taken = 0; ; taken++) {
    const message = takeMessage(link, taken, held.flush) as ToWorker<TensorMap>;
    if (message.type === 'close') return close(session);
    const { reply, transfer } = await run(ort, session, message.value);
    const value = reply.type === 'done' ? reply.value : undefined;
    if (!value || !replyInArena(link, (arena) => writeReply(arena, outputNames, value))) postReply(link, reply, transfer);
    // The feeds were moved here, so no view on the main thread can reach them: they go back for
    // reuse, a few batches' at a time or when the worker would sleep (see HeldFeeds).
    held.add(feedBuffers(message.value, transfer));
  }
}

/** Imports onnxruntime-node and opens the session: the worker's native start steps (see enterNative). */
async function load(init: OrtWorkerInit, link: LinkEnd): Promise<{ ort: Ort; session: Session; info: OrtWorkerInfo } | { message: string; failures: readonly AttemptFailure[] }> {
  let ort: Ort;
  try {
    ort = await importOrt();
  } catch (error) {
    return { message: messageOf(error), failures: (error as { failures?: readonly AttemptFailure[] }).failures ?? [] };
  }
  const opened = await open(ort, init, link);
  return 'session' in opened ? { ort, ...opened } : opened;
}

/**
 * Tries each device in turn (only the first with `strict`), remembering why each failed. Tries no
 * further once the pool has called the start off: it waits for this thread to exit.
 */
async function open(
  ort: Ort,
  init: OrtWorkerInit,
  link: LinkEnd,
): Promise<{ session: Session; info: OrtWorkerInfo } | { message: string; failures: AttemptFailure[] }> {
  const failures: AttemptFailure[] = [];
  const threads = {
    intraOpNumThreads: init.intraOpNumThreads,
    ...(init.interOpNumThreads === undefined ? {} : { interOpNumThreads: init.interOpNumThreads }),
  };
  for (const [index, device] of init.devices.entries()) {
    if (startCalledOff(link)) break;
    const missing = missingProviderLibrary(deviceName(device));
    if (missing !== undefined) {
      failures.push({ device: deviceName(device), reason: missing });
      if (init.strict) break;
      continue;
    }
    let session: Session;
    try {
      const options = {
        ...threads,
        executionProviders: [device],
        graphOptimizationLevel: init.graphOptimizationLevel,
        logId: init.label,
        extra: { session: { intra_op: { allow_spinning: init.intraOpSpinning ? '1' : '0' } } },
      };
      session = typeof init.model === 'string'
        ? await ort.InferenceSession.create(init.model, options)
        : await ort.InferenceSession.create(init.model, options);
    } catch (error) {
      failures.push({ device: deviceName(device), reason: messageOf(error) });
      if (init.strict) break;
      continue;
    }
    try {
      const info: OrtWorkerInfo = {
        device: deviceName(device),
        deviceIndex: index,
        fallbacks: failures,
        inputs: metadata(session, 'input').map((m) => tensorSpec(m, 'input')),
        outputs: metadata(session, 'output').map((m) => tensorSpec(m, 'output')),
      };
      return { session, info };
    } catch (error) {
      await session.release();
      return { message: `cannot serve ${init.label}`, failures: [...failures, { device: deviceName(device), reason: messageOf(error) }] };
    }
  }
  const tried = failures.map((f) => f.device);
  const rest = init.devices.slice(tried.length).map(deviceName);
  const message = rest.length > 0
    ? `could not load ${init.label} on ${tried.join(', ')}, and with strict set it does not fall back to ${rest.join(', ')}`
    : `could not load ${init.label} on ${tried.join(', ')}`;
  return { message, failures };
}

function metadata(session: Session, what: 'input' | 'output'): readonly ValueMetadata[] {
  const list = (session as { inputMetadata?: readonly ValueMetadata[]; outputMetadata?: readonly ValueMetadata[] })[`${what}Metadata`];
  if (!list) throw new Error('onnxruntime-node >= 1.22 is needed: older versions do not report input and output metadata');
  return list;
}

/**
 * Runs one batch; the reply (the outputs and how long ONNX Runtime's `run()` took, as the caller
 * would see it on this thread), and the output buffers to move with it when it goes by message.
 */
async function run(ort: Ort, session: Session, feeds: TensorMap): Promise<{ reply: Reply; transfer: ArrayBuffer[] }> {
  let reply: Reply;
  let transfer: ArrayBuffer[] = [];
  try {
    const Tensor = ort.Tensor as unknown as TensorConstructor;
    const inputs: Record<string, OrtTensor> = {};
    for (const [name, t] of Object.entries(feeds)) inputs[name] = new Tensor(ortType(t.datatype), t.data, t.shape);
    const start = performance.now();
    // Started at once rather than from a setImmediate callback (see runNow).
    const results = await runNow(() => session.run(inputs));
    const inferMs = performance.now() - start;
    const outputs: TensorMap = {};
    for (const [name, value] of Object.entries(results)) outputs[name] = fromOrt(name, value);
    const prepared = forTransfer(outputs, 'move');
    reply = { type: 'done', value: { outputs: prepared.tensors, inferMs } };
    transfer = prepared.transfer;
  } catch (error) {
    reply = { type: 'error', error: toWireError(error) };
  }
  return { reply, transfer };
}

/** The feeds' own buffers, less any that moved with the reply (ONNX Runtime may output a feed as is). */
function feedBuffers(feeds: TensorMap, moved: readonly ArrayBuffer[]): ArrayBuffer[] {
  const buffers: ArrayBuffer[] = [];
  for (const t of Object.values(feeds)) {
    const buffer = Array.isArray(t.data) ? undefined : t.data.buffer;
    if (buffer instanceof ArrayBuffer && buffer.byteLength > 0 && !moved.includes(buffer) && !buffers.includes(buffer)) buffers.push(buffer);
  }
  return buffers;
}

function fromOrt(name: string, value: OrtTensor): Tensor {
  const datatype = dataTypeOf(value.type);
  if (!datatype) throw new Error(`Output '${name}' is a ${value.type} tensor, which servable does not carry`);
  let data = value.data as TensorData;
  // Where Float16Array exists ONNX Runtime may return one; servable keeps FP16 as raw bits.
  if (datatype === 'FP16' && !(data instanceof Uint16Array)) {
    const view = data as unknown as ArrayBufferView & { length: number };
    data = new Uint16Array(view.buffer, view.byteOffset, view.length);
  }
  return { datatype, shape: [...value.dims], data } as Tensor;
}

async function close(session: Session): Promise<void> {
  try {
    await session.release();
  } finally {
    process.exit(0);
  }
}
