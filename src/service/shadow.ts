import { rethrowLater, toServableError, type Clock } from '../core/index.js';
import type { ModelRegistry, ModelVersion, ShadowPolicy } from '../registry/index.js';
import { sameResponse } from './compare.js';

/** How one mirrored request ended. */
export type ShadowResult =
  /** The shadow answered the same as the primary (within `tolerance`). */
  | 'agree'
  /** The shadow answered differently. */
  | 'disagree'
  /** The shadow failed. */
  | 'error'
  /** The request was sampled but not mirrored: see `reason`. */
  | 'skipped';

/** The payload of the `shadow` event. */
export interface ShadowEvent {
  readonly model: string;
  /** The version that answered the client. */
  readonly primary: string;
  /** The shadow version, or the policy's label or version when it could not be resolved. */
  readonly shadow: string;
  readonly result: ShadowResult;
  /** Why the request was skipped, or the shadow's error code. */
  readonly reason?: string;
  /** How long the shadow took, in milliseconds (0 when skipped). */
  readonly durationMs: number;
}

/** A sampled request, copied before the primary ran, waiting for the primary's answer. */
export interface PendingShadow {
  /** Sends the copy to the shadow version and compares its answer with `primary`; never throws. */
  mirror(primary: unknown): void;
  /** Gives up the copy when the primary failed: its place among `maxInFlight` is free again. */
  cancel(): void;
}

/**
 * Mirrors a fraction of requests to a shadow version after the primary answered. The client's
 * response is never delayed or changed: the copy is made before the primary runs (backends may
 * take over a request's buffers), the shadow runs after the primary's answer is returned, and
 * every failure is counted, not thrown. An `emit` that throws is rethrown later, as the batcher's
 * listeners are, and never reaches the client.
 */
export class ShadowMirror {
  readonly #registry: ModelRegistry;
  readonly #clock: Clock;
  readonly #random: () => number;
  readonly #emit: (event: ShadowEvent) => void;
  readonly #inFlight = new Map<string, number>();

  constructor(registry: ModelRegistry, clock: Clock, random: () => number, emit: (event: ShadowEvent) => void) {
    this.#registry = registry;
    this.#clock = clock;
    this.#random = random;
    this.#emit = (event) => {
      // A listener's error is no shadow failure: thrown here it would fail the client's request or, from #run, be reported twice and then escape as an unhandled rejection.
      try {
        emit(event);
      } catch (error) {
        rethrowLater(error);
      }
    };
  }

  /** Samples a request for mirroring; undefined when it is not mirrored. */
  sample<Req>(model: string, primary: ModelVersion, request: Req, policy: ShadowPolicy | undefined): PendingShadow | undefined {
    if (!policy || policy.fraction <= 0 || this.#random() >= policy.fraction) return undefined;
    const named = policy.version ?? `label '${policy.label}'`;
    const skip = (reason: string): PendingShadow => ({
      mirror: () => this.#emit({ model, primary: primary.version, shadow: named, result: 'skipped', reason, durationMs: 0 }),
      cancel: () => {},
    });
    let shadow: ModelVersion;
    try {
      shadow = this.#registry.resolve(model, { version: policy.version, label: policy.label });
    } catch (error) {
      return skip(toServableError(error).code);
    }
    if (shadow === primary) return undefined;
    const inFlight = this.#inFlight.get(model) ?? 0;
    if (inFlight >= (policy.maxInFlight ?? 16)) return skip('busy');
    let copy: Req;
    try {
      copy = structuredClone(request);
    } catch {
      return skip('uncloneable');
    }
    // The place is taken now, not when the primary answers: concurrent primaries would all be sampled, copied and mirrored.
    this.#inFlight.set(model, inFlight + 1);
    let held = true;
    const release = (): void => {
      if (!held) return;
      held = false;
      this.#inFlight.set(model, (this.#inFlight.get(model) ?? 1) - 1);
    };
    return { mirror: (answer) => void this.#run(model, primary.version, shadow, copy, answer, policy.tolerance ?? 0, release), cancel: release };
  }

  async #run(model: string, primary: string, shadow: ModelVersion, request: unknown, answer: unknown, tolerance: number, release: () => void): Promise<void> {
    const start = this.#clock.now();
    let expected: unknown;
    try {
      expected = structuredClone(answer);
    } catch {
      expected = answer;
    }
    const base = { model, primary, shadow: shadow.version };
    try {
      const got = await shadow.infer(request);
      const result = sameResponse(expected, got, tolerance) ? 'agree' : 'disagree';
      this.#emit({ ...base, result, durationMs: this.#clock.now() - start });
    } catch (error) {
      this.#emit({ ...base, result: 'error', reason: toServableError(error).code, durationMs: this.#clock.now() - start });
    } finally {
      release();
    }
  }
}
