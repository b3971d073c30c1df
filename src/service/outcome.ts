import { ServableError, type ErrorCode } from '../core/index.js';

/** How a request ended, as metrics count it. */
export type RequestOutcome = 'success' | 'invalid' | 'rejected' | 'timeout' | 'cancelled' | 'backend' | 'not-found' | 'not-ready' | 'cache';

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
  ERR_SERVABLE_CACHE: 'cache',
  ERR_SERVABLE_PAYLOAD_TOO_LARGE: 'invalid',
};

/** The outcome a failure counts as; anything that is not a ServableError is a backend failure. */
export function outcomeOf(error: unknown): RequestOutcome {
  return error instanceof ServableError ? BY_CODE[error.code] : 'backend';
}
