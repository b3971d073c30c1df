/** A model, with an optional explicit version or (TF-Serving) label, as named in a URL. */
export interface ModelRef {
  readonly model: string;
  readonly version?: string | undefined;
  readonly label?: string | undefined;
}

/** What a request asks for, once its method and path are matched. */
export type Route =
  | { readonly kind: 'server-live' }
  | { readonly kind: 'server-ready' }
  | { readonly kind: 'server-metadata' }
  | ({ readonly kind: 'model-metadata' } & ModelRef)
  | ({ readonly kind: 'model-ready' } & ModelRef)
  | ({ readonly kind: 'model-config' } & ModelRef)
  | ({ readonly kind: 'infer' } & ModelRef)
  | ({ readonly kind: 'tf-status' } & ModelRef)
  | ({ readonly kind: 'tf-metadata' } & ModelRef)
  | ({ readonly kind: 'tf-predict' } & ModelRef)
  | ({ readonly kind: 'model-stats' } & Partial<ModelRef>)
  | { readonly kind: 'repository-index' }
  | { readonly kind: 'repository-load'; readonly model: string }
  | { readonly kind: 'repository-unload'; readonly model: string };

/** Which optional route families are served. */
export interface RouteFamilies {
  /** TF-Serving's `/v1/models`. */
  readonly tfServing: boolean;
  /** The model repository extension's `/v2/repository`. */
  readonly repository: boolean;
  /** The statistics extension's `/v2/models[/{m}[/versions/{v}]]/stats`. */
  readonly statistics: boolean;
}

/** No route: `reason` says why when the path alone does not (an unknown TF-Serving verb). */
export interface NotFound {
  readonly notFound: true;
  readonly reason?: string;
}

/** A path with a segment whose percent-encoding does not decode (`%E0%A4%A`, `%ZZ`): quoted as sent. */
export interface Malformed {
  readonly malformed: string;
}

/** The outcome of matching: a route, a path that exists under other methods, nothing, or a path that does not decode. */
export type RouteMatch = { readonly route: Route } | { readonly allow: readonly string[] } | NotFound | Malformed;

type Methods = Partial<Record<'GET' | 'POST', Route>>;

/** The path prefixes of the Open Inference Protocol and of TF-Serving's REST API. */
export const OIP_PREFIX = '/v2';
export const TF_PREFIX = '/v1/models';

/** True when `path` is `prefix` or lies below it. */
export function under(prefix: string, path: string): boolean {
  const p = pathOnly(path);
  return p === prefix || p.startsWith(`${prefix}/`);
}

/** Matches a method and a path (query string ignored) to a route. HEAD is answered as GET. */
export function matchRoute(method: string, path: string, families: RouteFamilies): RouteMatch {
  const segments = splitPath(path);
  if (segments && 'malformed' in segments) return segments;
  const methods = segments && routesIn(segments, families);
  if (!methods) return { notFound: true };
  if ('notFound' in methods) return methods;
  const wanted = method.toUpperCase() === 'HEAD' ? 'GET' : method.toUpperCase();
  const route = methods[wanted as keyof Methods];
  if (route) return { route };
  const allow = Object.keys(methods).flatMap((m) => (m === 'GET' ? ['GET', 'HEAD'] : [m]));
  return { allow };
}

/** Paths a matcher of {@link routeMatcher} remembers per method, before it forgets them all. */
const MATCHES_KEPT = 256;

/**
 * The longest path (query string included) a matcher remembers: a repository's model names are up
 * to 200 characters. Longer ones, as long as the server's URL limit (16 KiB in Node, more where it
 * is raised or in other runtimes), are matched anew, so that what is kept stays near a megabyte
 * (GET, HEAD and POST, each path and its decoded segments), where it could reach tens.
 */
const LONGEST_PATH_KEPT = 512;

/**
 * {@link matchRoute} for one set of families, remembering the routes it found by method and path:
 * a server's requests go to a few paths, and matching one anew (splitting it, decoding its
 * segments, finding its route) took about 0.7 µs a request. Only matches that found a route are
 * kept, up to {@link MATCHES_KEPT} paths a method of up to {@link LONGEST_PATH_KEPT} characters;
 * past that they are all forgotten, so that clients sending ever new paths cost a match each, as
 * without it, and no more memory.
 */
export function routeMatcher(families: RouteFamilies): (method: string, path: string) => RouteMatch {
  const kept = new Map<string, Map<string, RouteMatch>>();
  return (method, path) => {
    let paths = kept.get(method);
    const known = paths?.get(path);
    if (known) return known;
    const match = matchRoute(method, path, families);
    if (!('route' in match) || path.length > LONGEST_PATH_KEPT) return match;
    if (!paths) kept.set(method, (paths = new Map()));
    else if (paths.size >= MATCHES_KEPT) paths.clear();
    paths.set(path, match);
    return match;
  };
}

function routesIn(s: readonly string[], families: RouteFamilies): Methods | NotFound | undefined {
  if (s[0] === 'v1') return families.tfServing ? tfRoutesOf(s) : undefined;
  if (s[0] === 'v2' && s[1] === 'repository') return families.repository ? repositoryRoutesOf(s) : undefined;
  return routesOf(s, families.statistics);
}

/** `/v2/repository/index`, `/v2/repository/models/{m}/load`, `/v2/repository/models/{m}/unload`. */
function repositoryRoutesOf(s: readonly string[]): Methods | undefined {
  if (s.length === 3 && s[2] === 'index') return { POST: { kind: 'repository-index' } };
  if (s.length !== 5 || s[2] !== 'models') return undefined;
  if (s[4] === 'load') return { POST: { kind: 'repository-load', model: s[3]! } };
  if (s[4] === 'unload') return { POST: { kind: 'repository-unload', model: s[3]! } };
  return undefined;
}

function routesOf(s: readonly string[], statistics: boolean): Methods | undefined {
  if (s[0] !== 'v2') return undefined;
  if (s.length === 1) return { GET: { kind: 'server-metadata' } };
  if (s[1] === 'health' && s.length === 3) {
    if (s[2] === 'live') return { GET: { kind: 'server-live' } };
    if (s[2] === 'ready') return { GET: { kind: 'server-ready' } };
    return undefined;
  }
  if (s[1] !== 'models' || s.length < 3) return undefined;
  // As in Triton, this is every model's statistics, not the metadata of a model named `stats`.
  if (statistics && s.length === 3 && s[2] === 'stats') return { GET: { kind: 'model-stats' } };
  const model = s[2]!;
  let rest = s.slice(3);
  let version: string | undefined;
  if (rest[0] === 'versions') {
    if (rest.length < 2) return undefined;
    version = rest[1];
    rest = rest.slice(2);
  }
  const ref = { model, version };
  if (rest.length === 0) return { GET: { kind: 'model-metadata', ...ref } };
  if (rest.length > 1) return undefined;
  if (rest[0] === 'ready') return { GET: { kind: 'model-ready', ...ref } };
  if (rest[0] === 'config') return { GET: { kind: 'model-config', ...ref } };
  if (rest[0] === 'infer') return { POST: { kind: 'infer', ...ref } };
  if (rest[0] === 'stats' && statistics) return { GET: { kind: 'model-stats', ...ref } };
  return undefined;
}

/**
 * `/v1/models/{m}[/versions/{v} | /labels/{l}][/metadata | :predict]`. As in TF-Serving, model names
 * hold no `:`, so a last segment with one ends in a verb, matched case-insensitively; `:classify`
 * and `:regress` are not served, and any other verb is unknown.
 */
function tfRoutesOf(s: readonly string[]): Methods | NotFound | undefined {
  if (s[1] !== 'models' || s.length < 3) return undefined;
  const rest = [...s.slice(2)];
  const last = rest[rest.length - 1]!;
  const colon = last.indexOf(':');
  const verb = colon === -1 ? undefined : last.slice(colon + 1).toLowerCase();
  if (verb !== undefined) {
    if (verb === 'classify' || verb === 'regress') return { notFound: true, reason: `:${verb} is not served; servable models answer :predict` };
    if (verb !== 'predict') return { notFound: true, reason: `Unknown verb ':${last.slice(colon + 1)}'; TF-Serving's verbs are :predict, :classify and :regress` };
    if (colon === 0) return { notFound: true, reason: `':${last.slice(1)}' follows no model name or version; send /v1/models/{model}[/versions/{version}]:predict` };
    rest[rest.length - 1] = last.slice(0, colon);
  }
  const metadata = verb === undefined && rest.length > 1 && rest[rest.length - 1] === 'metadata';
  if (metadata) rest.pop();
  let ref: ModelRef;
  if (rest.length === 1) ref = { model: rest[0]! };
  else if (rest.length === 3 && rest[1] === 'versions') ref = { model: rest[0]!, version: rest[2] };
  else if (rest.length === 3 && rest[1] === 'labels') ref = { model: rest[0]!, label: rest[2] };
  else return undefined;
  if (verb === 'predict') return { POST: { kind: 'tf-predict', ...ref } };
  return { GET: metadata ? { kind: 'tf-metadata', ...ref } : { kind: 'tf-status', ...ref } };
}

function pathOnly(path: string): string {
  const q = path.indexOf('?');
  const p = q === -1 ? path : path.slice(0, q);
  return p.length > 1 && p.endsWith('/') ? p.slice(0, -1) : p;
}

/** The decoded, non-empty segments of a path; undefined when one is empty; the first that does not decode. */
function splitPath(path: string): string[] | Malformed | undefined {
  const p = pathOnly(path);
  if (!p.startsWith('/')) return undefined;
  const segments: string[] = [];
  for (const raw of p.slice(1).split('/')) {
    if (raw === '') return undefined;
    try {
      segments.push(raw.includes('%') ? decodeURIComponent(raw) : raw);
    } catch {
      return { malformed: raw };
    }
  }
  return segments;
}
