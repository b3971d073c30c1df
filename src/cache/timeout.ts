import { CacheError, type Clock } from '../core/index.js';

/**
 * Settles like `promise`, or rejects with a CacheError once `ms` milliseconds pass on `clock`
 * (the store call itself cannot be stopped; its late answer is ignored).
 */
export function boundedBy<T>(promise: Promise<T>, ms: number, clock: Clock, operation: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = clock.setTimeout(() => reject(new CacheError(`Cache ${operation} took longer than ${ms} ms`)), ms);
    promise.then(
      (value) => {
        clock.clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clock.clearTimeout(timer);
        reject(error);
      },
    );
  });
}
