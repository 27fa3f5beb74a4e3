import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { createRequire } from 'node:module';
import ffmpeg from 'fluent-ffmpeg';
import { DecodeError, SttError } from './errors.js';
import { sniffNonAudio } from './sniff.js';

/** The sample rate the model takes. */
export const SAMPLE_RATE = 16_000;

/**
 * The demuxers ffmpeg may use: audio and video containers people send. Playlists and other
 * formats that open further files or URLs (hls, concat, the image and subtitle demuxers…) are
 * not among them, so an upload or a file in AUDIO_DIR cannot make ffmpeg read anything else.
 */
export const AUDIO_DEMUXERS = [
  'ogg', 'matroska', 'webm', 'mov', 'mp4', 'm4a', '3gp', 'mp3', 'wav', 'w64', 'aac', 'flac', 'amr', 'amrnb', 'amrwb',
  'asf', 'aiff', 'caf', 'au', 'wv', 'ape', 'avi', 'mpegts', 'mpeg', 'flv', 'ac3', 'eac3', 'dts', 'tta', 'voc',
].join(',');

export interface DecodeOptions {
  ffmpegPath: string;
  /** Decoding stops, and `audio_too_long` is thrown, once the audio passes this length. */
  maxSeconds: number;
  signal?: AbortSignal;
}

/**
 * The ffmpeg binary: `FFMPEG_PATH` when set, otherwise the one shipped inside the
 * @ffmpeg-installer npm package.
 */
export function resolveFfmpegPath(configured: string | undefined): string {
  if (configured) return configured;
  const require = createRequire(import.meta.url);
  return (require('@ffmpeg-installer/ffmpeg') as { path: string }).path;
}

/**
 * Decodes any audio or video file ffmpeg reads (OGG/Opus, OGG/Vorbis, MP3, M4A/AAC, WAV of any
 * rate and channel count, WebM/Opus, …) to 16 kHz mono float32, streamed from ffmpeg's stdout
 * as f32le. Bytes go in through stdin; only an MP4/M4A whose index (`moov`) sits after its data
 * needs a seekable input and is written to a private temporary file, removed before returning.
 */
export async function decodeAudio(input: Uint8Array | { path: string }, options: DecodeOptions): Promise<Float32Array> {
  if (input instanceof Uint8Array && sniffNonAudio(input)) throw new SttError('unsupported_media_type');
  if (input instanceof Uint8Array && needsSeekableInput(input)) {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'viet-stt-decode-'));
    try {
      const file = path.join(dir, 'input.m4a');
      await writeFile(file, input, { mode: 0o600 });
      return await runFfmpeg(file, options);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }
  return runFfmpeg(input instanceof Uint8Array ? Readable.from([Buffer.from(input.buffer, input.byteOffset, input.byteLength)]) : input.path, options);
}

function runFfmpeg(source: Readable | string, options: DecodeOptions): Promise<Float32Array> {
  const { signal } = options;
  const maxSamples = Math.ceil(options.maxSeconds * SAMPLE_RATE);
  return new Promise<Float32Array>((resolve, reject) => {
    if (signal?.aborted) {
      reject(abortError(signal));
      return;
    }
    const chunks: Buffer[] = [];
    let bytes = 0;
    let settled = false;
    let tooLong = false;
    // Success needs both: ffmpeg exited cleanly, and its stdout was read to the end (fluent-ffmpeg
    // reports the exit before the last piped bytes may have arrived).
    let exited = false;
    let drained = false;
    const tooLongError = (): SttError => new SttError('audio_too_long', `The audio is longer than the ${options.maxSeconds} s limit.`);

    const command = ffmpeg(source)
      .setFfmpegPath(options.ffmpegPath)
      // Only the input itself may be opened (stdin, or the one file), by a demuxer made for audio.
      .inputOptions(['-nostdin', '-hide_banner', '-protocol_whitelist', typeof source === 'string' ? 'file' : 'pipe', '-format_whitelist', AUDIO_DEMUXERS])
      .noVideo()
      .audioChannels(1)
      .audioFrequency(SAMPLE_RATE)
      .audioCodec('pcm_f32le')
      .format('f32le');

    const onAbort = (): void => {
      command.kill('SIGKILL');
      finish(abortError(signal));
    };
    signal?.addEventListener('abort', onAbort, { once: true });

    function finish(error?: Error): void {
      if (settled) return;
      settled = true;
      signal?.removeEventListener('abort', onAbort);
      if (error) {
        reject(error);
        return;
      }
      const joined = Buffer.concat(chunks, bytes);
      const samples = new Float32Array(Math.floor(bytes / 4));
      new Uint8Array(samples.buffer).set(joined.subarray(0, samples.length * 4));
      resolve(samples);
    }

    function succeedWhenComplete(): void {
      if (exited && drained) finish(tooLong ? tooLongError() : undefined);
    }

    command.on('error', (error: Error, _stdout: string | null, stderr: string | null) => {
      if (tooLong) {
        finish(tooLongError());
        return;
      }
      if (/does not contain any stream|Output file .* does not contain/i.test(stderr ?? '')) {
        finish(new SttError('unsupported_media_type', 'The file has no audio track.'));
        return;
      }
      if (/Format not on whitelist/i.test(stderr ?? '')) {
        finish(new SttError('unsupported_media_type'));
        return;
      }
      const exitCode = Number(/exited with code (\d+)/.exec(error.message)?.[1] ?? Number.NaN);
      const tail = lastLines(stderr ?? '', 5);
      finish(
        new DecodeError(`ffmpeg could not decode the input: ${error.message}`, Number.isNaN(exitCode) ? null : exitCode, tail, {
          cause: error,
        }),
      );
    });
    command.on('end', () => {
      exited = true;
      succeedWhenComplete();
    });

    const output = command.pipe();
    output.on('data', (chunk: Buffer) => {
      if (tooLong) return;
      chunks.push(chunk);
      bytes += chunk.length;
      if (bytes / 4 > maxSamples) {
        tooLong = true;
        command.kill('SIGKILL');
      }
    });
    output.on('end', () => {
      drained = true;
      succeedWhenComplete();
    });
    output.on('error', () => {
      // The command's own 'error' event reports failures; this listener keeps a closed pipe
      // from becoming an unhandled error.
    });
  });
}

function abortError(signal: AbortSignal | undefined): Error {
  const reason: unknown = signal?.reason;
  if (reason instanceof Error) return reason;
  const error = new Error('The operation was aborted');
  error.name = 'AbortError';
  return error;
}

function lastLines(text: string, count: number): string {
  return text.trim().split(/\r?\n/).slice(-count).join('\n');
}

/**
 * True for an MP4/M4A/MOV file whose `moov` box comes after its `mdat` box: ffmpeg cannot read
 * those from a pipe.
 */
export function needsSeekableInput(bytes: Uint8Array): boolean {
  if (bytes.length < 12 || String.fromCharCode(...bytes.subarray(4, 8)) !== 'ftyp') return false;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let offset = 0;
  while (offset + 8 <= bytes.length) {
    let size = view.getUint32(offset);
    const type = String.fromCharCode(...bytes.subarray(offset + 4, offset + 8));
    if (type === 'moov') return false;
    if (type === 'mdat') return true;
    if (size === 1 && offset + 16 <= bytes.length) size = Number(view.getBigUint64(offset + 8));
    if (size < 8) return true;
    offset += size;
  }
  return false;
}
