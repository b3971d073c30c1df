import { assertBoolean, assertFunction, assertInteger, assertOptionKeys, assertObject, assertOneOf, assertString, describe, optionError, InvalidInputError } from '../core/index.js';
import { bodyEncoding, compressReply, decompressBody, unsupportedTransferCodings } from './content-encoding.js';
import { oipRoutes } from './oip-routes.js';
import type { ReplyErrorCode } from './error-codes.js';
import { reportError } from './report-error.js';
import { errorBody, errorResponse, methodNotAllowed } from './responses.js';
import type { RouteContext, RouteHandler } from './route-context.js';
import { OIP_PREFIX, routeMatcher, TF_PREFIX, under, type Route } from './routes.js';
import { repositoryRoutes } from './repository-routes.js';
import { statisticsRoutes } from './statistics-routes.js';
import { routingKeyHeaderName } from './request-headers.js';
import { tfRoutes } from './tf-routes.js';
import type { BackpressureStatus, HttpHandler, HttpHandlerOptions, HttpRequest, HttpResponse } from './types.js';

/** servable's version, reported by `GET /v2`. */
export const SERVABLE_VERSION = '0.1.0';

/** The options {@link createHttpHandler} takes; an adapter takes these and its own. */
export const HTTP_HANDLER_OPTIONS: readonly string[] = [
  'service',
  'bodyLimit',
  'maxElements',
  'compressReplies',
  'backpressureStatus',
  'tfServing',
  'repository',
  'authorizeRepository',
  'tenantOf',
  'routingKeyHeader',
  'statistics',
  'serverName',
  'serverVersion',
  'requiredModels',
  'onError',
  'jsonDecoder',
];

/**
 * The routes whose replies may be compressed. Triton compresses only inference replies, and
 * tritonclient's asyncio client, whose aiohttp asks for gzip on every request, reads the others
 * without inflating them.
 */
const COMPRESSED_ROUTES: ReadonlySet<Route['kind']> = new Set(['infer', 'tf-predict']);

const DEFAULT_BODY_LIMIT = 64 * 1024 * 1024;
const DEFAULT_MAX_ELEMENTS = 64 * 1024 * 1024;

/**
 * Creates the transport-agnostic HTTP handler every adapter wraps. It speaks the Open Inference
 * Protocol v2 REST API (`/v2/...`: health, server and model metadata, model readiness, inference,
 * with the binary tensor data extension) and TF-Serving's v1 REST API (`/v1/models/...`: status,
 * metadata, `:predict`). Bad requests get a 400 naming the input and what was wrong; no request
 * can make it throw, allocate more than its body justifies, or disturb the others.
 *
 * @example
 * ```ts
 * const http = createHttpHandler({ service });
 * const reply = await http.handle({ method: 'GET', path: '/v2/health/ready', headers: {} });
 * ```
 */
export function createHttpHandler(options: HttpHandlerOptions): HttpHandler {
  assertObject('options', options);
  assertOptionKeys('createHttpHandler', options, HTTP_HANDLER_OPTIONS);
  const { service } = options;
  if (typeof service?.infer !== 'function' || typeof service.metadata !== 'function') {
    throw optionError(`Expected \`service\` to be an InferenceService, got ${describe(service)}`);
  }
  const bodyLimit = options.bodyLimit ?? DEFAULT_BODY_LIMIT;
  assertInteger('bodyLimit', bodyLimit, 1);
  const maxElements = options.maxElements ?? DEFAULT_MAX_ELEMENTS;
  assertInteger('maxElements', maxElements, 1);
  const serverName = options.serverName ?? 'servable';
  assertString('serverName', serverName);
  const serverVersion = options.serverVersion ?? SERVABLE_VERSION;
  assertString('serverVersion', serverVersion);
  const { requiredModels, onError } = options;
  if (requiredModels !== undefined && (!Array.isArray(requiredModels) || !requiredModels.every((m) => typeof m === 'string' && m !== ''))) {
    throw optionError(`Expected \`requiredModels\` to be an array of model names, got ${describe(requiredModels)}`);
  }
  if (onError !== undefined) assertFunction('onError', onError);
  const report = reportError(onError);
  const compressReplies = options.compressReplies ?? true;
  assertBoolean('compressReplies', compressReplies);
  const backpressureStatus = options.backpressureStatus ?? 503;
  assertOneOf<BackpressureStatus>('backpressureStatus', backpressureStatus, [503, 429]);
  const tfServing = options.tfServing ?? true;
  assertBoolean('tfServing', tfServing);
  const { repository } = options;
  if (repository !== undefined && (typeof repository?.index !== 'function' || typeof repository.load !== 'function' || typeof repository.unload !== 'function')) {
    throw optionError(`Expected \`repository\` to be a RepositoryControl ({index, load, unload}), got ${describe(repository)}`);
  }

  const { authorizeRepository } = options;
  if (repository !== undefined && typeof authorizeRepository !== 'function') {
    throw optionError(`Expected \`authorizeRepository\` to be a function deciding who may load and unload models, got ${describe(authorizeRepository)}`);
  }
  const { tenantOf } = options;
  if (tenantOf !== undefined) assertFunction('tenantOf', tenantOf);
  const routingKeyHeader = routingKeyHeaderName(options.routingKeyHeader);
  const { jsonDecoder } = options;
  if (jsonDecoder !== undefined && (typeof jsonDecoder?.infer !== 'function' || typeof jsonDecoder.predict !== 'function' || !(jsonDecoder.minBytes >= 0)
    || (jsonDecoder.inferBinary !== undefined && typeof jsonDecoder.inferBinary !== 'function'))) {
    throw optionError(`Expected \`jsonDecoder\` to be a JsonDecoder ({minBytes, infer, predict, inferBinary?}), got ${describe(jsonDecoder)}`);
  }
  const { statistics } = options;
  if (statistics !== undefined && typeof statistics?.versionStatistics !== 'function') {
    throw optionError(`Expected \`statistics\` to be a StatisticsSource ({versionStatistics}), e.g. an InferenceStatistics, got ${describe(statistics)}`);
  }
  const ctx: RouteContext = { service, maxElements, serverName, serverVersion, requiredModels, repository, authorizeRepository, tenantOf, routingKeyHeader, jsonDecoder, statistics };
  const routes = { ...oipRoutes(ctx), ...tfRoutes(ctx), ...repositoryRoutes(ctx), ...statisticsRoutes(ctx) };
  const families = { tfServing, repository: repository !== undefined, statistics: statistics !== undefined };
  const prefixes = tfServing ? [OIP_PREFIX, TF_PREFIX] : [OIP_PREFIX];
  const match = routeMatcher(families);

  const tooLargeMessage = `The request body is larger than the limit of ${bodyLimit} bytes`;
  /** A body refused before any route sees it; counted as an invalid request of the model it was for. */
  const refuseBody = (route: Route | undefined, status: number, message: string, code: ReplyErrorCode, headers?: Record<string, string>): HttpResponse => {
    if ((route?.kind === 'infer' || route?.kind === 'tf-predict') && service.registry.has(route.model)) {
      service.reportFailure(route.model, new InvalidInputError(message));
    }
    return errorBody(status, message, code, headers);
  };
  /**
   * The 413. `close` when the adapter stopped reading the body (see `tooLarge`); a body handed to
   * `handle` was read whole, even one that then inflated past the limit, so its connection goes on.
   */
  const refuseTooLarge = (route: Route | undefined, close: boolean): HttpResponse =>
    refuseBody(route, 413, tooLargeMessage, 'ERR_SERVABLE_PAYLOAD_TOO_LARGE', close ? { connection: 'close' } : undefined);

  /** The request with its body held to the limit (and decoded: a promise then), or the reply that refuses it. */
  const acceptBody = (route: Route, request: HttpRequest): HttpRequest | HttpResponse | Promise<HttpRequest | HttpResponse> => {
    if (request.body === undefined) return request;
    if (pastLimit(request.body, bodyLimit)) return refuseTooLarge(route, false);
    // RFC 9112 §6.1: a transfer coding the server does not understand is a 501, as nginx and Go's net/http answer it.
    const transfer = unsupportedTransferCodings(request.headers['transfer-encoding']);
    if (transfer !== undefined) {
      return refuseBody(route, 501, `Transfer-Encoding '${transfer}' is not supported; send the body chunked or with Content-Length, compressed with Content-Encoding`, 'ERR_SERVABLE_UNSUPPORTED_TRANSFER_ENCODING');
    }
    const encoding = bodyEncoding(request.headers['content-encoding']);
    if ('unsupported' in encoding) {
      return refuseBody(route, 415, `Content-Encoding '${encoding.unsupported}' is not supported; send gzip, deflate or identity`, 'ERR_SERVABLE_UNSUPPORTED_CONTENT_ENCODING');
    }
    if (encoding.format === undefined) return request;
    return decompressBody(request.body, encoding.format, bodyLimit).then(
      (body) => (body === undefined ? refuseTooLarge(route, false) : { ...request, body }),
      (error: unknown) => {
        if (!(error instanceof InvalidInputError)) throw error;
        return refuseBody(route, 400, error.message, error.code);
      },
    );
  };

  const notFound = (request: Pick<HttpRequest, 'method' | 'path' | 'mount'>): HttpResponse =>
    errorBody(404, `No route for ${request.method} ${request.mount ?? ''}${request.path.split('?')[0]}`, 'ERR_SERVABLE_NO_ROUTE');

  return {
    bodyLimit,
    prefixes,
    tooLarge(request) {
      const matched = match(request.method, request.path);
      return refuseTooLarge('route' in matched ? matched.route : undefined, true);
    },
    notFound,
    owns: (path) => prefixes.some((prefix) => under(prefix, path)),
    async handle(request: HttpRequest): Promise<HttpResponse> {
      try {
        const matched = match(request.method, request.path);
        if ('notFound' in matched) return matched.reason === undefined ? notFound(request) : errorBody(404, matched.reason, 'ERR_SERVABLE_NO_ROUTE');
        if ('malformed' in matched) throw new InvalidInputError(`Malformed percent-encoding in the path segment '${matched.malformed}'`);
        if ('allow' in matched) return methodNotAllowed(request.method, matched.allow);
        const { route } = matched;
        let accepted = acceptBody(route, request);
        if (accepted instanceof Promise) accepted = await accepted;
        if ('status' in accepted) return accepted;
        const response = await (routes[route.kind] as RouteHandler<Route>)(route, accepted);
        return compressReplies && COMPRESSED_ROUTES.has(route.kind) ? await compressReply(request.headers['accept-encoding'], response) : response;
      } catch (error) {
        return errorResponse(error, (e) => report(e, request), backpressureStatus);
      }
    },
  };
}

function pastLimit(body: Uint8Array | string, limit: number): boolean {
  if (typeof body !== 'string') return body.byteLength > limit;
  // A UTF-16 code unit takes 1 to 3 bytes in UTF-8: encode only when the length alone cannot tell.
  if (body.length > limit) return true;
  if (body.length * 3 <= limit) return false;
  return new TextEncoder().encode(body).byteLength > limit;
}
