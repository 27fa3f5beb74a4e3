/**
 * `npm run bench`: speed and memory of the transcription core on a model with wav2vec2-base's
 * shape and cost (random weights, built here on demand), and of the converter.
 *
 * - real-time factor and peak RSS for 30 s, 60 s and 300 s of audio, windowed (CHUNK_SEC=20)
 * - the same 60 s in one pass, as the service it replaces did, for the memory comparison
 * - /healthz latency while a 300 s file is transcribing (the event loop must stay free)
 * - checkpoint → ONNX conversion time and peak RSS
 *
 * Results go to stdout and to test-output/bench.json.
 */
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { loadConfig } from '../src/config.js';
import { createCore } from '../src/core/create-transcriber.js';
import { Metrics } from '../src/core/metrics.js';
import { buildApp } from '../src/http/app.js';
import { createLogger } from '../src/logger.js';
import { buildWav2Vec2Onnx, randomWav2Vec2Weights, wav2vec2BaseConfig } from '../src/model/wav2vec2-graph.js';
import { TONE_ALPHABET, synthesizeSpeech } from '../src/model/tone-model.js';
import { encodeWav } from '../src/core/wav.js';
import { benchConvert } from './convert.js';

const MODEL_DIR = path.resolve('.cache/bench-base-model');

async function ensureBaseModel(): Promise<void> {
  if (existsSync(path.join(MODEL_DIR, 'model.onnx'))) return;
  await mkdir(MODEL_DIR, { recursive: true });
  const tokens = [...TONE_ALPHABET, '<s>', '</s>', '<unk>'];
  const vocab = Object.fromEntries([...tokens, ...Array.from({ length: 110 - tokens.length - 1 }, (_, i) => `x${i}`), '<pad>'].map((t, i) => [t, i]));
  const config = wav2vec2BaseConfig(Object.keys(vocab).length);
  process.stdout.write('building the random wav2vec2-base model… ');
  await writeFile(path.join(MODEL_DIR, 'model.onnx'), buildWav2Vec2Onnx(config, randomWav2Vec2Weights(config)));
  await writeFile(path.join(MODEL_DIR, 'vocab.json'), JSON.stringify(vocab));
  await writeFile(path.join(MODEL_DIR, 'preprocessor_config.json'), JSON.stringify({ do_normalize: true, sampling_rate: 16000 }));
  process.stdout.write('done\n');
}

/** Samples this process's RSS (worker threads included) until stopped. */
function rssSampler(): { stop(): number } {
  let peak = process.memoryUsage().rss;
  const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 20);
  return {
    stop() {
      clearInterval(timer);
      return Math.round(Math.max(peak, process.memoryUsage().rss) / 2 ** 20);
    },
  };
}

function speechOf(seconds: number): Uint8Array {
  const words = 'xin chào các bạn hôm nay trời đẹp quá';
  const text = Array.from({ length: Math.ceil(seconds / 6) }, () => words).join(' ');
  const audio = synthesizeSpeech(text);
  return encodeWav(audio.subarray(0, seconds * 16_000));
}

const percentile = (values: number[], p: number): number => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
};

async function benchTranscription(chunkSec: number, seconds: number[], probeHealth: boolean) {
  const logger = createLogger({ level: 'warn' });
  const config = loadConfig({ ...process.env, MODEL_DIR, CHUNK_SEC: String(chunkSec), STRIDE_SEC: chunkSec > 100 ? '0' : '4', PORT: '0', HOST: '127.0.0.1', MAX_DURATION_SEC: '600', MAX_UPLOAD_MB: '100' });
  const metrics = new Metrics({ defaultMetrics: false });
  const core = await createCore(config, logger, { metrics });
  const app = await buildApp({ config, transcriber: core.transcriber, logger, metrics });
  const url = await app.listen({ port: 0, host: '127.0.0.1' });
  const rows = [];
  try {
    // Warm-up: the first run pays onnxruntime's one-time allocations.
    await core.transcriber.transcribe({ kind: 'buffer', data: speechOf(5) });
    for (const s of seconds) {
      const data = speechOf(s);
      const sampler = rssSampler();
      const latencies: number[] = [];
      let probing = probeHealth;
      const probe = (async () => {
        while (probing) {
          const t0 = performance.now();
          await fetch(`${url}/healthz`).then((r) => r.arrayBuffer());
          latencies.push(performance.now() - t0);
          await new Promise((resolve) => setTimeout(resolve, 25));
        }
      })();
      const started = performance.now();
      const transcript = await core.transcriber.transcribe({ kind: 'buffer', data });
      const wall = performance.now() - started;
      probing = false;
      await probe;
      rows.push({
        mode: chunkSec > 100 ? 'one pass' : `windows of ${chunkSec} s`,
        audioSec: s,
        seconds: +(wall / 1000).toFixed(2),
        rtf: +(wall / 1000 / s).toFixed(3),
        peakRssMb: sampler.stop(),
        device: transcript.device,
        ...(probeHealth ? { healthzP50Ms: +percentile(latencies, 50).toFixed(1), healthzP99Ms: +percentile(latencies, 99).toFixed(1), healthzMaxMs: +Math.max(...latencies).toFixed(1), healthzProbes: latencies.length } : {}),
      });
      process.stdout.write(`${JSON.stringify(rows.at(-1))}\n`);
    }
  } finally {
    await app.close();
    await core.close();
  }
  return rows;
}

async function main(): Promise<void> {
  await ensureBaseModel();
  const windowed = await benchTranscription(20, [30, 60, 300], true);
  const onePass = await benchTranscription(1000, [60], false);
  const conversion = await benchConvert();
  process.stdout.write(`${JSON.stringify({ conversion })}\n`);
  const results = { date: new Date().toISOString(), cpus: (await import('node:os')).cpus().length, windowed, onePass, conversion };
  await mkdir('test-output', { recursive: true });
  await writeFile('test-output/bench.json', `${JSON.stringify(results, null, 2)}\n`);
  console.table([...windowed, ...onePass]);
}

await main();
