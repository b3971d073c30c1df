import { Worker, type TransferListItem, type WorkerOptions } from 'node:worker_threads';

/**
 * Starts a worker thread running `script`, with `options` besides its data. A `.ts` script
 * (servable's own sources under tsx, in development) goes through a bootstrap that registers tsx
 * first: tsx hooks only the main thread on Node 20, whatever the worker's execArgv.
 */
export function spawnWorker(script: URL, workerData: unknown, transferList: readonly TransferListItem[], options: WorkerOptions = {}): Worker {
  const all = { ...options, workerData, transferList: [...transferList] };
  if (!script.pathname.endsWith('.ts')) return new Worker(script, all);
  const tsx = JSON.stringify(import.meta.resolve('tsx/esm/api'));
  const code = `import(${tsx}).then((tsx) => { tsx.register(); return import(${JSON.stringify(script.href)}); });`;
  return new Worker(code, { eval: true, ...all });
}
