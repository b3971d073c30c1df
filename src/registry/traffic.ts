import { assertInteger, assertNumber, assertObject, assertString, describe, optionError, ModelNotFoundError } from '../core/index.js';
import { quoted } from './config.js';
import type { ModelEntry } from './model-entry.js';
import type { TrafficPolicy, VersionSelector } from './types.js';

/**
 * Checks a traffic policy: split weights >= 0 with a positive, finite sum, each target naming a version or
 * a label, a shadow fraction between 0 and 1.
 * @throws TypeError or RangeError naming the field and quoting the bad value.
 */
export function checkTraffic(name: string, policy: unknown): asserts policy is TrafficPolicy {
  checkModelTraffic(name, policy, undefined);
}

/**
 * @internal Checks a traffic policy as {@link checkTraffic} does and, given the model's entry
 * (`setTraffic`), that each target names a version the model knows (loaded or registered) or a
 * label set now, as TF Serving refuses a label for a version it has not loaded: a typo would
 * otherwise send its share elsewhere unseen.
 * @throws TypeError or RangeError naming the field and quoting the bad value; ModelNotFoundError
 * quoting a target the model does not have, with those it has.
 */
export function checkModelTraffic(name: string, policy: unknown, model: ModelEntry | undefined): asserts policy is TrafficPolicy {
  assertObject(name, policy);
  for (const key of Object.keys(policy)) {
    if (key !== 'split' && key !== 'shadow') throw optionError(`Unknown field \`${name}.${key}\`; a traffic policy has split, shadow`);
  }
  const { split, shadow } = policy;
  if (split !== undefined) {
    if (!Array.isArray(split) || split.length === 0) {
      throw optionError(`Expected \`${name}.split\` to be a non-empty array of {version | label, weight}, got ${describe(split)}`);
    }
    let total = 0;
    split.forEach((target: unknown, i) => {
      const field = `${name}.split[${i}]`;
      checkSelector(field, target, ['weight'], model);
      assertNumber(`${field}.weight`, (target as { weight: unknown }).weight, 0);
      total += (target as { weight: number }).weight;
    });
    // Weights that overflow to an Infinity total would send every request to the last target.
    if (!(total > 0 && total < Infinity)) throw optionError(`Expected the weights of \`${name}.split\` to add up to a finite number more than 0, got ${total}`, RangeError);
  }
  if (shadow !== undefined) {
    checkSelector(`${name}.shadow`, shadow, ['fraction', 'tolerance', 'maxInFlight'], model);
    const s = shadow as Record<string, unknown>;
    assertNumber(`${name}.shadow.fraction`, s.fraction, 0, 1);
    if (s.tolerance !== undefined) assertNumber(`${name}.shadow.tolerance`, s.tolerance, 0);
    if (s.maxInFlight !== undefined) assertInteger(`${name}.shadow.maxInFlight`, s.maxInFlight, 1);
  }
}

/** Checks an object holding exactly one of `version` and `label`, plus the given extra fields; one `model` has, when given. */
function checkSelector(name: string, value: unknown, extra: readonly string[], model: ModelEntry | undefined): asserts value is VersionSelector {
  assertObject(name, value);
  for (const key of Object.keys(value)) {
    if (key !== 'version' && key !== 'label' && !extra.includes(key)) {
      throw optionError(`Unknown field \`${name}.${key}\`; expected version or label, ${extra.join(', ')}`);
    }
  }
  if ((value.version === undefined) === (value.label === undefined)) {
    throw optionError(`Expected \`${name}\` to name a version or a label (one of them), got ${describe(value)}`);
  }
  if (value.version !== undefined) assertString(`${name}.version`, value.version);
  if (value.label !== undefined) assertString(`${name}.label`, value.label);
  if (model === undefined) return;
  if (value.version !== undefined && !model.knows(value.version)) {
    throw new ModelNotFoundError(`Expected \`${name}.version\` to name a version of model '${model.name}' (${quoted(model.versions())}), got ${describe(value.version)}`);
  }
  if (value.label !== undefined && !model.labels.has(value.label)) {
    throw new ModelNotFoundError(`Expected \`${name}.label\` to name a label of model '${model.name}' (${quoted([...model.labels.keys()])}), got ${describe(value.label)}`);
  }
}
