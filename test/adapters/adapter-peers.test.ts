import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

interface Outcome {
  readonly imported?: true;
  readonly code: string;
  readonly message: string;
  readonly cause: string;
}

/** Imports `subpath` in a child Node with `hidden` missing from both of Node's resolvers, as if npm had left the optional peer out. */
async function importWithout(subpath: string, hidden: string): Promise<Outcome> {
  const hook = `data:text/javascript,${encodeURIComponent(
    `export async function resolve(s, c, next) { if (s === ${JSON.stringify(hidden)}) { const e = new Error("Cannot find package '" + s + "' imported from " + c.parentURL); e.code = 'ERR_MODULE_NOT_FOUND'; throw e; } return next(s, c); }`,
  )}`;
  const hide = `data:text/javascript,${encodeURIComponent(`
    import { register, Module } from 'node:module';
    register(${JSON.stringify(hook)});
    const resolve = Module._resolveFilename;
    Module._resolveFilename = function (request, ...rest) {
      if (request === ${JSON.stringify(hidden)}) throw Object.assign(new Error("Cannot find module '" + request + "'\\nRequire stack:\\n- " + rest[0]?.filename), { code: 'MODULE_NOT_FOUND' });
      return resolve.call(this, request, ...rest);
    };
  `)}`;
  const script = `
    try { await import(${JSON.stringify(subpath)}); console.log(JSON.stringify({ imported: true })); }
    catch (e) { console.log(JSON.stringify({ code: e.code, message: e.message, cause: e.cause?.code })); }
  `;
  const { stdout } = await run(process.execPath, ['--conditions=servable-source', '--import', 'tsx', '--import', hide, '--input-type=module', '-e', script], {
    cwd: path.resolve(import.meta.dirname, '../..'),
  });
  return JSON.parse(stdout) as Outcome;
}

const cases: readonly (readonly [subpath: string, hidden: string, message: string])[] = [
  ['servable/express', 'express', 'servable/express needs the express package, which is not installed: install it with `npm i express`'],
  ['servable/nest', '@nestjs/common', 'servable/nest needs the @nestjs/common package, which is not installed: install it with `npm i @nestjs/common @nestjs/core @nestjs/platform-express`'],
  ['servable/nest', '@nestjs/core', 'servable/nest needs the @nestjs/core package, which is not installed: install it with `npm i @nestjs/common @nestjs/core @nestjs/platform-express`'],
  ['servable/fastify', 'fastify', 'servable/fastify needs the fastify package, which is not installed: install it with `npm i fastify fastify-plugin`'],
  // Not `npm i fastify fastify-plugin`: that would put the latest fastify over the one @nestjs/platform-fastify pins.
  ['servable/fastify', 'fastify-plugin', 'servable/fastify needs the fastify-plugin package, which is not installed: install it beside fastify with `npm i fastify-plugin`'],
];

for (const [subpath, hidden, message] of cases) {
  test(`${subpath}: without ${hidden}, the import fails with an error that names the package to install`, async () => {
    const error = await importWithout(subpath, hidden);
    assert.equal(error.imported, undefined, 'the import should fail');
    assert.equal(error.code, 'ERR_MODULE_NOT_FOUND', 'the code Node gives a missing package');
    assert.equal(error.message, `${message} (Cannot find module '${hidden}')`);
    assert.equal(error.cause, 'MODULE_NOT_FOUND', "the resolver's own error is the cause");
  });
}

test('servable/nest: without a module that @nestjs/common itself requires, the import fails with Node\'s own error, not one that says to install @nestjs/common', async () => {
  const error = await importWithout('servable/nest', 'reflect-metadata');
  assert.equal(error.imported, undefined, 'the import should fail');
  assert.equal(error.code, 'MODULE_NOT_FOUND', "Node's code for a require() that finds nothing");
  assert.match(error.message, /^Cannot find module 'reflect-metadata'\n/);
  assert.equal(error.cause, undefined, "Node's error, not a wrapper of it");
});
