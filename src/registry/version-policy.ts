import { assertInteger, assertString, describe, optionError } from '../core/index.js';
import type { VersionPolicy } from './types.js';

/** Orders versions numerically when both are integers, else as strings. */
export function compareVersions(a: string, b: string): number {
  const na = Number(a);
  const nb = Number(b);
  if (Number.isInteger(na) && Number.isInteger(nb)) return na - nb;
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The newest of some versions, or undefined when there are none. */
export function newest(versions: Iterable<string>): string | undefined {
  let best: string | undefined;
  for (const v of versions) if (best === undefined || compareVersions(v, best) > 0) best = v;
  return best;
}

/**
 * Checks a version policy.
 * @throws TypeError or RangeError naming `name` and quoting the bad value.
 */
export function checkVersionPolicy(name: string, policy: unknown): asserts policy is VersionPolicy {
  if (policy === 'all') return;
  const p = policy as Record<string, unknown>;
  const keys = typeof p === 'object' && p !== null && !Array.isArray(p) ? Object.keys(p) : [];
  if (keys.length === 1 && keys[0] === 'latest') {
    assertInteger(`${name}.latest`, p.latest, 1);
    return;
  }
  if (keys.length === 1 && keys[0] === 'specific') {
    const list = p.specific;
    if (!Array.isArray(list) || list.length === 0) {
      throw optionError(`Expected \`${name}.specific\` to be a non-empty array of versions, got ${describe(list)}`);
    }
    list.forEach((v, i) => assertString(`${name}.specific[${i}]`, v));
    return;
  }
  throw optionError(`Expected \`${name}\` to be 'all', {latest: n} or {specific: [versions]}, got ${describe(policy)}`);
}

/** The versions a policy keeps out of those known. */
export function wantedVersions(policy: VersionPolicy, known: Iterable<string>): Set<string> {
  const all = [...known];
  if (policy === 'all') return new Set(all);
  if ('latest' in policy) return new Set(all.sort((a, b) => compareVersions(b, a)).slice(0, policy.latest));
  return new Set(all.filter((v) => policy.specific.includes(v)));
}

/** A policy for messages: `all`, `latest 2`, `specific [1, 3]`. */
export function policyText(policy: VersionPolicy): string {
  if (policy === 'all') return 'all';
  return 'latest' in policy ? `latest ${policy.latest}` : `specific [${policy.specific.join(', ')}]`;
}

/** Refuses a new version the policy would unload at once, among the model's known `versions`. */
export function assertKept(policy: VersionPolicy, versions: readonly string[], version: string): void {
  if (!wantedVersions(policy, versions).has(version)) {
    throw optionError(`Expected \`version\` to be kept by the version policy (${policyText(policy)}), got ${describe(version)}`, RangeError);
  }
}
