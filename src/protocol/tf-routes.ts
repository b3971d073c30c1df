import { InvalidInputError, ModelNotFoundError } from '../core/index.js';
import type { InferenceRequest, InferenceResponse } from '../handler/index.js';
import type { TensorSpec } from '../backends/index.js';
import type { VersionHold, VersionSelector } from '../registry/index.js';
import type { InferenceService } from '../service/index.js';
import { bodyText, parseJsonObject } from './json-body.js';
import { parseNonFinite } from './json-non-finite.js';
import { directivesWithTenant, headerDirectives, routingKeyOf, type HeaderDirectives } from './request-headers.js';
import { jsonResponse, jsonTextResponse } from './responses.js';
import type { ModelRef } from './routes.js';
import { assertKnownModel, refuseBeforeService, type RouteContext, type RouteHandlers } from './route-context.js';
import { decodePredictJson, handsOver } from './json-decoder.js';
import { decodePredict, isReadError, type DecodedPredict } from './tf-request.js';
import { encodePredict, encodeTfMetadata, encodeTfStatus } from './tf-response.js';
import type { HttpRequest, HttpResponse } from './types.js';

/** TF-Serving's v1 REST routes. */
export function tfRoutes(ctx: RouteContext): RouteHandlers<'tf-status' | 'tf-metadata' | 'tf-predict'> {
  const { service } = ctx;
  return {
    'tf-status': ({ model, version, label }) => {
      assertKnownModel(service, model);
      const all = service.registry.versions(model);
      // A label's version is reported whatever its state, as a version's own route does.
      const wanted = label !== undefined ? labelled(service, model, label) : version;
      const versions = wanted === undefined ? all : all.filter((v) => v.version === wanted);
      if (versions.length === 0) throw new ModelNotFoundError(`Model '${model}' has no version '${wanted}'`);
      return jsonResponse(200, encodeTfStatus(versions));
    },
    'tf-metadata': ({ model, version, label }) => jsonResponse(200, encodeTfMetadata(service.resolve(model, { version, label }).metadata())),
    'tf-predict': (route, request) => predict(ctx, route, request),
  };
}

/**
 * A hold on the version a request names when it is loaded; undefined when it is known but not loaded.
 * @throws ModelNotFoundError for a version or label the model does not have, as acquiring it would.
 */
function heldIfLoaded(service: InferenceService, model: string, selector: VersionSelector): VersionHold | undefined {
  return service.registry.peek(model, selector)?.hold();
}

function labelled(service: InferenceService, model: string, label: string): string {
  const labels = service.registry.labels(model);
  const version = Object.hasOwn(labels, label) ? labels[label] : undefined;
  if (version === undefined) throw new ModelNotFoundError(`Model '${model}' has no label '${label}'`);
  return version;
}

async function predict({ service, maxElements, tenantOf, routingKeyHeader, jsonDecoder }: RouteContext, ref: ModelRef, request: HttpRequest): Promise<HttpResponse> {
  const { model } = ref;
  // The version the body is read for, held until the service has the request, which then runs
  // there: a label moved or a swap meanwhile would send a body read for its inputs to another's.
  let hold: VersionHold | undefined;
  let decoded: DecodedPredict;
  let directives: HeaderDirectives | undefined;
  let refused: { readonly error: unknown } | undefined;
  // Not beforeService: a body refused as it is read for the held version's inputs is reported with
  // that version, as the service reports a version's refusals on /infer; any other failure without one.
  const read = async (): Promise<DecodedPredict> => {
    // An unknown model gets its 404 before the headers, as on the OIP route.
    assertKnownModel(service, model);
    // Before the body, so that a request refused for its headers loads no model.
    if (!tenantOf) directives = headerDirectives(request.headers);
    const routingKey = routingKeyHeader === undefined ? undefined : routingKeyOf(request.headers, routingKeyHeader);
    // An unknown version or label gets its 404 after the headers and before tenantOf and the body,
    // as on the OIP route: peek() throws it, and loads nothing.
    if (ref.version !== undefined || ref.label !== undefined) service.registry.peek(model, { version: ref.version, label: ref.label });
    if (tenantOf) {
      // tenantOf, a hook that may be slow or never settle, is asked before a version is held, so that
      // it never keeps a version from draining; its error still comes after the body's, as on the OIP route.
      try {
        directives = await directivesWithTenant(request, tenantOf);
      } catch (error) {
        refused = { error };
      }
    }
    // The body reads by the inputs of the version it goes to: under a traffic split, that is drawn
    // first (at the routing key's point), and the request then runs on it, held.
    const { version, label } = ref.version === undefined && ref.label === undefined ? (service.splitTarget(model, routingKey) ?? {}) : ref;
    const { body } = request;
    if (body === undefined) throw new InvalidInputError('The request has no body; expected a JSON predict request');
    // The datatypes and names come from the model, which is loaded first if it is known but not loaded;
    // not for a request tenantOf refused, whose body only a version already loaded reads.
    const acquire = async (): Promise<readonly TensorSpec[]> => {
      if (refused && !(hold = heldIfLoaded(service, model, { version, label }))) throw refused.error;
      hold ??= await service.registry.acquireHeld(model, { version, label, signal: request.signal });
      return hold.version.metadata().inputs;
    };
    // A body handed over is decoded in one step, so the model comes first; one decoded in place is
    // read before the model is loaded, so malformed JSON loads nothing: only with a model already
    // loaded are its float tensors read from the bytes, once its inputs' datatypes are known.
    // Either way a version or label the model does not have is a 404 before the body is read.
    if (handsOver(jsonDecoder, body)) return jsonDecoder.predict(body, await acquire(), maxElements, request.signal);
    hold = heldIfLoaded(service, model, { version, label });
    if (hold) return decodePredictJson(body, hold.version.metadata().inputs, maxElements);
    const json = parseJsonObject(bodyText(body), undefined, parseNonFinite);
    return decodePredict(json, await acquire(), maxElements);
  };
  try {
    decoded = await read();
  } catch (error) {
    const version = hold !== undefined && isReadError(error) ? hold.version.version : undefined;
    hold?.release();
    return refuseBeforeService(service, model, error, version);
  }
  if (refused) {
    // tenantOf's error was raised before the version was held: it counts without one.
    hold?.release();
    refuseBeforeService(service, model, refused.error);
  }
  const response = await service.infer<InferenceRequest, InferenceResponse>(model, decoded.request, { hold, signal: request.signal, ...directives });
  return jsonTextResponse(200, encodePredict(response, decoded.format));
}
