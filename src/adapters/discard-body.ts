import type { Http2ServerRequest } from 'node:http2';
import type { Readable } from 'node:stream';

/**
 * The most bytes of a refused body read and discarded before its 413 is sent: a body a few times
 * the limit, as a client that misjudged the limit sends, still gets its 413 on a connection that
 * goes on, while a refused body never costs more reading than four accepted ones; at least 1 MiB,
 * which reads in about a millisecond.
 */
export function discardCap(limit: number): number {
  return Math.max(4 * limit, 1 << 20);
}

/**
 * How long a refused body may take to arrive in full. Node's `requestTimeout` (300 s) lets an
 * accepted body take far longer; a refused one is worth no more than a few seconds of a connection.
 */
export const DISCARD_MS = 10_000;

/**
 * Reads the rest of a refused body (the request's own bytes, `source`) and discards it, up to
 * {@link discardCap} bytes and {@link DISCARD_MS}. Resolves true when the body ended within them:
 * the connection then goes on to the next request. Resolves false when it did not (or the client
 * went away): the 413 must then close the connection, and over HTTP/2 the stream is reset once it
 * is sent (see {@link resetAfterReply}).
 *
 * Answering only once the body has been read is what lets a client that sends its whole body
 * before reading get the 413: a connection closed under an upload is reset, and the reply with it.
 */
export function discardRest(source: Readable, cap: number): Promise<boolean> {
  if (source.readableEnded) return Promise.resolve(true);
  if (source.destroyed) return Promise.resolve(false);
  return new Promise((resolve) => {
    let left = cap;
    const done = (ended: boolean): void => {
      clearTimeout(timer);
      source.off('data', onData);
      source.off('end', onEnd);
      source.off('close', onGone);
      source.off('error', onGone);
      // Past the caps, reading goes on unheeded (nothing is kept) until the 413 ends the connection or stream.
      if (!ended) resetAfterReply(source);
      resolve(ended);
    };
    const onData = (chunk: Buffer): void => {
      left -= chunk.byteLength;
      if (left < 0) done(false);
    };
    const onEnd = (): void => done(true);
    const onGone = (): void => done(false);
    const timer = setTimeout(onGone, DISCARD_MS);
    source.on('data', onData);
    source.once('end', onEnd);
    source.once('close', onGone);
    source.once('error', onGone);
    source.resume();
  });
}

/**
 * Over HTTP/2, resets the stream of a body not read to its end once its reply is sent (`NO_ERROR`,
 * as RFC 9113 §8.1 allows after a complete response), so that the client stops sending on it. Over
 * HTTP/1.1 the reply's `Connection: close` ends the connection instead.
 */
export function resetAfterReply(source: Readable): void {
  if (!('stream' in source)) return;
  const { stream } = source as Http2ServerRequest;
  if (stream.writableFinished) stream.close();
  else stream.once('finish', () => stream.close());
}
