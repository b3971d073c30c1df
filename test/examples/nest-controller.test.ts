// A unit test of a NestJS controller that injects InferenceService, over a model in memory.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Controller, Get, Inject, Param } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { dataOf, InferenceService, ModelRegistry } from 'servable';
import { ServableModule } from 'servable/nest';
import { memoryBackend, type MemoryModel } from 'servable/testing';

// The controller under test. In an app compiled with experimentalDecorators it reads:
//   @Controller('double') class DoubleController {
//     constructor(@Inject(InferenceService) inference: InferenceService) {...}
//     @Get(':x') async double(@Param('x') x: string) {...}
//   }
class DoubleController {
  readonly #inference: InferenceService;

  constructor(inference: InferenceService) {
    this.#inference = inference;
  }

  async double(x: string): Promise<{ value: number }> {
    const input = { datatype: 'FP32', shape: [1, 1], data: new Float32Array([Number(x)]) } as const;
    const { outputs } = await this.#inference.infer('double', { inputs: { X: input } });
    return { value: dataOf(outputs.Y, 'FP32')[0]! };
  }
}
Inject(InferenceService)(DoubleController, undefined, 0);
Get(':x')(DoubleController.prototype, 'double', Object.getOwnPropertyDescriptor(DoubleController.prototype, 'double')!);
Param('x')(DoubleController.prototype, 'double', 0);
Controller('double')(DoubleController);

// The model as a plain function over tensors: Y = 2X.
const double: MemoryModel = {
  inputs: [{ name: 'X', datatype: 'FP32', shape: [-1, 1] }],
  outputs: [{ name: 'Y', datatype: 'FP32', shape: [-1, 1] }],
  run({ X }) {
    return { Y: { datatype: 'FP32', shape: X!.shape, data: dataOf(X, 'FP32').map((x) => 2 * x) } };
  },
};

test('the controller answers from the model, through the InferenceService that ServableModule provides', async () => {
  const registry = new ModelRegistry({ backends: [memoryBackend()] });
  await registry.load({ name: 'double', source: double, warmup: [] });
  const moduleRef = await Test.createTestingModule({
    // controller: false leaves out the protocol's routes, which a unit test of your controller does not need.
    imports: [ServableModule.forRoot({ service: new InferenceService({ registry }), controller: false })],
    controllers: [DoubleController],
  }).compile();
  try {
    assert.deepEqual(await moduleRef.get(DoubleController).double('21'), { value: 42 });
  } finally {
    await moduleRef.close();
    await registry.close();
  }
});
