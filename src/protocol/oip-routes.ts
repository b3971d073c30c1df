import { InvalidInputError, isPromiseLike, ModelNotFoundError } from '../core/index.js';
import type { InferenceRequest, InferenceResponse } from '../handler/index.js';
import { HEADER_LENGTH, joinBody, splitBody } from './binary.js';
import { classifier, type Classifier } from './classification.js';
import { encodeModelConfig } from './oip-config.js';
import { decodeInferBinary, decodeInferJson, handsOver, type JsonDecoder } from './json-decoder.js';
import { withBinaryOutput, type DecodedInferRequest } from './oip-request.js';
import { encodeInferResponse, encodeModelMetadata } from './oip-response.js';
import { directivesWithTenant, headerDirectives, routingKeyOf, type HeaderDirectives } from './request-headers.js';
import { jsonResponse } from './responses.js';
import type { ModelRef } from './routes.js';
import { assertKnownModel, assertKnownVersion, beforeService, type RouteContext, type RouteHandlers } from './route-context.js';
import type { HttpRequest, HttpResponse } from './types.js';

/** The OIP extensions always implemented, reported by `GET /v2` (with `model_repository` when a repository is given, `statistics` with statistics). */
export const EXTENSIONS: readonly string[] = ['binary_tensor_data', 'classification', 'schedule_policy'];

/** The Open Inference Protocol v2 routes. */
export function oipRoutes(ctx: RouteContext): RouteHandlers<'server-live' | 'server-ready' | 'server-metadata' | 'model-metadata' | 'model-ready' | 'model-config' | 'infer'> {
  const { service } = ctx;
  const extensions = [...EXTENSIONS, ...(ctx.repository ? ['model_repository'] : []), ...(ctx.statistics ? ['statistics'] : [])].sort();
  return {
    'server-live': () => jsonResponse(200, { live: true }),
    'server-ready': () => {
      // A closed registry has forgotten its models: none left to wait for would read as ready.
      if (service.registry.closed) return jsonResponse(503, { ready: false });
      // Without requiredModels, as in Triton's strict readiness, a model holds readiness back while
      // registry.load() loads its first version, or a load of it is expected (a repository's start()
      // lists its models before their turn); not one draining after an unload or an eviction
      // (Triton skips a model being unloaded), nor one a request loads on demand.
      const ready = ctx.requiredModels?.every((name) => service.isReady(name)) ?? service.registry.starting().length === 0;
      return jsonResponse(ready ? 200 : 503, { ready });
    },
    'server-metadata': () => jsonResponse(200, { name: ctx.serverName, version: ctx.serverVersion, extensions }),
    'model-metadata': (route) => jsonResponse(200, encodeModelMetadata(service.metadata(route.model, route.version))),
    'model-ready': (route) => modelReady(ctx, route),
    'model-config': (route) => jsonResponse(200, encodeModelConfig(service, route.model, route.version)),
    infer: (route, request) => infer(ctx, route, request),
  };
}

function modelReady({ service }: RouteContext, { model, version }: ModelRef): HttpResponse {
  if (service.registry.closed) return jsonResponse(503, version === undefined ? { name: model, ready: false } : { name: model, version, ready: false });
  assertKnownModel(service, model);
  if (version !== undefined) assertKnownVersion(service, model, version);
  const ready = service.isReady(model, version);
  const body = version === undefined ? { name: model, ready } : { name: model, version, ready };
  return jsonResponse(ready ? 200 : 503, body);
}

/** A body with binary tensor data decoded by `decoder`: the header and data splitBody cut from one buffer, as one view of it. */
function decodeElsewhere(decoder: JsonDecoder, json: Uint8Array, binary: Uint8Array, maxElements: number, signal: AbortSignal | undefined): Promise<DecodedInferRequest> {
  const body = new Uint8Array(json.buffer, json.byteOffset, json.byteLength + binary.byteLength);
  return decoder.inferBinary!(body, json.byteLength, maxElements, signal).then(withBinaryOutput);
}

async function infer({ service, maxElements, tenantOf, routingKeyHeader, jsonDecoder }: RouteContext, { model, version }: ModelRef, request: HttpRequest): Promise<HttpResponse> {
  let sent: HeaderDirectives | undefined;
  let routingKey: string | undefined;
  const decoding = beforeService(service, model, (): DecodedInferRequest | Promise<DecodedInferRequest> => {
    // An unknown model gets its 404 before the headers and the body are looked at; versions are the service's to resolve.
    assertKnownModel(service, model);
    if (!tenantOf) sent = headerDirectives(request.headers);
    if (routingKeyHeader !== undefined) routingKey = routingKeyOf(request.headers, routingKeyHeader);
    // But a version the model does not have is a 404 before the body, as in Triton and on :predict,
    // whichever way the body is decoded: peek() throws it, and loads nothing.
    if (version !== undefined) service.registry.peek(model, { version });
    if (request.body === undefined) throw new InvalidInputError('The request has no body; expected a JSON inference request');
    const { json, binary } = splitBody(request.body, request.headers[HEADER_LENGTH]);
    if (binary) {
      // A large header costs what a JSON body of its size does to parse (seconds, and up to a gigabyte of heap, at the body limit).
      if (jsonDecoder?.inferBinary && handsOver(jsonDecoder, json)) return decodeElsewhere(jsonDecoder, json as Uint8Array, binary, maxElements, request.signal);
      return withBinaryOutput(decodeInferBinary(json, binary, maxElements));
    }
    if (handsOver(jsonDecoder, json)) return jsonDecoder.infer(json, maxElements, request.signal).then(withBinaryOutput);
    return withBinaryOutput(decodeInferJson(json, maxElements));
  });
  const decoded = isPromiseLike(decoding) ? await decoding : decoding;
  let served = version;
  let classify: Classifier | undefined;
  // The directives last: Node 20 defines each member written after a spread of objects of several
  // shapes through its runtime (about 3 us for five of these, against 0.1 us this way); their keys differ.
  // A routing key beside the URL's version is ignored by the router, which routes by the version.
  const response = await service.infer<InferenceRequest, InferenceResponse>(model, decoded.request, {
    version,
    routingKey,
    signal: request.signal,
    timeoutMs: decoded.timeoutMs,
    priority: decoded.priority,
    onVersion: (v, instance) => {
      served = v;
      // Checked before the batcher does so that the 400 names the field the client wrote.
      if (decoded.priority !== undefined) instance.checkPriority(decoded.priority, 'parameters.priority');
      // Before it runs, so that a non-numeric output asked for as classes costs no inference.
      if (decoded.classification) classify = classifier(decoded.classification, instance.metadata(), instance.classLabels);
    },
    ...(tenantOf ? await beforeService(service, model, () => directivesWithTenant(request, tenantOf)) : sent),
  });
  const encoded = encodeInferResponse(model, served, decoded.request.id, response, decoded.binaryOutput, decoded.request.outputs, classify);
  if (encoded.binary.length === 0) return jsonResponse(200, encoded.json);
  const joined = joinBody(JSON.stringify(encoded.json), encoded.binary);
  return {
    status: 200,
    headers: { 'content-type': 'application/octet-stream', [HEADER_LENGTH]: String(joined.headerLength) },
    body: joined.body,
  };
}
