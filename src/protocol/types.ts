import type { RepositoryControl } from '../registry/index.js';
import type { InferenceService } from '../service/index.js';
import type { JsonDecoder } from './json-decoder.js';

/** Request headers with lower-case names, as Node's `IncomingHttpHeaders` holds them. */
export type HttpHeaders = Readonly<Record<string, string | readonly string[] | undefined>>;

/** One HTTP request as any transport hands it over: the adapters build it from Node, Fetch or framework requests. */
export interface HttpRequest {
  /** The method, e.g. `GET` or `POST`. */
  readonly method: string;
  /** The path below the mount point, with or without a query string, still URL-encoded: `/v2/models/cls/infer`. */
  readonly path: string;
  /**
   * The part of the URL the handler is mounted under, as the client sent it (`/api`), which `path`
   * leaves out; messages that name the path name it with this before it. @default ''
   */
  readonly mount?: string | undefined;
  /** The request headers, names in lower case. */
  readonly headers: HttpHeaders;
  /** The raw body, or undefined when there is none. */
  readonly body?: Uint8Array | string | undefined;
  /** Aborted when the client goes away: a queued inference leaves the queue and never runs. */
  readonly signal?: AbortSignal | undefined;
}

/** Says which tenant a request belongs to (see `HttpHandlerOptions.tenantOf`). */
export type TenantOf = (request: HttpRequest) => string | undefined | Promise<string | undefined>;

/** The reply to write back. A 499 status means the client is gone: write nothing. */
export interface HttpResponse {
  readonly status: number;
  /** Response headers, names in lower case. */
  readonly headers: Readonly<Record<string, string>>;
  /**
   * A JSON text, raw bytes (binary tensor data), or empty. Bytes are a view that may share its
   * ArrayBuffer with other replies' (a small binary reply is a part of a shared buffer): read them
   * through the view, or its `byteOffset` and `byteLength`, not the whole `buffer`.
   */
  readonly body: string | Uint8Array;
}

/** Where the statistics extension's routes read a version's statistics: `InferenceStatistics` from `servable/metrics` is one. */
export interface StatisticsSource {
  /** The statistics of one version, in Triton's `$model_stat` JSON shape. */
  versionStatistics(name: string, version: string): object;
}

/** The statuses `HttpHandlerOptions.backpressureStatus` may pick for a request refused as backpressure. */
export type BackpressureStatus = 503 | 429;

/** Options of `createHttpHandler` (servable/protocol), which every adapter also takes. */
export interface HttpHandlerOptions {
  /** The service requests are answered by. */
  readonly service: InferenceService;
  /**
   * The most bytes a request body may hold; larger ones get 413. Adapters stop reading at this size.
   * @default 67108864 (64 MiB, Triton's `--http-max-input-size`)
   */
  readonly bodyLimit?: number;
  /**
   * The most elements one input tensor may claim in its shape; larger claims get 400 before anything
   * is allocated.
   * @default 67108864
   */
  readonly maxElements?: number;
  /**
   * Compress an inference reply (`/infer`, `:predict`) of 1 KiB or more with gzip or deflate when
   * the request's `Accept-Encoding` asks for it, as Triton does for tritonclient's
   * `response_compression_algorithm`; other replies go as they are, as Triton sends them. It costs CPU
   * time (off the event loop, in libuv's thread pool) to save network bytes: turn it off where a
   * proxy compresses, or clients on the same host ask for it anyway.
   * @default true
   */
  readonly compressReplies?: boolean;
  /**
   * The status of a request refused as backpressure, a verdict on the model's load rather than on
   * the request: a full queue (`ERR_SERVABLE_QUEUE_FULL`) and a request adaptive batching shed as
   * overload (`ERR_SERVABLE_OVERLOADED`), those `servable_requests_total` counts as `rejected`.
   * `429` (Too Many Requests) suits clients and gateways that retry a 429 with backoff and take a 503
   * for a replica that is down (Ray Serve's `BackpressureConfig(status_code=429)`, what TorchServe's
   * users ask for); `Retry-After` and the body, its `code` included, are the same under either.
   * Every other 503 stays a 503: a version loading or draining, a closed service, a JSON worker
   * short. `503` or `429`; anything else is refused, quoting it.
   * @default 503 (as Triton, TF Serving, TorchServe and BentoML answer it)
   */
  readonly backpressureStatus?: BackpressureStatus;
  /** Serve TF-Serving's REST API under `/v1/models` beside the Open Inference Protocol under `/v2`. @default true */
  readonly tfServing?: boolean;
  /**
   * Serve the model repository extension (`POST /v2/repository/index`, `.../models/{m}/load`,
   * `.../models/{m}/unload`) over this repository, e.g. a `ModelRepository` from
   * `servable/repository`. These routes load and unload models: expose them only to operators.
   * @default none: the routes answer 404
   */
  readonly repository?: RepositoryControl;
  /**
   * Decides whether a request may use the repository routes (an API key, a role, a network check);
   * only `true` allows it, and a request refused (any other answer) gets 403. Required with `repository`: loading and unloading models is never
   * open to whoever can reach the port.
   */
  readonly authorizeRepository?: (request: HttpRequest) => boolean | Promise<boolean>;
  /**
   * The tenant a request belongs to: semantic cache hits are only shared within one tenant. By
   * default the `X-Tenant` header as sent, which is right behind a gateway that sets it from the
   * caller's identity and drops the client's own. Where clients reach the server directly, derive
   * it here from what you can verify (a signed token's claim, an API key); its answer replaces the
   * header, and `undefined` means no tenant. A throw or rejection answers the request with it (a
   * bare 500 given to `onError` unless it is a ServableError), as does an answer of another type, and
   * the service's `request` event counts it by that error (`backend` for a 500). It is not asked
   * for a model, version or label the registry does not know: their 404 comes first, before the body is read.
   * @default the trimmed `X-Tenant` header (a 400 when it comes more than once)
   */
  readonly tenantOf?: TenantOf;
  /**
   * The request header (matched case-insensitively) whose value is the request's `routingKey` on
   * the inference routes (`/infer`, JSON or binary, and `:predict`): under a model's weighted
   * traffic split (`registry.setTraffic`), requests with the same value go to the same version
   * while the split is unchanged, where each request is drawn at random. Name the header that
   * already identifies the user or session (one your gateway sets, say `X-User-Id`). A version or
   * label in the URL still wins; an empty value is no key; one longer than 256 characters is a 400
   * naming the header. A client picks its version with it no more than it can by naming the version
   * in the URL.
   * @default none: no header is read (a name that is not an HTTP token is refused, quoting it)
   */
  readonly routingKeyHeader?: string;
  /**
   * Where JSON bodies of at least `jsonDecoder.minBytes` are decoded instead of on the event loop.
   * servable's Node adapters make one of worker threads from their `jsonWorkers` options; set it
   * here in an adapter of your own.
   * @default none: every body is decoded in place
   */
  readonly jsonDecoder?: JsonDecoder;
  /**
   * Serve Triton's statistics extension (`GET /v2/models/stats`, `/v2/models/{m}/stats`,
   * `/v2/models/{m}/versions/{v}/stats`, tritonclient's `get_inference_statistics`) from this
   * source, e.g. an `InferenceStatistics` from `servable/metrics`; `GET /v2` then lists
   * `statistics` among its extensions. `GET /v2/models/stats` then answers the statistics of every
   * model, as in Triton, no longer the metadata of a model named `stats`.
   * @default none: the routes answer 404
   */
  readonly statistics?: StatisticsSource;
  /** The server name `GET /v2` reports. @default 'servable' */
  readonly serverName?: string;
  /** The server version `GET /v2` reports. @default servable's version */
  readonly serverVersion?: string;
  /**
   * Models that must be ready for `GET /v2/health/ready` to answer 200. When absent, the server is
   * ready unless a model is starting (`registry.load()` loads a version of it and none is ready, as
   * Triton's strict readiness has it) or the registry is closed: a model draining after an unload
   * or an eviction, whose load failed, or that a request loads on demand holds nothing back.
   */
  readonly requiredModels?: readonly string[];
  /**
   * Called with every error answered with 500, whose message the client does not see, and with the
   * UnavailableError of a 503 whose JSON worker could not be started or ended (its `cause` says how,
   * which the client is not told): log it here. It may be async. One that throws or rejects changes
   * no reply and is no unhandled rejection: its failure is emitted as a process warning with code
   * `SERVABLE_ON_ERROR` (on every adapter: the protocol handler, where most reports start, has no
   * request log), never passed back to it; an async function fits this type.
   * @default none
   */
  readonly onError?: (error: unknown, request: HttpRequest) => void;
}

/** A transport-agnostic HTTP handler speaking the Open Inference Protocol v2 and TF-Serving v1 REST. */
export interface HttpHandler {
  /** Answers one request; never rejects, whatever the request holds. */
  handle(request: HttpRequest): Promise<HttpResponse>;
  /** True when `path` (below the mount point) belongs to this handler: it lies under one of {@link HttpHandler.prefixes}. */
  owns(path: string): boolean;
  /** The path prefixes served: `/v2`, and `/v1/models` unless `tfServing` is false. */
  readonly prefixes: readonly string[];
  /** The body limit in bytes adapters enforce while reading. */
  readonly bodyLimit: number;
  /**
   * The 413 reply for a request whose body went past {@link HttpHandler.bodyLimit}, which an
   * adapter refused while reading it; an inference request for a loaded model is counted among
   * its requests (outcome `invalid`).
   */
  tooLarge(request: Pick<HttpRequest, 'method' | 'path'>): HttpResponse;
  /**
   * The protocol's JSON 404 for a request no route answers, for an adapter that owns the whole
   * server and is asked about paths outside {@link HttpHandler.prefixes} (or its mount point).
   */
  notFound(request: Pick<HttpRequest, 'method' | 'path' | 'mount'>): HttpResponse;
}
