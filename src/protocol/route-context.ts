import { ClosedError, isPromiseLike, ModelNotFoundError } from '../core/index.js';
import type { RepositoryControl } from '../registry/index.js';
import type { InferenceService } from '../service/index.js';
import type { JsonDecoder } from './json-decoder.js';
import type { Route } from './routes.js';
import type { HttpRequest, HttpResponse, StatisticsSource, TenantOf } from './types.js';

/** What route handlers share: the service and the handler's resolved options. */
export interface RouteContext {
  readonly service: InferenceService;
  readonly maxElements: number;
  readonly serverName: string;
  readonly serverVersion: string;
  readonly requiredModels: readonly string[] | undefined;
  readonly repository: RepositoryControl | undefined;
  readonly authorizeRepository: ((request: HttpRequest) => boolean | Promise<boolean>) | undefined;
  readonly tenantOf: TenantOf | undefined;
  /** The `routingKeyHeader` option, in lower case. */
  readonly routingKeyHeader: string | undefined;
  readonly jsonDecoder: JsonDecoder | undefined;
  readonly statistics: StatisticsSource | undefined;
}

/** Answers one kind of route. */
export type RouteHandler<R extends Route> = (route: R, request: HttpRequest) => HttpResponse | Promise<HttpResponse>;

/** A handler for each route kind in `K`. */
export type RouteHandlers<K extends Route['kind']> = { [P in K]: RouteHandler<Extract<Route, { kind: P }>> };

/**
 * Runs what an inference route does before the service takes the request (finding the model,
 * decoding the body); a failure there is reported to the service, so it is counted as a request.
 */
export function beforeService<T>(service: InferenceService, model: string, step: () => T): T {
  const report = (error: unknown): never => refuseBeforeService(service, model, error);
  try {
    const out = step();
    return (isPromiseLike(out) ? Promise.resolve(out).catch(report) : out) as T;
  } catch (error) {
    return report(error);
  }
}

/**
 * Reports `error` to the service as a request for `model` refused before it (see {@link beforeService}),
 * and throws it; with the `version` it was refused for, when one was chosen before it was raised.
 */
export function refuseBeforeService(service: InferenceService, model: string, error: unknown, version?: string): never {
  service.reportFailure(model, error, version);
  throw error;
}

/**
 * Refuses a model the registry does not know with a 404, or every model with a 503 once the
 * registry is closed: a server shutting down is not missing its models, and clients should retry
 * elsewhere.
 */
export function assertKnownModel(service: InferenceService, model: string): void {
  if (service.registry.closed) throw new ClosedError('The registry is closed');
  if (!service.registry.has(model)) throw new ModelNotFoundError(`Model '${model}' not found`);
}

/** A 404 when the model has no version of that name, whatever the state of those it has. */
export function assertKnownVersion(service: InferenceService, model: string, version: string): void {
  if (!service.registry.versions(model).some((v) => v.version === version)) throw new ModelNotFoundError(`Model '${model}' has no version '${version}'`);
}
