import { outcomeOf, ServableError, UnavailableError } from '../core/index.js';
import type { ReplyErrorCode } from './error-codes.js';
import type { BackpressureStatus, HttpResponse } from './types.js';

const JSON_TYPE = 'application/json';

/** A JSON reply. */
export function jsonResponse(status: number, value: unknown, headers: Record<string, string> = {}): HttpResponse {
  return jsonTextResponse(status, JSON.stringify(value), headers);
}

/** A JSON reply already written as text. */
export function jsonTextResponse(status: number, text: string, headers: Record<string, string> = {}): HttpResponse {
  return { status, headers: { 'content-type': JSON_TYPE, ...headers }, body: text };
}

/** An `{"error": message, "code": code}` reply: every error reply carries a stable code. */
export function errorBody(status: number, message: string, code: ReplyErrorCode, headers: Record<string, string> = {}): HttpResponse {
  return jsonResponse(status, { error: message, code }, headers);
}

/**
 * The 405 for a path served under other methods: `Allow` lists them (RFC 9110 §15.5.6), and the
 * body says which to use, in the shape of every other error reply.
 */
export function methodNotAllowed(method: string, allow: readonly string[]): HttpResponse {
  return errorBody(405, `${method} is not allowed here; use ${allow.join(' or ')}`, 'ERR_SERVABLE_METHOD_NOT_ALLOWED', { allow: allow.join(', ') });
}

/**
 * The reply for anything thrown while answering: a ServableError's status and message (a 503 with
 * `Retry-After` in whole seconds when its `retryAfterMs` says a retry may succeed: a full queue, a
 * version loading or draining, a resource short for now; none for a closed service or a failed
 * load), 499 with no body for a cancelled request, and a bare 500 for everything else
 * (`ERR_SERVABLE_INTERNAL`), whose
 * details stay on the server (`internal` is told of it, and of an UnavailableError, whose cause
 * its 503 does not tell). A request refused as backpressure (a full queue, a shed: the outcome
 * `rejected`) gets `backpressureStatus` instead of its 503, with the same `Retry-After` and body.
 * Every adapter answers through here, so they agree on the header.
 */
export function errorResponse(error: unknown, internal: (error: unknown) => void, backpressureStatus: BackpressureStatus = 503): HttpResponse {
  if (error instanceof ServableError && error.status < 500) {
    if (error.status === 499) return { status: 499, headers: {}, body: '' };
    return errorBody(error.status, error.message, error.code);
  }
  if (error instanceof ServableError && error.status !== 500) {
    if (error instanceof UnavailableError) internal(error);
    const headers: Record<string, string> =
      error.status === 503 && error.retryAfterMs !== undefined ? { 'retry-after': String(retryAfterSeconds(error.retryAfterMs)) } : {};
    const status = error.status === 503 && outcomeOf(error) === 'rejected' ? backpressureStatus : error.status;
    return errorBody(status, error.message, error.code, headers);
  }
  internal(error);
  return error instanceof ServableError
    ? errorBody(500, 'The model failed to answer this request', error.code)
    : errorBody(500, 'Internal server error', 'ERR_SERVABLE_INTERNAL');
}

/**
 * Whole seconds for `Retry-After`, rounded up, so a wait above 0 is never 0 (a wait below 5e-321 ms
 * divides to 0); 0 for none; 1 when the wait is unknown.
 */
function retryAfterSeconds(ms: number): number {
  if (!Number.isFinite(ms)) return 1;
  return ms > 0 ? Math.max(1, Math.ceil(ms / 1000)) : 0;
}
