import { test } from 'node:test';
import { once } from 'node:events';
import http from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import assert from 'node:assert/strict';
import {
  Body,
  Controller,
  Get,
  HttpException,
  Inject,
  Injectable,
  Module,
  Param,
  Post,
  SetMetadata,
  UseGuards,
  UseInterceptors,
  Version,
  VersioningType,
  type ArgumentMetadata,
  type ArgumentsHost,
  type CallHandler,
  type ExecutionContext,
  type INestApplication,
  type MiddlewareConsumer,
  type Provider,
  type VersioningOptions,
} from '@nestjs/common';
import { APP_FILTER, APP_GUARD, APP_INTERCEPTOR, APP_PIPE, Reflector } from '@nestjs/core';
import { ExpressAdapter } from '@nestjs/platform-express';
import express from 'express';
import { map, type Observable } from 'rxjs';
import { Test } from '@nestjs/testing';
import { InferenceService, ModelRegistry } from 'servable';
import { memoryBackend } from 'servable/testing';
import { SERVABLE_HTTP_HANDLER, ServableModule, type ServableModuleOptions } from 'servable/nest';
import { servableNode } from 'servable/node';
import { httpContract, linearBackend, linearMemory, type StartServer } from './http-contract.js';

/** An app route beside the module's, built without decorator syntax like the module itself. */
class AppController {
  hello(): string {
    return 'app';
  }
}
Get('hello')(AppController.prototype, 'hello', Object.getOwnPropertyDescriptor(AppController.prototype, 'hello')!);
Controller('app')(AppController);

async function listen(app: INestApplication): Promise<string> {
  await app.listen(0, '127.0.0.1');
  const { port } = app.getHttpServer().address() as { port: number };
  return `http://127.0.0.1:${port}`;
}

const start: StartServer = async (options, prefix = '') => {
  const moduleRef = await Test.createTestingModule({
    imports: [ServableModule.forRoot(options as unknown as ServableModuleOptions)],
    controllers: [AppController],
  }).compile();
  const app = moduleRef.createNestApplication({ bodyParser: false, logger: false });
  if (prefix) app.setGlobalPrefix(prefix.slice(1), { exclude: ['app/hello'] });
  const url = await listen(app);
  return { url: `${url}${prefix}`, close: () => app.close() };
};

httpContract('nest', start, linearBackend);

test('nest: forRootAsync builds the options in a factory; providers inject InferenceService and the handler', async () => {
  const registry = new ModelRegistry({ backends: [memoryBackend()] });
  await registry.load({ name: 'linear', source: linearMemory(), warmup: [] });

  class Consumer {
    readonly service: InferenceService;
    readonly http: unknown;
    constructor(service: InferenceService, http: unknown) {
      this.service = service;
      this.http = http;
    }
  }
  Inject(InferenceService)(Consumer, undefined, 0);
  Inject(SERVABLE_HTTP_HANDLER)(Consumer, undefined, 1);

  const CONFIG = 'config';
  class ConfigModule {}
  Module({ providers: [{ provide: CONFIG, useValue: { name: 'from-config' } }], exports: [CONFIG] })(ConfigModule);

  const moduleRef = await Test.createTestingModule({
    imports: [
      ServableModule.forRootAsync({
        imports: [ConfigModule],
        inject: [CONFIG],
        useFactory: (async (config: { name: string }) => ({
          service: new InferenceService({ registry }),
          serverName: config.name,
          metrics: async () => ({ status: 200, headers: { 'content-type': 'text/plain' }, body: 'app_up 1\n' }),
        })) as never,
        path: 'inference',
        metrics: true,
      }),
    ],
    providers: [Consumer],
  }).compile();
  const app = moduleRef.createNestApplication({ logger: false });
  const url = await listen(app);
  try {
    const consumer = app.get(Consumer);
    assert.ok(consumer.service instanceof InferenceService);
    assert.equal(consumer.service.registry, registry);
    assert.equal(typeof (consumer.http as { handle: unknown }).handle, 'function');
    assert.equal(((await (await fetch(`${url}/inference/v2`)).json()) as { name: string }).name, 'from-config');
    const metrics = await fetch(`${url}/inference/metrics`);
    assert.deepEqual([metrics.status, metrics.headers.get('content-type'), await metrics.text()], [200, 'text/plain', 'app_up 1\n']);
    // With Nest's JSON body parser left on, a parsed body is re-serialized and still answered.
    const res = await fetch(`${url}/inference/v2/models/linear/infer`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ inputs: [{ name: 'X', datatype: 'FP32', shape: [1, 3], data: [1, 2, 3] }] }),
    });
    assert.deepEqual(((await res.json()) as { outputs: { data: number[] }[] }).outputs[0]!.data, [32, 48]);
  } finally {
    await app.close();
    await registry.close();
  }
});

test('nest: the routes are declared in the installed Nest\'s wildcard syntax, which it takes without a warning', async () => {
  const registry = new ModelRegistry({ backends: [memoryBackend()] });
  await registry.load({ name: 'linear', source: linearMemory(), warmup: [] });
  const logged: string[] = [];
  const log = (level: string) => (message: unknown) => void logged.push(`${level}: ${String(message)}`);
  const moduleRef = await Test.createTestingModule({
    imports: [ServableModule.forRoot({ service: new InferenceService({ registry }) } as unknown as ServableModuleOptions)],
  }).compile();
  const logger = { log() {}, debug() {}, verbose() {}, warn: log('warn'), error: log('error'), fatal: log('fatal') };
  const app = moduleRef.createNestApplication({ bodyParser: false, logger });
  const url = await listen(app);
  try {
    assert.deepEqual(await (await fetch(`${url}/v2/models/linear/ready`)).json(), { name: 'linear', ready: true });
    assert.deepEqual(await (await fetch(`${url}/v1/models/linear:predict`, { method: 'POST', body: '{"instances": [[1, 2, 3]]}' })).json(), { predictions: [[32, 48]] });
    assert.deepEqual(logged, []);
  } finally {
    await app.close();
    await registry.close();
  }
});

test('nest: on Fastify the module refuses its controller before any route is registered, naming the setup that works; controller: false starts', async () => {
  // Stands in for @nestjs/platform-fastify, which is not installed here: the module asks the adapter only its type.
  class FastifyTyped extends ExpressAdapter {
    override getType(): string {
      return 'fastify';
    }
  }
  const registry = new ModelRegistry({ backends: [memoryBackend()] });
  const service = new InferenceService({ registry });
  const app = async (controller: boolean) =>
    (await Test.createTestingModule({ imports: [ServableModule.forRoot({ service, controller } as unknown as ServableModuleOptions)] }).compile()).createNestApplication(
      new FastifyTyped(),
      { logger: false },
    );
  const refused = await app(true);
  await assert.rejects(refused.init(), {
    name: 'Error',
    message:
      "ServableModule's controller runs on @nestjs/platform-express only. On @nestjs/platform-fastify, declare ServableModule.forRoot({ ..., controller: false }) " +
      "and register the Fastify plugin before listening: const service = app.get(InferenceService); await app.getHttpAdapter().getInstance().register(servableFastify, { service }), servableFastify from 'servable/fastify'",
  });
  await refused.close();
  const started = await app(false);
  await started.init();
  assert.equal(started.get(InferenceService), service);
  await started.close();
});

test('nest: with tfServing: false, /v1/models goes on to an app controller declared after the module, with forRoot and forRootAsync', async () => {
  const registry = new ModelRegistry({ backends: [memoryBackend()] });
  await registry.load({ name: 'linear', source: linearMemory(), warmup: [] });
  const service = new InferenceService({ registry });
  class MyModels {
    one(id: string) {
      return { mine: id };
    }
  }
  Get(':id')(MyModels.prototype, 'one', Object.getOwnPropertyDescriptor(MyModels.prototype, 'one')!);
  Param('id')(MyModels.prototype, 'one', 0);
  Controller('v1/models')(MyModels);
  class Feature {}
  Module({ controllers: [MyModels] })(Feature);
  const modules = [
    ServableModule.forRoot({ service, tfServing: false } as unknown as ServableModuleOptions),
    ServableModule.forRootAsync({ useFactory: (() => ({ service, tfServing: false })) as never }),
  ];
  try {
    for (const servable of modules) {
      const moduleRef = await Test.createTestingModule({ imports: [servable, Feature] }).compile();
      const app = moduleRef.createNestApplication({ bodyParser: false, logger: false });
      const url = await listen(app);
      try {
        const mine = await fetch(`${url}/v1/models/42`);
        assert.deepEqual([mine.status, await mine.json()], [200, { mine: '42' }]);
        assert.deepEqual(await (await fetch(`${url}/v2/models/linear/ready`)).json(), { name: 'linear', ready: true });
      } finally {
        await app.close();
      }
    }
  } finally {
    await registry.close();
  }
});

test("nest: with Nest's versioning on, the protocol routes stay where clients look for them, below the global prefix only, while the app's controllers take the default version", async () => {
  const registry = new ModelRegistry({ backends: [memoryBackend()] });
  await registry.load({ name: 'linear', source: linearMemory(), warmup: [] });
  const metrics = async () => ({ status: 200, headers: { 'content-type': 'text/plain' }, body: 'up 1\n' });
  const versionings: VersioningOptions[] = [
    { type: VersioningType.URI, defaultVersion: '1' },
    { type: VersioningType.HEADER, header: 'x-api-version', defaultVersion: '1' },
    { type: VersioningType.MEDIA_TYPE, key: 'v=', defaultVersion: '2' },
  ];
  try {
    for (const versioning of versionings) {
      const moduleRef = await Test.createTestingModule({
        imports: [ServableModule.forRoot({ service: new InferenceService({ registry }), metrics } as unknown as ServableModuleOptions)],
        controllers: [AppController],
      }).compile();
      const app = moduleRef.createNestApplication({ bodyParser: false, logger: false });
      app.setGlobalPrefix('api');
      app.enableVersioning(versioning);
      const url = await listen(app);
      try {
        // The app's own route asks for its version as the versioning reads it; servable's routes are sent as Triton's and TF-Serving's clients send them.
        const own =
          versioning.type === VersioningType.URI
            ? fetch(`${url}/api/v1/app/hello`)
            : fetch(`${url}/api/app/hello`, { headers: versioning.type === VersioningType.HEADER ? { 'x-api-version': '1' } : { accept: 'application/json;v=2' } });
        const answers = await Promise.all([
          fetch(`${url}/api/v2/models/linear/ready`).then(async (r) => [r.status, await r.json()]),
          fetch(`${url}/api/v1/models/linear:predict`, { method: 'POST', body: '{"instances": [[1, 2, 3]]}' }).then(async (r) => [r.status, await r.json()]),
          fetch(`${url}/api/metrics`).then(async (r) => [r.status, await r.text()]),
          own.then(async (r) => [r.status, await r.text()]),
        ]);
        assert.deepEqual(answers, [
          [200, { name: 'linear', ready: true }],
          [200, { predictions: [[32, 48]] }],
          [200, 'up 1\n'],
          [200, 'app'],
        ], versioning.type.toString());
      } finally {
        await app.close();
      }
    }
  } finally {
    await registry.close();
  }
});

test("nest: a global guard refuses servable's routes in Nest's format; interceptors, filters and pipes leave the protocol's replies as written; express.json() for the app's controllers alone keeps @Body() with bodyParser: false", async () => {
  const registry = new ModelRegistry({ backends: [memoryBackend()] });
  await registry.load({ name: 'linear', source: linearMemory(), warmup: [] });
  const seen = { filtered: [] as string[], piped: [] as string[] };
  class Guard {
    canActivate(context: ExecutionContext): boolean {
      return context.switchToHttp().getRequest<{ headers: Record<string, string> }>().headers.authorization === 'Bearer ok';
    }
  }
  class Wrap {
    intercept(_context: ExecutionContext, next: CallHandler): Observable<unknown> {
      return next.handle().pipe(map((data) => ({ data })));
    }
  }
  class Filter {
    catch(exception: HttpException, host: ArgumentsHost): void {
      seen.filtered.push(exception.constructor.name);
      host.switchToHttp().getResponse<express.Response>().status(exception.getStatus()).json({ filtered: exception.message });
    }
  }
  class Pipe {
    transform(value: unknown, metadata: ArgumentMetadata): unknown {
      seen.piped.push(metadata.type);
      return value;
    }
  }
  class Orders {
    create(body: unknown): unknown {
      return { got: body };
    }
  }
  Post('orders')(Orders.prototype, 'create', Object.getOwnPropertyDescriptor(Orders.prototype, 'create')!);
  Body()(Orders.prototype, 'create', 0);
  Controller('app')(Orders);
  class AppModule {
    configure(consumer: MiddlewareConsumer): void {
      consumer.apply(express.json()).forRoutes(Orders);
    }
  }
  Module({
    imports: [ServableModule.forRoot({ service: new InferenceService({ registry }) } as unknown as ServableModuleOptions)],
    controllers: [Orders],
    providers: [
      { provide: APP_GUARD, useClass: Guard },
      { provide: APP_INTERCEPTOR, useClass: Wrap },
      { provide: APP_FILTER, useClass: Filter },
      { provide: APP_PIPE, useClass: Pipe },
    ],
  })(AppModule);
  const app = (await Test.createTestingModule({ imports: [AppModule] }).compile()).createNestApplication({ bodyParser: false, logger: false });
  const url = await listen(app);
  const send = async (path: string, body: string, authorization = 'Bearer ok') => {
    const res = await fetch(`${url}${path}`, { method: 'POST', headers: { authorization, 'content-type': 'application/json' }, body });
    return [res.status, await res.json()];
  };
  try {
    const infer = JSON.stringify({ inputs: [{ name: 'X', datatype: 'FP32', shape: [1, 3], data: [1, 2, 3] }] });
    assert.deepEqual(await send('/v2/models/linear/infer', infer, 'Bearer no'), [403, { filtered: 'Forbidden resource' }]);
    const probe = await fetch(`${url}/v2/health/ready`);
    assert.deepEqual([probe.status, await probe.json()], [403, { filtered: 'Forbidden resource' }]);
    assert.deepEqual(await send('/v2/models/linear/infer', infer), [200, { model_name: 'linear', model_version: '1', outputs: [{ name: 'Y', datatype: 'FP32', shape: [1, 2], data: [32, 48] }] }]);
    const [status, error] = await send('/v2/models/linear/infer', '{bad');
    assert.deepEqual([status, (error as { code: string }).code], [400, 'ERR_SERVABLE_INVALID_INPUT']);
    assert.deepEqual(await send('/v1/models/linear:predict', '{"instances": [[1, 2, 3]]}'), [200, { predictions: [[32, 48]] }]);
    assert.deepEqual(await send('/app/orders', '{"id": 7}'), [201, { data: { got: { id: 7 } } }]);
    assert.deepEqual(seen, { filtered: ['ForbiddenException', 'ForbiddenException'], piped: ['body'] });
  } finally {
    await app.close();
    await registry.close();
  }
});

test("nest: app.close() answers the request in flight, then a provider's onApplicationShutdown closes the registry that forRootAsync's factory serves", async () => {
  const order: string[] = [];
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  let entered!: () => void;
  const running = new Promise<void>((resolve) => (entered = resolve));
  class Models {
    readonly registry = new ModelRegistry({ backends: [memoryBackend()] });
    async onApplicationShutdown(): Promise<void> {
      order.push(`registry closes, ${this.registry.closed ? 'closed' : 'open'}`);
      await this.registry.close();
    }
  }
  class ModelsModule {}
  Module({ providers: [Models], exports: [Models] })(ModelsModule);
  const moduleRef = await Test.createTestingModule({
    imports: [
      ServableModule.forRootAsync({
        imports: [ModelsModule],
        inject: [Models],
        useFactory: (async (models: Models) => {
          await models.registry.load({ name: 'linear', source: linearMemory(async () => (entered(), gate)), warmup: [] });
          return { service: new InferenceService({ registry: models.registry }) };
        }) as never,
      }),
    ],
  }).compile();
  const app = moduleRef.createNestApplication({ bodyParser: false, logger: false });
  const url = await listen(app);
  const body = JSON.stringify({ inputs: [{ name: 'X', datatype: 'FP32', shape: [1, 3], data: [1, 2, 3] }] });
  // The server closes once its last reply went out, which the client may read only later.
  (app.getHttpServer() as { once(event: 'close', listener: () => void): void }).once('close', () => order.push('server closed'));
  const answered = fetch(`${url}/v2/models/linear/infer`, { method: 'POST', body }).then(async (res) => [
    res.status,
    ((await res.json()) as { outputs: { data: number[] }[] }).outputs[0]!.data,
  ]);
  await running;
  const closing = app.close();
  release();
  assert.deepEqual(await answered, [200, [32, 48]]);
  await closing;
  assert.deepEqual(order, ['server closed', 'registry closes, open']);
  assert.equal(app.get(Models).registry.closed, true);
});

test("nest: overrideProvider(InferenceService) changes the service the app's providers get, not the one the protocol's routes serve", async () => {
  const served = new ModelRegistry({ backends: [memoryBackend()] });
  await served.load({ name: 'linear', source: linearMemory(), warmup: [] });
  const other = new InferenceService({ registry: new ModelRegistry({ backends: [memoryBackend()] }) });
  class Consumer {
    readonly service: InferenceService;
    constructor(service: InferenceService) {
      this.service = service;
    }
  }
  Inject(InferenceService)(Consumer, undefined, 0);
  const moduleRef = await Test.createTestingModule({
    imports: [ServableModule.forRoot({ service: new InferenceService({ registry: served }) } as unknown as ServableModuleOptions)],
    providers: [Consumer],
  })
    .overrideProvider(InferenceService)
    .useValue(other)
    .compile();
  const app = moduleRef.createNestApplication({ bodyParser: false, logger: false });
  const url = await listen(app);
  try {
    assert.equal(app.get(Consumer).service, other);
    assert.deepEqual(await (await fetch(`${url}/v2/models/linear/ready`)).json(), { name: 'linear', ready: true });
  } finally {
    await app.close();
    await served.close();
  }
});

test("nest: an app controller's GET /metrics shadows the module's, without a warning, as docs/http.md warns", async () => {
  const registry = new ModelRegistry({ backends: [memoryBackend()] });
  class AppMetrics {
    scrape(): string {
      return 'app_up 1';
    }
  }
  Get()(AppMetrics.prototype, 'scrape', Object.getOwnPropertyDescriptor(AppMetrics.prototype, 'scrape')!);
  Controller('metrics')(AppMetrics);
  const warned: unknown[] = [];
  const metrics = async () => ({ status: 200, headers: { 'content-type': 'text/plain' }, body: 'servable_up 1\n' });
  const moduleRef = await Test.createTestingModule({
    imports: [ServableModule.forRoot({ service: new InferenceService({ registry }), metrics } as unknown as ServableModuleOptions)],
    controllers: [AppMetrics],
  }).compile();
  const logger = { log() {}, debug() {}, verbose() {}, warn: (m: unknown) => void warned.push(m), error: (m: unknown) => void warned.push(m) };
  const app = moduleRef.createNestApplication({ bodyParser: false, logger });
  const url = await listen(app);
  try {
    assert.deepEqual([await (await fetch(`${url}/metrics`)).text(), warned], ['app_up 1', []]);
  } finally {
    await app.close();
  }
});

test("nest: a global prefix that excludes the module's paths, as docs/http.md writes it, leaves them at the root and prefixes the app's routes", async () => {
  const registry = new ModelRegistry({ backends: [memoryBackend()] });
  await registry.load({ name: 'linear', source: linearMemory(), warmup: [] });
  const metrics = async () => ({ status: 200, headers: { 'content-type': 'text/plain' }, body: 'up 1\n' });
  const moduleRef = await Test.createTestingModule({
    imports: [ServableModule.forRoot({ service: new InferenceService({ registry }), metrics } as unknown as ServableModuleOptions)],
    controllers: [AppController],
  }).compile();
  const app = moduleRef.createNestApplication({ bodyParser: false, logger: false });
  // Nest 11's path syntax, as docs/http.md gives it; Nest 10's (the peer range's oldest) for the same paths.
  const nest11 = Number.parseInt((createRequire(import.meta.url)('@nestjs/common/package.json') as { version: string }).version, 10) >= 11;
  const below = nest11 ? '*path' : '(.*)';
  app.setGlobalPrefix('api', { exclude: ['v2', `v2/${below}`, 'v1/models', `v1/models/${below}`, 'metrics'] });
  const url = await listen(app);
  const get = async (path: string, init?: RequestInit) => {
    const res = await fetch(`${url}${path}`, init);
    return [res.status, await res.text()];
  };
  try {
    const body = JSON.stringify({ inputs: [{ name: 'X', datatype: 'FP32', shape: [1, 3], data: [1, 2, 3] }] });
    assert.deepEqual(
      await Promise.all([
        get('/v2/health/ready'),
        get('/v2/models/linear/infer', { method: 'POST', body }).then(([status, text]) => [status, (JSON.parse(text as string) as { outputs: { data: number[] }[] }).outputs[0]!.data]),
        get('/v1/models/linear:predict', { method: 'POST', body: '{"instances": [[1, 2, 3]]}' }),
        get('/metrics'),
        get('/api/app/hello'),
        get('/app/hello').then(([status]) => status),
      ]),
      [[200, '{"ready":true}'], [200, [32, 48]], [200, '{"predictions":[[32.0,48.0]]}'], [200, 'up 1\n'], [200, 'app'], 404],
    );
  } finally {
    await app.close();
    await registry.close();
  }
});

/** The public-route pattern of Nest's docs: a global guard passes what `@Public()` marks, reading the handler, then the class. */
const IS_PUBLIC_KEY = 'isPublic';
const Public = () => SetMetadata(IS_PUBLIC_KEY, true);
class AuthGuard {
  readonly #reflector: Reflector;
  constructor(reflector: Reflector) {
    this.#reflector = reflector;
  }
  canActivate(context: ExecutionContext): boolean {
    if (this.#reflector.getAllAndOverride<boolean>(IS_PUBLIC_KEY, [context.getHandler(), context.getClass()])) return true;
    return context.switchToHttp().getRequest<{ headers: Record<string, string> }>().headers.authorization === 'Bearer ok';
  }
}
Inject(Reflector)(AuthGuard, undefined, 0);

const INFER = JSON.stringify({ inputs: [{ name: 'X', datatype: 'FP32', shape: [1, 3], data: [1, 2, 3] }] });
const INFERRED = { model_name: 'linear', model_version: '1', outputs: [{ name: 'Y', datatype: 'FP32', shape: [1, 2], data: [32, 48] }] };
const scrapeRoute = async () => ({ status: 200, headers: { 'content-type': 'text/plain' }, body: 'servable_up 1\n' });

/** An app importing the module with `options`, and `providers` of its own; its URL and a request helper answering [status, body]. */
async function decoratedApp(options: Record<string, unknown>, providers: Provider[] = [], setup: (app: INestApplication) => void = () => {}) {
  const registry = new ModelRegistry({ backends: [memoryBackend()] });
  await registry.load({ name: 'linear', source: linearMemory(), warmup: [] });
  class AppModule {}
  Module({ imports: [ServableModule.forRoot({ service: new InferenceService({ registry }), ...options } as unknown as ServableModuleOptions)], providers })(AppModule);
  const app = (await Test.createTestingModule({ imports: [AppModule] }).compile()).createNestApplication({ bodyParser: false, logger: false });
  setup(app);
  const url = await listen(app);
  const send = async (path: string, init: { method?: string; body?: string; authorization?: string } = {}) => {
    const headers: Record<string, string> = init.authorization === undefined ? {} : { authorization: init.authorization };
    const res = await fetch(`${url}${path}`, { method: init.method ?? (init.body === undefined ? 'GET' : 'POST'), headers, body: init.body });
    const text = await res.text();
    return [res.status, text !== '' && res.headers.get('content-type')?.startsWith('application/json') ? JSON.parse(text) : text, res.headers.get('x-servable-route')];
  };
  return { url, send, close: async () => (await app.close(), await registry.close()) };
}

test("nest: decorators mark the health probes and /metrics @Public() for a global guard reading Reflector, which still guards inference; a probe's path spelt otherwise is inference's", async () => {
  const { send, close } = await decoratedApp({ metrics: scrapeRoute, decorators: { health: [Public()], metrics: [Public()] } }, [{ provide: APP_GUARD, useClass: AuthGuard }]);
  const forbidden = { message: 'Forbidden resource', error: 'Forbidden', statusCode: 403 };
  try {
    assert.deepEqual(await send('/v2/health/live'), [200, { live: true }, null]);
    assert.deepEqual(await send('/v2/health/ready'), [200, { ready: true }, null]);
    assert.deepEqual(await send('/v2/health/ready/?probe=k8s'), [200, { ready: true }, null]);
    assert.deepEqual(await send('/metrics'), [200, 'servable_up 1\n', null]);
    // The probes' routes answer as the protocol does, a wrong method included.
    assert.deepEqual((await send('/v2/health/live', { body: '{}' })).slice(0, 1), [405]);
    assert.deepEqual(await send('/v2/models/linear/infer', { body: INFER }), [403, forbidden, null]);
    assert.deepEqual(await send('/v2/models/linear/infer', { body: INFER, authorization: 'Bearer no' }), [403, forbidden, null]);
    assert.deepEqual(await send('/v2/models/linear/infer', { body: INFER, authorization: 'Bearer ok' }), [200, INFERRED, null]);
    // Server metadata, model readiness and TF-Serving's routes are inference's, not health's.
    for (const path of ['/v2', '/v2/models/linear/ready', '/v1/models/linear']) assert.deepEqual(await send(path), [403, forbidden, null], path);
    assert.deepEqual(await send('/v1/models/linear:predict', { body: '{"instances": [[1, 2, 3]]}' }), [403, forbidden, null]);
    // The router matches the probes' routes without regard to case or encoding; what the protocol
    // would not read as a probe (or reads as one only once decoded) goes to /v2's guarded route.
    for (const path of ['/V2/health/live', '/v2/HEALTH/ready', '/v2/health/%6Cive']) assert.deepEqual(await send(path), [403, forbidden, null], path);
    assert.deepEqual(await send('/v2/health/%6Cive', { authorization: 'Bearer ok' }), [200, { live: true }, null]);
    assert.equal((await send('/v2/HEALTH/ready', { authorization: 'Bearer ok' }))[0], 404);
  } finally {
    await close();
  }
});

test("nest: the probes' own route answers GET and HEAD, with a trailing slash or a query, as servable/node does, ready or not", async () => {
  for (const requiredModels of [undefined, ['absent']]) {
    const nest = await decoratedApp({ requiredModels, decorators: { health: [Public()] } }, [{ provide: APP_GUARD, useClass: AuthGuard }]);
    const registry = new ModelRegistry({ backends: [memoryBackend()] });
    await registry.load({ name: 'linear', source: linearMemory(), warmup: [] });
    const serve = servableNode({ service: new InferenceService({ registry }), requiredModels });
    const node = http.createServer((req, res) => serve(req, res)).listen(0, '127.0.0.1');
    await once(node, 'listening');
    const nodeUrl = `http://127.0.0.1:${(node.address() as AddressInfo).port}`;
    const answer = async (url: string, method: string) => {
      const res = await fetch(url, { method });
      return [res.status, res.headers.get('content-type'), res.headers.get('content-length'), await res.text()];
    };
    try {
      for (const probe of ['live', 'ready']) {
        for (const rest of ['', '/', '?probe=k8s', '/?probe=k8s']) {
          for (const method of ['GET', 'HEAD']) {
            const path = `/v2/health/${probe}${rest}`;
            const got = await answer(`${nest.url}${path}`, method);
            assert.deepEqual(got, await answer(`${nodeUrl}${path}`, method), `${method} ${path}`);
            // The guard passed it: the probes' route served it, not /v2's.
            assert.equal(got[0], probe === 'ready' && requiredModels !== undefined ? 503 : 200, `${method} ${path}`);
          }
        }
      }
    } finally {
      await nest.close();
      await new Promise((resolve) => node.close(resolve));
      await registry.close();
    }
  }
});

test('nest: a guard on inference alone leaves the probes and /metrics open; class decorators reach every route', async () => {
  class ApiKeyGuard {
    canActivate(context: ExecutionContext): boolean {
      return context.switchToHttp().getRequest<{ headers: Record<string, string> }>().headers.authorization === 'Bearer ok';
    }
  }
  class Mark {
    intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
      context.switchToHttp().getResponse<express.Response>().setHeader('x-servable-route', context.getHandler().name);
      return next.handle();
    }
  }
  const decorators = { controller: [UseInterceptors(Mark)], inference: [UseGuards(ApiKeyGuard)] };
  const { send, close } = await decoratedApp({ metrics: scrapeRoute, decorators });
  try {
    assert.deepEqual(await send('/v2/health/live'), [200, { live: true }, 'health']);
    assert.deepEqual(await send('/v2/health/ready'), [200, { ready: true }, 'health']);
    assert.deepEqual(await send('/metrics'), [200, 'servable_up 1\n', 'metrics']);
    assert.deepEqual((await send('/v2/models/linear/infer', { body: INFER })).slice(0, 1), [403]);
    assert.deepEqual(await send('/v2/models/linear/infer', { body: INFER, authorization: 'Bearer ok' }), [200, INFERRED, 'oip']);
    assert.deepEqual((await send('/v1/models/linear:predict', { body: '{"instances": [[1, 2, 3]]}' })).slice(0, 1), [403]);
    assert.deepEqual(await send('/v1/models/linear:predict', { body: '{"instances": [[1, 2, 3]]}', authorization: 'Bearer ok' }), [200, { predictions: [[32, 48]] }, 'tfServing']);
  } finally {
    await close();
  }
});

test("nest: a route decorator (@Get, @Post) or @Version among the decorators moves no route: the protocols fix their paths, under any versioning", async () => {
  const moving = { health: [Get('probe'), Version('2')], metrics: [Post('scrape'), Version('2')], inference: [Get('elsewhere'), Version(['1', '2'])] };
  const versionings: VersioningOptions[] = [{ type: VersioningType.URI }, { type: VersioningType.HEADER, header: 'x-api-version' }];
  for (const versioning of versionings) {
    const { send, close } = await decoratedApp({ metrics: scrapeRoute, decorators: moving }, [], (app) => app.enableVersioning(versioning));
    try {
      const answers = [
        await send('/v2/health/live'),
        await send('/v2/health/ready', { method: 'HEAD' }),
        await send('/metrics'),
        await send('/v2/models/linear/infer', { body: INFER }),
        await send('/v1/models/linear:predict', { body: '{"instances": [[1, 2, 3]]}' }),
      ];
      const expected = [[200, { live: true }, null], [200, '', null], [200, 'servable_up 1\n', null], [200, INFERRED, null], [200, { predictions: [[32, 48]] }, null]];
      assert.deepEqual(answers, expected, versioning.type.toString());
      for (const path of ['/probe', '/scrape', '/elsewhere', '/v2/v2/health/live', '/v1/v2/models/linear/ready']) assert.equal((await send(path))[0], 404, path);
    } finally {
      await close();
    }
  }
});

test('nest: decorators are checked when the module is declared, quoting the bad value', () => {
  const service = new InferenceService({ registry: new ModelRegistry({ backends: [memoryBackend()] }) });
  const forRoot = (options: Record<string, unknown>) => () => ServableModule.forRoot({ service, ...options } as unknown as ServableModuleOptions);
  const forRootAsync = (options: Record<string, unknown>) => () => ServableModule.forRootAsync({ useFactory: () => ({ service }), ...options } as never);
  assert.throws(forRoot({ decorators: [Public()] }), { name: 'TypeError', message: /^Expected `decorators` to be an object, got \[.*\(array\)$/ });
  assert.throws(forRoot({ decorators: { healt: [Public()] } }), { name: 'TypeError', message: 'Unknown option `decorators.healt`; decorators takes controller, health, metrics, inference' });
  assert.throws(forRoot({ decorators: { health: Public() } }), { name: 'TypeError', message: /^Expected `decorators.health` to be an array of decorators, got .*\(function\)$/ });
  assert.throws(forRootAsync({ decorators: { inference: [UseGuards(class {}), 'public'] } }), {
    name: 'TypeError',
    message: 'Expected `decorators.inference[1]` to be a decorator (a function), got "public" (string)',
  });
  assert.throws(forRoot({ decorators: { controller: null } }), { name: 'TypeError', message: 'Expected `decorators.controller` to be set, or left out where it is optional, got null (null)' });
  assert.throws(forRoot({ controller: false, decorators: { health: [Public()] } }), {
    name: 'TypeError',
    message: '`decorators` decorates the controller, which `controller: false` leaves out: pass one or the other',
  });
  const noMetrics = '`decorators.metrics` decorates GET /metrics, which the module does not serve: give it a `metrics` route (forRootAsync: `metrics: true`)';
  assert.throws(forRoot({ decorators: { metrics: [Public()] } }), { name: 'TypeError', message: noMetrics });
  assert.throws(forRootAsync({ decorators: { metrics: [Public()] } }), { name: 'TypeError', message: noMetrics });
  assert.equal(forRoot({ metrics: scrapeRoute, decorators: { metrics: [Public()] } })().module, ServableModule);
  assert.equal(forRootAsync({ metrics: true, decorators: { health: [], metrics: [Public()] } })().module, ServableModule);
});

test('nest: controller: false provides the service without routes', async () => {
  const registry = new ModelRegistry({ backends: [memoryBackend()] });
  const moduleRef = await Test.createTestingModule({
    imports: [ServableModule.forRoot({ service: new InferenceService({ registry }), controller: false } as unknown as ServableModuleOptions)],
  }).compile();
  const app = moduleRef.createNestApplication({ logger: false });
  const url = await listen(app);
  try {
    assert.equal(app.get(InferenceService).registry, registry);
    assert.equal((await fetch(`${url}/v2/health/live`)).status, 404);
  } finally {
    await app.close();
  }
});

test('nest: forRootAsync with metrics: true refuses a factory that returns no metrics route', async () => {
  const registry = new ModelRegistry({ backends: [memoryBackend()] });
  const compiling = Test.createTestingModule({
    imports: [ServableModule.forRootAsync({ useFactory: (() => ({ service: new InferenceService({ registry }) })) as never, metrics: true })],
  }).compile();
  await assert.rejects(compiling, {
    name: 'TypeError',
    message: 'Expected `useFactory` to return a `metrics` function, as forRootAsync was given `metrics: true`, got undefined',
  });
});

test('nest: forRootAsync refuses a factory that returns a metrics route it was not told of', async () => {
  const registry = new ModelRegistry({ backends: [memoryBackend()] });
  const metrics = async () => ({ status: 200, headers: {}, body: 'up 1\n' });
  const compiling = Test.createTestingModule({
    imports: [ServableModule.forRootAsync({ useFactory: () => ({ service: new InferenceService({ registry }), metrics }) })],
  }).compile();
  await assert.rejects(compiling, {
    name: 'TypeError',
    message: '`useFactory` returned a `metrics` function, but forRootAsync was not given `metrics: true`, so GET /metrics is not declared: pass `metrics: true` beside `useFactory`',
  });
});

test("nest: forRootAsync refuses a factory that returns a routing option, which Nest has declared the routes without", async () => {
  const service = new InferenceService({ registry: new ModelRegistry({ backends: [memoryBackend()] }) });
  const routing = { controller: false, path: 'inference', global: false, decorators: { health: [Public()] } };
  for (const [key, value] of Object.entries(routing)) {
    const compiling = Test.createTestingModule({ imports: [ServableModule.forRootAsync({ useFactory: () => ({ service, [key]: value }) })] }).compile();
    await assert.rejects(compiling, {
      name: 'TypeError',
      message: `\`useFactory\` returned \`${key}\`, which routes the module and is read before the factory runs: pass \`${key}\` beside \`useFactory\``,
    });
  }
});

test("nest: a forRootAsync whose inject names a provider its imports lack fails Nest's start naming forRootAsync and its imports", async () => {
  class ConfigService {}
  Injectable()(ConfigService);
  class ConfigModule {}
  Module({ providers: [ConfigService], exports: [ConfigService] })(ConfigModule);
  const service = new InferenceService({ registry: new ModelRegistry({ backends: [memoryBackend()] }) });
  // ConfigModule imported beside the module, as an app's AppModule would, but not in forRootAsync's imports.
  const compiling = Test.createTestingModule({
    imports: [ConfigModule, ServableModule.forRootAsync({ inject: [ConfigService], useFactory: () => ({ service }) })],
  }).compile();
  await assert.rejects(compiling, (err: Error) => {
    assert.match(err.message, /^Nest can't resolve dependencies of the Symbol\(ServableModule\.forRootAsync's useFactory: name the modules of its inject tokens in its imports\) \(\?\)/);
    assert.match(err.message, /the argument ConfigService at index \[0\]/);
    return true;
  });
});

test('nest: forRootAsync refuses a factory that returns no options, saying so', async () => {
  const compiling = Test.createTestingModule({ imports: [ServableModule.forRootAsync({ useFactory: (() => undefined) as never })] }).compile();
  await assert.rejects(compiling, { name: 'TypeError', message: "Expected `useFactory's result` to be an object, got undefined (undefined)" });
});

test('nest: module options are checked when the module is declared, quoting the bad value', () => {
  assert.throws(() => ServableModule.forRoot(undefined as never), /Expected `options` to be an object, got undefined/);
  assert.throws(() => ServableModule.forRoot({ controller: 'yes' } as never), /Expected `controller` to be a boolean, got "yes"/);
  assert.throws(() => ServableModule.forRootAsync({ path: 1 } as never), /Expected `path` to be a string, got 1/);
  assert.throws(() => ServableModule.forRootAsync({} as never), /Expected `useFactory` to be a function, got undefined/);
  assert.throws(() => ServableModule.forRoot({ metrics: 'yes' } as never), /Expected `metrics` to be a function, got "yes"/);
  assert.throws(() => ServableModule.forRootAsync({ useFactory: () => ({}), metrics: 'yes' } as never), /Expected `metrics` to be a boolean .*, got "yes"/);
  // A typo or a Nest option the module does not take (useClass) would otherwise be ignored.
  assert.throws(() => ServableModule.forRootAsync({ useFactory: () => ({}), metric: true } as never), /Unknown option `metric`; ServableModule.forRootAsync takes useFactory, inject/);
  assert.throws(() => ServableModule.forRootAsync({ useFactory: () => ({}), useClass: class {} } as never), /Unknown option `useClass`/);
  assert.throws(() => ServableModule.forRootAsync({ useFactory: () => ({}), inject: 'config' } as never), /Expected `inject` to be an array of providers, got "config"/);
  assert.throws(() => ServableModule.forRootAsync({ useFactory: () => ({}), imports: {} } as never), /Expected `imports` to be an array of modules, got/);
});

test('nest: forRootAsync refuses an inject that is not an array with code ERR_SERVABLE_INVALID_OPTION', () => {
  assert.throws(() => ServableModule.forRootAsync({ useFactory: () => ({}) as never, inject: 'x' } as never), { name: 'TypeError', code: 'ERR_SERVABLE_INVALID_OPTION' });
});
