// The installed package from CommonJS: require() of ESM (Node >= 20.19) loads it.
const assert = require('node:assert/strict');
const servable = require('servable');
assert.equal(typeof servable.InferenceService, 'function');
assert.equal(typeof servable.DynamicBatcher, 'function');
assert.equal(typeof require('servable/testing').FakeClock, 'function');
console.log('require() works');
