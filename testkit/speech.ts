import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { resolveFfmpegPath } from '../src/core/decode.js';
import { encodeWav } from '../src/core/wav.js';
import { synthesizeSpeech, type SynthesisOptions } from './tone-model.js';

/** Container and codec settings for the formats users send. */
export const FORMATS = {
  'ogg-opus': ['-ar', '48000', '-c:a', 'libopus', '-b:a', '64k', '-f', 'ogg'],
  'ogg-vorbis': ['-c:a', 'libvorbis', '-f', 'ogg'],
  'mp3-44k-stereo': ['-ar', '44100', '-ac', '2', '-c:a', 'libmp3lame', '-b:a', '128k', '-f', 'mp3'],
  m4a: ['-c:a', 'aac', '-b:a', '128k', '-f', 'ipod'],
  'wav-8k': ['-ar', '8000', '-c:a', 'pcm_s16le', '-f', 'wav'],
  'webm-opus': ['-ar', '48000', '-c:a', 'libopus', '-f', 'webm'],
  wav: ['-c:a', 'pcm_s16le', '-f', 'wav'],
} as const;

export type Format = keyof typeof FORMATS;

/**
 * Runs the project's ffmpeg with `stdin` on pipe:0 (`input` are the arguments before the
 * `-i pipe:0`, `output` those after it) and returns the file it wrote. The output goes through
 * a file so that MP4 is written as encoders write it, with its index after the data.
 */
export async function ffmpegFile(stdin: Uint8Array, output: readonly string[], input: readonly string[] = []): Promise<Buffer> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'stt-testaudio-'));
  const out = path.join(dir, 'out');
  try {
    await new Promise<void>((resolve, reject) => {
      const child = spawn(resolveFfmpegPath(process.env.FFMPEG_PATH), ['-hide_banner', '-loglevel', 'error', ...input, '-i', 'pipe:0', ...output, out]);
      const err: Buffer[] = [];
      child.stderr.on('data', (c: Buffer) => err.push(c));
      child.on('error', reject);
      child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`ffmpeg ${code}: ${Buffer.concat(err)}`))));
      child.stdin.end(stdin);
    });
    return await readFile(out);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Encodes a 16 kHz WAV into another format with the project's ffmpeg. */
export function transcode(wav: Uint8Array, format: Format): Promise<Buffer> {
  return ffmpegFile(wav, FORMATS[format]);
}

/** The tone model's audio for `text`, as a file in `format` (16 kHz WAV by default). */
export async function speech(text: string, format: Format = 'wav', options?: SynthesisOptions): Promise<Buffer> {
  const wav = encodeWav(synthesizeSpeech(text, options));
  return format === 'wav' ? wav : transcode(wav, format);
}
