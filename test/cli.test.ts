import { readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { mkdir, mkdtemp, readdir, readFile, realpath, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../src/logger.js';
import { speech } from './support/audio.js';
import { viet as run } from './support/cli.js';
import { TONE_MODEL_DIR } from './support/core.js';

// `npx viet-stt …` as a user types it: the bin script, in a child process, on the tone model.

let dir: string;

/** The command on the tone model, on CPU, never fetching. */
const viet = (args: string[], env: Record<string, string> = {}) =>
  run(args, { env: { MODEL_DIR: TONE_MODEL_DIR, DEVICE: 'cpu', MODEL_AUTO_FETCH: 'false', ...env } });

/** What a run on the tone model says on stderr first, from the project's folder. */
const LOADING = 'viet-stt: loading the model from test-output/tone-model\n';

/** The project's own folder. */
const PROJECT = fileURLToPath(new URL('..', import.meta.url)).replace(/\/$/, '');

/** A line as Node prints a stack frame. */
const STACK_FRAME = /^\s+at .+:\d+:\d+\)?$/m;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'viet-stt-cli-'));
  await writeFile(path.join(dir, 'hello.ogg'), await speech('xin chào các bạn', 'ogg-opus'));
  await writeFile(path.join(dir, 'weather.mp3'), await speech('hôm nay trời đẹp quá', 'mp3-44k-stereo'));
  await writeFile(path.join(dir, 'photo.png'), Buffer.from('89504e470d0a1a0a0000000d49484452', 'hex'));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('viet-stt transcribe', () => {
  it('prints one transcript per file, labelled when there are several', async () => {
    const hello = path.join(dir, 'hello.ogg');
    const weather = path.join(dir, 'weather.mp3');
    expect(await viet(['transcribe', hello])).toEqual({ code: 0, stdout: 'xin chào các bạn\n', stderr: LOADING });
    expect(await viet(['transcribe', hello, weather])).toEqual({
      code: 0,
      stdout: `${hello}: xin chào các bạn\n${weather}: hôm nay trời đẹp quá\n`,
      stderr: LOADING,
    });
    // LOG_LEVEL=warn leaves stderr to warnings and errors.
    expect(await viet(['transcribe', hello], { LOG_LEVEL: 'warn' })).toEqual({ code: 0, stdout: 'xin chào các bạn\n', stderr: '' });
  });

  it('prints JSON as one object a line for several files, each with its path', async () => {
    const hello = path.join(dir, 'hello.ogg');
    const weather = path.join(dir, 'weather.mp3');
    const json = await viet(['transcribe', hello, weather, '--format', 'json']);
    expect(json).toMatchObject({ code: 0, stderr: LOADING });
    const lines = json.stdout.split('\n');
    expect(lines.at(-1)).toBe('');
    expect(lines.slice(0, -1).map((line) => JSON.parse(line) as { path: string; transcript: string })).toMatchObject([
      { path: hello, transcript: 'xin chào các bạn' },
      { path: weather, transcript: 'hôm nay trời đẹp quá' },
    ]);
  });

  it('writes SRT and JSON with word timings', async () => {
    const srt = await viet(['transcribe', path.join(dir, 'hello.ogg'), '--format', 'srt']);
    expect(srt.code).toBe(0);
    expect(srt.stdout).toMatch(/^1\n\d\d:\d\d:\d\d,\d{3} --> \d\d:\d\d:\d\d,\d{3}\nxin chào các bạn\n/);
    const json = await viet(['transcribe', path.join(dir, 'weather.mp3'), '--format', 'json']);
    const result = JSON.parse(json.stdout) as { transcript: string; words: { word: string; start: number; end: number }[]; device: string };
    // The keys of the HTTP API's answer.
    expect(Object.keys(result)).toEqual(['status', 'transcript', 'written', 'path', 'duration', 'processing_ms', 'device', 'words']);
    expect(result.transcript).toBe('hôm nay trời đẹp quá');
    expect(result.words.map((w) => w.word)).toEqual(['hôm', 'nay', 'trời', 'đẹp', 'quá']);
    expect(result.device).toBe('cpu');
  });

  it('says which files failed and why, keeps going, and exits 1', async () => {
    const photo = path.join(dir, 'photo.png');
    const missing = path.join(dir, 'missing.wav');
    const hello = path.join(dir, 'hello.ogg');
    const run = await viet(['transcribe', photo, missing, hello]);
    expect(run.code).toBe(1);
    expect(run.stdout).toBe(`${hello}: xin chào các bạn\n`);
    expect(run.stderr).toBe(
      `${LOADING}${photo}: That is not an audio or video file. (unsupported_media_type)\n${missing}: No such audio file. (file_not_found)\n`,
    );
  });

  it.each<[string, string[], number, string]>([
    ['a wrong format', ['--format', 'docx', 'hello.ogg'], 2, 'viet-stt transcribe: --format must be text, txt, json, srt or vtt, not "docx"; see viet-stt transcribe --help\n'],
    ['no file', [], 2, 'viet-stt transcribe: name at least one audio file; see viet-stt transcribe --help\n'],
    ['an unknown option', ['--speed', 'fast', 'hello.ogg'], 2, "viet-stt transcribe: Unknown option '--speed'; see viet-stt transcribe --help\n"],
    ['a directory', ['.'], 2, 'viet-stt transcribe: . is a directory, not an audio file; see viet-stt transcribe --help\n'],
    [
      'several files as subtitles with nowhere to write them',
      ['--format', 'srt', 'hello.ogg', 'weather.mp3'],
      2,
      'viet-stt transcribe: several files in srt need --output-dir <dir>, where each gets its own .srt file; see viet-stt transcribe --help\n',
    ],
    [
      'two inputs that would write one file',
      ['--format', 'vtt', '-o', 'subs', 'a/voice.ogg', 'b/voice.mp3'],
      2,
      `viet-stt transcribe: a/voice.ogg and b/voice.mp3 would both be written to ${path.join('subs', 'voice.vtt')}; see viet-stt transcribe --help\n`,
    ],
    ['an output directory that is a file', ['--output-dir', 'package.json', 'hello.ogg'], 2, 'viet-stt transcribe: package.json is not a directory; see viet-stt transcribe --help\n'],
  ])('answers %s with one line and a non-zero exit, never a stack', async (_name, args, code, stderr) => {
    const run = await viet(['transcribe', ...args]);
    expect(run).toMatchObject({ code, stdout: '', stderr });
  });

  it('names every setting it cannot use in one line, before loading anything', async () => {
    const run = await viet(['transcribe', path.join(dir, 'hello.ogg')], { CHUNK_SEC: 'long', DEVICE: 'tpu' });
    expect(run.code).toBe(2);
    expect(run.stdout).toBe('');
    expect(run.stderr).toMatch(/^viet-stt transcribe: invalid settings: DEVICE: [^\n]+; CHUNK_SEC: [^\n]+\n$/);
  });

  it.each(['--help', '-h'])('transcribe %s prints its usage and exits 0', async (flag) => {
    const run = await viet(['transcribe', flag]);
    expect(run).toMatchObject({ code: 0, stderr: '' });
    expect(run.stdout).toContain('Usage: viet-stt transcribe <files...> [--format text|json|srt|vtt]');
  });
});

describe('viet-stt transcribe --output-dir', () => {
  it('writes one valid subtitle file per input, named after it, and prints no transcript', async () => {
    const out = path.join(dir, 'subs');
    const hello = path.join(dir, 'hello.ogg');
    const weather = path.join(dir, 'weather.mp3');
    const srt = await viet(['transcribe', hello, weather, '--format', 'srt', '--output-dir', out]);
    expect(srt).toEqual({
      code: 0,
      stdout: '',
      stderr: `${LOADING}viet-stt: wrote ${path.join(out, 'hello.srt')}\nviet-stt: wrote ${path.join(out, 'weather.srt')}\n`,
    });
    expect(await readFile(path.join(out, 'hello.srt'), 'utf8')).toMatch(/^1\n\d\d:\d\d:\d\d,\d{3} --> \d\d:\d\d:\d\d,\d{3}\nxin chào các bạn\n$/);
    expect(await readFile(path.join(out, 'weather.srt'), 'utf8')).toMatch(/^1\n\d\d:\d\d:\d\d,\d{3} --> \d\d:\d\d:\d\d,\d{3}\nhôm nay trời đẹp quá\n$/);

    const vtt = await viet(['transcribe', hello, weather, '--format', 'vtt', '-o', out]);
    expect(vtt).toMatchObject({ code: 0, stdout: '' });
    expect(await readFile(path.join(out, 'hello.vtt'), 'utf8')).toMatch(/^WEBVTT\n\n\d\d:\d\d:\d\d\.\d{3} --> \d\d:\d\d:\d\d\.\d{3}\nxin chào các bạn\n$/);
    expect((await readdir(out)).sort()).toEqual(['hello.srt', 'hello.vtt', 'weather.srt', 'weather.vtt']);
  });

  it('makes the folder, replaces what is there, and leaves the old file of an input that fails', async () => {
    const out = path.join(dir, 'new', 'texts');
    const hello = path.join(dir, 'hello.ogg');
    const photo = path.join(dir, 'photo.png');
    await mkdir(out, { recursive: true });
    await writeFile(path.join(out, 'hello.txt'), 'an older transcript\n');
    await writeFile(path.join(out, 'photo.txt'), 'kept\n');
    const run = await viet(['transcribe', hello, photo, '--output-dir', out]);
    expect(run).toEqual({
      code: 1,
      stdout: '',
      stderr: `${LOADING}viet-stt: wrote ${path.join(out, 'hello.txt')}\n${photo}: That is not an audio or video file. (unsupported_media_type)\n`,
    });
    expect(await readFile(path.join(out, 'hello.txt'), 'utf8')).toBe('xin chào các bạn\n');
    expect(await readFile(path.join(out, 'photo.txt'), 'utf8')).toBe('kept\n');
    expect((await readdir(out)).sort()).toEqual(['hello.txt', 'photo.txt']);

    const json = await viet(['transcribe', hello, '--format', 'json', '-o', path.join(dir, 'fresh')]);
    expect(json).toMatchObject({ code: 0, stdout: '' });
    expect(JSON.parse(await readFile(path.join(dir, 'fresh', 'hello.json'), 'utf8'))).toMatchObject({ path: hello, transcript: 'xin chào các bạn' });
  });
});

describe('the model folder', () => {
  it('is the project\'s own by default, from any working directory; a relative MODEL_DIR is taken from the working directory', async () => {
    const elsewhere = await realpath(await mkdtemp(path.join(os.tmpdir(), 'viet-stt-elsewhere-')));
    try {
      await writeFile(path.join(elsewhere, 'hello.ogg'), await speech('xin chào các bạn', 'ogg-opus'));
      // Whether or not the real model has been fetched, the first line names the folder it uses.
      const byDefault = await run(['transcribe', 'hello.ogg'], { cwd: elsewhere, env: { DEVICE: 'cpu', MODEL_AUTO_FETCH: 'false', LOG_LEVEL: 'info' } });
      expect(byDefault.stderr.split('\n')[0]).toBe(`viet-stt: loading the model from ${path.join(PROJECT, 'models/wav2vec2-base-vietnamese-160h')}`);
      expect(byDefault.stderr).not.toContain(path.join(elsewhere, 'models'));
      expect(byDefault.stderr).not.toMatch(STACK_FRAME);

      const relative = path.relative(elsewhere, TONE_MODEL_DIR);
      const own = await run(['transcribe', 'hello.ogg'], { cwd: elsewhere, env: { MODEL_DIR: relative, DEVICE: 'cpu', MODEL_AUTO_FETCH: 'false' } });
      expect(own).toEqual({ code: 0, stdout: 'xin chào các bạn\n', stderr: `viet-stt: loading the model from ${TONE_MODEL_DIR}\n` });
    } finally {
      await rm(elsewhere, { recursive: true, force: true });
    }
  });
});

describe('the command\'s logs', () => {
  /** A plain-line logger as the command makes one, and the lines it wrote. */
  function plainLogger(level = 'info') {
    const lines: string[] = [];
    const logger = createLogger({ level, secrets: ['123456:bot-token'], plain: 'viet-stt' }, { write: (line: string) => lines.push(line) });
    return { logger, lines };
  }

  it('writes one plain line per entry: warnings and errors say so and give their reason, never a stack or a secret', () => {
    const { logger, lines } = plainLogger();
    logger.info({ dir: '/m' }, 'loading the model from /m');
    logger.debug('not at info');
    logger.warn(
      { reason: 'onnxruntime-node was installed without its CUDA files' },
      'CUDA execution provider unavailable, running on CPU',
    );
    logger.error({ err: new Error('the hub answered 500\nmore detail') }, 'fetch failed');
    logger.info('https://api.telegram.org/file/bot123456:bot-token/voice.ogg');
    expect(lines).toEqual([
      'viet-stt: loading the model from /m\n',
      'viet-stt: warning: CUDA execution provider unavailable, running on CPU: onnxruntime-node was installed without its CUDA files\n',
      'viet-stt: error: fetch failed: the hub answered 500\n',
      'viet-stt: https://api.telegram.org/file/bot[redacted]/voice.ogg\n',
    ]);
  });

  it('says the CUDA fallback in one readable line on stderr, and nothing on stdout but the transcript', async () => {
    const run = await viet(['transcribe', path.join(dir, 'hello.ogg')], { DEVICE: 'auto' });
    expect(run.code).toBe(0);
    expect(run.stdout).toBe('xin chào các bạn\n');
    const lines = run.stderr.split('\n').slice(0, -1);
    expect(lines[0]).toBe(LOADING.trimEnd());
    for (const line of lines) expect(line).toMatch(/^viet-stt: [^{]/);
    expect(run.stderr).not.toMatch(STACK_FRAME);
    // As this project installs onnxruntime-node (without its CUDA files), auto falls back to CPU.
    if (!hasCudaFiles()) {
      expect(lines.slice(1)).toEqual([
        expect.stringMatching(/^viet-stt: warning: CUDA execution provider unavailable, running on CPU: onnxruntime-node was installed without its CUDA files; .+$/),
      ]);
    }
  });
});

/** Whether onnxruntime-node's CUDA files were installed beside it (a GPU set-up). */
function hasCudaFiles(): boolean {
  const bin = path.join(path.dirname(createRequire(import.meta.url).resolve('onnxruntime-node')), '..', 'bin', 'napi-v6', 'linux', 'x64');
  try {
    return readdirSync(bin).some((name) => name.startsWith('libonnxruntime_providers_cuda'));
  } catch {
    return false;
  }
}
