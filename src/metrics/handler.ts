import { Registry, type RegistryContentType } from 'prom-client';
import { messageOf, optionError } from '../core/index.js';
import { checkPromRegistry } from './validate.js';

/** A prom-client Registry in either format: Prometheus text (its default) or OpenMetrics. */
export type PromRegistry = Registry<RegistryContentType>;

/** A transport-agnostic HTTP reply, as the adapters send it. */
export interface MetricsResponse {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
}

/**
 * A handler for `GET /metrics`: renders the registries in the Prometheus text format (or
 * OpenMetrics, when the registry is set to it) with the matching content type. Several
 * registries are merged into one page, so they must share one format (content type); a
 * collector that throws gives a 500 with its message.
 *
 * @example
 * ```ts
 * const scrape = metricsHandler(promRegistry);
 * app.get('/metrics', async (_req, reply) => {
 *   const { status, headers, body } = await scrape();
 *   return reply.code(status).headers(headers).send(body);
 * });
 * ```
 */
export function metricsHandler(registries: PromRegistry | readonly PromRegistry[]): () => Promise<MetricsResponse> {
  const list = Array.isArray(registries) ? [...(registries as readonly PromRegistry[])] : [registries as PromRegistry];
  if (list.length === 0) throw optionError('Expected `registries` to hold at least one prom-client Registry, got [] (array)');
  list.forEach((r, i) => checkPromRegistry(Array.isArray(registries) ? `registries[${i}]` : 'registries', r));
  // prom-client merges only registries of one format: another would fail every scrape with a 500.
  const other = list.findIndex((r) => r.contentType !== list[0]!.contentType);
  if (other !== -1) {
    throw optionError(`Expected \`registries\` to share one content type, got '${list[0]!.contentType}' (registries[0]) and '${list[other]!.contentType}' (registries[${other}])`);
  }
  return async () => {
    try {
      // Merged on each scrape, so metrics registered later are included.
      // prom-client types merge() for Prometheus registries only; it merges OpenMetrics ones too.
      const registry = list.length === 1 ? list[0]! : Registry.merge(list as Registry[]);
      const body = await registry.metrics();
      return { status: 200, headers: { 'content-type': registry.contentType }, body };
    } catch (error) {
      const message = messageOf(error);
      return { status: 500, headers: { 'content-type': 'text/plain; charset=utf-8' }, body: `Collecting metrics failed: ${message}\n` };
    }
  };
}
