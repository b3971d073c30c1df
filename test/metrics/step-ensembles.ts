import assert from 'node:assert/strict';
import { ensemble, InvalidInputError, type InferenceResponse, type InferenceService, type ModelRegistry, type Tensor } from '../../src/index.js';
import type { FakeClock } from '../../src/testing/index.js';
import { rows } from './doubler.js';

const x2 = [{ name: 'x', datatype: 'FP32' as const, shape: [-1, 2] }];
const y2 = [{ name: 'y', datatype: 'FP32' as const, shape: [-1, 2] }];

/**
 * Loads two ensembles over the doubler model `m`: `pipe`, m twice in a row (x → h → y, each step
 * a request to m's batcher), and `bad`, whose transform makes a tensor m refuses, so its step to m fails.
 */
export async function loadStepEnsembles(registry: ModelRegistry): Promise<void> {
  const steps = [
    { model: 'm', inputMap: { x: 'x' }, outputMap: { y: 'h' } },
    { model: 'm', inputMap: { x: 'h' }, outputMap: { y: 'y' } },
  ];
  await registry.load({ name: 'pipe', source: ensemble({ inputs: x2, outputs: y2, steps }) });
  const widen = { name: 'widen', transform: () => ({ w: { datatype: 'FP32', shape: [1, 3], data: new Float32Array(3) } as Tensor }), inputMap: { v: 'x' }, outputMap: { w: 'wide' } };
  await registry.load({ name: 'bad', source: ensemble({ inputs: x2, outputs: y2, steps: [widen, { model: 'm', inputMap: { x: 'wide' }, outputMap: { y: 'y' } }] }) });
}

/**
 * Sends the ensembles' requests, with m's batches taking 5 ms and waiting up to 10 ms: at t=0 three
 * `pipe` requests of 4 items in all, each step filling a batch of 4 at once; at t=10 one alone, each
 * of its steps waiting its 10 ms delay, then running 5 ms; then one `bad` request, refused.
 * Six steps of 5 ms and two of 15 (10 queued, 5 run) succeed, one fails.
 * @returns The lone request's answer.
 */
export async function sendStepEnsembles(service: InferenceService, clock: FakeClock): Promise<InferenceResponse> {
  const first = Promise.all([service.infer('pipe', rows(1)), service.infer('pipe', rows(2)), service.infer('pipe', rows(1))]);
  await clock.advanceAsync(5);
  await clock.advanceAsync(5);
  await first;
  const alone = service.infer('pipe', rows(2));
  for (let i = 0; i < 4; i++) await clock.advanceAsync(10);
  const answer = await alone;
  await assert.rejects(service.infer('bad', rows(1)), InvalidInputError);
  return answer;
}
