import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { once } from 'node:events';

/** `npm start` as a child process: node with tsx running src/main.ts, its JSON log lines parsed. */
export interface ServiceProcess {
  child: ChildProcessWithoutNullStreams;
  url: string;
  logs: Record<string, unknown>[];
  /** Raw stdout and stderr, for checks that secrets never appear. */
  output(): string;
  exit: Promise<number | null>;
}

/**
 * Starts the service. With `detached` it leads a process group of its own, as a service under
 * systemd or in a terminal does, so that a test can signal the whole group (`kill -- -PGID`).
 */
export async function startServiceProcess(env: Record<string, string>, timeoutMs = 30_000, options: { detached?: boolean } = {}): Promise<ServiceProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '',
      TMPDIR: process.env.TMPDIR ?? '',
      DATA_DIR: process.env.DATA_DIR ?? '',
      HOST: '127.0.0.1',
      PORT: '0',
      LOG_LEVEL: 'info',
      DEVICE: 'cpu',
      ...env,
    },
    detached: options.detached ?? false,
  });
  const logs: Record<string, unknown>[] = [];
  let raw = '';
  let pending = '';
  const exit = once(child, 'exit').then(([code]) => code as number | null);
  const url = await new Promise<string>((resolve, reject) => {
    // A service that does not start in time is killed, so that a failed test leaves no process behind.
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`the service did not start in ${timeoutMs} ms:\n${raw}`));
    }, timeoutMs);
    child.stdout.on('data', (chunk: Buffer) => {
      raw += chunk.toString();
      pending += chunk.toString();
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) {
        try {
          const entry = JSON.parse(line) as Record<string, unknown>;
          logs.push(entry);
          if (entry.msg === 'listening' && typeof entry.url === 'string') {
            clearTimeout(timer);
            resolve(entry.url);
          }
        } catch {
          // not a log line
        }
      }
    });
    child.stderr.on('data', (chunk: Buffer) => (raw += chunk.toString()));
    void exit.then((code) => {
      clearTimeout(timer);
      reject(new Error(`the service exited with ${code} before listening:\n${raw}`));
    });
  });
  return { child, url, logs, output: () => raw, exit };
}
