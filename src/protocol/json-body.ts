import { describe, InvalidInputError } from '../core/index.js';

const decoder = new TextDecoder('utf-8', { fatal: true });

/** The body as text; bytes must be valid UTF-8, else the error names `what` and adds `hint`. */
export function bodyText(body: Uint8Array | string, what = 'The request body', hint = ''): string {
  if (typeof body === 'string') return body;
  try {
    return decoder.decode(body);
  } catch {
    throw new InvalidInputError(`${what} is not valid UTF-8${hint}`);
  }
}

/**
 * Parses a JSON request body that must be an object. When JSON.parse refuses it and `rewrite`
 * makes another text of it (a dialect's extensions spelled as JSON), that text is parsed instead.
 * @throws InvalidInputError saying why the body was refused.
 */
export function parseJsonObject(text: string, what = 'The request body', rewrite?: (text: string) => string | undefined): Record<string, unknown> {
  if (text.trim() === '') throw new InvalidInputError(`${what} is empty; expected a JSON object`);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    value = reparse(rewrite?.(text), `${what} is not valid JSON: ${(error as Error).message}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new InvalidInputError(`${what} must be a JSON object, got ${describe(value)}`);
  }
  return value as Record<string, unknown>;
}

/** The value of a rewritten body; when there is none, or it is no better, the error of the original. */
function reparse(rewritten: string | undefined, message: string): unknown {
  if (rewritten !== undefined) {
    try {
      return JSON.parse(rewritten);
    } catch {
      // Reported as the original text's error, which is the one the client can act on.
    }
  }
  throw new InvalidInputError(message);
}

/** True for a plain JSON object. */
export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
