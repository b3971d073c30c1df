/**
 * Loading an adapter's optional peer (a framework package npm leaves out), so that its absence is
 * told in words that name the package and say what to install, rather than as Node's bare
 * "Cannot find package" naming a file inside servable.
 */
import { createRequire } from 'node:module';

const load = createRequire(import.meta.url);

/**
 * The CommonJS package `name`, loaded with `require()` (the instance an `import` of it gets), for the
 * subpath `subpath`; `install` is the command that installs the subpath's peers, and `beside` the
 * package, if any, that the app most likely has already (fastify-plugin goes beside fastify).
 * @throws Error with code `ERR_MODULE_NOT_FOUND` (as Node's own, which is its `cause`) saying
 * `<subpath> needs the <name> package, which is not installed: install it with \`<install>\``,
 * when `name` itself is not installed; a module `name` requires that is missing throws as Node threw it.
 */
export function loadPeer<T>(name: string, subpath: string, install: string, beside?: string): T {
  try {
    return load(name) as T;
  } catch (error) {
    const { code, message } = error as { code?: unknown; message?: unknown };
    // Only when the package itself is missing, not a module it requires.
    if (code !== 'MODULE_NOT_FOUND' || typeof message !== 'string' || !message.startsWith(`Cannot find module '${name}'`)) throw error;
    throw Object.assign(
      new Error(`${subpath} needs the ${name} package, which is not installed: install it ${beside === undefined ? '' : `beside ${beside} `}with \`${install}\` (${message.split('\n', 1)[0]!})`, { cause: error }),
      { code: 'ERR_MODULE_NOT_FOUND' },
    );
  }
}
