import { ClosedError } from '../core/index.js';
import { jsonResponse } from './responses.js';
import { assertKnownModel, assertKnownVersion, type RouteContext, type RouteHandlers } from './route-context.js';
import type { HttpResponse, StatisticsSource } from './types.js';

/**
 * The statistics extension's route, `GET /v2/models[/{m}[/versions/{v}]]/stats`, matched only with
 * the `statistics` option: `{"model_stats": [...]}` for every ready version of every model, of one
 * model, or the one version named (whatever its state, as long as the model has it).
 */
export function statisticsRoutes(ctx: RouteContext): RouteHandlers<'model-stats'> {
  return {
    'model-stats': ({ model, version }) => modelStats(ctx, ctx.statistics!, model, version),
  };
}

function modelStats({ service }: RouteContext, source: StatisticsSource, model: string | undefined, version: string | undefined): HttpResponse {
  const { registry } = service;
  // A server shutting down has not lost its models: every model's statistics are a 503 then, as one model's are.
  if (registry.closed) throw new ClosedError('The registry is closed');
  if (model !== undefined) {
    assertKnownModel(service, model);
    if (version !== undefined) {
      assertKnownVersion(service, model, version);
      return jsonResponse(200, { model_stats: [source.versionStatistics(model, version)] });
    }
  }
  const ready = registry.list(model).filter((v) => v.state === 'ready');
  return jsonResponse(200, { model_stats: ready.map((v) => source.versionStatistics(v.name, v.version)) });
}
