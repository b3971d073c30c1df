/**
 * Loading `fastify` and `fastify-plugin`, the optional peers of `servable/fastify` that npm leaves
 * out, so that their absence is told in words that say what to install rather than as Node's bare
 * "Cannot find package".
 */
import type fastifyPlugin from 'fastify-plugin';
import { loadPeer } from './load-peer.js';

/**
 * fastify's `errorCodes`, loaded with `require()` (fastify is CommonJS) so that a missing fastify
 * is told as {@link loadFastifyPlugin} tells a missing fastify-plugin.
 * @throws Error with code `ERR_MODULE_NOT_FOUND` saying to run `npm i fastify fastify-plugin`, when fastify is not installed.
 */
export function loadFastifyErrorCodes(): typeof import('fastify').errorCodes {
  return loadPeer<typeof import('fastify')>('fastify', 'servable/fastify', 'npm i fastify fastify-plugin').errorCodes;
}

/**
 * fastify-plugin, loaded with `require()` (it is CommonJS), which fails where a static import
 * would leave Node's own error to the app, while `servable/fastify` stays synchronous to import.
 * @throws Error with code `ERR_MODULE_NOT_FOUND` (as Node's own) saying to run `npm i fastify fastify-plugin`, when it is not installed.
 */
export function loadFastifyPlugin(): typeof fastifyPlugin {
  return loadPeer<typeof fastifyPlugin>('fastify-plugin', 'servable/fastify', 'npm i fastify fastify-plugin', 'fastify');
}
