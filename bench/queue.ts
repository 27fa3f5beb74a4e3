/**
 * `npx tsx bench/queue.ts`: what the distributed path costs. Not a test.
 *
 * Starts its own redis-server (Debian's, or REDIS_SERVER) on a free port of 127.0.0.1 with no
 * persistence (testkit/redis.ts, as the tests do), and the tone test model's core (built into
 * test-output/tone-model when missing).
 *
 * 1. Latency of one 5 s voice note, one at a time, `--notes` times after a warm-up, alternately
 *    through the embedded core (`Transcriber.transcribe`) and through the queue (QueueTranscriber → Redis →
 *    BullMQ worker → the same core → QueueEvents → back), p50 and p95 of each, and the
 *    difference: what Redis and BullMQ add.
 * 2. Throughput: `--burst` notes submitted at once through the queue, with one worker and then two
 *    (each a core of its own, with its own inference worker thread, in this process), in notes
 *    per minute.
 *
 * The tone model costs almost nothing, so the latency difference is the queue's own overhead;
 * the throughput is ffmpeg's decode plus that overhead, not what the real model would allow.
 *
 *   npx tsx bench/queue.ts --notes 40 --burst 24
 */
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { loadConfig } from '../src/config.js';
import { createCore, type Core } from '../src/core/create-transcriber.js';
import type { Transcriber } from '../src/core/types.js';
import { createLogger } from '../src/logger.js';
import { QueueFront } from '../src/queue/queue-front.js';
import { QueueTranscriber } from '../src/queue/queue-transcriber.js';
import { startQueueWorker, type QueueWorker } from '../src/queue/queue-worker.js';
import { startRedis } from '../testkit/redis.js';
import { speech } from '../testkit/speech.js';
import { TONE_MODEL_DIR, writeToneModel } from '../testkit/tone-model.js';

const RESULTS = path.resolve('test-output/queue-bench.json');
/** About five seconds of the tone model's speech: a voice note. */
const PHRASE = 'xin chào các bạn hôm nay trời';

const { values } = parseArgs({ options: { notes: { type: 'string', default: '40' }, burst: { type: 'string', default: '24' } } });
const NOTES = Number(values.notes);
const BURST = Number(values.burst);

const silent = createLogger({ level: 'silent' });

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

/**
 * Both paths, note by note in turn, so that whatever else the machine is doing weighs on both
 * alike; the queue's worker runs on the same core as the embedded calls.
 */
async function latencies(paths: Record<'embedded' | 'queue', Transcriber>, audio: Uint8Array): Promise<Record<'embedded' | 'queue', { p50: number; p95: number }>> {
  const times: Record<'embedded' | 'queue', number[]> = { embedded: [], queue: [] };
  for (let i = 0; i < NOTES + 3; i++) {
    for (const name of ['embedded', 'queue'] as const) {
      const started = performance.now();
      const transcript = await paths[name].transcribe({ kind: 'buffer', data: audio });
      if (transcript.text !== PHRASE) throw new Error(`wrong transcript: ${transcript.text}`);
      // The first three of each are a warm-up.
      if (i >= 3) times[name].push(performance.now() - started);
    }
  }
  const summary = (list: number[]) => {
    const sorted = [...list].sort((a, b) => a - b);
    return { p50: round(percentile(sorted, 50)), p95: round(percentile(sorted, 95)) };
  };
  return { embedded: summary(times.embedded), queue: summary(times.queue) };
}

async function burst(transcriber: Transcriber, audio: Uint8Array): Promise<number> {
  const started = performance.now();
  const results = await Promise.all(Array.from({ length: BURST }, () => transcriber.transcribe({ kind: 'buffer', data: audio })));
  const seconds = (performance.now() - started) / 1000;
  if (results.some((r) => r.text !== PHRASE)) throw new Error('wrong transcript in the burst');
  return Math.round((BURST / seconds) * 60);
}

const round = (ms: number): number => Math.round(ms * 10) / 10;

async function main(): Promise<void> {
  if (!existsSync(path.join(TONE_MODEL_DIR, 'model.onnx'))) {
    await mkdir(TONE_MODEL_DIR, { recursive: true });
    await writeToneModel(TONE_MODEL_DIR);
  }
  const redis = await startRedis();
  const env = { MODEL_DIR: TONE_MODEL_DIR, DEVICE: 'cpu', INFERENCE_THREADS: '1', LOG_LEVEL: 'silent', QUEUE_URL: redis.url, QUEUE_MAX_PENDING: String(BURST * 2) };
  const config = loadConfig(env);
  const cores: Core[] = [];
  const workers: QueueWorker[] = [];
  let front: QueueFront | undefined;
  try {
    const audio = await speech(PHRASE);
    cores.push(await createCore(config, silent));
    const noteSec = (await cores[0].transcriber.transcribe({ kind: 'buffer', data: audio })).duration;

    workers.push(await startQueueWorker({ url: redis.url, transcriber: cores[0].transcriber, concurrency: config.queue.concurrency, failoverMs: 15_000, logger: silent }));
    front = await QueueFront.open({ url: redis.url, logger: silent, maxPending: BURST * 2, audioTtlMs: 600_000, keepFinishedSec: 60 });
    const queued = new QueueTranscriber({ front, config, logger: silent, modelName: 'tone-model' });
    const { embedded, queue: distributed } = await latencies({ embedded: cores[0].transcriber, queue: queued }, audio);
    const oneWorker = await burst(queued, audio);

    cores.push(await createCore(config, silent));
    workers.push(await startQueueWorker({ url: redis.url, transcriber: cores[1].transcriber, concurrency: config.queue.concurrency, failoverMs: 15_000, logger: silent }));
    const twoWorkers = await burst(queued, audio);

    const result = {
      machine: `${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}`,
      noteSec,
      notes: NOTES,
      embeddedMs: embedded,
      queueMs: distributed,
      addedMs: { p50: round(distributed.p50 - embedded.p50), p95: round(distributed.p95 - embedded.p95) },
      burst: BURST,
      notesPerMinute: { oneWorker, twoWorkers },
    };
    console.log(JSON.stringify(result, null, 2));
    await mkdir(path.dirname(RESULTS), { recursive: true });
    await writeFile(RESULTS, JSON.stringify(result, null, 2));
  } finally {
    await front?.close();
    for (const worker of workers) await worker.close();
    for (const core of cores) await core.close();
    await redis.close();
  }
}

await main();
