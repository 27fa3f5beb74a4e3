import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { speech } from './support/audio.js';
import { viet as run } from './support/cli.js';
import { TONE_MODEL_DIR } from './support/core.js';

// `npx viet-stt …` as a user types it: the bin script, in a child process, on the tone model.

let dir: string;

/** The command on the tone model, on CPU, never fetching. */
const viet = (args: string[]) => run(args, { env: { MODEL_DIR: TONE_MODEL_DIR, DEVICE: 'cpu', MODEL_AUTO_FETCH: 'false' } });

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
    expect(await viet(['transcribe', hello])).toEqual({ code: 0, stdout: 'xin chào các bạn\n', stderr: '' });
    expect(await viet(['transcribe', hello, weather])).toEqual({
      code: 0,
      stdout: `${hello}: xin chào các bạn\n${weather}: hôm nay trời đẹp quá\n`,
      stderr: '',
    });
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
      `${photo}: That is not an audio or video file. (unsupported_media_type)\n${missing}: No such audio file. (file_not_found)\n`,
    );
  });

  it.each<[string, string[], number, string]>([
    ['a wrong format', ['--format', 'docx', 'hello.ogg'], 2, 'viet-stt transcribe: --format must be text, txt, json, srt or vtt, not "docx"; see viet-stt transcribe --help\n'],
    ['no file', [], 2, 'viet-stt transcribe: name at least one audio file; see viet-stt transcribe --help\n'],
    ['an unknown option', ['--speed', 'fast', 'hello.ogg'], 2, "viet-stt transcribe: Unknown option '--speed'; see viet-stt transcribe --help\n"],
    ['a directory', ['.'], 2, 'viet-stt transcribe: . is a directory, not an audio file; see viet-stt transcribe --help\n'],
  ])('answers %s with one line and a non-zero exit, never a stack', async (_name, args, code, stderr) => {
    const run = await viet(['transcribe', ...args]);
    expect(run).toMatchObject({ code, stdout: '', stderr });
  });

  it.each(['--help', '-h'])('transcribe %s prints its usage and exits 0', async (flag) => {
    const run = await viet(['transcribe', flag]);
    expect(run).toMatchObject({ code: 0, stderr: '' });
    expect(run.stdout).toContain('Usage: viet-stt transcribe <files...> [--format text|json|srt|vtt]');
  });
});
