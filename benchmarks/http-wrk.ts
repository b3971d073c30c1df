/**
 * The HTTP benchmark's second load generator: wrk (Debian's `wrk` package), a C client on epoll
 * that costs about half the CPU per request of the Node client in http-client.ts. Both share the
 * machine's two cores with the server, so the cheaper the client, the nearer the measured ratio
 * comes to what the server alone costs. wrk sends one body on every connection (the Node client
 * sends a different image per caller; the model's cost does not depend on the values) and checks
 * every reply's status and length in its script (http-wrk.lua).
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ClientResult } from './http-client.js';
import { INFER_PATH, inferRequest, OUTPUT_BYTES } from './http-request.js';

/** Whether wrk is on the PATH. */
export const wrkInstalled = spawnSync('wrk', ['--version']).error === undefined;

/** What one wrk run measured: the Node client's result, with wrk's own latency percentiles. */
export interface WrkResult extends Omit<ClientResult, 'latencies'> {
  readonly p50: number;
  readonly p99: number;
}

/**
 * Runs wrk against `base` for `seconds` with `connections` keep-alive connections (one request in
 * flight on each), each request binary tensor data of `images` images.
 */
export async function runWrk(base: string, connections: number, seconds: number, images = 1): Promise<WrkResult> {
  const dir = mkdtempSync(path.join(tmpdir(), 'servable-wrk-'));
  try {
    const { headers, body } = inferRequest('binary', 1, images);
    writeFileSync(path.join(dir, 'body'), body);
    const script = fileURLToPath(new URL('./http-wrk.lua', import.meta.url));
    const url = new URL(INFER_PATH, base).href;
    // bash's `times` prints the CPU its children used: wrk's, in user and system time.
    const command = `wrk -t1 -c${connections} -d${seconds}s -s "$1" "$2"; times`;
    const child = spawn('bash', ['-c', command, 'bash', script, url], {
      env: {
        ...process.env,
        WRK_BODY: path.join(dir, 'body'),
        WRK_HEADERS: Object.entries(headers).map(([k, v]) => `${k}: ${v}`).join('\n'),
        WRK_OUTPUT_BYTES: String(OUTPUT_BYTES * images),
      },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    const code = await new Promise<number | null>((resolve, reject) => {
      child.once('error', reject);
      child.once('close', resolve);
    });
    const line = /^RESULT (.*)$/m.exec(out);
    const cpu = /^(\d+)m([\d.]+)s (\d+)m([\d.]+)s\s*$/m.exec(out.slice(out.lastIndexOf('\n', out.length - 2)));
    if (code !== 0 || !line || !cpu) throw new Error(`wrk exited with code ${code} and printed:\n${out}`);
    const r = JSON.parse(line[1]!) as { requests: number; us: number; errors: number; bad: number; p50: number; p99: number };
    const cpuMs = (Number(cpu[1]) * 60 + Number(cpu[2]) + Number(cpu[3]) * 60 + Number(cpu[4])) * 1000;
    const failed = Math.max(r.errors, r.bad);
    return { items: (r.requests - failed) * images, seconds: r.us / 1e6, errors: failed, cpuMs, p50: r.p50 / 1000, p99: r.p99 / 1000 };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
