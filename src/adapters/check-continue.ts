/**
 * Answering `Expect: 100-continue` before the body comes. Node tells such a client to send its body
 * before any request listener runs, so an over-limit body would be uploaded whole for its 413; a
 * `checkContinue` listener on the server answers the 413 first instead (RFC 9110 §10.1.1).
 */
import type { EventEmitter } from 'node:events';
import type { HttpHandler } from '../protocol/index.js';
import { resetAfterReply } from './discard-body.js';
import { originForm, writeResponse, type NodeRequest, type NodeResponse } from './node-http.js';

/** A listener for a server's `checkContinue` event; it emits the requests it lets go on as `request` on the server it listens to. */
export type CheckContinueListener = (this: EventEmitter, req: NodeRequest, res: NodeResponse) => void;

/**
 * The listener: a request to `http`'s routes below `mount` whose `Content-Length` is over the body
 * limit gets the 413 (`Connection: close`: the body never comes); every other request is told to go
 * on and emitted as `request`, as Node does without a listener.
 */
export function checkContinueListener(http: HttpHandler, mount: string): CheckContinueListener {
  return function (this: EventEmitter, req: NodeRequest, res: NodeResponse): void {
    const path = below(mount, originForm(req.url ?? '/'));
    const method = req.method ?? 'GET';
    if (path !== undefined && method !== 'GET' && method !== 'HEAD' && http.owns(path) && Number(req.headers['content-length']) > http.bodyLimit) {
      writeResponse(res, http.tooLarge({ method, path }));
      resetAfterReply(req);
      return;
    }
    res.writeContinue();
    this.emit('request', req, res);
  };
}

/** The URL below `prefix` (`''` or `/api`), or undefined when it is not under it. */
export function below(prefix: string, url: string): string | undefined {
  if (prefix === '') return url;
  if (!url.startsWith(prefix)) return undefined;
  const rest = url.slice(prefix.length);
  return rest === '' || rest[0] === '/' || rest[0] === '?' ? rest : undefined;
}
