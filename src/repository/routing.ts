import { ModelNotFoundError } from '../core/index.js';
import type { ModelRegistry } from '../registry/index.js';
import type { RepositoryModelConfig } from './config-file.js';

/** Reports a failure to load a model or a version, or a bad config. */
export type FailureSink = (name: string, version: string | undefined, error: Error) => void;

/** What a look loaded of one model, as its routing reads it. */
export interface Routed {
  readonly config: RepositoryModelConfig;
  /** The versions the repository loaded. */
  readonly versions: ReadonlyMap<string, unknown>;
  /** The routings (`label <name>`, `traffic`) of this config whose problem (a version not loaded) was reported. */
  readonly reported: Set<string>;
}

/**
 * Points the config's labels at its versions, removes labels the config dropped, and sets its
 * traffic policy; a label or policy naming a version not loaded is reported once per config (see reportOnce),
 * but for a label naming a version still being written (`writing`), which the look that loads it moves.
 */
export function applyRouting(
  registry: ModelRegistry,
  fail: FailureSink,
  name: string,
  previous: Routed | undefined,
  next: Routed,
  writing: ReadonlySet<string>,
): void {
  if (!registry.has(name)) return;
  const current = registry.labels(name);
  for (const [label, version] of Object.entries(next.config.labels)) {
    if (current[label] === version) continue;
    if (next.versions.has(version)) registry.setLabel(name, label, version);
    else if (!writing.has(version)) reportOnce(fail, next, `label ${label}`, name, version, new ModelNotFoundError(`Label '${label}' of model '${name}' names version ${version}, which is not loaded`));
  }
  for (const label of Object.keys(previous?.config.labels ?? {})) {
    if (!(label in next.config.labels)) registry.removeLabel(name, label);
  }
  try {
    registry.setTraffic(name, next.config.traffic);
  } catch (error) {
    // A target naming a version not loaded (it failed, or the policy drops it) or a label not set: the policy stays as it was, as a label does.
    if (!(error instanceof ModelNotFoundError)) throw error;
    reportOnce(fail, next, 'traffic', name, undefined, error);
  }
}

/**
 * Reports a problem of one of the config's routings (`routing`) once per config, at the look that
 * finds it: the config changed, or the version policy dropped the version it names while the
 * config stayed the same. Keyed by the routing, not the message, which names the versions loaded.
 */
function reportOnce(
  fail: FailureSink,
  loaded: Routed,
  routing: string,
  name: string,
  version: string | undefined,
  error: Error,
): void {
  if (loaded.reported.has(routing)) return;
  loaded.reported.add(routing);
  fail(name, version, error);
}
