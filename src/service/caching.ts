import { assertFunction, assertKnownKeys, assertNoNullOptions, assertObject, DeadlineExceededError, describe, optionError, InvalidInputError, type Clock, type TensorMap } from '../core/index.js';
import { canonicalJson, ResultCache, SemanticCache, type CacheComputeControl, type SemanticQuery } from '../cache/index.js';
import type { InferenceRequest, InferenceResponse } from '../handler/index.js';
import type { InferOptions, ModelVersion, UnloadReason, VersionHold, VersionRef } from '../registry/index.js';
import type { LookupHolds } from './lookup-holds.js';

/**
 * The caches one model opts into. They apply to tensor requests (the TensorHandler's
 * {@link InferenceRequest}): the version's handler validates the request first (one it refuses
 * fails with its 400 before any cache is asked), then the exact ResultCache is asked, then the
 * SemanticCache, then identical requests in flight share one inference, then the request is
 * queued. A request's `timeoutMs` bounds its time in the caches too.
 */
export interface ModelCaching<Q extends SemanticQuery = SemanticQuery> {
  /** Exact results, keyed on model, version and a hash of the inputs and output-changing parameters. */
  readonly result?: ResultCache | undefined;
  /** Near hits; only where the model's answers tolerate them. */
  readonly semantic?: SemanticCache<Q> | undefined;
  /** What the semantic cache compares. @default the request's input tensors */
  readonly query?: ((request: InferenceRequest) => Q) | undefined;
}

/** The caching of a model whose semantic cache is asked with text, with tensors, or with either. */
export type AnyModelCaching = ModelCaching<string> | ModelCaching<TensorMap> | ModelCaching<SemanticQuery>;

/** Per-request cache directives (HTTP `Cache-Control`, and the tenant a semantic hit must share). */
export interface CacheDirectives {
  /** Do not answer from a cache (`Cache-Control: no-cache`); the fresh answer may still be stored. */
  readonly noCache?: boolean | undefined;
  /** Do not store the answer (`Cache-Control: no-store`). */
  readonly noStore?: boolean | undefined;
  /** Semantic entries are matched only within one tenant, so no tenant ever gets another's answer. */
  readonly tenant?: string | undefined;
}

/** OIP request parameters that schedule or encode a request without changing its answer. */
const SCHEDULING_PARAMETERS = new Set(['timeout', 'priority', 'binary_data_output']);

/**
 * The flight group of a request: identical requests share an inference in flight only when the
 * batcher would schedule them alike, so one caller's timeout or priority never applies to another.
 * Undefined without either. Derived from the timeout the caller set, not the budget left after
 * routing, which differs by microseconds from one caller to the next.
 */
export function flightGroupOf({ timeoutMs, priority }: Pick<InferOptions, 'timeoutMs' | 'priority'>): string | undefined {
  return timeoutMs === undefined && priority === undefined ? undefined : `${timeoutMs}/${priority}`;
}

/**
 * Runs a tensor request on `version` through the model's caches; `hold` is the request's hold on
 * it, passed to `version.infer`. With a semantic cache, the hold is tracked in `lookups` through
 * the lookup, so an eviction can release it (see {@link LookupHolds}).
 */
export async function inferCached(
  anyCaching: AnyModelCaching,
  version: ModelVersion,
  request: InferenceRequest,
  options: InferOptions & CacheDirectives & { readonly flightGroup?: string | undefined },
  clock: Clock,
  hold: VersionHold,
  lookups: LookupHolds,
): Promise<InferenceResponse> {
  // The query function and the semantic cache of one model always agree on the query type.
  const caching = anyCaching as ModelCaching<SemanticQuery>;
  const { noCache, noStore, tenant, signal, flightGroup, ...submit } = options;
  // Validated before any cache is asked, as Triton validates before its response cache: a request
  // the handler refuses fails with its 400 before a store is read, a key hashed or a lookup
  // counted. It is then queued without validating it again (inferValidated).
  const validated = version.handler.validate(request);
  if (validated !== undefined) await validated;
  // A version that stopped taking requests answers the ones routed to it before it did uncached,
  // as its queue drains: its cached answers may be the entries a reload is clearing.
  if (version.state !== 'ready') return (await version.inferValidated(request, { ...submit, signal }, hold)) as InferenceResponse;
  // Refused whether or not the answer is cached, as the batcher refuses it on a miss.
  version.checkPriority(submit.priority);
  // The budget counts from here: the time spent in the caches is spent, and a caller that runs
  // again after the flight it joined failed on another caller's deadline keeps its own. The
  // caches cut a lookup, and a joiner's wait, at it.
  const deadline = submit.timeoutMs === undefined ? undefined : clock.now() + submit.timeoutMs;
  const left = (): number | undefined => (deadline === undefined ? undefined : Math.max(deadline - clock.now(), 0));
  const { result, semantic } = caching;
  const run = async (innerSignal: AbortSignal | undefined): Promise<TensorMap> => {
    const timeoutMs = left();
    if (timeoutMs !== undefined && timeoutMs <= 0) throw new DeadlineExceededError(`Model '${version.name}' did not answer in time: its timeout ran out before it was queued`);
    const held = hold.released && semantic ? await lookups.held(hold, { signal: innerSignal, timeoutMs }) : hold;
    const queued = { ...submit, timeoutMs, signal: innerSignal };
    // A hold an eviction released is taken again on another instance, whose handler validates the request itself.
    const answer = held.version === version ? version.inferValidated(request, queued, held) : held.version.infer(request, queued, held);
    return ((await answer) as InferenceResponse).outputs;
  };
  const parameters = answerParameters(request);
  const nearOrRun = semantic
    ? async (innerSignal: AbortSignal | undefined, control?: CacheComputeControl): Promise<TensorMap> => {
        // Left service holding this request while the result cache read (leftService ended the
        // lookups already under way, not this one): answered uncached, as above, so that its drain
        // never waits for an embedding. An eviction let go of the hold instead: the lookup goes on.
        if (version.state !== 'ready' && !hold.released) {
          control?.noStore();
          return run(innerSignal);
        }
        const partition = semanticPartition(version, tenant, parameters);
        if (!partition) return run(innerSignal);
        const query = caching.query ? caching.query(request) : request.inputs;
        const found = await semantic.run(query, run, { partition, noCache, noStore, signal: innerSignal, flightGroup, timeoutMs: left(), model: version.name, version: version.version });
        // The semantic cache's answer, not the model's: kept out of the exact store, so that
        // invalidating the semantic cache reaches it.
        if (found.hit) control?.noStore();
        return found.value;
      }
    : run;
  if (semantic) lookups.track(hold);
  try {
    if (!result) return { outputs: await nearOrRun(signal) };
    const found = await result.run(
      // A semantic cache behind it answers within a tenant, so its answers are stored and shared per tenant.
      { model: version.name, version: version.version, inputs: request.inputs, parameters: semantic ? { parameters, tenant: tenant ?? '' } : parameters },
      nearOrRun,
      { noCache, noStore, signal, flightGroup, timeoutMs: left() },
    );
    return { outputs: found.value };
  } finally {
    if (semantic) lookups.untrack(hold);
  }
}

/** The parts of a request besides its inputs that change the answer: requested outputs and non-scheduling parameters. */
function answerParameters(request: InferenceRequest): Record<string, unknown> | undefined {
  const params: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(request.parameters ?? {})) {
    if (!SCHEDULING_PARAMETERS.has(key)) params[key] = value;
  }
  if (request.outputs) params['outputs'] = [...request.outputs].sort();
  return Object.keys(params).length ? params : undefined;
}

/**
 * The semantic partition of a request: the model, the version, the tenant and, when the request
 * names outputs or parameters that change the answer, those too, since an answer to other outputs
 * is no answer to this request however near its inputs. Undefined when the parameters are not JSON
 * data, which no partition can hold: such a request runs without the semantic cache.
 */
function semanticPartition(version: ModelVersion, tenant: string | undefined, parameters: Record<string, unknown> | undefined): string[] | undefined {
  const partition = [version.name, version.version, tenant ?? ''];
  if (!parameters) return partition;
  try {
    return [...partition, canonicalJson(parameters)];
  } catch {
    return undefined;
  }
}

/**
 * What a version that leaves service otherwise than by eviction (an unload, a swap, the version
 * policy, a close) does to its model's caches. The semantic lookups of the requests routed to it
 * end as misses (every tenant's partition), and those requests go on to it, which still answers
 * them: a lookup may be waiting for an embedder served by the same registry that, under
 * `maxLoadedVersions` / `maxLoadedBytes`, needs the room the version keeps until its drain ends,
 * and the drain waits for those requests (it waited out the SemanticCache's `timeoutMs`). An
 * eviction lets go of the requests instead (see LookupHolds). A version replaced by a load of
 * itself has its entries cleared too ({@link clearReplaced}).
 */
export function leftService(caching: AnyModelCaching, ref: VersionRef, reason: UnloadReason): void {
  caching.semantic?.endLookups([ref.name, ref.version], { prefix: true });
  if (reason === 'replaced') clearReplaced(caching, ref);
}

/**
 * Clears the cached answers of a version replaced by a load of the same version (a forced reload,
 * or a repository's changed files), whose answers may differ under the same key. Called once the
 * new instance takes traffic (the old one drains as replaced), or, for a version that had no
 * instance loaded (evicted, or never loaded), by its `replace` event, before the new instance
 * answers: the answers of requests still running on an old one are not stored. The ResultCache clears the version's keys, shared stores included; the SemanticCache its
 * partitions (every tenant's; see semanticPartition), on every replica through its log. The
 * model's other versions keep their entries. A failed clear is the cache's `error` event.
 */
export function clearReplaced(caching: AnyModelCaching, { name, version }: VersionRef): void {
  caching.result?.invalidate(name, version).catch(() => {});
  caching.semantic?.invalidate([name, version], { prefix: true }).catch(() => {});
}

/** Checks a model's caching options, naming the model in the message. */
export function checkCaching(model: string, caching: AnyModelCaching): AnyModelCaching {
  assertObject(`caches.${model}`, caching);
  assertKnownKeys(`caches.${model}`, caching, ['result', 'semantic', 'query']);
  assertNoNullOptions(caching, { path: `caches.${model}.` });
  if (caching.result !== undefined && !(caching.result instanceof ResultCache)) {
    throw optionError(`Expected \`caches.${model}.result\` to be a ResultCache, got ${describe(caching.result)}`);
  }
  if (caching.semantic !== undefined && !(caching.semantic instanceof SemanticCache)) {
    throw optionError(`Expected \`caches.${model}.semantic\` to be a SemanticCache, got ${describe(caching.semantic)}`);
  }
  if (caching.query !== undefined) assertFunction(`caches.${model}.query`, caching.query);
  return caching;
}

/**
 * Refuses cache directives of the wrong type, cached model or not: the caches would refuse them
 * only on a cached model, and as a TypeError (500) rather than the caller's mistake.
 * @throws InvalidInputError quoting the bad value.
 */
export function checkDirectives({ noCache, noStore, tenant }: CacheDirectives): void {
  // Each checked by name, not looped over a list of pairs: this runs on every request, and the list would be three arrays each time.
  checkFlag('noCache', noCache);
  checkFlag('noStore', noStore);
  if (tenant !== undefined && typeof tenant !== 'string') throw new InvalidInputError(`Expected \`tenant\` to be a string, got ${describe(tenant)}`);
}

function checkFlag(name: string, value: unknown): void {
  if (value !== undefined && typeof value !== 'boolean') throw new InvalidInputError(`Expected \`${name}\` to be a boolean, got ${describe(value)}`);
}
