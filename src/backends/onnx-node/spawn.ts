import { Worker, type TransferListItem } from 'node:worker_threads';

/**
 * Starts a worker thread running `script`. A `.ts` script (servable's own sources under tsx, in
 * development) goes through a bootstrap that registers tsx first: tsx hooks only the main thread
 * on Node 20, whatever the worker's execArgv.
 */
export function spawnWorker(script: URL, workerData: unknown, transferList: readonly TransferListItem[]): Worker {
  const options = { workerData, transferList: [...transferList] };
  if (!script.pathname.endsWith('.ts')) return new Worker(script, options);
  const tsx = JSON.stringify(import.meta.resolve('tsx/esm/api'));
  const code = `import(${tsx}).then((tsx) => { tsx.register(); return import(${JSON.stringify(script.href)}); });`;
  return new Worker(code, { eval: true, ...options });
}
