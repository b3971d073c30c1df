/**
 * NestJS serving the PaddleOCR text-direction classifier over the Open Inference Protocol v2
 * (`/v2`) and TF-Serving's REST API (`/v1/models`), batched, in two worker threads, with
 * Prometheus metrics on `/metrics`, beside a controller of the app's own that injects the
 * InferenceService.
 *
 * Run (PORT and HOST override 127.0.0.1:8000):
 *   node --initial-old-space-size=64 --conditions=servable-source --import tsx examples/nest/server.ts
 * The first option is the heap setting docs/http.md recommends for serving. In your own project,
 * import from `servable` and run it as usual.
 *
 * The decorators are applied as plain calls so this file needs no `experimentalDecorators`; in a
 * Nest project with it, write `@Module({...})`, `@Controller('app')`, `@Get('models')` as usual.
 */
import { Controller, Get, Inject, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { InferenceService } from 'servable';
import { ServableModule } from 'servable/nest';
import { runIfMain, textdirService, type Started, type StartOptions } from '../shared/textdir.js';

/** An app controller using the injected service: `GET /app/models` lists the loaded model versions. */
class ModelsController {
  readonly #service: InferenceService;

  constructor(service: InferenceService) {
    this.#service = service;
  }

  models(): { name: string; version: string; device: string }[] {
    return this.#service.registry.list().map((v) => ({ name: v.name, version: v.version, device: v.device }));
  }
}
Inject(InferenceService)(ModelsController, undefined, 0);
Get('models')(ModelsController.prototype, 'models', Object.getOwnPropertyDescriptor(ModelsController.prototype, 'models')!);
Controller('app')(ModelsController);

/** Loads the model and starts the server. */
export async function start({ port = 0, host = '127.0.0.1' }: StartOptions = {}): Promise<Started> {
  const { registry, service, metrics } = await textdirService();

  class AppModule {}
  Module({
    imports: [ServableModule.forRoot({ service, metrics })],
    controllers: [ModelsController],
  })(AppModule);

  // bodyParser: false lets the protocol read request bodies itself (Nest's parser stops at 100 kB).
  const app = await NestFactory.create(AppModule, { bodyParser: false, logger: ['error', 'warn'] });
  await app.listen(port, host);
  const address = app.getHttpServer().address() as { port: number };
  return {
    url: `http://${host}:${address.port}`,
    async close() {
      await app.close();
      await registry.close();
    },
  };
}

await runIfMain(import.meta.url, start, (url) => `curl -s ${url}/v2/models/textdir\ncurl -s ${url}/app/models\ncurl -s ${url}/metrics`);
