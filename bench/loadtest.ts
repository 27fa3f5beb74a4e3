/**
 * `npm run loadtest`: bounded load on the real HTTP service, on 127.0.0.1 only. Not a test.
 *
 * The service runs in this process (config, core with ffmpeg and the worker pool, Fastify app) on
 * the tone test model, built into test-output/tone-model when missing. Clients POST synthesised
 * speech to /wav2vec2 as multipart `file`, `--concurrency` at a time, `--requests` in all, after a
 * warm-up. QUEUE_MAX_PENDING is small by default so that the queue refuses some of them.
 *
 * All the audio is good, so every answer must be a 200 with the exact transcript, or a clean 503
 * `queue_full` with a Retry-After header (the refusals QUEUE_MAX_PENDING is there to cause); both
 * are counted. Everything else is counted by kind: a non-200 other than a clean queue_full (by
 * status and error code; it must be zero), a 200 with another transcript, no answer. Printed:
 * those counts, latency p50/p95/max, throughput (requests and audio seconds per second), RSS
 * before and after (each after a GC and settling) against a margin. Exits non-zero when any
 * answer is neither of the two expected ones, a request times out, the whole run passes its time
 * bound, RSS grows past the margin, or an ffmpeg child process is left. Results also go to
 * test-output/loadtest.json.
 *
 * With `--busy`, a busy loop per core (child processes of node spinning `for(;;){}`) holds every
 * CPU from the end of the warm-up to the end of the measured run, so the service answers while it
 * competes for the machine. They are killed when the run ends, fails, or is interrupted.
 *
 *   npm run loadtest -- --requests 200 --concurrency 16 --queue-max-pending 12 --rss-margin-mb 64
 *   npm run loadtest -- --busy
 *   npm run loadtest -- --help
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once, setMaxListeners } from 'node:events';
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
import { ffmpegChildren } from '../testkit/processes.js';
import { speech } from '../testkit/speech.js';
import { synthesizeSpeech, TONE_MODEL_DIR, writeToneModel } from '../testkit/tone-model.js';

const RESULTS = path.resolve('test-output/loadtest.json');
const HOST = '127.0.0.1';
const PHRASES = ['xin chào các bạn', 'hôm nay trời đẹp quá', 'một hai ba bốn năm', 'cảm ơn rất nhiều', 'tiếng việt có dấu'];
const FORMATS = ['ogg-opus', 'wav'] as const;
type Format = (typeof FORMATS)[number];

// ---------------------------------------------------------------------------------------------
// Settings: --flag value, --flag=value, or the environment variable; else the default. A yes/no
// setting may also be given as a bare --flag.

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
  busy: boolean;
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
  busy: { flag: 'busy', env: 'LOADTEST_BUSY', fallback: false, help: 'hold every core with a busy loop (one `node` child per core) from the end of the warm-up to the end of the run: yes or no' },
};
const YES = ['1', 'true', 'yes', 'on'];
const NO = ['0', 'false', 'no', 'off', ''];

function usage(): string {
  const rows = Object.values(OPTIONS).map((o) => `  --${o.flag.padEnd(18)} ${o.help} (env ${o.env}; default ${o.fallback === false ? 'no' : o.fallback})`);
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
    const bare = m[1] === OPTIONS.busy.flag && m[2] === undefined && (argv[i + 1] === undefined || argv[i + 1].startsWith('--'));
    const value = bare ? 'yes' : (m[2] ?? argv[++i]);
    if (value === undefined) throw new Error(`--${m[1]} needs a value`);
    given.set(m[1], value);
  }
  const known = new Set(Object.values(OPTIONS).map((o) => o.flag));
  for (const flag of given.keys()) if (!known.has(flag)) throw new Error(`unknown option --${flag}\n${usage()}`);

  const number = (key: Exclude<keyof Settings, 'format' | 'busy'>, min: number): number => {
    const o = OPTIONS[key];
    const raw = given.get(o.flag) ?? env[o.env];
    const value = raw === undefined || raw === '' ? o.fallback : Number(raw);
    if (!Number.isFinite(value) || value < min) throw new Error(`--${o.flag} (or ${o.env}) must be a number ≥ ${min}, not ${raw}`);
    return value;
  };
  const format = given.get(OPTIONS.format.flag) ?? env[OPTIONS.format.env] ?? OPTIONS.format.fallback;
  if (!(FORMATS as readonly string[]).includes(format)) throw new Error(`--format must be ${FORMATS.join(' or ')}, not ${format}`);
  const busyRaw = (given.get(OPTIONS.busy.flag) ?? env[OPTIONS.busy.env] ?? 'no').trim().toLowerCase();
  if (!YES.includes(busyRaw) && !NO.includes(busyRaw)) throw new Error(`--busy (or ${OPTIONS.busy.env}) must be yes or no, not ${busyRaw}`);
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
    busy: YES.includes(busyRaw),
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

/**
 * A spinning `for(;;){}` that also ends itself soon after this process is gone (its parent then
 * changes), so that not even a SIGKILL of this script leaves a loop behind. getppid costs a
 * system call, hence once every 2^24 turns (a few milliseconds).
 */
const BUSY_LOOP = 'const parent = process.ppid; for (let i = 1; ; i++) if ((i & 0xffffff) === 0 && process.ppid !== parent) process.exit(0);';

/** Busy loops that are running: killed by `stop()`, and at any exit or interrupt of this process. */
const busyLoops = new Set<ChildProcess>();
const killBusyLoops = (): void => {
  for (const child of busyLoops) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
};
process.on('exit', killBusyLoops);
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.once(signal, () => {
    const running = busyLoops.size;
    killBusyLoops();
    process.stderr.write(`loadtest: ${signal}${running > 0 ? `, ${running} busy loops killed` : ''}\n`);
    process.exit(128 + os.constants.signals[signal]);
  });
}

/** Starts `count` busy loops and waits until each process runs; `stop()` kills them and waits for their exit. */
async function startBusyLoops(count: number): Promise<{ pids: number[]; stop: () => Promise<void> }> {
  const children = Array.from({ length: count }, () => {
    const child = spawn(process.execPath, ['-e', BUSY_LOOP], { stdio: 'ignore' });
    busyLoops.add(child);
    return child;
  });
  // Settled on exit, or on a failed start ('error'), so that stop() never waits in vain.
  const exited = children.map((child) => once(child, 'exit').then(() => undefined, () => undefined));
  try {
    await Promise.all(children.map((child) => once(child, 'spawn')));
  } catch (error) {
    killBusyLoops();
    throw error;
  }
  // Let node boot and reach the loop.
  await sleep(300);
  return {
    pids: children.map((child) => child.pid as number),
    async stop() {
      for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await Promise.all(exited);
      for (const child of children) busyLoops.delete(child);
    },
  };
}

const percentile = (values: number[], p: number): number => {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
};
const round = (value: number, digits = 1): number => Number(value.toFixed(digits));

// ---------------------------------------------------------------------------------------------
// The load.

/**
 * One answer. `bad` is anything but the two expected answers to good audio; its `status` is the
 * HTTP status (undefined when none came) and `error` the body's error code, when it has one.
 */
type Outcome =
  | { kind: 'ok'; ms: number; audioSec: number }
  | { kind: 'queue_full'; ms: number; retryAfter: number }
  | { kind: 'bad'; ms: number; detail: string; status?: number; error?: string };
type Bad = Extract<Outcome, { kind: 'bad' }>;

/** The unexpected answers by kind, and the non-200s by status and error code ("500 internal_error": 2). */
function classify(outcomes: Outcome[]) {
  const bad = outcomes.filter((o): o is Bad => o.kind === 'bad');
  const non200 = bad.filter((o) => o.status !== undefined && o.status !== 200);
  const byStatus: Record<string, number> = {};
  for (const o of non200) {
    const key = `${o.status} ${o.error ?? '(no error code)'}`;
    byStatus[key] = (byStatus[key] ?? 0) + 1;
  }
  return {
    ok: outcomes.filter((o) => o.kind === 'ok').length,
    queueFull: outcomes.filter((o) => o.kind === 'queue_full').length,
    bad,
    non200,
    byStatus,
    notExact: bad.filter((o) => o.status === 200),
    noAnswer: bad.filter((o) => o.status === undefined),
  };
}
type Classified = ReturnType<typeof classify>;

const byStatusText = (c: Classified): string =>
  Object.entries(c.byStatus)
    .map(([key, n]) => `${key} ×${n}`)
    .join(', ');

/** The failures one phase's answers make, each naming its phase. */
function answerFailures(phase: string, c: Classified): string[] {
  const failures: string[] = [];
  if (c.non200.length > 0) failures.push(`${phase}: ${c.non200.length} good-audio requests got a non-200 other than a clean 503 queue_full: ${byStatusText(c)}; first: ${c.non200[0].detail}`);
  if (c.notExact.length > 0) failures.push(`${phase}: ${c.notExact.length} answers were a 200 without the exact transcript; first: ${c.notExact[0].detail}`);
  if (c.noAnswer.length > 0) failures.push(`${phase}: ${c.noAnswer.length} requests got no answer; first: ${c.noAnswer[0].detail}`);
  return failures;
}

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
      return { kind: 'bad', ms, status: response.status, detail: `${response.status}, not JSON: ${text.slice(0, 120)}` };
    }
    if (response.status === 200) {
      if (body.status === 'success' && body.transcript === clip.text) return { kind: 'ok', ms, audioSec: clip.seconds };
      return { kind: 'bad', ms, status: 200, detail: `200 with transcript ${JSON.stringify(body.transcript)}, expected ${JSON.stringify(clip.text)}` };
    }
    const retryAfter = Number(response.headers.get('retry-after'));
    if (response.status === 503 && body.status === 'error' && body.error === 'queue_full' && Number.isInteger(retryAfter) && retryAfter > 0) {
      return { kind: 'queue_full', ms, retryAfter };
    }
    const error = typeof body.error === 'string' ? body.error : undefined;
    return { kind: 'bad', ms, status: response.status, error, detail: `${response.status} ${text.slice(0, 160)} (retry-after ${response.headers.get('retry-after')})` };
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
      `backoff after 503=${settings.backoffMs} ms rss margin=${settings.rssMarginMb} MB ` +
      `busy loops=${settings.busy ? `${os.availableParallelism()} (one per core, measured run only)` : 'no'}`,
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
  let busy: Awaited<ReturnType<typeof startBusyLoops>> | undefined;
  try {
    const warm = await load(url, clips, settings.warmup, settings, stop.signal);
    const warmAnswers = classify(warm.outcomes);
    failures.push(...answerFailures('warm-up', warmAnswers));
    say(
      `warm-up: ${warm.outcomes.length}/${settings.warmup}: 200 exact=${warmAnswers.ok}, 503 queue_full=${warmAnswers.queueFull}, ` +
        `non-200 other than queue_full=${warmAnswers.non200.length}${warmAnswers.non200.length ? ` (${byStatusText(warmAnswers)})` : ''}, ` +
        `200 not exact=${warmAnswers.notExact.length}, no answer=${warmAnswers.noAnswer.length}`,
    );
    const rssBefore = await settledRssMb(gc);

    if (settings.busy) {
      busy = await startBusyLoops(os.availableParallelism());
      say(`busy loops: ${busy.pids.length} running (pids ${busy.pids.join(', ')})`);
    }
    let peakRss = process.memoryUsage().rss;
    const sampler = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 50);
    const run = await load(url, clips, settings.requests, settings, stop.signal);
    clearInterval(sampler);
    const timedOut = stop.signal.aborted;
    clearTimeout(deadline);
    if (busy) {
      await busy.stop();
      say(`busy loops: ${busy.pids.length} stopped`);
    }

    const rssAfter = await settledRssMb(gc);
    const leftovers = await ffmpegChildren();

    const answers = classify(run.outcomes);
    const ok = run.outcomes.filter((o) => o.kind === 'ok');
    const full = run.outcomes.filter((o) => o.kind === 'queue_full');
    const bad = answers.bad;
    const answered = ok.length + full.length + bad.length;
    const audioSec = ok.reduce((sum, o) => sum + o.audioSec, 0);
    const okMs = ok.map((o) => o.ms);
    const fullMs = full.map((o) => o.ms);
    const growth = rssAfter - rssBefore;

    if (timedOut) failures.push(`the run passed its ${settings.deadlineSec} s bound`);
    if (answered !== settings.requests) failures.push(`${settings.requests - answered} requests were not sent or not answered`);
    failures.push(...answerFailures('run', answers));
    if (growth > settings.rssMarginMb) failures.push(`RSS grew ${growth.toFixed(1)} MB, over the ${settings.rssMarginMb} MB margin`);
    if (leftovers.length > 0) failures.push(`ffmpeg child processes left: ${leftovers.join(', ')}`);

    say(`answers: ${answered}/${settings.requests}: 200 exact=${ok.length}, 503 queue_full=${full.length} (Retry-After ${full.length ? `${Math.min(...full.map((o) => (o.kind === 'queue_full' ? o.retryAfter : 0)))}–${Math.max(...full.map((o) => (o.kind === 'queue_full' ? o.retryAfter : 0)))} s` : 'n/a'}), other=${bad.length}`);
    say(
      `good audio answered non-200 other than a clean 503 queue_full: ${answers.non200.length} (must be 0)${answers.non200.length ? `: ${byStatusText(answers)}` : ''}; ` +
        `200 not exact: ${answers.notExact.length}; no answer: ${answers.noAnswer.length}`,
    );
    for (const b of bad.slice(0, 5)) say(`  bad: ${b.detail}`);
    say(`latency 200 (ms): p50=${round(percentile(okMs, 50))} p95=${round(percentile(okMs, 95))} max=${round(ok.length ? Math.max(...okMs) : Number.NaN)}`);
    say(`latency 503 (ms): p50=${round(percentile(fullMs, 50))} p95=${round(percentile(fullMs, 95))} max=${round(full.length ? Math.max(...fullMs) : Number.NaN)}`);
    say(
      `throughput: ${round(answered / run.wallSec)} answers/s, ${round(ok.length / run.wallSec)} transcripts/s, ` +
        `${round(audioSec / run.wallSec, 2)} audio s/s (${round(audioSec)} s of audio in ${round(run.wallSec, 2)} s)`,
    );
    say(`rss (MB): before=${round(rssBefore)} after=${round(rssAfter)} diff=${growth >= 0 ? '+' : ''}${round(growth)} (margin ${settings.rssMarginMb}) peak=${round(peakRss / 2 ** 20)}`);
    say(`ffmpeg children left: ${leftovers.length}`);

    const answerReport = (c: Classified) => ({
      ok: c.ok,
      queueFull: c.queueFull,
      bad: c.bad.length,
      non200: c.non200.length,
      non200ByStatus: c.byStatus,
      notExact200: c.notExact.length,
      noAnswer: c.noAnswer.length,
      badDetails: c.bad.slice(0, 20).map((b) => b.detail),
    });
    report = {
      date: new Date().toISOString(),
      settings: { ...settings, queueConcurrency: config.queue.concurrency, inferenceThreads: config.inference.threads, gc: how, cpus: os.availableParallelism(), busyLoops: busy?.pids.length ?? 0 },
      audio: clips.map((c) => ({ text: c.text, seconds: c.seconds, bytes: c.data.length, format: settings.format })),
      warmup: { total: warm.outcomes.length, ...answerReport(warmAnswers) },
      answers: { total: answered, ...answerReport(answers) },
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
    await busy?.stop();
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
