import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { freePort } from './free-port.js';

/** Debian's redis-server package (installed by .ci/run); REDIS_SERVER points at any other. */
const REDIS_SERVER_CANDIDATES = ['/usr/bin/redis-server', '/usr/local/bin/redis-server'];

/** A redis-server a test or a benchmark started itself, on a free port, with its files in a temp dir. */
export interface TestRedis {
  url: string;
  port: number;
  /** Stops the server (SIGKILL when `hard`, as a crashed host), keeping the port for start(). */
  stop(options?: { hard?: boolean }): Promise<void>;
  /** Starts it again on the same port (after stop()): what a Redis coming back looks like. */
  start(): Promise<void>;
  /** Stops it for good and removes its folder. */
  close(): Promise<void>;
}

/** The redis-server to run; a missing one fails the test with the command that installs it. */
function redisServerPath(): string {
  const configured = process.env.REDIS_SERVER;
  if (configured) {
    if (!existsSync(configured)) throw new Error(`REDIS_SERVER=${configured} does not exist. Point it at a redis-server binary.`);
    return configured;
  }
  const found = REDIS_SERVER_CANDIDATES.find((candidate) => existsSync(candidate));
  if (!found) {
    throw new Error(
      `The queue tests and benchmark need a redis-server and found none at ${REDIS_SERVER_CANDIDATES.join(', ')}. ` +
        "Install Debian's: `apt-get update && apt-get install -y redis-server`, or set REDIS_SERVER=/path/to/redis-server.",
    );
  }
  return found;
}

/**
 * Starts redis-server with no persistence (a test's data dies with it) and waits until it
 * accepts connections. Close it in afterAll/afterEach (or a benchmark's finally): close() kills
 * the process whatever state the test left it in.
 */
export async function startRedis(): Promise<TestRedis> {
  const binary = redisServerPath();
  const dir = await mkdtemp(path.join(os.tmpdir(), 'stt-redis-'));
  const port = await freePort();
  let child: ChildProcess | undefined;

  const start = async (): Promise<void> => {
    const proc = spawn(binary, ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no', '--maxmemory-policy', 'noeviction'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child = proc;
    let output = '';
    proc.stdout?.on('data', (c: Buffer) => (output += c.toString()));
    proc.stderr?.on('data', (c: Buffer) => (output += c.toString()));
    const exited = once(proc, 'exit').then(() => {
      throw new Error(`redis-server exited before it was ready:\n${output}`);
    });
    const ready = new Promise<void>((resolve) => {
      const check = (): void => {
        if (output.includes('Ready to accept connections')) resolve();
      };
      proc.stdout?.on('data', check);
    });
    const timeout = new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`redis-server did not start in 10 s:\n${output}`)), 10_000).unref());
    await Promise.race([ready, exited, timeout]);
  };

  const stop = async (options: { hard?: boolean } = {}): Promise<void> => {
    const proc = child;
    child = undefined;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    const exit = once(proc, 'exit');
    proc.kill(options.hard ? 'SIGKILL' : 'SIGTERM');
    await exit;
  };

  await start();
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    stop,
    start,
    async close() {
      await stop({ hard: true });
      await rm(dir, { recursive: true, force: true });
    },
  };
}
