import { execFile, type ChildProcess } from 'node:child_process';
import { accessSync, constants, statSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { Readable, Writable } from 'node:stream';
import { promisify } from 'node:util';
import ffmpeg from 'fluent-ffmpeg';
import { DecodeError, SttError } from './errors.js';
import { audioOutOfBounds, sniffAudioHeader, sniffNonAudio } from './sniff.js';

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

/**
 * The largest single block of memory ffmpeg may allocate (its global `-max_alloc`): 64 MiB. A
 * 300 s 48 kHz stereo WAV, OGG/Opus, MP3 or M4A needs far less; a hostile file that makes a
 * demuxer, decoder or the resampler ask for more fails to decode instead of taking the memory.
 */
export const MAX_ALLOC_BYTES = 64 * 1024 * 1024;

/** How many times a decode stopped by a signal the service did not send is started again. */
export const MAX_RESTARTS = 2;

/**
 * Signals that reach ffmpeg when they are sent to the service's whole process group (systemd's
 * stop, a terminal's Ctrl-C, `kill -- -PGID`). The service itself only ever sends SIGKILL.
 */
const FOREIGN_SIGNALS: ReadonlySet<string> = new Set(['SIGTERM', 'SIGINT', 'SIGHUP', 'SIGQUIT']);

export interface DecodeOptions {
  ffmpegPath: string;
  /** Decoding stops, and `audio_too_long` is thrown, once the audio passes this length. */
  maxSeconds: number;
  /**
   * Past this many milliseconds from the call (restarts included) ffmpeg is killed and the decode
   * fails with a DecodeError whose exit code is null (`internal`: the server gave up, the file
   * was not judged). Default: no deadline.
   */
  timeoutMs?: number;
  signal?: AbortSignal;
}

/** Where the ffmpeg binary came from: the `FFMPEG_PATH` setting, a search of `PATH`, or the npm package. */
export type FfmpegSource = 'FFMPEG_PATH' | 'PATH' | 'bundled';

export interface FfmpegChoice {
  path: string;
  source: FfmpegSource;
}

/**
 * The ffmpeg binary to run: `FFMPEG_PATH` when set; otherwise an executable `ffmpeg` in one of
 * the absolute directories of `searchPath` (a distribution's ffmpeg gets security fixes);
 * otherwise, as a fallback, the static build inside the @ffmpeg-installer npm package (a 2018
 * snapshot with years of fixed CVEs). `searchPath` defaults to the process's `PATH`.
 */
export function chooseFfmpeg(configured: string | undefined, searchPath: string | undefined = process.env.PATH): FfmpegChoice {
  if (configured) return { path: configured, source: 'FFMPEG_PATH' };
  const onPath = findExecutable('ffmpeg', searchPath ?? '');
  if (onPath) return { path: onPath, source: 'PATH' };
  try {
    const require = createRequire(import.meta.url);
    return { path: (require('@ffmpeg-installer/ffmpeg') as { path: string }).path, source: 'bundled' };
  } catch (error) {
    throw new Error('No ffmpeg: FFMPEG_PATH is not set, there is none on PATH, and @ffmpeg-installer has no binary for this platform.', {
      cause: error,
    });
  }
}

/** The path of the ffmpeg binary `chooseFfmpeg` picks. */
export function resolveFfmpegPath(configured: string | undefined, searchPath: string | undefined = process.env.PATH): string {
  return chooseFfmpeg(configured, searchPath).path;
}

/**
 * Which ffmpeg runs, why, and its version (the first line of `ffmpeg -version`). Rejects when the
 * binary does not run within `timeoutMs` (default 10 s), so a wrong FFMPEG_PATH stops the start.
 * `searchPath` is as for `chooseFfmpeg`.
 */
export async function describeFfmpeg(
  configured: string | undefined,
  { searchPath = process.env.PATH, timeoutMs = 10_000 }: { searchPath?: string; timeoutMs?: number } = {},
): Promise<FfmpegChoice & { version: string }> {
  const choice = chooseFfmpeg(configured, searchPath);
  try {
    const { stdout } = await promisify(execFile)(choice.path, ['-version'], {
      timeout: timeoutMs,
      killSignal: 'SIGKILL',
      maxBuffer: 1024 * 1024,
    });
    return { ...choice, version: stdout.split('\n', 1)[0].trim() };
  } catch (error) {
    throw new Error(`ffmpeg ${choice.path} (from ${choice.source}) does not run: ${(error as Error).message}`, { cause: error });
  }
}

function findExecutable(name: string, searchPath: string): string | undefined {
  for (const dir of searchPath.split(path.delimiter)) {
    // An empty or relative entry would name a file under the current directory: never trusted.
    if (!path.isAbsolute(dir)) continue;
    const candidate = path.join(dir, name);
    try {
      if (!statSync(candidate).isFile()) continue;
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // Not there, or not executable: look further.
    }
  }
  return undefined;
}

/**
 * Decodes any audio or video file ffmpeg reads (OGG/Opus, OGG/Vorbis, MP3, M4A/AAC, WAV, WebM/Opus,
 * …) to 16 kHz mono float32, streamed from ffmpeg's stdout as f32le. Bytes go in through stdin;
 * only an MP4/M4A whose index (`moov`) sits after its data needs a seekable input and is written
 * to a private temporary file, removed before returning.
 *
 * Audio outside AUDIO_BOUNDS (sample rate, channels) is refused as `invalid_audio`: from the
 * header of a WAV, AIFF, AU or CAF before ffmpeg starts, otherwise as soon as ffmpeg reports the
 * input's streams. A decode that ffmpeg abandons on a signal the service did not send (one sent
 * to the whole process group) is started again from its input, at most MAX_RESTARTS times, and
 * never blamed on the file.
 */
export async function decodeAudio(input: Uint8Array | { path: string }, options: DecodeOptions): Promise<Float32Array> {
  const deadline = options.timeoutMs === undefined ? undefined : Date.now() + options.timeoutMs;
  if (!(input instanceof Uint8Array)) return decodeWithRestarts(input.path, options, deadline);
  if (sniffNonAudio(input)) throw new SttError('unsupported_media_type');
  const header = sniffAudioHeader(input);
  const problem = header && audioOutOfBounds(header);
  if (problem) throw new SttError('invalid_audio', problem);
  if (!needsSeekableInput(input)) return decodeWithRestarts(input, options, deadline);
  const dir = await mkdtemp(path.join(os.tmpdir(), 'viet-stt-decode-'));
  try {
    const file = path.join(dir, 'input.m4a');
    await writeFile(file, input, { mode: 0o600 });
    return await decodeWithRestarts(file, options, deadline);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function decodeWithRestarts(source: Uint8Array | string, options: DecodeOptions, deadline: number | undefined): Promise<Float32Array> {
  for (let attempt = 0; ; attempt++) {
    const outcome = await runFfmpeg(source, options, deadline);
    if ('samples' in outcome) return outcome.samples;
    if (outcome.interruptedBy === undefined) throw outcome.error;
    if (attempt === MAX_RESTARTS) {
      throw new DecodeError(
        `ffmpeg was stopped ${attempt + 1} times by signals this service did not send (last: ${outcome.interruptedBy})`,
        null,
        outcome.error instanceof DecodeError ? outcome.error.stderrTail : '',
        { cause: outcome.error },
      );
    }
  }
}

type Outcome = { samples: Float32Array } | { error: Error; interruptedBy?: string };

/**
 * One run of ffmpeg. It settles only once ffmpeg has exited, and then on what really happened:
 * success needs exit status 0 (fluent-ffmpeg's 'end', which it emits from the child's 'exit'
 * once stderr has closed) and the output read to its end (the sink's 'finish'), in whichever
 * order they come. The output goes into a Writable made with `emitClose: false`: fluent-ffmpeg
 * arms a 20 ms timer on its output stream's 'close' that reports "Output stream closed" and
 * SIGTERMs ffmpeg if the exit has not been seen yet, which under load failed good files.
 */
function runFfmpeg(source: Uint8Array | string, options: DecodeOptions, deadline: number | undefined): Promise<Outcome> {
  const { signal } = options;
  const maxBytes = Math.ceil(options.maxSeconds * SAMPLE_RATE) * 4;
  return new Promise<Outcome>((resolve) => {
    if (signal?.aborted) {
      resolve({ error: abortError(signal) });
      return;
    }
    const chunks: Buffer[] = [];
    let bytes = 0;
    /** The failure the service decided on (too long, out of bounds, aborted, past the deadline) before it killed ffmpeg. */
    let stopped: Error | undefined;
    let child: ChildProcess | undefined;
    /** fluent-ffmpeg's verdict: 'end' (exit 0) or 'error', with the stderr it kept. */
    let ended: { error?: Error; stderr: string } | undefined;
    let drained = false;
    let settled = false;
    const stderr = new StderrWatch();

    const command = ffmpeg(typeof source === 'string' ? source : Readable.from([Buffer.from(source.buffer, source.byteOffset, source.byteLength)]))
      .setFfmpegPath(options.ffmpegPath)
      // Only the input itself may be opened (stdin, or the one file), by a demuxer made for audio,
      // and no single allocation may pass MAX_ALLOC_BYTES.
      .inputOptions([
        '-nostdin',
        '-hide_banner',
        '-nostats',
        '-max_alloc',
        String(MAX_ALLOC_BYTES),
        '-protocol_whitelist',
        typeof source === 'string' ? 'file' : 'pipe',
        '-format_whitelist',
        AUDIO_DEMUXERS,
      ])
      .noVideo()
      .audioChannels(1)
      .audioFrequency(SAMPLE_RATE)
      .audioCodec('pcm_f32le')
      .format('f32le');

    const stop = (error: Error): void => {
      stopped ??= error;
      if (child) {
        if (isRunning(child)) child.kill('SIGKILL');
        return;
      }
      // No process yet (fluent-ffmpeg still probes the binary's capabilities): the 'start'
      // listener kills it as soon as it exists, and the run settles on that exit, so that no
      // ffmpeg outlives the decode that gave up on it.
    };
    const onAbort = (): void => stop(abortError(signal));
    signal?.addEventListener('abort', onAbort, { once: true });
    const timer =
      deadline === undefined
        ? undefined
        : setTimeout(
            () => stop(new DecodeError(`ffmpeg did not finish decoding within ${(options.timeoutMs ?? 0) / 1000} s`, null, stderr.tail())),
            Math.max(0, deadline - Date.now()),
          );

    const sink = new Writable({
      emitClose: false,
      write(chunk: Buffer, _encoding, callback) {
        if (!stopped) {
          if (bytes + chunk.length > maxBytes) {
            stop(new SttError('audio_too_long', `The audio is longer than the ${options.maxSeconds} s limit.`));
          } else {
            chunks.push(chunk);
            bytes += chunk.length;
          }
        }
        callback();
      },
    });
    sink.on('finish', () => {
      drained = true;
      settle();
    });

    command.on('start', () => {
      // fluent-ffmpeg sets `ffmpegProc` just before it emits 'start' (lib/processor.js).
      child = (command as unknown as { ffmpegProc?: ChildProcess }).ffmpegProc;
      child?.once('exit', () => settle());
      if (stopped && child && isRunning(child)) child.kill('SIGKILL');
    });
    command.on('stderr', (line: string) => {
      const problem = stderr.add(line);
      if (problem) stop(new SttError('invalid_audio', problem));
    });
    command.on('error', (error: Error, _stdout: string | null, text: string | null) => {
      ended = { error, stderr: text ?? stderr.tail() };
      // An error fluent-ffmpeg reports before ffmpeg exited (its input stream failed): stop it.
      if (child && isRunning(child)) stop(new DecodeError(`ffmpeg could not decode the input: ${error.message}`, null, stderr.tail(), { cause: error }));
      settle();
    });
    command.on('end', (_stdout: string | null, text: string | null) => {
      ended = { stderr: text ?? stderr.tail() };
      settle();
    });
    command.pipe(sink, { end: true });

    function settle(): void {
      if (settled) return;
      if (!ended || (child && isRunning(child))) return;
      if (!ended.error && !stopped && !drained) return;
      settled = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      resolve(outcome(ended ?? { stderr: '' }));
    }

    function outcome({ error, stderr: text }: { error?: Error; stderr: string }): Outcome {
      if (stopped) return { error: stopped };
      const tail = lastLines(text, 5);
      // A signal that stopped ffmpeg, or the capability probes fluent-ffmpeg runs before it (ffmpeg
      // -formats, -codecs: their child is never ours to see, only the message it left).
      const signalled = child?.signalCode ?? /killed with signal (SIG[A-Z]+)/.exec(error?.message ?? '')?.[1];
      const foreign = signalled && FOREIGN_SIGNALS.has(signalled) ? signalled : stderr.receivedSignal;
      if (foreign) {
        return { error: new DecodeError(`ffmpeg was stopped by ${foreign}, which this service did not send`, null, tail, { cause: error }), interruptedBy: foreign };
      }
      if (!error) {
        const samples = new Float32Array(Math.floor(bytes / 4));
        new Uint8Array(samples.buffer).set(Buffer.concat(chunks, bytes).subarray(0, samples.length * 4));
        // A float file can hold NaN and ±Infinity, which ffmpeg passes through: one of them would
        // make its whole window NaN once normalised (or, as the peak, silence the file). They are
        // no sound, so they are heard as silence.
        for (let i = 0; i < samples.length; i++) if (!Number.isFinite(samples[i])) samples[i] = 0;
        return { samples };
      }
      if (/does not contain any stream|Output file .* does not contain/i.test(text)) {
        return { error: new SttError('unsupported_media_type', 'The file has no audio track.') };
      }
      if (/Format not on whitelist/i.test(text)) return { error: new SttError('unsupported_media_type') };
      return { error: new DecodeError(`ffmpeg could not decode the input: ${error.message}`, child?.exitCode ?? null, tail, { cause: error }) };
    }
  });
}

function isRunning(child: ChildProcess): boolean {
  return child.pid !== undefined && child.exitCode === null && child.signalCode === null;
}

/**
 * Reads ffmpeg's stderr line by line: keeps the last lines, notes a signal ffmpeg says it
 * received, and checks each audio stream of the input against AUDIO_BOUNDS.
 */
class StderrWatch {
  receivedSignal: string | undefined;
  private lines: string[] = [];
  private inInput = false;

  /** Takes one line; returns why the input is refused, if this line shows it. */
  add(line: string): string | undefined {
    this.lines.push(line);
    if (this.lines.length > 20) this.lines.shift();
    // "Exiting normally, received signal 15." (and "Received > 3 system signals, hard exiting.")
    const signalled = /received signal (\d+)/i.exec(line) ?? /Received > \d+ system signals/.exec(line);
    if (signalled) this.receivedSignal = signalled[1] ? `signal ${signalled[1]}` : 'repeated signals';
    if (/^Input #\d+/.test(line)) this.inInput = true;
    else if (/^(Output #\d+|Stream mapping:)/.test(line)) this.inInput = false;
    else if (this.inInput) {
      const stream = parseAudioStreamLine(line);
      if (stream) return audioOutOfBounds(stream);
    }
    return undefined;
  }

  tail(): string {
    return this.lines.slice(-5).join('\n');
  }
}

/**
 * The sample rate and channel count in one of ffmpeg's stream lines, e.g.
 * `  Stream #0:0[0x1](und): Audio: aac (LC) (mp4a / 0x6134706D), 48000 Hz, stereo, fltp, 128 kb/s`.
 * `channels` is set for "mono", "stereo" and "N channels"; ffmpeg's other named layouts ("5.1",
 * "7.1(wide)", "hexadecagonal", "22.2") have at most 24 channels and leave it undefined.
 */
export function parseAudioStreamLine(line: string): { sampleRate: number; channels?: number } | undefined {
  const match = /^\s*Stream #\d+:\d+\S*: Audio: .*?, (\d+(?:\.\d+)?) Hz(?:, ([^,]+))?/.exec(line);
  if (!match) return undefined;
  const layout = match[2]?.trim() ?? '';
  const counted = /^(\d+) channels/.exec(layout);
  const channels = counted ? Number(counted[1]) : layout === 'mono' ? 1 : layout === 'stereo' ? 2 : undefined;
  return { sampleRate: Number(match[1]), channels };
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
 * The most top-level MP4 boxes read to find `moov` or `mdat`. Real files have a handful before
 * either (ftyp, free, wide, uuid, udta…); a file of millions of tiny boxes would otherwise hold
 * the event loop for most of a second.
 */
export const MAX_TOP_LEVEL_BOXES = 1000;

const FTYP = 0x66747970;
const MOOV = 0x6d6f6f76;
const MDAT = 0x6d646174;

/**
 * How `needsSeekableInput` walks an MP4's top-level boxes: whether the file must be seekable, and
 * how many boxes it read to say so.
 */
export function walkTopLevelBoxes(bytes: Uint8Array): { needsSeekable: boolean; boxesRead: number } {
  if (bytes.length < 12) return { needsSeekable: false, boxesRead: 0 };
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (view.getUint32(4) !== FTYP) return { needsSeekable: false, boxesRead: 0 };
  let offset = 0;
  let boxesRead = 0;
  while (offset + 8 <= bytes.length) {
    // Past the cap, spill: a seekable file is always safe for MP4.
    if (boxesRead === MAX_TOP_LEVEL_BOXES) return { needsSeekable: true, boxesRead };
    boxesRead++;
    let size = view.getUint32(offset);
    const type = view.getUint32(offset + 4);
    if (type === MOOV) return { needsSeekable: false, boxesRead };
    if (type === MDAT) return { needsSeekable: true, boxesRead };
    if (size === 1 && offset + 16 <= bytes.length) size = Number(view.getBigUint64(offset + 8));
    if (size < 8) return { needsSeekable: true, boxesRead };
    offset += size;
  }
  return { needsSeekable: false, boxesRead };
}

/**
 * True for an MP4/M4A/MOV file whose `moov` box comes after its `mdat` box (ffmpeg cannot read
 * those from a pipe), and for one with more than MAX_TOP_LEVEL_BOXES boxes before either.
 */
export function needsSeekableInput(bytes: Uint8Array): boolean {
  return walkTopLevelBoxes(bytes).needsSeekable;
}
