import { assertFunction, assertKnownKeys, assertOptionKeys, assertNumber, assertObject, assertSignal, ClosedError, DeadlineExceededError, describe, optionError, fmix32, fnv1a32, InvalidInputError, ModelNotReadyError, type Clock } from '../core/index.js';
import type { AcquireOptions, InferOptions, ModelRegistry, ModelVersion, SplitTarget, VersionHold, VersionSelector } from '../registry/index.js';
import { ShadowMirror, type ShadowEvent } from './shadow.js';

/** How a request asks to be routed. */
export interface RouteOptions extends AcquireOptions {
  /**
   * Makes the weighted split sticky: requests with the same key go to the same version while the
   * split is unchanged (a user or session id, say). @default none (each request drawn at random)
   */
  readonly routingKey?: string | undefined;
}

/** How {@link Router.run} is asked to route a request. */
export interface RouterRunOptions extends RouteOptions {
  /**
   * The version to run the request on, held since the caller chose it ({@link ModelVersion.hold}):
   * for a caller that must know the version before it builds the request, as TF-Serving's
   * `:predict` reads its body by the inputs of the version it goes to. The request then goes to
   * that version instance, not routed (so without `version`, `label` or `routingKey`), even if a
   * label moved or the version started draining since; nor is it routed again. The hold is the
   * router's from the call on, released when the call settles whatever the outcome, unless the
   * call refuses it as no hold on the model's versions (a TypeError; it is then left live).
   * @default none (the request is routed)
   */
  readonly hold?: VersionHold | undefined;
  /**
   * Called with each version the request is routed to (or the `hold`'s), before the rest of its
   * budget is checked and `call` made: a caller that counts requests by version then has it for
   * one whose timeout ran out in between. @default none
   */
  readonly onRouted?: ((version: ModelVersion) => void) | undefined;
}

/** Options of {@link Router}. */
export interface RouterOptions {
  readonly registry: ModelRegistry;
  /** The clock budgets are measured on. */
  readonly clock: Clock;
  /** Where shadow results go. */
  readonly onShadow: (event: ShadowEvent) => void;
  /** Uniform numbers in [0, 1) for unkeyed splits and shadow sampling. @default Math.random */
  readonly random?: () => number;
}

/**
 * Calls a chosen version: the part of a request after routing (caches, then `version.infer`).
 * Pass `hold` to `version.infer(request, options, hold)`: `version` then answers the request even
 * if it starts draining (a swap, an unload, an eviction) before the call queues it. A call that
 * does not pass it is refused by a version that started draining first (ModelNotReadyError), and
 * {@link Router.run} routes it again. `hold` is for `version` only (another version's `infer`
 * refuses it with a TypeError), and the router releases it when the call settles.
 */
export type VersionCall<Res> = (version: ModelVersion, options: InferOptions, hold: VersionHold) => Promise<Res>;

/** Every option's name of {@link Router.route}, so a misspelt one (`timeoutMS`) is refused, not ignored. */
const ROUTE_KEYS = Object.keys({ version: true, label: true, signal: true, timeoutMs: true, routingKey: true } satisfies Record<keyof RouteOptions, true>);

/** How many times {@link Router.run} calls a request whose version left service before the call queued it. */
const ROUTE_ATTEMPTS = 3;

/**
 * Routes requests to model versions: an explicit version, a label, the model's weighted split
 * (sticky by routing key), or its default version; waits for a version that has to be loaded
 * first; and mirrors sampled requests to a shadow version after the primary answered.
 */
export class Router {
  readonly #registry: ModelRegistry;
  readonly #clock: Clock;
  readonly #random: () => number;
  readonly #shadow: ShadowMirror;

  constructor(options: RouterOptions) {
    assertObject('options', options);
    assertOptionKeys('Router', options, ['registry', 'clock', 'onShadow', 'random']);
    this.#registry = options.registry;
    this.#clock = options.clock;
    if (options.random !== undefined) assertFunction('random', options.random);
    this.#random = options.random ?? Math.random;
    this.#shadow = new ShadowMirror(options.registry, options.clock, this.#random, options.onShadow);
  }

  /**
   * The version a request goes to, loaded first when it is known but not loaded.
   * @throws TypeError naming an unknown option or quoting a `timeoutMs` that is not a number
   * (RangeError: a negative one) or a `signal` that is not an AbortSignal; InvalidInputError for a `version`, `label` or `routingKey` that
   * is not a string, as for a request.
   */
  async route(model: string, options: RouteOptions = {}): Promise<ModelVersion> {
    assertObject('options', options as unknown);
    assertKnownKeys('Router.route()', options, ROUTE_KEYS);
    if (options.timeoutMs !== undefined) assertNumber('timeoutMs', options.timeoutMs, 0);
    assertSignal('signal', options.signal);
    const hold = await this.#route(model, options, options.timeoutMs);
    hold.release();
    return hold.version;
  }

  /**
   * {@link Router.route}, synchronous when no load is needed so the request is queued in the
   * caller's tick; the version is held for the request ({@link ModelVersion.hold}).
   */
  #route(model: string, options: RouteOptions, timeoutMs: number | undefined): VersionHold | Promise<VersionHold> {
    // A closed registry forgets each model once it has drained: the split lookup would call it unknown (404).
    if (this.#registry.closed) throw new ClosedError('The registry is closed');
    checkRouteOptions(options);
    const selector = (options.version === undefined && options.label === undefined && this.#splitTarget(model, options.routingKey)) || options;
    const ready = this.#registry.peek(model, selector);
    if (ready) return ready.hold();
    return this.#registry.acquireHeld(model, { version: selector.version, label: selector.label, signal: options.signal, timeoutMs });
  }

  /**
   * Routes a request and runs `call` on the chosen version, held for the request until `call`
   * queues it (it passes the `hold` to `version.infer`) or settles: a version that leaves service
   * meanwhile (a swap, an unload, an eviction) still answers it, so a swap never fails a request.
   * A call that queues without the hold and is refused because its version started draining
   * first is routed again, up to 3 tries in all. Sampled requests are then mirrored to the shadow.
   * @throws TypeError quoting an `onRouted` that is not a function, before routing (a `hold` is then released).
   */
  async run<Req, Res>(model: string, request: Req, options: RouterRunOptions, call: VersionCall<Res>): Promise<Res> {
    const given = options.hold;
    if (given !== undefined) checkHold(model, given);
    if (options.onRouted !== undefined && typeof options.onRouted !== 'function') {
      given?.release();
      assertFunction('onRouted', options.onRouted);
    }
    const start = this.#clock.now();
    const budget = (): number | undefined => {
      if (options.timeoutMs === undefined) return undefined;
      const left = options.timeoutMs - (this.#clock.now() - start);
      if (left <= 0) throw new DeadlineExceededError(`Model '${model}' did not answer within ${options.timeoutMs} ms`);
      return left;
    };
    for (let attempt = 1; ; attempt++) {
      const routed = given ? heldFor(options, given) : this.#route(model, options, budget());
      const hold = routed instanceof Promise ? await routed : routed;
      let response: Res;
      let pending: ReturnType<ShadowMirror['sample']>;
      try {
        options.onRouted?.(hold.version);
        const timeoutMs = budget();
        pending = this.#shadow.sample(model, hold.version, request, this.#registry.traffic(model)?.shadow);
        response = await call(hold.version, { signal: options.signal, timeoutMs }, hold);
      } catch (error) {
        pending?.cancel();
        // A live hold was never queued with (infer releases the one it queues with): the version refused the request untouched.
        if (!given && attempt < ROUTE_ATTEMPTS && error instanceof ModelNotReadyError && !hold.released && hold.version.state !== 'ready') continue;
        throw error;
      } finally {
        hold.release();
      }
      pending?.mirror(response);
      return response;
    }
  }

  /**
   * The version or label the model's weighted split sends a request to, drawn now, at the point
   * `routingKey` fixes when given; undefined for a model without a split.
   */
  splitTarget(model: string, routingKey?: string): VersionSelector | undefined {
    checkRoutingKey(routingKey);
    return this.#splitTarget(model, routingKey);
  }

  #splitTarget(model: string, routingKey: string | undefined): VersionSelector | undefined {
    const split = this.#registry.traffic(model)?.split;
    return split && this.#pick(model, split, routingKey);
  }

  /**
   * The split target for a request: drawn by weight, at a point fixed by its routing key when it
   * has one. A target that is not ready gives its share to the ready ones; when none is, a known
   * one is loaded; when none is known (each unloaded, or its label removed), undefined: the
   * default version, where a version the registry no longer has would be a 404 for a model it has.
   */
  #pick(model: string, split: readonly SplitTarget[], key: string | undefined): VersionSelector | undefined {
    const point = key === undefined ? this.#random() : hashUnit(model, key);
    const chosen = draw(split, point);
    const state = this.#state(model, chosen);
    if (state === 'ready') return selectorOf(chosen);
    const ready = split.filter((t) => t.weight > 0 && this.#state(model, t) === 'ready');
    if (ready.length > 0) return selectorOf(draw(ready, point));
    if (state === 'known') return selectorOf(chosen);
    const known = split.filter((t) => t.weight > 0 && this.#state(model, t) === 'known');
    return known.length > 0 ? selectorOf(draw(known, point)) : undefined;
  }

  /** Whether a target is ready, known to the registry (it loads on demand), or neither. */
  #state(model: string, target: VersionSelector): 'ready' | 'known' | 'unknown' {
    try {
      return this.#registry.peek(model, target) !== undefined ? 'ready' : 'known';
    } catch {
      return 'unknown';
    }
  }
}

/** Refuses a key that is not a string: the hash reads it as text, and would put every number (a user id) at one point, and fail on null. */
function checkRoutingKey(key: unknown): void {
  if (key !== undefined && typeof key !== 'string') throw new InvalidInputError(`Expected \`routingKey\` to be a string, got ${describe(key)}`);
}

/** A module constant: checkRouteOptions runs per request, and a literal there would make an array each time. */
const SELECTOR_FIELDS = ['version', 'label'] as const;

/** Refuses a version or label that is not a string, which the registry would look up as one that does not exist (a 404 for version 2 while '2' serves). */
function checkRouteOptions(options: RouteOptions): void {
  for (const field of SELECTOR_FIELDS) {
    const value: unknown = options[field];
    if (value !== undefined && typeof value !== 'string') throw new InvalidInputError(`Expected \`${field}\` to be a string, got ${describe(value)}`);
  }
  checkRoutingKey(options.routingKey);
}

/**
 * Refuses a `hold` that is not a {@link VersionHold} on a version of `model`, leaving it live: a
 * hold on another model is for that model's request, as a version's `infer` leaves a hold on another version.
 */
export function checkHold(model: string, hold: VersionHold): void {
  const on = (hold as Partial<VersionHold> | null)?.version;
  if (typeof hold?.release !== 'function' || typeof on?.name !== 'string') throw optionError(`Expected \`hold\` to be a VersionHold, got ${describe(hold)}`);
  if (on.name !== model) throw optionError(`Expected \`hold\` to be a hold on model '${model}', got a hold on model '${on.name}' version '${on.version}'`);
}

/** The given hold, once no routing option contradicts it (it is released when one does): routing options beside it would be overridden unsaid. */
function heldFor(options: RouteOptions, hold: VersionHold): VersionHold {
  for (const field of ROUTING_FIELDS) {
    if (options[field] === undefined) continue;
    hold.release();
    throw optionError(`Expected no \`${field}\` beside \`hold\`, which names the version, got ${describe(options[field])}`);
  }
  return hold;
}

/** A module constant, as SELECTOR_FIELDS. */
const ROUTING_FIELDS = ['version', 'label', 'routingKey'] as const;

function selectorOf(target: SplitTarget): VersionSelector {
  return { version: target.version, label: target.label };
}

/** The target whose share of the total weight covers `point` in [0, 1). */
function draw(targets: readonly SplitTarget[], point: number): SplitTarget {
  const total = targets.reduce((sum, t) => sum + t.weight, 0);
  let at = point * total;
  for (const t of targets) {
    if (t.weight > 0 && at < t.weight) return t;
    at -= t.weight;
  }
  return targets.findLast((t) => t.weight > 0) ?? targets[0]!;
}

/**
 * A key's fixed point in [0, 1) on one model: the same key always lands on the same point of a
 * model, and on unrelated points of two models, so two 10% canaries do not get the same users.
 */
function hashUnit(model: string, key: string): number {
  return fmix32(fnv1a32(key) ^ fnv1a32(model)) / 0x100000000;
}
