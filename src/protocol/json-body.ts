import { InvalidInputError } from '../core/index.js';
import { describeJson } from './json-non-finite.js';

const decoder = new TextDecoder('utf-8', { fatal: true });

/**
 * The body as text, without a leading byte-order mark (RFC 8259 §8.1 lets a parser ignore one, and
 * decoding bytes drops it, so text handed over as a string reads as the same bytes would); bytes
 * must be valid UTF-8, else the error names `what` and adds `hint`.
 */
export function bodyText(body: Uint8Array | string, what = 'The request body', hint = ''): string {
  if (typeof body === 'string') return body.charCodeAt(0) === 0xfeff ? body.slice(1) : body;
  try {
    return decoder.decode(body);
  } catch {
    throw new InvalidInputError(`${what} is not valid UTF-8${hint}`);
  }
}

/**
 * Parses a JSON request body that must be an object. When JSON.parse refuses it, `dialect` may
 * read it instead (a dialect's extensions, such as TF-Serving's bare NaN), answering undefined
 * when it cannot either.
 * @throws InvalidInputError saying why the body was refused: JSON.parse's reason, which is the one
 * the client can act on.
 */
export function parseJsonObject(text: string, what = 'The request body', dialect?: (text: string) => unknown): Record<string, unknown> {
  if (text.trim() === '') throw new InvalidInputError(`${what} is empty; expected a JSON object`);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    value = dialect?.(text);
    if (value === undefined) throw new InvalidInputError(`${what} is not valid JSON: ${(error as Error).message}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new InvalidInputError(`${what} must be a JSON object, got ${describeJson(value)}`);
  }
  return value as Record<string, unknown>;
}

/** True for a plain JSON object. */
export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
