import { isEnsemble } from './ensemble.js';
import type { ModelEntry } from './model-entry.js';
import type { ModelConfig } from './types.js';

type AnyConfig = ModelConfig<unknown, unknown>;

/**
 * The path of model names from version `version` of model `name`, about to take `config`, back to
 * itself through ensemble steps, or undefined when there is none. A step without a version may
 * reach any version of its model (routing, labels and splits move at run time), so every known
 * one counts, as Triton refuses an ensemble whose composing models lead back to it.
 */
export function ensembleCycle(name: string, version: string, config: AnyConfig, find: (model: string) => ModelEntry | undefined): string[] | undefined {
  const seen = new Set<string>();
  const visit = (current: AnyConfig, path: readonly string[]): string[] | undefined => {
    if (!isEnsemble(current.source)) return undefined;
    for (const step of current.source.steps) {
      if (!('model' in step)) continue;
      const entry = find(step.model);
      const versions = step.version !== undefined ? [step.version] : [...(entry?.configs.keys() ?? [])];
      if (step.model === name && step.version === undefined && !versions.includes(version)) versions.push(version);
      for (const v of versions) {
        if (step.model === name && v === version) return [...path, name];
        const key = `${step.model}\0${v}`;
        const next = entry?.configs.get(v);
        if (seen.has(key) || !next) continue;
        seen.add(key);
        const cycle = visit(next, [...path, step.model]);
        if (cycle) return cycle;
      }
    }
    return undefined;
  };
  return visit(config, [name]);
}
