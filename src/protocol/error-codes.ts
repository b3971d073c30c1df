import type { ErrorCode } from '../core/index.js';

/**
 * The stable codes of the error replies the HTTP layer makes itself, for refusals no
 * `ServableError` stands for (a path no route serves, a wrong method, a body in an encoding
 * it cannot read). Like `ErrorCode`, only ever added to; match on them, not on messages.
 */
export type HttpErrorCode =
  /** 404: no route serves the method and path (or a TF-Serving verb servable does not serve). */
  | 'ERR_SERVABLE_NO_ROUTE'
  /** 405: a route serves the path under other methods, which `Allow` lists. */
  | 'ERR_SERVABLE_METHOD_NOT_ALLOWED'
  /** 415: a `Content-Encoding` other than gzip, deflate or identity. */
  | 'ERR_SERVABLE_UNSUPPORTED_CONTENT_ENCODING'
  /** 415 (Fastify only): a `Content-Type` Fastify refuses as no media type before the plugin reads the body. */
  | 'ERR_SERVABLE_UNSUPPORTED_MEDIA_TYPE'
  /** 501: a `Transfer-Encoding` naming a coding other than `chunked`. */
  | 'ERR_SERVABLE_UNSUPPORTED_TRANSFER_ENCODING'
  /** 403: `authorizeRepository` refused a repository route. */
  | 'ERR_SERVABLE_NOT_AUTHORIZED'
  /**
   * 400: a repository load failed on an option mistake: a `config.json` that does not parse or holds
   * a bad field, a handler refusing its options (the option error's own code, `INVALID_OPTION`).
   */
  | 'ERR_SERVABLE_INVALID_OPTION'
  /** 400: a repository load failed with an error that has no servable code (a model file the backend cannot read). */
  | 'ERR_SERVABLE_LOAD_FAILED'
  /** 400: a repository unload failed with an error that has no servable code. */
  | 'ERR_SERVABLE_UNLOAD_FAILED'
  /** 500: anything unexpected, answered `Internal server error`; `onError` receives the error. */
  | 'ERR_SERVABLE_INTERNAL';

/** The code of an error reply: a `ServableError`'s, or one the HTTP layer gives its own refusals. */
export type ReplyErrorCode = ErrorCode | HttpErrorCode;
