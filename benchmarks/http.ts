/**
 * What HTTP costs, on the PaddleOCR text-direction classifier: in-process service.infer against
 * loopback HTTP with binary tensor data (through the Node adapter and through Fastify, each driven
 * by the Node client and, with BENCH_WRK=1, by wrk), with JSON, and with 4 images a request, all
 * measured in one server process (benchmarks/http-server.ts, which says how). That process runs
 * twice: with Node's default heap settings, and with the old-generation floor docs/http.md
 * recommends for serving, because a process that receives a new buffer per request runs V8's full
 * collections several times a second without it. Each run prints its own ratios; rounds alternate
 * the paths and medians are reported. BENCH_SECONDS, BENCH_ROUNDS and BENCH_CALLERS set the time
 * per path, the rounds and the callers; BENCH_PIPELINE_DEPTH, BENCH_SPIN_WAIT_MS and BENCH_WORKER_NICE the backend's `pipelineDepth` (default 1), `spinWaitMs` and `workerNice` (their defaults).
 */
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Measured, PathName, Result } from './http-server.js';
import { watchMachineNoise } from './machine-noise.js';
import { median, table } from './stats.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 3);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const CALLERS = Number(process.env.BENCH_CALLERS ?? 32);

/** The server process's V8 heap settings, each measured in its own process. */
const HEAP_SETTINGS: Record<string, readonly string[]> = {
  "Node's defaults": [],
  'old-generation floor (recommended)': ['--initial-old-space-size=64'],
};

function measure(flags: readonly string[]): Promise<Measured> {
  const script = fileURLToPath(new URL('./http-server.ts', import.meta.url));
  const child = fork(script, process.execArgv, { execArgv: [...process.execArgv, ...flags] });
  return new Promise((resolve, reject) => {
    child.once('message', (measured: Measured) => resolve(measured));
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`The HTTP benchmark's server exited with code ${code} and no result`)));
  });
}

/** The single-image binary paths, each with its share of in-process throughput in the summary. */
const BINARY_PATHS: readonly PathName[] = ['HTTP binary, Fastify, wrk', 'HTTP binary, servable/node, wrk', 'HTTP binary, Fastify', 'HTTP binary, servable/node'];

/** Prints one server process's results; returns the binary paths' and the new-array path's ratios to in-process. */
function report({ paths, floor }: Measured): { binary: string; fresh: number } {
  const rounds = new Map(paths.map((path) => [path.name, path.rounds]));
  const of = (name: PathName) => rounds.get(name)!;
  const inProc = of('in-process service.infer');
  const m = (rs: readonly Result[], key: keyof Result) => median(rs.map((r) => r[key]));
  // Each round's items/s over the base path's in the same round (paths alternate within a round), then the median.
  const ratioTo = (base: readonly Result[]) => (rs: readonly Result[]) => median(rs.map((r, i) => r.itemsPerSec / base[i]!.itemsPerSec));
  const ratio = ratioTo(inProc);
  const fresh = of('in-process, a new input array per request');
  console.log(table(
    ['path', 'items/s', '÷ in-process', 'p50 ms', 'p99 ms', 'server CPU ms/item', 'of it event loop', 'client CPU ms/item', 'images/batch', 'mark-compacts/s'],
    paths.map(({ name, rounds: rs }) => [name, m(rs, 'itemsPerSec'), ratio(rs), m(rs, 'p50'), m(rs, 'p99'), m(rs, 'serverMs'), m(rs, 'eventLoopMs'), m(rs, 'clientMs'), m(rs, 'batch'), m(rs, 'markCompactsPerSec')]),
  ));
  const binaryPaths = BINARY_PATHS.filter((name) => rounds.has(name));
  const each = (f: (rs: readonly Result[]) => number) => binaryPaths.map((name) => `${name.replace('HTTP binary, ', '')} ${f(of(name)).toFixed(3)}`).join(', ');
  const binary = each(ratio);
  console.log(`\nHTTP binary ÷ in-process (median of per-round ratios): ${binary}   [target >= 0.8]`);
  // An HTTP body is a new tensor every request; in-process callers that pass one too pay its memory and cold caches.
  console.log(`HTTP binary ÷ in-process with a new input array per request (median of per-round ratios): ${each(ratioTo(fresh))}`);
  const fastify = of('HTTP binary, Fastify');
  console.log(`HTTP binary ÷ HTTP JSON, Fastify and the Node client: ${(m(fastify, 'itemsPerSec') / m(of('HTTP JSON, Fastify'), 'itemsPerSec')).toFixed(2)}`);
  const [worker, inPlace] = [of('HTTP JSON, Fastify'), of('HTTP JSON, Fastify, decoded on the event loop')];
  console.log(
    `HTTP JSON, Fastify, decoded on a JSON worker ÷ on the event loop: items/s ${(m(worker, 'itemsPerSec') / m(inPlace, 'itemsPerSec')).toFixed(3)}; ` +
      `event-loop CPU per image ${m(worker, 'eventLoopMs').toFixed(2)} ms against ${m(inPlace, 'eventLoopMs').toFixed(2)}`,
  );
  // When the server is CPU-bound and its clients run elsewhere, throughput goes as 1 / server CPU per item.
  const inProcMs = m(inProc, 'serverMs');
  console.log(`in-process ÷ HTTP binary server CPU per item (the ratio with clients on other machines): ${each((rs) => inProcMs / m(rs, 'serverMs'))}`);
  console.log(
    `HTTP floor, the Node client sending binary requests to a bare node:http server that reads each body and answers at once (no model, no framework): ` +
      `${floor.itemsPerSec.toFixed(0)} requests/s, server CPU ${floor.serverMs.toFixed(3)} ms/request (event loop ${floor.eventLoopMs.toFixed(3)}), client ${floor.clientMs.toFixed(3)} ms/request`,
  );
  console.log(`server CPU per image that HTTP adds to the in-process path, ms: ${each((rs) => m(rs, 'serverMs') - inProcMs)}; of it on the event loop: ${each((rs) => m(rs, 'eventLoopMs') - m(inProc, 'eventLoopMs'))}`);
  // Both paths are bound by CPU on shared cores, so their ratio follows from CPU per image, client included.
  console.log(
    `ratio predicted from CPU per image (server and client): ${each((rs) => inProcMs / (m(rs, 'serverMs') + m(rs, 'clientMs')))}; ` +
      `an HTTP path costing only the floor's server and client CPU ${(inProcMs / (inProcMs + floor.serverMs + floor.clientMs)).toFixed(3)}`,
  );
  return { binary, fresh: ratio(fresh) };
}

export async function run(): Promise<void> {
  console.log(`# http: cls model, ${CALLERS} concurrent single-image callers, ${ROUNDS} rounds of ${SECONDS} s per path, pipelineDepth ${process.env.BENCH_PIPELINE_DEPTH ?? 1}, spinWaitMs ${process.env.BENCH_SPIN_WAIT_MS ?? 'default'}, workerNice ${process.env.BENCH_WORKER_NICE ?? 'default'}`);
  const binary: string[] = [];
  const fresh: string[] = [];
  for (const [name, flags] of Object.entries(HEAP_SETTINGS)) {
    console.log(`\n## server heap: ${name}${flags.length ? ` (node ${flags.join(' ')})` : ''}\n`);
    const noise = watchMachineNoise();
    const ratios = report(await measure(flags));
    // Other processes' share would count this benchmark's own server and clients: steal alone says what the host took.
    const stealPct = noise()?.stealPct;
    console.log(`steal (the hypervisor running something else while this machine's vCPUs were ready) during this server's run: ${stealPct === undefined ? 'not measured (no /proc/stat)' : `${stealPct.toFixed(1)}%`}`);
    binary.push(`${name}: ${ratios.binary}`);
    fresh.push(`${name} ${ratios.fresh.toFixed(3)}`);
  }
  console.log(`\nHTTP binary ÷ in-process by heap setting [target >= 0.8]:\n  ${binary.join('\n  ')}`);
  console.log(`in-process with a new input array per request ÷ the same array, by heap setting: ${fresh.join(', ')}`);
}
