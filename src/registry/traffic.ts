import { assertInteger, assertNumber, assertObject, assertString, describe } from '../core/index.js';
import type { TrafficPolicy, VersionSelector } from './types.js';

/**
 * Checks a traffic policy: split weights >= 0 with a positive, finite sum, each target naming a version or
 * a label, a shadow fraction between 0 and 1.
 * @throws TypeError or RangeError naming the field and quoting the bad value.
 */
export function checkTraffic(name: string, policy: unknown): asserts policy is TrafficPolicy {
  assertObject(name, policy);
  for (const key of Object.keys(policy)) {
    if (key !== 'split' && key !== 'shadow') throw new TypeError(`Unknown field \`${name}.${key}\`; a traffic policy has split, shadow`);
  }
  const { split, shadow } = policy;
  if (split !== undefined) {
    if (!Array.isArray(split) || split.length === 0) {
      throw new TypeError(`Expected \`${name}.split\` to be a non-empty array of {version | label, weight}, got ${describe(split)}`);
    }
    let total = 0;
    split.forEach((target: unknown, i) => {
      const field = `${name}.split[${i}]`;
      checkSelector(field, target, ['weight']);
      assertNumber(`${field}.weight`, (target as { weight: unknown }).weight, 0);
      total += (target as { weight: number }).weight;
    });
    // Weights that overflow to an Infinity total would send every request to the last target.
    if (!(total > 0 && total < Infinity)) throw new RangeError(`Expected the weights of \`${name}.split\` to add up to a finite number more than 0, got ${total}`);
  }
  if (shadow !== undefined) {
    checkSelector(`${name}.shadow`, shadow, ['fraction', 'tolerance', 'maxInFlight']);
    const s = shadow as Record<string, unknown>;
    assertNumber(`${name}.shadow.fraction`, s.fraction, 0, 1);
    if (s.tolerance !== undefined) assertNumber(`${name}.shadow.tolerance`, s.tolerance, 0);
    if (s.maxInFlight !== undefined) assertInteger(`${name}.shadow.maxInFlight`, s.maxInFlight, 1);
  }
}

/** Checks an object holding exactly one of `version` and `label`, plus the given extra fields. */
function checkSelector(name: string, value: unknown, extra: readonly string[]): asserts value is VersionSelector {
  assertObject(name, value);
  for (const key of Object.keys(value)) {
    if (key !== 'version' && key !== 'label' && !extra.includes(key)) {
      throw new TypeError(`Unknown field \`${name}.${key}\`; expected version or label, ${extra.join(', ')}`);
    }
  }
  if ((value.version === undefined) === (value.label === undefined)) {
    throw new TypeError(`Expected \`${name}\` to name a version or a label (one of them), got ${describe(value)}`);
  }
  if (value.version !== undefined) assertString(`${name}.version`, value.version);
  if (value.label !== undefined) assertString(`${name}.label`, value.label);
}
