import { InvalidInputError, messageOf, ServableError } from '../core/index.js';
import { bodyText, isObject, parseJsonObject } from './json-body.js';
import { errorBody, jsonResponse } from './responses.js';
import type { RouteContext, RouteHandler, RouteHandlers } from './route-context.js';
import type { Route } from './routes.js';
import type { HttpRequest, HttpResponse } from './types.js';

/** The model repository extension's routes; only matched when the handler has a repository. */
export function repositoryRoutes(ctx: RouteContext): RouteHandlers<'repository-index' | 'repository-load' | 'repository-unload'> {
  const repository = () => ctx.repository!;
  const guarded = <R extends Route>(handler: RouteHandler<R>): RouteHandler<R> => async (route, request) =>
    // Only true authorizes: a hook that returns a token, a user or a string by mistake fails closed.
    (await ctx.authorizeRepository!(request)) === true ? handler(route, request) : errorBody(403, 'Not authorized to use the model repository');
  return {
    'repository-index': guarded(async (_route, request) => {
      const readyOnly = request.body !== undefined && bodyText(request.body).trim() !== '' && parseJsonObject(bodyText(request.body)).ready === true;
      const entries = await repository().index();
      return jsonResponse(200, readyOnly ? entries.filter((e) => e.state === 'READY') : entries);
    }),
    'repository-load': guarded(({ model }, request) => {
      refuseOverrides(model, request.body);
      return control(() => repository().load(model), model, 'load');
    }),
    'repository-unload': guarded(({ model }) => control(() => repository().unload(model), model, 'unload')),
  };
}

/** Runs a load or unload; a failure that is not a ServableError is the operator's to read, as a 400 (Triton's answer). */
async function control(action: () => Promise<void>, model: string, what: string): Promise<HttpResponse> {
  try {
    await action();
  } catch (error) {
    if (error instanceof ServableError) throw error;
    return errorBody(400, `Model '${model}' failed to ${what}: ${messageOf(error)}`);
  }
  return jsonResponse(200, {});
}

/**
 * Triton's load may override the model's configuration (`parameters.config`) or files
 * (`parameters["file:..."]`); servable loads what its repository holds, so such a load is refused
 * rather than answered as done with something else.
 */
function refuseOverrides(model: string, body: HttpRequest['body']): void {
  if (body === undefined || bodyText(body).trim() === '') return;
  const { parameters } = parseJsonObject(bodyText(body));
  const override = isObject(parameters) ? Object.keys(parameters).find((k) => k === 'config' || k.startsWith('file:')) : undefined;
  if (override !== undefined) {
    throw new InvalidInputError(`Model '${model}': loading with \`parameters.${override}\` is not supported; the repository's own configuration and files are what loads`);
  }
}
