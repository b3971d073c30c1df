/**
 * The thread of a JSON worker pool (see json-workers.ts): decodes one body at a time and posts
 * back the decoded request, its tensors' buffers moved rather than copied.
 */
import { parentPort, resourceLimits } from 'node:worker_threads';
import type { TensorMap } from '../core/index.js';
import { BinaryLayout, decodeInferBinary, decodeInferJson, decodePredictJson, isReadError, type BinarySpan } from '../protocol/index.js';
import { notPassable, WORKER_OWN_HEAP_MB, type JsonJob, type JsonReply } from './json-workers.js';

const port = parentPort!;

/**
 * What one body may take to decode: half the heap the pool gave bodies (`jsonWorkerHeapMb`), the
 * rest being headroom. A body whose estimate is over it is refused unparsed, since parsing past
 * the limit would abort the whole process (see json-heap.ts).
 */
const maxHeapBytes = ((resourceLimits.maxOldGenerationSizeMb! - WORKER_OWN_HEAP_MB) * 2 ** 20) / 2;

port.on('message', (job: JsonJob) => {
  // A header's inputs take their binary data from bytes this thread is not sent: it records where.
  const layout = job.kind === 'infer-binary' ? new BinaryLayout(job.binaryLength) : undefined;
  let reply: JsonReply;
  try {
    const value = job.kind === 'infer'
      ? decodeInferJson(job.body, job.maxElements, maxHeapBytes)
      : job.kind === 'infer-binary'
        ? decodeInferBinary(job.body, layout!, job.maxElements, maxHeapBytes)
        : decodePredictJson(job.body, job.inputs, job.maxElements, maxHeapBytes);
    reply = { value, spans: layout?.spans };
  } catch (error) {
    fail(error, layout?.spans);
    return;
  }
  try {
    port.postMessage(reply, buffersOf(reply.value.request.inputs));
  } catch (error) {
    fail(notPassable(error), layout?.spans);
  }
});

function fail(error: unknown, spans: readonly BinarySpan[] | undefined): void {
  const { message, code } = error as { message?: unknown; code?: unknown };
  const read = isReadError(error) || undefined;
  port.postMessage({ error: { message: String(message ?? error), code: typeof code === 'string' ? code : undefined, read }, spans } satisfies JsonReply);
}

/** The buffers under the tensors' data, each once. */
function buffersOf(tensors: TensorMap): ArrayBuffer[] {
  const buffers = new Set<ArrayBuffer>();
  for (const name in tensors) {
    const { data } = tensors[name]!;
    if (!Array.isArray(data)) buffers.add((data as Uint8Array).buffer as ArrayBuffer);
  }
  return [...buffers];
}
