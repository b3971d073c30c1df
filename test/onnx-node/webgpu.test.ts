import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);
const ICD = '/usr/lib/chromium/vk_swiftshader_icd.json';

// Dawn finds its Vulkan driver through VK_ICD_FILENAMES and dlopens libvulkan.so.1, which Debian's
// chromium package ships in /usr/lib/chromium; both are read when the process starts, so the
// check runs in a child process with that environment. SwiftShader is ~500x slower than the CPU
// provider: tiny models only.
test('webgpu runs the linear model within 1e-4 of cpu, batched too', { skip: !existsSync(ICD) && `no SwiftShader Vulkan driver at ${ICD} (apt-get install chromium)` }, async () => {
  const env = {
    ...process.env,
    VK_ICD_FILENAMES: ICD,
    LD_LIBRARY_PATH: ['/usr/lib/chromium', process.env['LD_LIBRARY_PATH']].filter(Boolean).join(':'),
  };
  const { stdout } = await run(process.execPath, ['--import', 'tsx', path.join(import.meta.dirname, 'webgpu-child.ts')], { env });
  const report = JSON.parse(stdout.trim().split('\n').at(-1)!) as {
    device: string;
    fallbacks: unknown[];
    results: { shape: number[]; webgpu: number[]; cpu: number[] }[];
  };
  assert.equal(report.device, 'webgpu');
  assert.deepEqual(report.fallbacks, []);
  assert.deepEqual(report.results.map((r) => r.shape), [[1, 2], [5, 2]]);
  for (const { webgpu, cpu } of report.results) {
    assert.equal(webgpu.length, cpu.length);
    webgpu.forEach((v, i) => assert.ok(Math.abs(v - cpu[i]!) <= 1e-4, `element ${i}: webgpu ${v}, cpu ${cpu[i]}`));
  }
});
