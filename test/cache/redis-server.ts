import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Why Redis tests are skipped, or undefined when redis-server is installed. */
export const redisMissing: string | undefined =
  spawnSync('redis-server', ['--version']).error ? 'redis-server not found: apt-get install -y redis-server' : undefined;

/** A redis-server process on a loopback port, started for one test file. */
export interface RedisProcess {
  readonly ports: readonly number[];
  stop(): Promise<void>;
}

/** A free loopback TCP port. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

function startOne(port: number, extra: string[]): Promise<ChildProcess> {
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', ...extra], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return new Promise((resolve, reject) => {
    let out = '';
    const onData = (chunk: Buffer): void => {
      out += chunk.toString();
      if (out.includes('Ready to accept connections')) {
        child.stdout?.off('data', onData);
        child.stdout?.resume();
        resolve(child);
      }
    };
    child.stdout?.on('data', onData);
    child.once('exit', (code) => reject(new Error(`redis-server exited with ${code}: ${out}`)));
  });
}

async function stopAll(children: ChildProcess[]): Promise<void> {
  await Promise.all(
    children.map(
      (child) =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null) return resolve();
          child.once('exit', () => resolve());
          child.kill('SIGTERM');
        }),
    ),
  );
}

/** Starts one redis-server on a free loopback port (or on `port`), with extra command-line options. */
export async function startRedis(extra: string[] = [], port?: number): Promise<RedisProcess & { kill(): Promise<void> }> {
  const at = port ?? (await freePort());
  const child = await startOne(at, extra);
  return {
    ports: [at],
    stop: () => stopAll([child]),
    /** SIGKILL: no shutdown, clients see their connections reset; resolves once it has exited. */
    kill: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGKILL');
      }),
  };
}

/** Starts a three-master Redis Cluster on free loopback ports and waits until it serves every slot. */
export async function startRedisCluster(): Promise<RedisProcess> {
  const dir = mkdtempSync(join(tmpdir(), 'servable-cluster-'));
  const ports = [await freePort(), await freePort(), await freePort()];
  const children: ChildProcess[] = [];
  try {
    for (const port of ports) {
      // The bus port defaults to port + 10000, which another process may hold (or which passes 65535).
      const bus = await freePort();
      children.push(
        await startOne(port, ['--cluster-enabled', 'yes', '--cluster-port', String(bus), '--cluster-config-file', join(dir, `nodes-${port}.conf`), '--dir', dir]),
      );
    }
    const create = spawnSync('redis-cli', ['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-yes'], {
      encoding: 'utf8',
    });
    if (create.status !== 0) throw new Error(`redis-cli --cluster create failed: ${create.stdout}${create.stderr}`);
    for (let attempt = 0; ; attempt++) {
      const states = ports.map((p) => spawnSync('redis-cli', ['-p', String(p), 'cluster', 'info'], { encoding: 'utf8' }).stdout);
      if (states.every((s) => s.includes('cluster_state:ok'))) break;
      if (attempt > 100) throw new Error(`the cluster did not become ready: ${states.join(' | ')}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  } catch (error) {
    await stopAll(children);
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  return {
    ports,
    stop: async () => {
      await stopAll(children);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
