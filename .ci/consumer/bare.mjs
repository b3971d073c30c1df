// The installed package without its optional peers: the subpaths that need none load, and the
// onnx-node backend, asked for a model, names the package to install.
import assert from 'node:assert/strict';

const subpaths = ['servable', 'servable/node', 'servable/protocol', 'servable/repository', 'servable/testing', 'servable/redis', 'servable/onnx-web', 'servable/onnx-node'];
for (const name of subpaths) await import(name);
const { onnxNode } = await import('servable/onnx-node');
await assert.rejects(onnxNode().load(process.env.CLS_MODEL), { code: 'ERR_SERVABLE_BACKEND_UNAVAILABLE', message: /npm i onnxruntime-node/ });
console.log(`without peers: imported ${subpaths.join(', ')}; onnx-node asks for onnxruntime-node`);
