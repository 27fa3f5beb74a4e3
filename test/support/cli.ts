import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** The command as npm installs it, found from here so that a run may start in any directory. */
const BIN = fileURLToPath(new URL('../../bin/viet-stt.js', import.meta.url));

/** What one run of the command left: its exit code and everything it printed. */
export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs `viet-stt` as a user types it (the bin script, in a child process) with only PATH and
 * HOME from this environment plus `env`, in `cwd` (default: this process's), feeding `stdin` (in
 * chunks, when a list) and closing it.
 */
export function viet(args: string[], options: { env?: Record<string, string>; stdin?: string | string[]; cwd?: string } = {}): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      cwd: options.cwd,
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...options.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    const chunks = options.stdin === undefined ? [] : Array.isArray(options.stdin) ? options.stdin : [options.stdin];
    for (const chunk of chunks) child.stdin.write(chunk);
    child.stdin.end();
  });
}
