import type { IncomingMessage, ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import type { Type } from '@nestjs/common';
import { assertOptionKeys, assertObject, describe, optionError } from '../core/index.js';
import type { HttpHandler } from '../protocol/index.js';
import type { AdapterOptions } from './adapter-options.js';
import { loadPeer } from './load-peer.js';
import { isMetricsPath, METRICS_PATH } from './metrics-route.js';
import { serveMetrics, serveNode } from './node-http.js';

/** What `servable/nest` tells an app without one of its peers to run. */
export const NEST_INSTALL = 'npm i @nestjs/common @nestjs/core @nestjs/platform-express';

// Loaded with require() (Nest is CommonJS, and this is the instance an import gets), so that a missing @nestjs/common is told with what to install.
export const nestCommon = loadPeer<typeof import('@nestjs/common')>('@nestjs/common', 'servable/nest', NEST_INSTALL);
const { All, applyDecorators, Controller, Inject, Next, Req, Res, Version } = nestCommon;
const VERSION_NEUTRAL: typeof import('@nestjs/common').VERSION_NEUTRAL = nestCommon.VERSION_NEUTRAL;

/** The injection token of the module's {@link HttpHandler}, for wiring routes of your own. */
export const SERVABLE_HTTP_HANDLER = Symbol.for('servable.nest.http-handler');

/**
 * @internal The token of the module's options, as forRoot was given them or forRootAsync's factory built them.
 * Nest names it in the error for an inject token forRootAsync's imports lack, so it says what to do.
 */
export const OPTIONS = Symbol("ServableModule.forRootAsync's useFactory: name the modules of its inject tokens in its imports");

/**
 * Decorators for the module's routes, as you would write them on a controller of yours: a global
 * guard's `@Public()` (a `SetMetadata`), `@UseGuards()`, `@UseInterceptors()`, `@Throttle()`,
 * Swagger's `@ApiTags()`. Each list is applied in order, as Nest's `applyDecorators(...)` applies it.
 * None moves a route: the module's route and version-neutral declarations come after them.
 */
export interface ServableDecorators {
  /** Class decorators of the controller, reaching every route it serves (read by `context.getClass()`). */
  readonly controller?: readonly ClassDecorator[];
  /** Method decorators of the health probes, `/v2/health/live` and `/v2/health/ready`, which Kubernetes calls. */
  readonly health?: readonly MethodDecorator[];
  /** Method decorators of `GET /metrics`; only with a metrics route. */
  readonly metrics?: readonly MethodDecorator[];
  /**
   * Method decorators of every other route of `/v2` and `/v1/models`: inference and `:predict`,
   * server and model metadata, model readiness, TF-Serving's model status, the repository API.
   */
  readonly inference?: readonly MethodDecorator[];
}

const DECORATOR_KEYS = ['controller', 'health', 'metrics', 'inference'] as const;

/** Checks the `decorators` option, given the routes the module declares. */
export function checkDecorators(decorators: unknown, controller: boolean, metrics: boolean): asserts decorators is ServableDecorators | undefined {
  if (decorators === undefined) return;
  assertObject('decorators', decorators);
  assertOptionKeys('decorators', decorators, DECORATOR_KEYS, { path: 'decorators.' });
  if (!controller) throw optionError('`decorators` decorates the controller, which `controller: false` leaves out: pass one or the other');
  for (const key of DECORATOR_KEYS) {
    const list = decorators[key];
    if (list === undefined) continue;
    if (!Array.isArray(list)) throw optionError(`Expected \`decorators.${key}\` to be an array of decorators, got ${describe(list)}`);
    list.forEach((decorator: unknown, i) => {
      if (typeof decorator !== 'function') throw optionError(`Expected \`decorators.${key}[${i}]\` to be a decorator (a function), got ${describe(decorator)}`);
    });
  }
  if (decorators.metrics !== undefined && !metrics) {
    throw optionError('`decorators.metrics` decorates GET /metrics, which the module does not serve: give it a `metrics` route (forRootAsync: `metrics: true`)');
  }
}

/** An Express request, as the controller reads it. */
type PlatformRequest = IncomingMessage & { readonly originalUrl?: string; readonly params?: Record<string, unknown> };
type Next = () => void;

/** The health probes' paths, three segments each; `/v2`'s other routes name models or the server, and go with inference. */
const HEALTH_PATHS = ['/v2/health/live', '/v2/health/ready'];

/** True for a probe's path as the protocol reads it: the query string and one trailing slash are ignored, the case is not. */
function isHealthPath(url: string): boolean {
  const q = url.indexOf('?');
  const path = q === -1 ? url : url.slice(0, q);
  return HEALTH_PATHS.includes(path.endsWith('/') ? path.slice(0, -1) : path);
}

/**
 * The router's wildcard, and the parameter it fills. Nest 11 routes with Express 5, whose
 * path-to-regexp 8 takes only a named wildcard (Nest rewrites a bare `*`, with a warning); Nest
 * 10's Express 4 reads `*path` as a wildcard followed by the letters "path", and fills
 * parameter 0 from a bare `*`.
 */
function wildcard(): { readonly pattern: string; readonly param: string } {
  const { version } = createRequire(import.meta.url)('@nestjs/common/package.json') as { version: string };
  return Number.parseInt(version, 10) >= 11 ? { pattern: '*path', param: 'path' } : { pattern: '*', param: '0' };
}

/**
 * A controller class at `path`, answering `/v2[/...]` and `/v1/models[/...]` below it, and
 * `metrics` when asked to, each group of routes its own handler carrying its `decorators`.
 */
export function servableController(path: string, metrics: boolean, decorators: ServableDecorators = {}): Type {
  const { pattern, param } = wildcard();
  // Nest registers the handlers in this order: the health probes' routes come before /v2's wildcard, which would take them.
  class ServableController {
    readonly #http: HttpHandler;
    readonly #options: AdapterOptions;

    constructor(http: HttpHandler, options: AdapterOptions) {
      this.#http = http;
      this.#options = options;
    }

    /**
     * The router matches without regard to case and decodes nothing here, so `/V2/Health/live`
     * reaches this route too: any path but the probes' own goes on to /v2's route and its decorators.
     */
    async health(req: PlatformRequest, res: ServerResponse, next: Next): Promise<void> {
      const path = pathBelow(HEALTH_PATHS[0]!, param, req);
      if (isHealthPath(path)) await serveNode(this.#http, req, res, path);
      else next();
    }

    oip(req: PlatformRequest, res: ServerResponse, next: Next): Promise<void> {
      return this.#serve(pathBelow('/v2', param, req), req, res, next);
    }

    tfServing(req: PlatformRequest, res: ServerResponse, next: Next): Promise<void> {
      return this.#serve(pathBelow('/v1/models', param, req), req, res, next);
    }

    async metrics(req: PlatformRequest, res: ServerResponse, next: Next): Promise<void> {
      if (isMetricsPath(pathBelow(METRICS_PATH, param, req))) await serveMetrics(this.#http, this.#options.metrics!, this.#options, req, res);
      else next();
    }

    /**
     * A path the handler does not own (`/v1/models` with `tfServing: false`, `/V2`) goes on to
     * the app's later routes, as the other adapters pass it on.
     */
    async #serve(path: string, req: PlatformRequest, res: ServerResponse, next: Next): Promise<void> {
      if (this.#http.owns(path)) await serveNode(this.#http, req, res, path);
      else next();
    }
  }
  Inject(SERVABLE_HTTP_HANDLER)(ServableController, undefined, 0);
  Inject(OPTIONS)(ServableController, undefined, 1);
  route(ServableController, 'health', All(HEALTH_PATHS.map((p) => p.slice(1))), decorators.health);
  route(ServableController, 'oip', All(['v2', `v2/${pattern}`]), decorators.inference);
  route(ServableController, 'tfServing', All(['v1/models', `v1/models/${pattern}`]), decorators.inference);
  if (metrics) route(ServableController, 'metrics', All('metrics'), decorators.metrics);
  applyDecorators(...(decorators.controller ?? []))(ServableController);
  // Last, so that no decorator of the app's moves the routes: the protocols fix their paths (/v2,
  // /v1/models), and Nest's versioning must neither move them nor refuse a request without its version.
  Controller({ path, version: VERSION_NEUTRAL })(ServableController);
  return ServableController;
}

/**
 * Declares `method` a route, version-neutral, after the app's decorators, so that none of them
 * moves it: a `@Get('x')` among them is overwritten, and a `@Version('1')`, which Nest reads before
 * the controller's version, would put the route under `/v1` or behind a version header.
 */
function route(target: Type, method: string, decorator: MethodDecorator, decorators: readonly MethodDecorator[] = []): void {
  const { prototype } = target as { prototype: object };
  const descriptor = Object.getOwnPropertyDescriptor(prototype, method)!;
  applyDecorators(...decorators)(prototype, method, descriptor);
  decorator(prototype, method, descriptor);
  Version(VERSION_NEUTRAL)(prototype, method, descriptor);
  Req()(prototype, method, 0);
  Res()(prototype, method, 1);
  Next()(prototype, method, 2);
}

/**
 * The path below the controller as the client sent it: the URL's last segments, as many as the
 * route's base and wildcard matched. Nest's router matches without regard to case and decodes the
 * segments, so a path rebuilt from them would answer what the other adapters refuse.
 */
function pathBelow(base: string, param: string, req: PlatformRequest): string {
  const url = req.originalUrl ?? req.url ?? '';
  const q = url.indexOf('?');
  const segments = (q === -1 ? url : url.slice(0, q)).split('/');
  const rest = wildcardSegments(req.params?.[param], segments);
  const matched = base.split('/').length - 1 + rest.length;
  // A trailing slash is a last, empty segment, unless the wildcard already took it.
  const trailingSlash = segments.at(-1) === '' && rest.at(-1) !== '' && segments.length > matched + 1 ? 1 : 0;
  return `/${segments.slice(-(matched + trailingSlash)).join('/')}${q === -1 ? '' : url.slice(q)}`;
}

/**
 * The segments the route's wildcard took. Express 5 hands them over one by one; Express 4 hands
 * over the text they span, decoded, where an encoded slash (a model named `a/b`) reads as a
 * separator: they are then the URL's last segments that decode to that text.
 */
function wildcardSegments(captured: unknown, segments: readonly string[]): readonly unknown[] {
  if (Array.isArray(captured)) return captured;
  if (typeof captured !== 'string' || captured === '') return [];
  for (let count = 1; count < segments.length; count++) {
    const tail = segments.slice(-count);
    if (decodeURIComponent(tail.join('/')) === captured) return tail;
  }
  return captured.split('/');
}
