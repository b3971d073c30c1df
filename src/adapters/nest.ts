/**
 * The NestJS adapter: `ServableModule` makes an InferenceService injectable and, unless told not
 * to, adds a controller serving the Open Inference Protocol v2 (`/v2`) and TF-Serving's REST API
 * (`/v1/models`) through the same protocol handler as the other adapters, and `GET /metrics` when
 * given a metrics route. The controller is an ordinary Nest controller, so global prefixes, guards
 * and interceptors apply to it; it is version-neutral, so `app.enableVersioning()` leaves its routes where
 * the protocols put them. Its class is servable's: the decorators you would write on it (a
 * `@Public()` that a global guard reads, `@UseGuards()`, `@Throttle()`, `@ApiTags()`) go in the
 * `decorators` option, for the health probes, `/metrics` and the other routes apart. It is built
 * without decorator syntax, so it needs neither `experimentalDecorators` nor `emitDecoratorMetadata`
 * in the package, and works in Nest projects that use them. It runs on `@nestjs/platform-express`; on `@nestjs/platform-fastify`, declare the
 * module with `controller: false` and register `servableFastify` (from `servable/fastify`) on
 * Nest's Fastify instance, as the controller refuses to start there.
 *
 * Create the app with `bodyParser: false`: Nest's JSON body parser refuses bodies over 100 kB and
 * answers malformed JSON itself, before the protocol can (`rawBody: true` keeps that parser). Your
 * own controllers then get their parser back from `consumer.apply(express.json()).forRoutes(...)`.
 *
 * @example
 * ```ts
 * import { Module } from '@nestjs/common';
 * import { NestFactory } from '@nestjs/core';
 * import { metricsHandler } from 'servable/metrics';
 * import { ServableModule } from 'servable/nest';
 *
 * // metrics is optional: it adds GET /metrics
 * @Module({ imports: [ServableModule.forRoot({ service, metrics: metricsHandler(promRegistry) })] })
 * class AppModule {}
 *
 * const app = await NestFactory.create(AppModule, { bodyParser: false });
 * await app.listen(8000);
 * ```
 * @module servable/nest
 */
import type { HttpAdapterHost as AdapterHost } from '@nestjs/core';
import type { DynamicModule, InjectionToken, ModuleMetadata, OptionalFactoryDependency, Provider } from '@nestjs/common';
import { assertBoolean, assertFunction, assertOptionKeys, assertObject, describe, optionError } from '../core/index.js';
import { InferenceService } from '../service/index.js';
import { adapterHandler, type AdapterHandler, type AdapterOptions } from './adapter-options.js';
import { loadPeer } from './load-peer.js';
import { metricsRoute } from './metrics-route.js';
import { checkDecorators, NEST_INSTALL, nestCommon, OPTIONS, SERVABLE_HTTP_HANDLER, servableController, type ServableDecorators } from './nest-controller.js';

export type { HttpHandlerOptions } from '../protocol/index.js';
export type { AdapterOptions } from './adapter-options.js';
export type { MetricsRoute } from './metrics-route.js';
export { SERVABLE_HTTP_HANDLER, type ServableDecorators } from './nest-controller.js';

const { Inject, Module } = nestCommon;
const { HttpAdapterHost } = loadPeer<typeof import('@nestjs/core')>('@nestjs/core', 'servable/nest', NEST_INSTALL);

const CONTROLLER = Symbol('servable.nest.controller');
const HANDLER = Symbol('servable.nest.handler');
const ROUTING_KEYS = ['controller', 'path', 'global', 'decorators'];
const ASYNC_KEYS = ['useFactory', 'inject', 'imports', 'metrics', ...ROUTING_KEYS];

/** How the module exposes itself; fixed when the module is declared. */
export interface ServableRouting {
  /** Add the controller serving `/v2` and `/v1/models`; `false` only provides the service and the handler. @default true */
  readonly controller?: boolean;
  /** The controller's path, below any global prefix: `'inference'` serves `/inference/v2/...`. @default '' */
  readonly path?: string;
  /** Register the module globally, so every module can inject the InferenceService. @default true */
  readonly global?: boolean;
  /**
   * Decorators for the controller and its routes, which you cannot write on a class of servable's:
   * `{ health: [Public()], metrics: [Public()], inference: [UseGuards(ApiKeyGuard)] }` lets a global
   * guard pass the probes and the scrapes and guards the rest. See {@link ServableDecorators}.
   * @default none
   */
  readonly decorators?: ServableDecorators;
}

/**
 * Options of {@link ServableModule.forRoot}: the protocol handler's options, `metrics` (which adds
 * `GET /metrics` beside `/v2`), and the routing.
 */
export interface ServableModuleOptions extends AdapterOptions, ServableRouting {}

/** Options of {@link ServableModule.forRootAsync}: a factory for the handler's options, and the routing. */
export interface ServableModuleAsyncOptions extends ServableRouting, Pick<ModuleMetadata, 'imports'> {
  /**
   * Builds the options, e.g. from a config service or after the models are loaded. The routing
   * options (`controller`, `path`, `global`, `decorators`) belong beside `useFactory`: Nest declares
   * the module and its routes before the factory runs, so a result carrying one is refused with a
   * `TypeError` naming it.
   */
  readonly useFactory: (...args: never[]) => AdapterOptions | Promise<AdapterOptions>;
  /** Providers passed to `useFactory`. */
  readonly inject?: readonly (InjectionToken | OptionalFactoryDependency)[];
  /**
   * Serve `GET /metrics` with the `metrics` function `useFactory` returns (routes are declared
   * before the factory runs, so the route is asked for here).
   * @default false
   */
  readonly metrics?: boolean;
}

/**
 * The Nest module: provides `InferenceService` (inject it by class) and the protocol handler
 * (`SERVABLE_HTTP_HANDLER`), and serves the protocols unless `controller: false`.
 */
export class ServableModule {
  readonly #adapterHost: AdapterHost;
  readonly #controller: boolean;
  readonly #handler: AdapterHandler;

  /** @internal Nest builds the module. */
  constructor(adapterHost: AdapterHost, controller: boolean, handler: AdapterHandler) {
    this.#adapterHost = adapterHost;
    this.#controller = controller;
    this.#handler = handler;
  }

  /** @internal Nest calls it on `app.close()`, after the server: the JSON workers end once the bodies they hold are decoded. */
  onApplicationShutdown(): Promise<void> {
    return this.#handler.close();
  }

  /**
   * @internal Refuses Fastify, where the controller would fail at listen() (its router takes no
   * wildcard inside a route, and its body parsers would take the bodies the protocol reads raw).
   * Nest configures a module's middleware before it registers any route, so this runs first.
   */
  configure(): void {
    if (!this.#controller || this.#adapterHost.httpAdapter?.getType() !== 'fastify') return;
    throw new Error(
      "ServableModule's controller runs on @nestjs/platform-express only. On @nestjs/platform-fastify, declare ServableModule.forRoot({ ..., controller: false }) " +
        "and register the Fastify plugin before listening: const service = app.get(InferenceService); await app.getHttpAdapter().getInstance().register(servableFastify, { service }), servableFastify from 'servable/fastify'",
    );
  }

  /** Declares the module with a service already built. */
  static forRoot(options: ServableModuleOptions): DynamicModule {
    checkRouting(options);
    const metrics = metricsRoute(options) !== undefined;
    checkDecorators(options.decorators, options.controller !== false, metrics);
    return declare({ provide: OPTIONS, useValue: options }, options, metrics, []);
  }

  /** Declares the module with options built by a factory, which may wait for models to load. */
  static forRootAsync(options: ServableModuleAsyncOptions): DynamicModule {
    checkRouting(options);
    assertOptionKeys('ServableModule.forRootAsync', options, ASYNC_KEYS);
    assertFunction('useFactory', options.useFactory);
    if (options.inject !== undefined && !Array.isArray(options.inject)) throw optionError(`Expected \`inject\` to be an array of providers, got ${describe(options.inject)}`);
    if (options.imports !== undefined && !Array.isArray(options.imports)) throw optionError(`Expected \`imports\` to be an array of modules, got ${describe(options.imports)}`);
    if (options.metrics !== undefined && typeof options.metrics !== 'boolean') {
      throw optionError(`Expected \`metrics\` to be a boolean (the factory returns the metrics route), got ${describe(options.metrics)}`);
    }
    checkDecorators(options.decorators, options.controller !== false, options.metrics ?? false);
    const { useFactory } = options;
    const provider: Provider = {
      provide: OPTIONS,
      useFactory: async (...args: never[]) => {
        const built = await useFactory(...args);
        assertObject("useFactory's result", built);
        for (const key of ROUTING_KEYS) {
          if (Object.hasOwn(built, key)) throw optionError(`\`useFactory\` returned \`${key}\`, which routes the module and is read before the factory runs: pass \`${key}\` beside \`useFactory\``);
        }
        return built;
      },
      inject: [...(options.inject ?? [])],
    };
    return declare(provider, options, options.metrics ?? false, options.imports ?? []);
  }
}
Module({})(ServableModule);
Inject(HttpAdapterHost)(ServableModule, undefined, 0);
Inject(CONTROLLER)(ServableModule, undefined, 1);
Inject(HANDLER)(ServableModule, undefined, 2);

function checkRouting(options: ServableRouting): void {
  assertObject('options', options);
  for (const key of ['controller', 'global'] as const) {
    if (options[key] !== undefined) assertBoolean(key, options[key]);
  }
  if (options.path !== undefined && typeof options.path !== 'string') throw optionError(`Expected \`path\` to be a string, got ${describe(options.path)}`);
}

function declare(optionsProvider: Provider, routing: ServableRouting, metrics: boolean, imports: NonNullable<ModuleMetadata['imports']>): DynamicModule {
  return {
    module: ServableModule,
    global: routing.global ?? true,
    imports,
    providers: [
      optionsProvider,
      { provide: CONTROLLER, useValue: routing.controller !== false },
      { provide: HANDLER, useFactory: (o: AdapterOptions) => handlerFor(o, metrics), inject: [OPTIONS] },
      { provide: SERVABLE_HTTP_HANDLER, useFactory: (h: AdapterHandler) => h.http, inject: [HANDLER] },
      { provide: InferenceService, useFactory: (o: AdapterOptions) => o.service, inject: [OPTIONS] },
    ],
    controllers: routing.controller === false ? [] : [servableController(routing.path ?? '', metrics, routing.decorators)],
    exports: [InferenceService, SERVABLE_HTTP_HANDLER],
  };
}

/** The protocol handler, once the options (maybe from an async factory) are checked. */
function handlerFor(options: AdapterOptions, metrics: boolean): AdapterHandler {
  const route = metricsRoute(options);
  if (route === undefined && metrics) {
    throw optionError('Expected `useFactory` to return a `metrics` function, as forRootAsync was given `metrics: true`, got undefined');
  }
  // Nest declares routes before the factory runs: a route it returns unannounced would never be served.
  if (route !== undefined && !metrics) {
    throw optionError('`useFactory` returned a `metrics` function, but forRootAsync was not given `metrics: true`, so GET /metrics is not declared: pass `metrics: true` beside `useFactory`');
  }
  return adapterHandler('ServableModule', options, ROUTING_KEYS);
}
