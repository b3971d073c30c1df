import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

test('fastify: without fastify-plugin, importing servable/fastify fails with an error that says what to install', async () => {
  // Hides fastify-plugin from both of Node's resolvers, as if npm had left the optional peer out, with the errors Node gives.
  const hook = `data:text/javascript,${encodeURIComponent(
    `export async function resolve(s, c, next) { if (s === 'fastify-plugin') { const e = new Error("Cannot find package 'fastify-plugin' imported from " + c.parentURL); e.code = 'ERR_MODULE_NOT_FOUND'; throw e; } return next(s, c); }`,
  )}`;
  const hide = `data:text/javascript,${encodeURIComponent(`
    import { register, Module } from 'node:module';
    register(${JSON.stringify(hook)});
    const resolve = Module._resolveFilename;
    Module._resolveFilename = function (request, ...rest) {
      if (request === 'fastify-plugin') throw Object.assign(new Error("Cannot find module 'fastify-plugin'\\nRequire stack:\\n- " + rest[0]?.filename), { code: 'MODULE_NOT_FOUND' });
      return resolve.call(this, request, ...rest);
    };
  `)}`;
  const script = `
    try { await import('servable/fastify'); console.log(JSON.stringify({ imported: true })); }
    catch (e) { console.log(JSON.stringify({ name: e.name, code: e.code, message: e.message, cause: e.cause?.code })); }
  `;
  const { stdout } = await run(process.execPath, ['--conditions=servable-source', '--import', 'tsx', '--import', hide, '--input-type=module', '-e', script], {
    cwd: path.resolve(import.meta.dirname, '../..'),
  });
  const error = JSON.parse(stdout) as { imported?: true; name: string; code: string; message: string; cause: string };
  assert.equal(error.imported, undefined, 'the import should fail');
  assert.equal(error.code, 'ERR_MODULE_NOT_FOUND', 'the code Node gives a missing package');
  assert.match(error.message, /^servable\/fastify needs the fastify-plugin package, which is not installed: install it beside fastify with `npm i fastify fastify-plugin` \(Cannot find module 'fastify-plugin'\)$/);
  assert.equal(error.cause, 'MODULE_NOT_FOUND', "the resolver's own error is the cause");
});
