import { INVALID_OPTION, InvalidInputError, messageOf, ServableError } from '../core/index.js';
import { bodyText, isObject, parseJsonObject } from './json-body.js';
import { describeJson } from './json-non-finite.js';
import { errorBody, jsonResponse } from './responses.js';
import type { RouteContext, RouteHandler, RouteHandlers } from './route-context.js';
import type { Route } from './routes.js';
import type { HttpRequest, HttpResponse } from './types.js';

/** The model repository extension's routes; only matched when the handler has a repository. */
export function repositoryRoutes(ctx: RouteContext): RouteHandlers<'repository-index' | 'repository-load' | 'repository-unload'> {
  const repository = () => ctx.repository!;
  const guarded = <R extends Route>(handler: RouteHandler<R>): RouteHandler<R> => async (route, request) =>
    // Only true authorizes: a hook that returns a token, a user or a string by mistake fails closed.
    (await ctx.authorizeRepository!(request)) === true ? handler(route, request) : errorBody(403, 'Not authorized to use the model repository', 'ERR_SERVABLE_NOT_AUTHORIZED');
  return {
    'repository-index': guarded(async (_route, request) => {
      const { ready } = controlBody(request.body);
      if (ready !== undefined && typeof ready !== 'boolean') throw new InvalidInputError(`Expected \`ready\` to be true or false, got ${describeJson(ready)}`);
      const readyOnly = ready === true;
      const entries = await repository().index();
      return jsonResponse(200, readyOnly ? entries.filter((e) => e.state === 'READY') : entries);
    }),
    'repository-load': guarded(({ model }, request) => {
      refuseOverrides(model, controlBody(request.body));
      return control(() => repository().load(model), model, 'load');
    }),
    'repository-unload': guarded(({ model }, request) => {
      controlBody(request.body);
      return control(() => repository().unload(model), model, 'unload');
    }),
  };
}

/**
 * Runs a load or unload. A failure of the load itself is the operator's to read, as a 400 (Triton's
 * answer) saying why, with the error's own code: `ERR_SERVABLE_INVALID_OPTION` for an option
 * mistake (a `config.json` field, a handler's options), a backend's (no device could load it)
 * too, which elsewhere is a 500 that tells nothing; `ERR_SERVABLE_LOAD_FAILED`
 * (`_UNLOAD_FAILED`) for one that has none. Other servable errors keep their status: an unknown
 * model, a closed or starting repository, a load that found no room.
 */
async function control(action: () => Promise<void>, model: string, what: 'load' | 'unload'): Promise<HttpResponse> {
  try {
    await action();
  } catch (error) {
    if (error instanceof ServableError && error.status !== 500) throw error;
    const code = error instanceof ServableError ? error.code : isOptionError(error) ? INVALID_OPTION : what === 'load' ? 'ERR_SERVABLE_LOAD_FAILED' : 'ERR_SERVABLE_UNLOAD_FAILED';
    return errorBody(400, `Model '${model}' failed to ${what}: ${messageOf(error)}`, code);
  }
  return jsonResponse(200, {});
}

/** An option mistake, as servable's option checks throw it (and a handler's own, built with `optionError`). */
function isOptionError(error: unknown): boolean {
  return (error instanceof TypeError || error instanceof RangeError) && (error as { code?: unknown }).code === INVALID_OPTION;
}

/**
 * Triton's load may override the model's configuration (`parameters.config`) or files
 * (`parameters["file:..."]`); servable loads what its repository holds, so such a load is refused
 * rather than answered as done with something else.
 */
function refuseOverrides(model: string, { parameters }: Record<string, unknown>): void {
  const override = isObject(parameters) ? Object.keys(parameters).find((k) => k === 'config' || k.startsWith('file:')) : undefined;
  if (override !== undefined) {
    throw new InvalidInputError(`Model '${model}': loading with \`parameters.${override}\` is not supported; the repository's own configuration and files are what loads`);
  }
}

/**
 * A repository request's body: empty (as tritonclient sends some) or a JSON object whose
 * `parameters`, when given, is an object; anything else is refused as Triton refuses it, not read
 * as an empty body (an unload's malformed body still unloaded).
 */
function controlBody(body: HttpRequest['body']): Record<string, unknown> {
  const text = body === undefined ? '' : bodyText(body);
  if (text.trim() === '') return {};
  const parsed = parseJsonObject(text);
  if (parsed.parameters !== undefined && !isObject(parsed.parameters)) {
    throw new InvalidInputError(`Expected \`parameters\` to be an object, got ${describeJson(parsed.parameters)}`);
  }
  return parsed;
}
