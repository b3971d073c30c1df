/**
 * One error hierarchy for everything that can go wrong while serving. Each error has a stable
 * `code` (append-only; match on it rather than on messages) and the HTTP `status` adapters reply with.
 */

import { describe, optionError } from './options.js';

const BRAND = Symbol.for('servable.error');

/** The stable codes of {@link ServableError}. */
export type ErrorCode =
  | 'ERR_SERVABLE_INVALID_INPUT'
  | 'ERR_SERVABLE_MODEL_NOT_FOUND'
  | 'ERR_SERVABLE_QUEUE_FULL'
  | 'ERR_SERVABLE_DEADLINE_EXCEEDED'
  | 'ERR_SERVABLE_CANCELLED'
  | 'ERR_SERVABLE_MODEL_NOT_READY'
  | 'ERR_SERVABLE_BACKEND'
  | 'ERR_SERVABLE_BACKEND_UNAVAILABLE'
  | 'ERR_SERVABLE_CLOSED'
  | 'ERR_SERVABLE_UNAVAILABLE'
  | 'ERR_SERVABLE_CACHE'
  | 'ERR_SERVABLE_PAYLOAD_TOO_LARGE'
  | 'ERR_SERVABLE_OVERLOADED'
  | 'ERR_SERVABLE_MODEL_TOO_LARGE';

/**
 * How long a client should wait before it tries again, when it should, as `Retry-After` says (1 s):
 * what a 503 is given when nothing better is known.
 */
export const RETRY_SOON_MS = 1000;

/** The options of a 503 a retry may outlast ({@link ModelNotReadyError}, {@link UnavailableError}). */
export interface RetryableErrorOptions extends ErrorOptions {
  /**
   * When a retry may succeed, in milliseconds from now: the reply's `Retry-After` (RFC 9110
   * §10.2.3), in whole seconds rounded up; `null` when none is expected to soon (no `Retry-After`).
   * A finite number >= 0. @default 1000 ({@link RETRY_SOON_MS})
   */
  readonly retryAfterMs?: number | null;
}

/** The options of every {@link ServableError}. */
export interface ServableErrorOptions extends ErrorOptions {
  /** Its {@link ServableError.retryAfterMs}. */
  readonly retryAfterMs?: number;
}

/** The base class of every operational error servable throws. */
export class ServableError extends Error {
  /** A stable identifier: match on this, not on the message. */
  readonly code: ErrorCode;
  /**
   * The HTTP status an adapter replies with; a full queue's and an overload shed's 503 (the outcome
   * `rejected`) is a 429 where the HTTP handler's `backpressureStatus` says so.
   */
  readonly status: number;
  /**
   * When a retry may succeed, in milliseconds from now, for an error a retry may outlast (a full
   * queue, a version loading or draining, a resource short for now): adapters send it as
   * `Retry-After`. Undefined when a retry is not expected to succeed soon, or would not help.
   */
  readonly retryAfterMs: number | undefined;

  constructor(code: ErrorCode, status: number, message: string, options?: ServableErrorOptions) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
    this.status = status;
    this.retryAfterMs = options?.retryAfterMs;
    Object.defineProperty(this, BRAND, { value: true });
  }

  /** Recognises servable errors across copies of the package (undici's brand idiom). */
  static override [Symbol.hasInstance](value: unknown): boolean {
    if (this !== ServableError) return Function.prototype[Symbol.hasInstance].call(this, value);
    return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[BRAND] === true;
  }
}

/** A request that does not fit the model: wrong name, datatype, shape or data (HTTP 400). */
export class InvalidInputError extends ServableError {
  constructor(message: string, options?: ErrorOptions) {
    super('ERR_SERVABLE_INVALID_INPUT', 400, message, options);
  }
}

/** A request body too large to take: one that needs more memory to decode than allowed (HTTP 413). */
export class PayloadTooLargeError extends ServableError {
  constructor(message: string) {
    super('ERR_SERVABLE_PAYLOAD_TOO_LARGE', 413, message);
  }
}

/** No such model or version (HTTP 404). */
export class ModelNotFoundError extends ServableError {
  constructor(message: string) {
    super('ERR_SERVABLE_MODEL_NOT_FOUND', 404, message);
  }
}

/** The queue is full; try again after `retryAfterMs` (HTTP 503 with Retry-After, or 429 under `backpressureStatus: 429`). */
export class QueueFullError extends ServableError {
  /** When capacity is expected to free up, in milliseconds from now. */
  declare readonly retryAfterMs: number;

  constructor(message: string, retryAfterMs: number) {
    super('ERR_SERVABLE_QUEUE_FULL', 503, message, { retryAfterMs });
  }
}

/**
 * Adaptive batching shed the request as overload: it waited in the queue until it could no longer
 * be answered within `maxLatencyMs` (HTTP 503 with Retry-After, as BentoML answers it; 429 under
 * `backpressureStatus: 429`). A verdict
 * on the model's load, not on the request: an identical request that joined it through a cache
 * shares it. Try again after `retryAfterMs`.
 */
export class OverloadedError extends ServableError {
  /** When the backlog that made it late is expected to have cleared, in milliseconds from now: at least 1. */
  declare readonly retryAfterMs: number;

  constructor(message: string, retryAfterMs: number) {
    super('ERR_SERVABLE_OVERLOADED', 503, message, { retryAfterMs });
  }
}

/** The request's deadline passed before it could be answered (HTTP 504). */
export class DeadlineExceededError extends ServableError {
  /**
   * True when the deadline was the model's, a verdict on its load that an identical request
   * shares, rather than the request's own timeout passing: adaptive batching refused it as slower
   * than `maxLatencyMs` even alone, or it waited out the queue policy's `defaultTimeoutMs` (no
   * `timeoutMs` of its own, or a longer one the policy cut).
   */
  readonly fromModel: boolean;

  constructor(message: string, options: { readonly fromModel?: boolean } = {}) {
    super('ERR_SERVABLE_DEADLINE_EXCEEDED', 504, message);
    this.fromModel = options.fromModel ?? false;
  }
}

/** The caller gave up (AbortSignal); nothing is written back (HTTP 499). */
export class CancelledError extends ServableError {
  constructor(message = 'The request was cancelled by the caller', options?: ErrorOptions) {
    super('ERR_SERVABLE_CANCELLED', 499, message, options);
  }
}

/**
 * The model version exists but cannot take requests yet, or any more (HTTP 503): it is loading,
 * draining, or left service, and a retry soon may be served (`Retry-After`, 1 s unless the
 * thrower knows better); or it failed to load, or is not loaded, which a retry is not expected to
 * change soon (`retryAfterMs: null`, no `Retry-After`).
 */
export class ModelNotReadyError extends ServableError {
  constructor(message: string, options?: RetryableErrorOptions) {
    super('ERR_SERVABLE_MODEL_NOT_READY', 503, message, { ...options, retryAfterMs: retryAfter(options) });
  }
}

/**
 * A model version larger on its own than the registry's `maxLoadedBytes` (HTTP 507 Insufficient
 * Storage, RFC 4918 §11.5: the server cannot hold what the request needs). No room can be made for
 * it however many versions are unloaded, so a retry cannot help (no `Retry-After`) until the bound
 * is raised or the version's `sizeBytes` is smaller; a load that finds no room for now is a
 * {@link ModelNotReadyError} instead, a 503 to retry.
 */
export class ModelTooLargeError extends ServableError {
  /** The version's estimated size in bytes: what it would reserve. */
  readonly sizeBytes: number;
  /** The registry's `maxLoadedBytes` it exceeds. */
  readonly maxLoadedBytes: number;

  constructor(message: string, sizeBytes: number, maxLoadedBytes: number) {
    super('ERR_SERVABLE_MODEL_TOO_LARGE', 507, message);
    this.sizeBytes = sizeBytes;
    this.maxLoadedBytes = maxLoadedBytes;
  }
}

/** The backend failed while running the model (HTTP 500, original error in `cause`). */
export class BackendError extends ServableError {
  constructor(message: string, options?: ErrorOptions) {
    super('ERR_SERVABLE_BACKEND', 500, message, options);
  }
}

/** One device or backend that was tried and failed, with why. */
export interface AttemptFailure {
  readonly device: string;
  readonly reason: string;
}

/** No backend or device in the preference list could load the model (HTTP 500). */
export class BackendUnavailableError extends ServableError {
  /** Every candidate that was tried, in order, with its reason. */
  readonly failures: readonly AttemptFailure[];

  constructor(message: string, failures: readonly AttemptFailure[]) {
    const reasons = failures.map((f) => `[${f.device}] ${f.reason}`).join('; ');
    super('ERR_SERVABLE_BACKEND_UNAVAILABLE', 500, reasons ? `${message}: ${reasons}` : message);
    this.failures = failures;
  }
}

/**
 * The component was closed and takes no more work (HTTP 503, with no `Retry-After`): a server
 * shutting down, whose clients should go to another replica rather than come back.
 */
export class ClosedError extends ServableError {
  constructor(message: string) {
    super('ERR_SERVABLE_CLOSED', 503, message);
  }
}

/**
 * A resource the server needs to answer is short for now: a JSON worker thread could not be
 * started, or ended while it held the request's body; a model repository is still listing its
 * root at start (HTTP 503). Another try may succeed (`Retry-After`, 1 s unless the thrower knows
 * better); what went wrong is in `cause`, which the client is not told.
 */
export class UnavailableError extends ServableError {
  constructor(message: string, options?: RetryableErrorOptions) {
    super('ERR_SERVABLE_UNAVAILABLE', 503, message, { ...options, retryAfterMs: retryAfter(options) });
  }
}

/** The `retryAfterMs` of a 503 a retry may outlast: {@link RETRY_SOON_MS} when its options give none, undefined for `null`. */
function retryAfter(options: RetryableErrorOptions | undefined): number | undefined {
  const ms = options?.retryAfterMs;
  if (ms === null) return undefined;
  if (ms === undefined) return RETRY_SOON_MS;
  if (typeof ms === 'number' && Number.isFinite(ms) && ms >= 0) return ms;
  throw optionError(`Expected \`retryAfterMs\` to be a finite number >= 0 or null, got ${describe(ms)}`, RangeError);
}

/**
 * A cache store or embedder failed or was too slow (HTTP 500). Caches fail open: requests never
 * see this error, it reaches `error` events; only the calls that ask for a write reject with it
 * (`invalidate()`, and a `SemanticCache.store()` whose embedding fails).
 */
export class CacheError extends ServableError {
  constructor(message: string, options?: ErrorOptions) {
    super('ERR_SERVABLE_CACHE', 500, message, options);
  }
}

/** Turns anything thrown into a ServableError, wrapping unknown errors as backend failures. */
export function toServableError(error: unknown): ServableError {
  if (error instanceof ServableError) return error;
  return new BackendError(messageOf(error), { cause: error });
}

/**
 * The message of anything thrown: an Error's own, else the value as a string.
 * @internal
 */
export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
