import { ServableError, type ErrorCode } from './errors.js';

/** How a request ended, as metrics count it: the `outcome` label of `servable_requests_total`. */
export type RequestOutcome = 'success' | 'invalid' | 'rejected' | 'timeout' | 'cancelled' | 'backend' | 'not-found' | 'not-ready';

const BY_CODE: Record<ErrorCode, RequestOutcome> = {
  ERR_SERVABLE_INVALID_INPUT: 'invalid',
  ERR_SERVABLE_QUEUE_FULL: 'rejected',
  ERR_SERVABLE_DEADLINE_EXCEEDED: 'timeout',
  ERR_SERVABLE_CANCELLED: 'cancelled',
  ERR_SERVABLE_BACKEND: 'backend',
  ERR_SERVABLE_BACKEND_UNAVAILABLE: 'backend',
  ERR_SERVABLE_MODEL_NOT_FOUND: 'not-found',
  ERR_SERVABLE_MODEL_NOT_READY: 'not-ready',
  ERR_SERVABLE_CLOSED: 'not-ready',
  ERR_SERVABLE_UNAVAILABLE: 'backend',
  // Caches fail open, so only code of the app's (a handler, a tenantOf hook) can fail a request with one: a 500.
  ERR_SERVABLE_CACHE: 'backend',
  ERR_SERVABLE_PAYLOAD_TOO_LARGE: 'invalid',
  // A shed is overload, as a full queue: a 503 to retry, not the request's own timeout.
  ERR_SERVABLE_OVERLOADED: 'rejected',
  // A request whose load meets it gets the ModelNotReadyError of a failed load (not-ready); a handler's own counts the same.
  ERR_SERVABLE_MODEL_TOO_LARGE: 'not-ready',
};

/** The outcome a failure counts as; anything that is not a ServableError is a backend failure. */
export function outcomeOf(error: unknown): RequestOutcome {
  return error instanceof ServableError ? BY_CODE[error.code] : 'backend';
}
