import { messageOf } from '../core/index.js';
import type { HttpRequest } from './types.js';

/** The `code` of the process warning that stands for a failed `onError`. */
export const ON_ERROR_WARNING = 'SERVABLE_ON_ERROR';

/** `onError`, as {@link reportError} calls it. */
export type ErrorReporter = (error: unknown, request: HttpRequest) => void;

/**
 * `onError` made harmless: its throw, or the rejection of the promise an async one returns, changes
 * no reply and is no unhandled rejection. It is not swallowed either: each is a process warning
 * (`process.on('warning')`, printed to stderr by default) with code {@link ON_ERROR_WARNING},
 * naming both errors, since the error being reported is lost with it. Every adapter reports so,
 * Fastify's too: the protocol handler, where most reports start, has no request log to write to.
 * Outside Node (no `process.emitWarning`), it goes to `console.error`.
 */
export function reportError(onError: ErrorReporter | undefined): ErrorReporter {
  if (onError === undefined) return () => {};
  return (error, request) => {
    const failed = (failure: unknown): void => warn(`onError failed (${messageOf(failure)}) while reporting: ${messageOf(error)}`);
    try {
      const result: unknown = onError(error, request);
      if (typeof (result as PromiseLike<unknown> | undefined)?.then === 'function') (result as PromiseLike<unknown>).then(undefined, failed);
    } catch (failure) {
      failed(failure);
    }
  };
}

function warn(message: string): void {
  const node = (globalThis as { process?: { emitWarning?: (message: string, options: { code: string }) => void } }).process;
  if (typeof node?.emitWarning === 'function') node.emitWarning(message, { code: ON_ERROR_WARNING });
  else console.error(`${ON_ERROR_WARNING}: ${message}`);
}
