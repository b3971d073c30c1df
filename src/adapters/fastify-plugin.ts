/**
 * Loading `fastify-plugin`, an optional peer of `servable/fastify` that npm leaves out, so that its
 * absence is told in words that say what to install rather than as Node's bare "Cannot find package".
 */
import { createRequire } from 'node:module';
import type fastifyPlugin from 'fastify-plugin';

/**
 * fastify-plugin, loaded with `require()` (it is CommonJS), which fails where a static import
 * would leave Node's own error to the app, while `servable/fastify` stays synchronous to import.
 * @throws Error with code `ERR_MODULE_NOT_FOUND` (as Node's own) saying to run `npm i fastify fastify-plugin`, when it is not installed.
 */
export function loadFastifyPlugin(): typeof fastifyPlugin {
  try {
    return createRequire(import.meta.url)('fastify-plugin') as typeof fastifyPlugin;
  } catch (error) {
    const { code, message } = error as { code?: unknown; message?: unknown };
    // Only when fastify-plugin itself is missing, not a module it requires.
    if (code !== 'MODULE_NOT_FOUND' || typeof message !== 'string' || !message.startsWith("Cannot find module 'fastify-plugin'")) throw error;
    throw Object.assign(
      new Error(`servable/fastify needs the fastify-plugin package, which is not installed: install it beside fastify with \`npm i fastify fastify-plugin\` (${message.split('\n', 1)[0]!})`, { cause: error }),
      { code: 'ERR_MODULE_NOT_FOUND' },
    );
  }
}
