import { dataOf, Handler, InvalidInputError, type TensorMap } from 'servable';

/** What a client sends. */
export interface SentimentRequest {
  readonly text: string;
}

/** What a client gets back. */
export interface SentimentResponse {
  readonly label: 'negative' | 'positive';
  readonly score: number;
}

/** The number of hashed word features the model takes. */
export const FEATURES = 64;

/** Hashes a word into one of FEATURES buckets (FNV-1a). */
export function bucket(word: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < word.length; i++) h = Math.imul(h ^ word.charCodeAt(i), 0x01000193);
  return (h >>> 0) % FEATURES;
}

/**
 * A TorchServe-style handler: text in, label and score out. preprocess turns a batch of texts
 * into one FP32 [n, FEATURES] tensor of word counts; the model returns one logit per row.
 */
export class SentimentHandler extends Handler<SentimentRequest, SentimentResponse> {
  override validate(request: SentimentRequest): void {
    if (typeof request?.text !== 'string' || request.text.trim() === '') {
      throw new InvalidInputError("Input 'text': expected a non-empty string");
    }
    if (request.text.length > 10_000) {
      throw new InvalidInputError(`Input 'text': expected at most 10000 characters, got ${request.text.length}`);
    }
  }

  override preprocess(requests: readonly SentimentRequest[]): TensorMap {
    const data = new Float32Array(requests.length * FEATURES);
    requests.forEach((r, row) => {
      for (const word of r.text.toLowerCase().match(/[a-z']+/g) ?? []) data[row * FEATURES + bucket(word)]! += 1;
    });
    return { features: { datatype: 'FP32', shape: [requests.length, FEATURES], data } };
  }

  override postprocess(outputs: TensorMap, requests: readonly SentimentRequest[]): SentimentResponse[] {
    const logits = dataOf(outputs.logit, 'FP32');
    return requests.map((_, row) => {
      const p = 1 / (1 + Math.exp(-logits[row]!));
      return p >= 0.5 ? { label: 'positive', score: p } : { label: 'negative', score: 1 - p };
    });
  }
}
