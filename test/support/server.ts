import { readdir } from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import { buildApp } from '../../src/http/app.js';
import { Metrics } from '../../src/core/metrics.js';
import { rememberHttpTranscript } from '../../src/http/transcripts.js';
import { MemoryJobBackend } from '../../src/jobs/memory-backend.js';
import { createLogger, type Logger } from '../../src/logger.js';
import type { Store } from '../../src/store/index.js';
import { testCore } from './core.js';

export { ffmpegChildren } from '../../testkit/processes.js';

/** The service's HTTP app on a real port over a real tone-model core. */
export async function startTestServer(env: Record<string, string> = {}, logger?: Logger) {
  const log = logger ?? createLogger({ level: 'silent' });
  const metrics = new Metrics({ defaultMetrics: false });
  const { core, config } = await testCore(env, log, { metrics });
  const app = await buildApp({ config, transcriber: core.transcriber, logger: log, metrics });
  const url = await app.listen({ port: 0, host: '127.0.0.1' });
  return {
    url,
    core,
    config,
    app,
    async close() {
      await app.close();
      await core.close();
    },
  };
}

/** POSTs a multipart form with the audio as field `file` (and other string fields). */
export function postFile(url: string, data: Uint8Array, filename: string, fields: Record<string, string> = {}, headers: Record<string, string> = {}) {
  const form = new FormData();
  for (const [key, value] of Object.entries(fields)) form.append(key, value);
  form.append('file', new Blob([new Uint8Array(data)]), filename);
  return fetch(url, { method: 'POST', body: form, headers });
}

/** A raw WAV upload the test streams by hand: `request` to write, end or destroy; `answer` once it is answered. */
export function streamUpload(url: string, length: number): { request: http.ClientRequest; answer: Promise<{ status: number; body: string }> } {
  const request = http.request(url, { method: 'POST', headers: { 'content-type': 'audio/wav', 'content-length': length } });
  const answer = new Promise<{ status: number; body: string }>((resolve, reject) => {
    request.on('response', (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    request.on('error', reject);
  });
  return { request, answer };
}

/** Temporary files and folders the service creates (decode spills MP4s there). */
export async function serviceTempFiles(): Promise<string[]> {
  return (await readdir(os.tmpdir())).filter((name) => name.startsWith('viet-stt-decode-'));
}

/** Polls `check` until it returns a value, within `timeoutMs`. */
export async function waitUntil<T>(check: () => Promise<T | undefined>, timeoutMs = 5000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** The service's app with the embedded job backend, on a real port over the tone-model core. */
export async function startJobServer(env: Record<string, string> = {}, store?: Store) {
  const log = createLogger({ level: 'silent' });
  const metrics = new Metrics({ defaultMetrics: false });
  const { core, config } = await testCore(env, log, { metrics });
  const jobs = MemoryJobBackend.fromConfig(config, core.transcriber, log, store && ((transcript) => rememberHttpTranscript(store, transcript)));
  const app = await buildApp({ config, transcriber: core.transcriber, logger: log, metrics, jobs, store });
  const url = await app.listen({ port: 0, host: '127.0.0.1' });
  return {
    url,
    jobs,
    async close() {
      await app.close();
      await jobs.close();
      await core.close();
    },
  };
}
