/**
 * Serving a model behind a custom handler: the PaddleOCR text-direction classifier takes a PNG
 * and answers with a label, TorchServe style.
 *
 * ```
 * POST /predictions/textdir
 * Content-Type: application/json
 * {"image": "<the PNG's bytes, base64, no line breaks>"}
 *
 * 200 {"label": "180", "probability": 0.998}
 * 400 {"error": "Input 'image': not a PNG", "code": "ERR_SERVABLE_INVALID_INPUT"}
 * ```
 *
 * The request is a JSON object rather than an Open Inference Protocol request because the
 * handler changes what the model takes: OIP describes a model by its tensors (`GET
 * /v2/models/textdir` would list `x`, FP32 [-1, 3, 48, 192]), and a client reading that metadata
 * could not tell it to send an image. So the handler gets a route of its own, named as
 * TorchServe's inference API names it, while requests still queue, batch (up to 8 lines per run)
 * and run in worker threads like any other.
 *
 * Run (PORT and HOST override 127.0.0.1:8000; the first option is the heap setting docs/http.md
 * recommends for serving):
 *   node --initial-old-space-size=64 --conditions=servable-source --import tsx examples/image-handler/server.ts
 * then e.g.
 * `curl -s localhost:8000/predictions/textdir -H 'content-type: application/json' -d "{\"image\": \"$(base64 -w0 line.png)\"}"`.
 */
import Fastify from 'fastify';
import { InferenceService, ModelRegistry, ServableError } from 'servable';
import { onnxNode } from 'servable/onnx-node';
import { clsBatching, clsInputs, clsModelPath, runIfMain, type Started, type StartOptions } from '../shared/textdir.js';
import { MAX_BASE64, TextDirectionHandler, type ImageRequest, type TextDirection } from './handler.js';

/** Loads the model with its handler and starts the server. */
export async function start({ port = 0, host = '127.0.0.1' }: StartOptions = {}): Promise<Started> {
  const registry = new ModelRegistry({ backends: [onnxNode()] });
  await registry.load({
    name: 'textdir',
    source: clsModelPath,
    inputs: clsInputs,
    handler: () => new TextDirectionHandler(),
    batching: clsBatching,
  });
  const service = new InferenceService({ registry });

  const app = Fastify();
  app.post('/predictions/textdir', { bodyLimit: MAX_BASE64 + 1024 }, async (request, reply) => {
    try {
      return await service.infer<ImageRequest, TextDirection>('textdir', request.body as ImageRequest);
    } catch (error) {
      // Bad input (400), a full queue (503), a timeout (504): the client may read why. Anything else is a bare 500.
      if (!(error instanceof ServableError) || error.status === 500) throw error;
      return reply.code(error.status).send({ error: error.message, code: error.code });
    }
  });
  const url = await app.listen({ port, host });
  return {
    url,
    async close() {
      await app.close();
      await registry.close();
    },
  };
}

await runIfMain(import.meta.url, start, (url) => `curl -s ${url}/predictions/textdir -H 'content-type: application/json' -d "{\\"image\\": \\"$(base64 -w0 line.png)\\"}"`);
