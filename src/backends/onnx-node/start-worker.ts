import { once } from 'node:events';
import type { Worker } from 'node:worker_threads';
import { abortError, messageOf, onAbort, BackendError, BackendUnavailableError } from '../../core/index.js';
import { Link } from './link.js';
import type { FromWorker, WorkerStart } from './protocol.js';
import { spawnWorker } from '../../node/index.js';

/** A worker that reported `ready`, and what became of it until the pool took it over. */
export interface Started<Info> {
  readonly worker: Worker;
  readonly link: Link;
  readonly info: Info;
  /** Stops watching the worker; tells whether it already died (exit code, uncaught error). */
  handOver(): { code: number | undefined; crash: Error | undefined };
}

/**
 * Spawns one worker and waits for its `ready` (resolves) or `failed` (rejects). Never throws: a
 * thread that cannot be spawned, or that dies before it is ready, rejects with a BackendError. When
 * `signal` aborts, the worker is terminated, or, inside a native start step, left to exit once the
 * step returns; the call then rejects with the abort error once the worker has exited.
 */
export function startWorker<Info>(url: URL, data: unknown, label: string, spinMs: number, signal: AbortSignal | undefined): Promise<Started<Info>> {
  if (signal?.aborted) return Promise.reject(abortError(signal));
  const link = new Link(spinMs);
  let worker: Worker;
  try {
    worker = spawnWorker(url, { data, link: link.end } satisfies WorkerStart, [link.end.port]);
  } catch (error) {
    // `new Worker()` throws at once when it cannot create the thread (ERR_WORKER_INIT_FAILED: threads
    // or memory short): a failed start like any other, which a pool retries, not an exception thrown
    // into the worker 'exit' listener or timer that started it.
    link.port.close();
    return Promise.reject(new BackendError(`${label}: could not spawn a worker thread: ${messageOf(error)}`, { cause: error }));
  }
  return new Promise<Started<Info>>((resolve, fail) => {
    const reject = (error: unknown): void => {
      link.port.close();
      fail(error);
    };
    let crash: Error | undefined;
    let ready = false;
    let exitCode: number | undefined;
    let stopAbort = (): void => {};
    const settle = (): void => {
      worker.off('message', onMessage);
      worker.off('error', onError);
      worker.off('exit', onExit);
      stopAbort();
    };
    const onMessage = (message: FromWorker<Info, unknown>): void => {
      if (message.type === 'ready') {
        ready = true;
        worker.off('message', onMessage);
        stopAbort();
        resolve({
          worker,
          link,
          info: message.info,
          handOver: () => {
            settle();
            return { code: exitCode, crash };
          },
        });
      } else if (message.type === 'failed') {
        settle();
        const error = new BackendUnavailableError(`${label}: ${message.message}`, message.failures);
        void worker.terminate().then(() => reject(error));
      }
    };
    const onError = (error: Error): void => {
      crash = error;
    };
    const onExit = (code: number): void => {
      if (ready) {
        exitCode = code;
        return;
      }
      settle();
      const why = crash ? `: ${crash.message}` : '';
      reject(new BackendError(`${label}: the worker exited with code ${code} before it was ready${why}`, { cause: crash }));
    };
    worker.on('message', onMessage);
    worker.on('error', onError);
    worker.on('exit', onExit);
    stopAbort = onAbort(signal, () => {
      settle();
      const error = abortError(signal as AbortSignal);
      // A worker inside a native start step is left to exit once it returns (see Link.callOffStart).
      const exited = link.callOffStart() ? worker.terminate() : once(worker, 'exit');
      void exited.then(() => reject(error), () => reject(error));
    });
  });
}
