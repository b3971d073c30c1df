// The installed package from CommonJS: require() of ESM (Node >= 20.19) loads every subpath, which
// it can only while no module of the package awaits at its top level.
const assert = require('node:assert/strict');

const subpaths = Object.keys(require('servable/package.json').exports).filter((p) => p !== './package.json');
for (const subpath of subpaths) {
  const name = 'servable' + subpath.slice(1);
  assert.ok(Object.keys(require(name)).length > 0, `${name} exports nothing`);
}
assert.equal(typeof require('servable').InferenceService, 'function');
console.log(`require() loads the ${subpaths.length} subpaths`);
