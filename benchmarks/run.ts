/**
 * `npm run bench [-- name ...]`: runs the named benchmarks, or all of them. Each prints ratios
 * measured in the same run, because absolute numbers on a shared machine are noisy.
 *
 * They measure the package as users get it: `npm run bench` builds it first, and `servable`
 * resolves to the compiled `dist/`, not to the sources: tsx, which runs the benchmarks' own
 * TypeScript, wraps every function it defines in a `__name` call, about 5 µs of the event loop per
 * request in a CPU profile of the binary-HTTP path. `node --import tsx benchmarks/run.ts` skips
 * the build.
 */
const benchmarks: Record<string, () => Promise<{ run(): Promise<void> }>> = {
  serving: () => import('./serving.js'),
  batching: () => import('./batching.js'),
  backends: () => import('./backends.js'),
  cache: () => import('./cache.js'),
  http: () => import('./http.js'),
  json: () => import('./json-decode.js'),
};

const names = process.argv.slice(2);
for (const name of names.length ? names : Object.keys(benchmarks)) {
  const load = benchmarks[name];
  if (!load) {
    console.error(`Unknown benchmark '${name}'; choose from ${Object.keys(benchmarks).join(', ')}`);
    process.exit(2);
  }
  await (await load()).run();
  console.log();
}
