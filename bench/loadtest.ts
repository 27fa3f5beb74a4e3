/**
 * `npm run loadtest`: bounded load on the real HTTP service, on 127.0.0.1 only. Not a test.
 *
 * The service runs in this process (config, core with ffmpeg and the worker pool, Fastify app) on
 * the tone test model, built into test-output/tone-model when missing. Clients POST synthesised
 * speech to /wav2vec2 as multipart `file`, `--concurrency` at a time, `--requests` in all, after a
 * warm-up. QUEUE_MAX_PENDING is small by default so that the queue refuses some of them.
 *
 * Every answer must be a 200 with the exact transcript, or a clean 503 `queue_full` with a
 * Retry-After header; both are counted. Printed: latency p50/p95/max, throughput (requests and
 * audio seconds per second), RSS before and after (each after a GC and settling) against a
 * margin. Exits non-zero when an answer is anything else, a request times out, the whole run
 * passes its time bound, RSS grows past the margin, or an ffmpeg child process is left.
 * Results also go to test-output/loadtest.json.
 *
 *   npm run loadtest -- --requests 200 --concurrency 16 --queue-max-pending 12 --rss-margin-mb 64
 *   npm run loadtest -- --help
 */
import { setMaxListeners } from 'node:events';
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { loadConfig, type Config } from '../src/config.js';
import { createCore } from '../src/core/create-transcriber.js';
import { Metrics } from '../src/core/metrics.js';
import { buildApp } from '../src/http/app.js';
import { createLogger } from '../src/logger.js';
import { synthesizeSpeech, writeToneModel } from '../src/model/tone-model.js';
import { speech } from '../test/support/audio.js';
import { ffmpegChildren } from '../test/support/server.js';

const TONE_MODEL_DIR = path.resolve('test-output/tone-model');
const RESULTS = path.resolve('test-output/loadtest.json');
const HOST = '127.0.0.1';
const PHRASES = ['xin chào các bạn', 'hôm nay trời đẹp quá', 'một hai ba bốn năm', 'cảm ơn rất nhiều', 'tiếng việt có dấu'];
const FORMATS = ['ogg-opus', 'wav'] as const;
type Format = (typeof FORMATS)[number];

// ---------------------------------------------------------------------------------------------
// Settings: --flag value, --flag=value, or the environment variable; else the default.

interface Settings {
  requests: number;
  concurrency: number;
  queueMaxPending: number;
  workers: number;
  warmup: number;
  timeoutMs: number;
  deadlineSec: number;
  backoffMs: number;
  rssMarginMb: number;
  format: Format;
}

const OPTIONS: { [K in keyof Settings]: { flag: string; env: string; fallback: Settings[K]; help: string } } = {
  requests: { flag: 'requests', env: 'LOADTEST_REQUESTS', fallback: 200, help: 'measured requests' },
  concurrency: { flag: 'concurrency', env: 'LOADTEST_CONCURRENCY', fallback: 16, help: 'requests in flight at once' },
  queueMaxPending: { flag: 'queue-max-pending', env: 'QUEUE_MAX_PENDING', fallback: 12, help: "the service's QUEUE_MAX_PENDING: under concurrency, so some requests meet queue_full" },
  workers: { flag: 'workers', env: 'INFERENCE_WORKERS', fallback: 1, help: "the service's INFERENCE_WORKERS" },
  warmup: { flag: 'warmup', env: 'LOADTEST_WARMUP', fallback: 200, help: 'unmeasured requests first, at the same concurrency, so that RSS is at its plateau before' },
  timeoutMs: { flag: 'timeout-ms', env: 'LOADTEST_TIMEOUT_MS', fallback: 30_000, help: 'limit for one request' },
  deadlineSec: { flag: 'deadline-s', env: 'LOADTEST_DEADLINE_S', fallback: 180, help: 'limit for the whole run, warm-up included' },
  backoffMs: { flag: 'backoff-ms', env: 'LOADTEST_BACKOFF_MS', fallback: 50, help: 'pause of a client after a 503 before its next request' },
  rssMarginMb: { flag: 'rss-margin-mb', env: 'LOADTEST_RSS_MARGIN_MB', fallback: 64, help: 'allowed RSS growth over the run' },
  format: { flag: 'format', env: 'LOADTEST_FORMAT', fallback: 'ogg-opus', help: `upload format: ${FORMATS.join(' or ')}` },
};

function usage(): string {
  const rows = Object.values(OPTIONS).map((o) => `  --${o.flag.padEnd(18)} ${o.help} (env ${o.env}; default ${o.fallback})`);
  return `usage: npm run loadtest -- [options]\n${rows.join('\n')}\n`;
}

function parseSettings(argv: string[], env: NodeJS.ProcessEnv): Settings {
  const given = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const m = /^--([a-z-]+)(?:=(.*))?$/.exec(argv[i]);
    if (!m) throw new Error(`unexpected argument ${argv[i]}\n${usage()}`);
    if (m[1] === 'help') {
      process.stdout.write(usage());
      process.exit(0);
    }
    const value = m[2] ?? argv[++i];
    if (value === undefined) throw new Error(`--${m[1]} needs a value`);
    given.set(m[1], value);
  }
  const known = new Set(Object.values(OPTIONS).map((o) => o.flag));
  for (const flag of given.keys()) if (!known.has(flag)) throw new Error(`unknown option --${flag}\n${usage()}`);

  const number = (key: Exclude<keyof Settings, 'format'>, min: number): number => {
    const o = OPTIONS[key];
    const raw = given.get(o.flag) ?? env[o.env];
    const value = raw === undefined || raw === '' ? o.fallback : Number(raw);
    if (!Number.isFinite(value) || value < min) throw new Error(`--${o.flag} (or ${o.env}) must be a number ≥ ${min}, not ${raw}`);
    return value;
  };
  const format = given.get(OPTIONS.format.flag) ?? env[OPTIONS.format.env] ?? OPTIONS.format.fallback;
  if (!(FORMATS as readonly string[]).includes(format)) throw new Error(`--format must be ${FORMATS.join(' or ')}, not ${format}`);
  return {
    requests: Math.round(number('requests', 1)),
    concurrency: Math.round(number('concurrency', 1)),
    queueMaxPending: Math.round(number('queueMaxPending', 1)),
    workers: Math.round(number('workers', 1)),
    warmup: Math.round(number('warmup', 0)),
    timeoutMs: number('timeoutMs', 1),
    deadlineSec: number('deadlineSec', 1),
    backoffMs: number('backoffMs', 0),
    rssMarginMb: number('rssMarginMb', 0),
    format: format as Format,
  };
}

// ---------------------------------------------------------------------------------------------
// Audio, processes, memory.

interface Clip {
  text: string;
  seconds: number;
  data: Uint8Array;
  name: string;
}

async function makeClip(text: string, format: Format): Promise<Clip> {
  const seconds = synthesizeSpeech(text).length / 16_000;
  // Encoded before the service starts, so that no ffmpeg of this script is alive during the run.
  const data = await speech(text, format === 'wav' ? 'wav' : 'ogg-opus');
  return { text, seconds, data, name: format === 'wav' ? 'speech.wav' : 'voice.ogg' };
}

/**
 * A full GC of the main thread: `global.gc` under --expose-gc, else the same function obtained by
 * turning the flag on at run time (V8 then exposes it to new contexts); undefined if neither works.
 */
function findGc(): { gc: (() => void) | undefined; how: string } {
  const exposed = (globalThis as { gc?: () => void }).gc;
  if (typeof exposed === 'function') return { gc: exposed, how: 'global.gc (--expose-gc)' };
  try {
    setFlagsFromString('--expose-gc');
    const gc: unknown = runInNewContext('gc');
    if (typeof gc === 'function') return { gc: gc as () => void, how: 'gc exposed at run time (v8.setFlagsFromString)' };
  } catch {
    // fall through
  }
  return { gc: undefined, how: 'none available: settling only' };
}

/** RSS in MiB after a GC (when there is one) and a settle, the median of a few samples. */
async function settledRssMb(gc: (() => void) | undefined): Promise<number> {
  const samples: number[] = [];
  for (let i = 0; i < 5; i++) {
    gc?.();
    await sleep(200);
    samples.push(process.memoryUsage().rss / 2 ** 20);
  }
  return samples.sort((a, b) => a - b)[2];
}

const percentile = (values: number[], p: number): number => {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
};
const round = (value: number, digits = 1): number => Number(value.toFixed(digits));

// ---------------------------------------------------------------------------------------------
// The load.

type Outcome = { kind: 'ok'; ms: number; audioSec: number } | { kind: 'queue_full'; ms: number; retryAfter: number } | { kind: 'bad'; ms: number; detail: string };

async function post(url: string, clip: Clip, timeoutMs: number, stop: AbortSignal): Promise<Outcome> {
  const form = new FormData();
  form.append('file', new Blob([new Uint8Array(clip.data)]), clip.name);
  // One controller per request, held here, rather than AbortSignal.any() over AbortSignal.timeout():
  // Node 20 can collect a timeout signal that only AbortSignal.any() refers to, and then it never fires.
  const controller = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort();
  }, timeoutMs);
  const onStop = (): void => controller.abort();
  stop.addEventListener('abort', onStop, { once: true });
  const started = performance.now();
  const elapsed = (): number => performance.now() - started;
  try {
    const response = await fetch(url, { method: 'POST', body: form, signal: controller.signal });
    const text = await response.text();
    const ms = elapsed();
    let body: Record<string, unknown> = {};
    try {
      body = JSON.parse(text) as Record<string, unknown>;
    } catch {
      return { kind: 'bad', ms, detail: `${response.status}, not JSON: ${text.slice(0, 120)}` };
    }
    if (response.status === 200) {
      if (body.status === 'success' && body.transcript === clip.text) return { kind: 'ok', ms, audioSec: clip.seconds };
      return { kind: 'bad', ms, detail: `200 with transcript ${JSON.stringify(body.transcript)}, expected ${JSON.stringify(clip.text)}` };
    }
    const retryAfter = Number(response.headers.get('retry-after'));
    if (response.status === 503 && body.status === 'error' && body.error === 'queue_full' && Number.isInteger(retryAfter) && retryAfter > 0) {
      return { kind: 'queue_full', ms, retryAfter };
    }
    return { kind: 'bad', ms, detail: `${response.status} ${text.slice(0, 160)} (retry-after ${response.headers.get('retry-after')})` };
  } catch (error) {
    const detail = timedOut
      ? `no answer in ${timeoutMs} ms`
      : stop.aborted
        ? 'stopped by the overall time bound'
        : `${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}`;
    return { kind: 'bad', ms: elapsed(), detail };
  } finally {
    clearTimeout(timer);
    stop.removeEventListener('abort', onStop);
  }
}

/** `count` requests, `concurrency` at a time; a client pauses `backoffMs` after a 503. */
async function load(url: string, clips: Clip[], count: number, settings: Settings, stop: AbortSignal): Promise<{ outcomes: Outcome[]; wallSec: number }> {
  const outcomes: Outcome[] = [];
  let next = 0;
  const started = performance.now();
  const client = async (): Promise<void> => {
    while (!stop.aborted) {
      const i = next++;
      if (i >= count) return;
      const outcome = await post(url, clips[i % clips.length], settings.timeoutMs, stop);
      outcomes.push(outcome);
      if (outcome.kind === 'queue_full' && settings.backoffMs > 0) await sleep(settings.backoffMs);
    }
  };
  await Promise.all(Array.from({ length: Math.min(settings.concurrency, count) }, client));
  return { outcomes, wallSec: (performance.now() - started) / 1000 };
}

async function main(): Promise<number> {
  const settings = parseSettings(process.argv.slice(2), process.env);
  if (!existsSync(path.join(TONE_MODEL_DIR, 'model.onnx'))) {
    process.stdout.write(`building the tone test model in ${path.relative(process.cwd(), TONE_MODEL_DIR)}\n`);
    await writeToneModel(TONE_MODEL_DIR);
  }
  const clips = await Promise.all(PHRASES.map((text) => makeClip(text, settings.format)));

  const config: Config = loadConfig({
    MODEL_DIR: TONE_MODEL_DIR,
    DEVICE: 'cpu',
    HOST,
    PORT: '0',
    LOG_LEVEL: 'error',
    QUEUE_MAX_PENDING: String(settings.queueMaxPending),
    INFERENCE_WORKERS: String(settings.workers),
    ...(process.env.FFMPEG_PATH ? { FFMPEG_PATH: process.env.FFMPEG_PATH } : {}),
  });
  const logger = createLogger({ level: config.logLevel });
  const metrics = new Metrics({ defaultMetrics: false });
  const core = await createCore(config, logger, { metrics });
  const app = await buildApp({ config, transcriber: core.transcriber, logger, metrics });
  const base = await app.listen({ port: 0, host: HOST });
  if (new URL(base).hostname !== HOST) throw new Error(`the service listens on ${base}, not ${HOST}`);
  const url = `${base}/wav2vec2`;
  const { gc, how } = findGc();

  const lines: string[] = [];
  const say = (line: string): void => {
    lines.push(line);
    process.stdout.write(`${line}\n`);
  };
  say(`viet-stt loadtest: in-process service on ${base}, tone test model, POST /wav2vec2 (multipart file)`);
  say(
    `settings: requests=${settings.requests} concurrency=${settings.concurrency} QUEUE_MAX_PENDING=${config.queue.maxPending} ` +
      `QUEUE_CONCURRENCY=${config.queue.concurrency} INFERENCE_WORKERS=${config.inference.workers} INFERENCE_THREADS=${config.inference.threads} ` +
      `warm-up=${settings.warmup} per-request timeout=${settings.timeoutMs} ms deadline=${settings.deadlineSec} s ` +
      `backoff after 503=${settings.backoffMs} ms rss margin=${settings.rssMarginMb} MB`,
  );
  say(
    `audio: ${settings.format}, ${clips.length} phrases of ${Math.min(...clips.map((c) => c.seconds)).toFixed(2)}–${Math.max(...clips.map((c) => c.seconds)).toFixed(2)} s ` +
      `(${Math.round(Math.min(...clips.map((c) => c.data.length)) / 1024)}–${Math.round(Math.max(...clips.map((c) => c.data.length)) / 1024)} KiB); gc: ${how}; cpus: ${os.availableParallelism()}`,
  );

  const stop = new AbortController();
  // Every request in flight listens on it.
  setMaxListeners(settings.concurrency + 10, stop.signal);
  const deadline = setTimeout(() => stop.abort(), settings.deadlineSec * 1000);
  const failures: string[] = [];
  let report: Record<string, unknown> = {};
  try {
    const warm = await load(url, clips, settings.warmup, settings, stop.signal);
    const warmBad = warm.outcomes.filter((o) => o.kind === 'bad');
    if (warmBad.length > 0) failures.push(`warm-up: ${warmBad.length} bad answers, first: ${warmBad[0].kind === 'bad' ? warmBad[0].detail : ''}`);
    const rssBefore = await settledRssMb(gc);

    let peakRss = process.memoryUsage().rss;
    const sampler = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 50);
    const run = await load(url, clips, settings.requests, settings, stop.signal);
    clearInterval(sampler);
    const timedOut = stop.signal.aborted;
    clearTimeout(deadline);

    const rssAfter = await settledRssMb(gc);
    const leftovers = await ffmpegChildren();

    const ok = run.outcomes.filter((o) => o.kind === 'ok');
    const full = run.outcomes.filter((o) => o.kind === 'queue_full');
    const bad = run.outcomes.filter((o) => o.kind === 'bad');
    const answered = ok.length + full.length + bad.length;
    const audioSec = ok.reduce((sum, o) => sum + o.audioSec, 0);
    const okMs = ok.map((o) => o.ms);
    const fullMs = full.map((o) => o.ms);
    const growth = rssAfter - rssBefore;

    if (timedOut) failures.push(`the run passed its ${settings.deadlineSec} s bound`);
    if (answered !== settings.requests) failures.push(`${settings.requests - answered} requests were not sent or not answered`);
    if (bad.length > 0) failures.push(`${bad.length} answers were neither 200 with the exact transcript nor a clean 503 queue_full`);
    if (growth > settings.rssMarginMb) failures.push(`RSS grew ${growth.toFixed(1)} MB, over the ${settings.rssMarginMb} MB margin`);
    if (leftovers.length > 0) failures.push(`ffmpeg child processes left: ${leftovers.join(', ')}`);

    say(`answers: ${answered}/${settings.requests}: 200 exact=${ok.length}, 503 queue_full=${full.length} (Retry-After ${full.length ? `${Math.min(...full.map((o) => (o.kind === 'queue_full' ? o.retryAfter : 0)))}–${Math.max(...full.map((o) => (o.kind === 'queue_full' ? o.retryAfter : 0)))} s` : 'n/a'}), other=${bad.length}`);
    for (const b of bad.slice(0, 5)) if (b.kind === 'bad') say(`  bad: ${b.detail}`);
    say(`latency 200 (ms): p50=${round(percentile(okMs, 50))} p95=${round(percentile(okMs, 95))} max=${round(ok.length ? Math.max(...okMs) : Number.NaN)}`);
    say(`latency 503 (ms): p50=${round(percentile(fullMs, 50))} p95=${round(percentile(fullMs, 95))} max=${round(full.length ? Math.max(...fullMs) : Number.NaN)}`);
    say(
      `throughput: ${round(answered / run.wallSec)} answers/s, ${round(ok.length / run.wallSec)} transcripts/s, ` +
        `${round(audioSec / run.wallSec, 2)} audio s/s (${round(audioSec)} s of audio in ${round(run.wallSec, 2)} s)`,
    );
    say(`rss (MB): before=${round(rssBefore)} after=${round(rssAfter)} diff=${growth >= 0 ? '+' : ''}${round(growth)} (margin ${settings.rssMarginMb}) peak=${round(peakRss / 2 ** 20)}`);
    say(`ffmpeg children left: ${leftovers.length}`);

    report = {
      date: new Date().toISOString(),
      settings: { ...settings, queueConcurrency: config.queue.concurrency, inferenceThreads: config.inference.threads, gc: how, cpus: os.availableParallelism() },
      audio: clips.map((c) => ({ text: c.text, seconds: c.seconds, bytes: c.data.length, format: settings.format })),
      answers: { total: answered, ok: ok.length, queueFull: full.length, bad: bad.length, badDetails: bad.slice(0, 20).map((b) => (b.kind === 'bad' ? b.detail : '')) },
      latencyMs: {
        ok: { p50: round(percentile(okMs, 50)), p95: round(percentile(okMs, 95)), max: okMs.length ? round(Math.max(...okMs)) : null },
        queueFull: { p50: full.length ? round(percentile(fullMs, 50)) : null, p95: full.length ? round(percentile(fullMs, 95)) : null, max: full.length ? round(Math.max(...fullMs)) : null },
      },
      throughput: { wallSec: round(run.wallSec, 3), answersPerSec: round(answered / run.wallSec, 2), transcriptsPerSec: round(ok.length / run.wallSec, 2), audioSecPerSec: round(audioSec / run.wallSec, 2) },
      rssMb: { before: round(rssBefore), after: round(rssAfter), growth: round(growth), margin: settings.rssMarginMb, peak: round(peakRss / 2 ** 20) },
      ffmpegChildrenLeft: leftovers.length,
    };
  } finally {
    clearTimeout(deadline);
    await app.close();
    await core.close();
  }

  say(failures.length === 0 ? 'result: PASS' : `result: FAIL\n${failures.map((f) => `  - ${f}`).join('\n')}`);
  await mkdir(path.dirname(RESULTS), { recursive: true });
  await writeFile(RESULTS, `${JSON.stringify({ ...report, pass: failures.length === 0, failures, printed: lines }, null, 2)}\n`);
  process.stdout.write(`results: ${path.relative(process.cwd(), RESULTS)}\n`);
  return failures.length === 0 ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`loadtest failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(2);
  },
);
