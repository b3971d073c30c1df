import { ClosedError, DeadlineExceededError, resolvesWithin, type Clock, type Emitter } from '../core/index.js';
import type { ModelVersion } from './model-version.js';
import type { RegistryEvents } from './types.js';

/** How long `close()` waits for drains by default: Triton's `--exit-timeout-secs` (30 s). */
export const DEFAULT_CLOSE_TIMEOUT_MS = 30_000;

/**
 * Waits for a closing registry's unloads at most `timeoutMs` on `clock` (a timeout longer than a
 * timer can hold waits for ever), as Triton waits for in-flight requests at most
 * `--exit-timeout-secs` on shutdown, then exits anyway. A version still draining then (a run that
 * never answers) is given up: its requests still queued or running fail with a ClosedError, and
 * `registry` reports it (a `failure` event, stage `unload`, with a DeadlineExceededError). Its
 * drain goes on: its handler and session are disposed once its running batches end, as disposing
 * them under a run is not safe (the onnx-node pool's close waits for its jobs anyway).
 */
export async function closeWithin(
  unloads: Promise<unknown>,
  timeoutMs: number,
  clock: Clock,
  draining: () => readonly ModelVersion[],
  registry: Emitter<RegistryEvents>,
): Promise<void> {
  if (await resolvesWithin(unloads, timeoutMs, clock)) return;
  for (const mv of draining()) {
    const bound = `within ${timeoutMs} ms (\`closeTimeoutMs\`)`;
    mv.batcher.fail(new ClosedError(`The registry closed before model '${mv.name}' version '${mv.version}' answered: its drain did not end ${bound}`));
    const error = new DeadlineExceededError(`Model '${mv.name}' version '${mv.version}' did not finish draining ${bound} of close(); it is disposed when its running batches end`);
    registry.emit('failure', { name: mv.name, version: mv.version, error, stage: 'unload' });
  }
}
