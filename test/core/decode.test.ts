import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { constants } from 'node:fs';
import { chmod, mkdir, mkdtemp, open, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  MAX_ALLOC_BYTES,
  MAX_RESTARTS,
  MAX_TOP_LEVEL_BOXES,
  chooseFfmpeg,
  decodeAudio,
  describeFfmpeg,
  needsSeekableInput,
  parseAudioStreamLine,
  resolveFfmpegPath,
  walkTopLevelBoxes,
} from '../../src/core/decode.js';
import { DecodeError, SttError, toSttError } from '../../src/core/errors.js';
import { AUDIO_BOUNDS, audioOutOfBounds, readExtended, sniffAudioHeader } from '../../src/core/sniff.js';
import { encodeWav } from '../../src/core/wav.js';
import { synthesizeSpeech } from '../../testkit/tone-model.js';
import { createLogger } from '../../src/logger.js';
import { ffmpegFile } from '../support/audio.js';
import { testCore } from '../support/core.js';
import { ffmpegChildren, serviceTempFiles, waitUntil } from '../support/server.js';

const run = promisify(execFile);
const ffmpegPath = resolveFfmpegPath(process.env.FFMPEG_PATH);

/** A PCM WAV header (and `data` bytes) as the fields say, little-endian RIFF unless told. */
function wav(fields: { rate: number; channels: number; bits?: number; data?: Uint8Array; extensible?: boolean; junk?: number; float?: boolean }): Buffer {
  const { rate, channels, bits = 16, data = new Uint8Array(0), extensible = false, junk = 0, float = false } = fields;
  const fmt = Buffer.alloc(extensible ? 40 : 16);
  fmt.writeUInt16LE(extensible ? 0xfffe : float ? 3 : 1, 0);
  fmt.writeUInt16LE(channels, 2);
  fmt.writeUInt32LE(rate, 4);
  fmt.writeUInt32LE((rate * channels * bits) / 8, 8);
  fmt.writeUInt16LE((channels * bits) / 8, 12);
  fmt.writeUInt16LE(bits, 14);
  if (extensible) {
    fmt.writeUInt16LE(22, 16);
    fmt.writeUInt16LE(bits, 18);
    fmt.writeUInt32LE(0, 20);
    Buffer.from('0100000000001000800000aa00389b71', 'hex').copy(fmt, 24);
  }
  const chunks = [
    ...(junk ? [chunk('JUNK', Buffer.alloc(junk))] : []),
    chunk('fmt ', fmt),
    chunk('data', data),
  ];
  const body = Buffer.concat([Buffer.from('WAVE'), ...chunks]);
  const riff = Buffer.alloc(8);
  riff.write('RIFF', 0);
  riff.writeUInt32LE(body.length, 4);
  return Buffer.concat([riff, body]);
}

function chunk(id: string, data: Uint8Array, little = true): Buffer {
  const head = Buffer.alloc(8);
  head.write(id, 0);
  if (little) head.writeUInt32LE(data.length, 4);
  else head.writeUInt32BE(data.length, 4);
  return Buffer.concat([head, data, Buffer.alloc(data.length % 2)]);
}

/** An 80-bit extended float, big-endian, for integer values (AIFF's sample rate). */
function extended(value: number): Buffer {
  const out = Buffer.alloc(10);
  if (value === 0) return out;
  const exponent = Math.floor(Math.log2(value));
  out.writeUInt16BE(16383 + exponent, 0);
  const mantissa = BigInt(value) << BigInt(63 - exponent);
  out.writeBigUInt64BE(mantissa, 2);
  return out;
}

function aiff(rate: Buffer, channels: number, form: 'AIFF' | 'AIFC' = 'AIFF'): Buffer {
  const comm = Buffer.alloc(18);
  comm.writeUInt16BE(channels, 0);
  comm.writeUInt32BE(1000, 2);
  comm.writeUInt16BE(16, 6);
  rate.copy(comm, 8);
  const chunks = [...(form === 'AIFC' ? [chunk('FVER', Buffer.from('a2805140', 'hex'), false)] : []), chunk('COMM', comm, false)];
  const body = Buffer.concat([Buffer.from(form), ...chunks]);
  const head = Buffer.alloc(8);
  head.write('FORM', 0);
  head.writeUInt32BE(body.length, 4);
  return Buffer.concat([head, body]);
}

function au(rate: number, channels: number): Buffer {
  const out = Buffer.alloc(24);
  out.write('.snd', 0);
  out.writeUInt32BE(24, 4);
  out.writeUInt32BE(0xffffffff, 8);
  out.writeUInt32BE(3, 12);
  out.writeUInt32BE(rate, 16);
  out.writeUInt32BE(channels, 20);
  return out;
}

function caf(rate: number, channels: number): Buffer {
  const out = Buffer.alloc(52);
  out.write('caff', 0);
  out.writeUInt16BE(1, 4);
  out.write('desc', 8);
  out.writeBigInt64BE(32n, 12);
  out.writeDoubleBE(rate, 20);
  out.write('lpcm', 28);
  out.writeUInt32BE(channels, 44);
  return out;
}

/** A 16 kHz mono WAV of `samples` samples of a quiet tone. */
function toneWav(samples: number, rate = 16_000): Buffer {
  const s = new Float32Array(samples);
  for (let i = 0; i < samples; i++) s[i] = 0.3 * Math.sin((2 * Math.PI * 440 * i) / rate);
  return encodeWav(s, rate);
}

/** A 16-bit PCM WAV of a tone: `seconds` at `rate` in `channels`. */
function pcmWav(seconds: number, rate: number, channels: number): Buffer {
  const frames = Math.round(seconds * rate);
  const data = Buffer.alloc(frames * channels * 2);
  for (let i = 0; i < frames; i++) {
    const v = Math.round(8000 * Math.sin((2 * Math.PI * 440 * i) / rate));
    for (let c = 0; c < channels; c++) data.writeInt16LE(v, (i * channels + c) * 2);
  }
  return wav({ rate, channels, data });
}

/** After a refusal: nothing is left behind, and the next good decode works. */
async function expectCleanAndNextWorks(): Promise<void> {
  expect(await ffmpegChildren()).toEqual([]);
  expect(await serviceTempFiles()).toEqual([]);
  expect((await decodeAudio(toneWav(16_001), { ffmpegPath, maxSeconds: 60 })).length).toBe(16_001);
}

const sameSamples = (a: Float32Array, b: Float32Array): boolean =>
  Buffer.compare(Buffer.from(a.buffer, a.byteOffset, a.byteLength), Buffer.from(b.buffer, b.byteOffset, b.byteLength)) === 0;

describe('audio headers', () => {
  const { minSampleRate, maxSampleRate, maxChannels } = AUDIO_BOUNDS;

  it.each<[string, Buffer, ReturnType<typeof sniffAudioHeader>]>([
    ['WAV PCM', wav({ rate: 44_100, channels: 2 }), { container: 'wav', sampleRate: 44_100, channels: 2 }],
    ['WAV 8-bit at 1 Hz', wav({ rate: 1, channels: 1, bits: 8 }), { container: 'wav', sampleRate: 1, channels: 1 }],
    ['WAVE_FORMAT_EXTENSIBLE, 64 channels', wav({ rate: 48_000, channels: 64, extensible: true }), { container: 'wav', sampleRate: 48_000, channels: 64 }],
    ['WAV with a JUNK chunk before fmt', wav({ rate: 8_000, channels: 1, junk: 27 }), { container: 'wav', sampleRate: 8_000, channels: 1 }],
    [
      'RF64 with its ds64 chunk',
      Buffer.concat([Buffer.from('RF64'), Buffer.from('ffffffff', 'hex'), Buffer.from('WAVE'), chunk('ds64', Buffer.alloc(28)), wav({ rate: 96_000, channels: 6 }).subarray(12)]),
      { container: 'wav', sampleRate: 96_000, channels: 6 },
    ],
    [
      'RIFX (big-endian)',
      (() => {
        const fmt = Buffer.alloc(16);
        fmt.writeUInt16BE(1, 0);
        fmt.writeUInt16BE(3, 2);
        fmt.writeUInt32BE(22_050, 4);
        return Buffer.concat([Buffer.from('RIFX'), Buffer.alloc(4), Buffer.from('WAVE'), chunk('fmt ', fmt, false)]);
      })(),
      { container: 'wav', sampleRate: 22_050, channels: 3 },
    ],
    ['AIFF at 44.1 kHz', aiff(extended(44_100), 2), { container: 'aiff', sampleRate: 44_100, channels: 2 }],
    ['AIFC after its FVER chunk', aiff(extended(8_000), 1, 'AIFC'), { container: 'aiff', sampleRate: 8_000, channels: 1 }],
    ['AU/SND', au(2, 1), { container: 'au', sampleRate: 2, channels: 1 }],
    ['CAF', caf(768_000, 40), { container: 'caf', sampleRate: 768_000, channels: 40 }],
    ['a WAV cut inside its fmt chunk', wav({ rate: 16_000, channels: 1 }).subarray(0, 30), undefined],
    ['a WAV whose data comes before any fmt', Buffer.concat([Buffer.from('RIFF'), Buffer.alloc(4), Buffer.from('WAVE'), chunk('data', Buffer.alloc(4))]), undefined],
    ['an OGG page', Buffer.from('OggS\0\x02\0\0\0\0\0\0\0\0', 'latin1'), undefined],
    ['a few bytes', Buffer.from('RIFF'), undefined],
  ])('%s', (_name, bytes, expected) => {
    expect(sniffAudioHeader(bytes)).toEqual(expected);
  });

  it.each<[string, Buffer, number]>([
    ['44100', Buffer.from('400eac44000000000000', 'hex'), 44_100],
    ['8000', Buffer.from('400bfa00000000000000', 'hex'), 8_000],
    ['22254.5454… (an old Mac rate)', Buffer.from('400daddd1745d1745800', 'hex'), 22_254.545_454_545_45],
    ['1', Buffer.from('3fff8000000000000000', 'hex'), 1],
    ['0', Buffer.alloc(10), 0],
    ['infinity is no rate', Buffer.from('7fff0000000000000000', 'hex'), Number.NaN],
  ])('80-bit extended float %s', (_name, bytes, expected) => {
    const value = readExtended(new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength), 0);
    if (Number.isNaN(expected)) expect(value).toBeNaN();
    else expect(value).toBeCloseTo(expected, 6);
  });

  it.each<[{ sampleRate: number; channels?: number }, RegExp | undefined]>([
    [{ sampleRate: 16_000, channels: 1 }, undefined],
    [{ sampleRate: minSampleRate, channels: maxChannels }, undefined],
    [{ sampleRate: maxSampleRate, channels: 2 }, undefined],
    [{ sampleRate: 44_100 }, undefined],
    [{ sampleRate: minSampleRate - 1, channels: 1 }, /sample rate \(3999 Hz\) is outside the 4000–384000 Hz/],
    [{ sampleRate: 1, channels: 1 }, /\(1 Hz\)/],
    [{ sampleRate: maxSampleRate + 1, channels: 1 }, /\(384001 Hz\)/],
    [{ sampleRate: Number.NaN, channels: 1 }, /not a number/],
    [{ sampleRate: 48_000, channels: maxChannels + 1 }, /33 channels; this service reads 1 to 32/],
    [{ sampleRate: 48_000, channels: 0 }, /0 channels/],
  ])('bounds: %o', (params, expected) => {
    const problem = audioOutOfBounds(params);
    if (expected) expect(problem).toMatch(expected);
    else expect(problem).toBeUndefined();
  });

  it.each<[string, ReturnType<typeof parseAudioStreamLine>]>([
    ['  Stream #0:0: Audio: pcm_u8 ([1][0][0][0] / 0x0001), 1 Hz, mono, u8, 8 b/s', { sampleRate: 1, channels: 1 }],
    ['    Stream #0:0: Audio: pcm_s16le, 16000 Hz, 64 channels, s16, 16384 kb/s', { sampleRate: 16_000, channels: 64 }],
    ['  Stream #0:0[0x1](und): Audio: aac (LC) (mp4a / 0x6134706D), 48000 Hz, stereo, fltp, 128 kb/s (default)', { sampleRate: 48_000, channels: 2 }],
    ['  Stream #0:1(eng): Audio: ac3, 48000 Hz, 5.1(side), fltp, 448 kb/s', { sampleRate: 48_000, channels: undefined }],
    ['  Stream #0:0: Audio: opus, 48000 Hz, 3 channels (FL+FR+LFE), fltp', { sampleRate: 48_000, channels: 3 }],
    ['  Stream #0:0: Video: h264 (High), yuv420p, 1920x1080, 30 fps', undefined],
    ['    title           : Stream #0:0: Audio: pcm, 1 Hz, mono', undefined],
  ])('ffmpeg stream line %s', (line, expected) => {
    expect(parseAudioStreamLine(line)).toEqual(expected);
  });
});

describe('MP4 top-level box walk', () => {
  const box = (type: string, size = 8, length = Math.max(size, 8)): Buffer => {
    const b = Buffer.alloc(length);
    b.writeUInt32BE(size, 0);
    b.write(type, 4, 'latin1');
    return b;
  };

  it.each<[string, Buffer, boolean]>([
    ['moov before mdat: streams from a pipe', Buffer.concat([box('ftyp', 16), box('moov', 32), box('mdat', 64)]), false],
    ['mdat before moov: needs a file', Buffer.concat([box('ftyp', 16), box('free'), box('mdat', 64), box('moov', 32)]), true],
    ['not an MP4', Buffer.concat([box('abcd', 16), box('mdat', 64)]), false],
    ['a box smaller than its header', Buffer.concat([box('ftyp', 16), box('free', 4)]), true],
  ])('%s', (_name, bytes, expected) => {
    expect(needsSeekableInput(bytes)).toBe(expected);
  });

  it('stops after MAX_TOP_LEVEL_BOXES on a 24 MB file of 3 million 8-byte boxes, and spills it', () => {
    const bytes = Buffer.alloc(16 + 3_000_000 * 8 + 32);
    box('ftyp', 16).copy(bytes, 0);
    for (let offset = 16; offset < 16 + 3_000_000 * 8; offset += 8) {
      bytes.writeUInt32BE(8, offset);
      bytes.write('free', offset + 4, 'latin1');
    }
    box('moov', 32).copy(bytes, 16 + 3_000_000 * 8);
    expect(walkTopLevelBoxes(bytes)).toEqual({ needsSeekable: true, boxesRead: MAX_TOP_LEVEL_BOXES });
    expect(needsSeekableInput(bytes)).toBe(true);
  });
});

describe('which ffmpeg runs', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'stt-ffmpeg-choice-'));
    for (const name of ['first', 'second', 'not-executable', 'empty']) await mkdir(path.join(dir, name));
    for (const name of ['first', 'second']) {
      await writeFile(path.join(dir, name, 'ffmpeg'), `#!/bin/sh\necho "ffmpeg version ${name}-9.9 Copyright (c) the FFmpeg developers"\necho more\n`);
      await chmod(path.join(dir, name, 'ffmpeg'), 0o755);
    }
    await writeFile(path.join(dir, 'not-executable', 'ffmpeg'), '#!/bin/sh\necho no\n', { mode: 0o644 });
  });
  afterAll(async () => rm(dir, { recursive: true, force: true }));

  const searchPath = (...names: string[]): string => names.map((n) => (path.isAbsolute(n) ? n : path.join(dir, n))).join(path.delimiter);
  const bundledPath = (): string => chooseFfmpeg(undefined, '').path;

  it('the first ffmpeg on PATH, skipping missing, non-executable and relative entries', () => {
    expect(chooseFfmpeg(undefined, searchPath('empty', 'not-executable', 'first', 'second'))).toEqual({
      path: path.join(dir, 'first', 'ffmpeg'),
      source: 'PATH',
    });
    expect(chooseFfmpeg(undefined, `${searchPath('second')}${path.delimiter}${searchPath('first')}`).path).toBe(path.join(dir, 'second', 'ffmpeg'));
    expect(chooseFfmpeg(undefined, ['', '.', 'first', searchPath('second')].join(path.delimiter)).path).toBe(path.join(dir, 'second', 'ffmpeg'));
  });

  it('FFMPEG_PATH wins over PATH', () => {
    expect(chooseFfmpeg('/opt/ffmpeg/bin/ffmpeg', searchPath('first'))).toEqual({ path: '/opt/ffmpeg/bin/ffmpeg', source: 'FFMPEG_PATH' });
    expect(resolveFfmpegPath('/opt/ffmpeg/bin/ffmpeg', searchPath('first'))).toBe('/opt/ffmpeg/bin/ffmpeg');
  });

  it('the bundled @ffmpeg-installer binary when PATH has none', () => {
    const choice = chooseFfmpeg(undefined, searchPath('empty', 'not-executable'));
    expect(choice.source).toBe('bundled');
    expect(choice.path).toContain(`${path.sep}@ffmpeg-installer${path.sep}`);
    expect(resolveFfmpegPath(undefined, '')).toBe(choice.path);
  });

  it('describes the choice with the first line of its -version', async () => {
    await expect(describeFfmpeg(undefined, { searchPath: searchPath('first', 'second') })).resolves.toEqual({
      path: path.join(dir, 'first', 'ffmpeg'),
      source: 'PATH',
      version: 'ffmpeg version first-9.9 Copyright (c) the FFmpeg developers',
    });
    await expect(describeFfmpeg(path.join(dir, 'second', 'ffmpeg'), { searchPath: searchPath('first') })).resolves.toMatchObject({
      source: 'FFMPEG_PATH',
      version: expect.stringMatching(/^ffmpeg version second-9\.9/),
    });
    const bundled = await describeFfmpeg(undefined, { searchPath: '' });
    expect(bundled).toMatchObject({ path: bundledPath(), source: 'bundled', version: expect.stringMatching(/^ffmpeg version /) });
  });

  it('refuses an FFMPEG_PATH that does not run, naming it', async () => {
    await expect(describeFfmpeg(path.join(dir, 'nothing-here'))).rejects.toThrow(/nothing-here \(from FFMPEG_PATH\) does not run/);
    await expect(describeFfmpeg(path.join(dir, 'not-executable', 'ffmpeg'))).rejects.toThrow(/does not run/);
  });

  it('the core logs the ffmpeg it runs, and warns when it falls back to the bundled one', async () => {
    const lines: Record<string, unknown>[] = [];
    const logger = createLogger({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) });
    const onPath = await testCore({}, logger, { ffmpegSearchPath: searchPath('first') });
    await onPath.core.close();
    expect(lines.find((l) => l.msg === 'ffmpeg')).toMatchObject({ level: 30, ffmpeg: path.join(dir, 'first', 'ffmpeg'), source: 'PATH', version: expect.stringMatching(/first-9\.9/) });
    expect(lines.some((l) => l.level === 40)).toBe(false);

    lines.length = 0;
    const bundled = await testCore({}, logger, { ffmpegSearchPath: '' });
    try {
      const info = lines.find((l) => l.msg === 'ffmpeg');
      expect(info).toMatchObject({ level: 30, ffmpeg: bundledPath(), source: 'bundled' });
      const warn = lines.find((l) => l.level === 40);
      expect(warn).toMatchObject({ ffmpeg: bundledPath(), version: info?.version });
      expect(warn?.msg).toContain(String(info?.version));
      expect(warn?.msg).toMatch(/install a maintained ffmpeg .* or set FFMPEG_PATH/);
      // The core decodes with what it logged.
      const result = await bundled.core.transcriber.transcribe({ kind: 'buffer', data: toneWav(16_000) });
      expect(result.duration).toBe(1);
    } finally {
      await bundled.core.close();
    }
  });
});

describe('decoding survives load and signals it did not send', () => {
  const ROUNDS = 4;
  let dir: string;
  let opus300: Buffer;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'stt-decode-'));
    opus300 = await ffmpegFile(pcmWav(300, 48_000, 1), ['-c:a', 'libopus', '-b:a', '32k', '-f', 'ogg']);
  });
  afterAll(async () => rm(dir, { recursive: true, force: true }));

  it(`${ROUNDS} rounds of 24 decodes at once while busy loops hold every core: every one succeeds with every sample`, async () => {
    // Each decode's end is one chance for fluent-ffmpeg's "Output stream closed" race: on two
    // cores the old code lost it in a few per cent of decodes, and these 96 failed it every time.
    // The next test provokes the same order of events on purpose.
    const lengths = Array.from({ length: 24 }, (_, i) => (i % 8 === 0 ? 60 + 30 * (i / 8) : 1 + (i % 5)) * 16_000 + 37 * i);
    const files = lengths.map((n) => toneWav(n));
    const hogs: ChildProcess[] = Array.from({ length: os.availableParallelism() }, () =>
      spawn(process.execPath, ['-e', 'for(;;){}'], { stdio: 'ignore' }),
    );
    try {
      for (let round = 0; round < ROUNDS; round++) {
        const results = await Promise.allSettled(files.map((file) => decodeAudio(file, { ffmpegPath, maxSeconds: 600 })));
        expect(results.filter((r) => r.status === 'rejected').map((r) => String(r.reason))).toEqual([]);
        expect(results.map((r) => (r.status === 'fulfilled' ? r.value.length : -1))).toEqual(lengths);
      }
    } finally {
      for (const hog of hogs) hog.kill('SIGKILL');
    }
    await expectCleanAndNextWorks();
  });

  it('an ffmpeg whose exit comes long after its output closed still succeeds (no "Output stream closed")', async () => {
    // A wrapper that closes stdout once ffmpeg is done, then exits 200 ms later.
    const slow = path.join(dir, 'slow-exit-ffmpeg');
    await writeFile(slow, `#!/bin/sh\n"${ffmpegPath}" "$@"\nstatus=$?\nexec 1>&-\nsleep 0.2\nexit $status\n`, { mode: 0o755 });
    const samples = await decodeAudio(toneWav(48_123), { ffmpegPath: slow, maxSeconds: 60 });
    expect(samples.length).toBe(48_123);
    await expectCleanAndNextWorks();
  });

  it.each(['SIGTERM', 'SIGINT'] as const)('ffmpeg sent %s by someone else is restarted and the decode returns every sample', async (sig) => {
    const expected = await decodeAudio(opus300, { ffmpegPath, maxSeconds: 600 });
    expect(expected.length).toBe(300 * 16_000);
    const decode = decodeAudio(opus300, { ffmpegPath, maxSeconds: 600 });
    const [pid] = await waitUntil(async () => {
      const children = await ffmpegChildren();
      return children.length > 0 ? children : undefined;
    }, 10_000, 'ffmpeg to start');
    // Every ffmpeg runs with its allocations bounded.
    const argv = (await readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0');
    expect(argv[argv.indexOf('-max_alloc') + 1]).toBe(String(MAX_ALLOC_BYTES));
    process.kill(pid, sig);
    const samples = await decode;
    expect(samples.length).toBe(expected.length);
    expect(sameSamples(samples, expected)).toBe(true);
    await expectCleanAndNextWorks();
  });

  it(`a decode stopped by foreign signals more than ${MAX_RESTARTS} times fails as internal, never invalid_audio`, async () => {
    const killed = new Set<number>();
    let done = false;
    const decode = decodeAudio(opus300, { ffmpegPath, maxSeconds: 600 }).finally(() => (done = true));
    decode.catch(() => undefined);
    while (!done) {
      for (const pid of await ffmpegChildren()) {
        if (killed.has(pid)) continue;
        killed.add(pid);
        process.kill(pid, 'SIGTERM');
      }
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    const error: unknown = await decode.catch((e: unknown) => e);
    expect(killed.size).toBe(MAX_RESTARTS + 1);
    expect(error).toBeInstanceOf(DecodeError);
    expect(error).toMatchObject({ exitCode: null, message: expect.stringMatching(/stopped 3 times by signals this service did not send/) });
    expect(toSttError(error).code).toBe('internal');
    await expectCleanAndNextWorks();
  });

  it('past timeoutMs ffmpeg is killed and the decode fails as internal (a stalled FIFO)', async () => {
    const fifo = path.join(dir, 'stalled.wav');
    await run('mkfifo', [fifo]);
    const decode = decodeAudio({ path: fifo }, { ffmpegPath, maxSeconds: 60, timeoutMs: 500 });
    // Read-write, so that opening it never waits for ffmpeg (which the deadline may stop before
    // it opens the FIFO); the test keeps a writer, so ffmpeg never sees the end.
    const writer = await open(fifo, constants.O_RDWR);
    try {
      await writer.write(toneWav(16_000).subarray(0, 10_000));
      const error: unknown = await decode.catch((e: unknown) => e);
      expect(error).toBeInstanceOf(DecodeError);
      expect(error).toMatchObject({ exitCode: null, message: 'ffmpeg did not finish decoding within 0.5 s' });
      expect(toSttError(error).code).toBe('internal');
    } finally {
      await writer.close();
    }
    await expectCleanAndNextWorks();
  });
});

describe('audio no voice recording has is refused before it reaches the resampler', () => {
  let dir: string;
  const raw = Buffer.alloc(20_000, 0x80);
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'stt-bounds-'));
  });
  afterAll(async () => rm(dir, { recursive: true, force: true }));
  afterEach(async () => expectCleanAndNextWorks());

  it('a 200 KB 8-bit WAV at 1 Hz, from its header', async () => {
    const bytes = wav({ rate: 1, channels: 1, bits: 8, data: Buffer.alloc(200_000, 0x80) });
    const error: unknown = await decodeAudio(bytes, { ffmpegPath, maxSeconds: 60 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SttError);
    expect(error).toMatchObject({ code: 'invalid_audio', message: expect.stringMatching(/sample rate \(1 Hz\) is outside the 4000–384000 Hz/) });
  });

  it('a 64-channel WAV (WAVE_FORMAT_EXTENSIBLE), from its header', async () => {
    const bytes = wav({ rate: 16_000, channels: 64, extensible: true, data: Buffer.alloc(64 * 2 * 1000) });
    await expect(decodeAudio(bytes, { ffmpegPath, maxSeconds: 60 })).rejects.toMatchObject({ code: 'invalid_audio', message: expect.stringMatching(/64 channels/) });
  });

  it('the same 1 Hz WAV as a file path, from the stream ffmpeg reports', async () => {
    const file = path.join(dir, 'one-hertz.wav');
    await writeFile(file, wav({ rate: 1, channels: 1, bits: 8, data: Buffer.alloc(200_000, 0x80) }));
    await expect(decodeAudio({ path: file }, { ffmpegPath, maxSeconds: 60 })).rejects.toMatchObject({ code: 'invalid_audio', message: expect.stringMatching(/\(1 Hz\)/) });
  });

  it.each<[string, string[], string[], RegExp]>([
    ['W64 at 1 Hz', ['-f', 'u8', '-ar', '1', '-ac', '1'], ['-c:a', 'pcm_u8', '-f', 'w64'], /\(1 Hz\)/],
    ['FLAC at 1 Hz', ['-f', 'u8', '-ar', '1', '-ac', '1'], ['-c:a', 'flac', '-f', 'flac'], /\(1 Hz\)/],
    ['Matroska PCM at 1 Hz', ['-f', 'u8', '-ar', '1', '-ac', '1'], ['-c:a', 'pcm_u8', '-f', 'matroska'], /\(1 Hz\)/],
    ['W64 at 768 kHz', ['-f', 'u8', '-ar', '768000', '-ac', '1'], ['-c:a', 'pcm_s16le', '-f', 'w64'], /\(768000 Hz\)/],
    ['Matroska PCM in 64 channels', ['-f', 'u8', '-ar', '16000', '-ac', '64'], ['-c:a', 'pcm_s16le', '-f', 'matroska'], /64 channels/],
  ])('%s, from the stream ffmpeg reports', async (_name, input, output, message) => {
    const bytes = await ffmpegFile(raw, output, input);
    expect(sniffAudioHeader(bytes)).toBeUndefined();
    await expect(decodeAudio(bytes, { ffmpegPath, maxSeconds: 60 })).rejects.toMatchObject({ code: 'invalid_audio', message: expect.stringMatching(message) });
  });
});

describe('samples a float file can hold and audio cannot', () => {
  /** A 32-bit float WAV (format 3) of `samples` at 16 kHz. */
  const floatWav = (samples: Float32Array): Buffer => wav({ rate: 16_000, channels: 1, bits: 32, float: true, data: new Uint8Array(samples.buffer, samples.byteOffset, samples.byteLength) });

  it('NaN and ±Infinity decode as silence, every other sample as written', async () => {
    const written = new Float32Array(16_000).fill(0.25);
    const broken = [100, 200, 300];
    [written[100], written[200], written[300]] = [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY];
    const samples = await decodeAudio(floatWav(written), { ffmpegPath, maxSeconds: 60 });
    expect(samples.length).toBe(16_000);
    expect(broken.map((i) => samples[i])).toEqual([0, 0, 0]);
    expect(samples.every((v, i) => v === (broken.includes(i) ? 0 : 0.25))).toBe(true);
  });

  it('a voice note with a few NaN samples still gets its exact transcript', async () => {
    const speech = synthesizeSpeech('xin chào các bạn');
    for (const i of [1_000, 9_999, 20_000]) speech[i] = Number.NaN;
    const { core } = await testCore();
    try {
      expect((await core.transcriber.transcribe({ kind: 'buffer', data: floatWav(speech) })).text).toBe('xin chào các bạn');
    } finally {
      await core.close();
    }
  });
});

describe(`-max_alloc ${MAX_ALLOC_BYTES} leaves real recordings alone`, () => {
  const binaries: [string, string][] = [['bundled', chooseFfmpeg(undefined, '').path]];
  const onPath = chooseFfmpeg(undefined);
  if (onPath.source === 'PATH') binaries.unshift(['PATH', onPath.path]);

  let files: Record<string, Buffer>;
  beforeAll(async () => {
    const wav300 = pcmWav(300, 48_000, 2);
    const [opus, mp3, m4a] = await Promise.all([
      ffmpegFile(wav300, ['-c:a', 'libopus', '-b:a', '64k', '-f', 'ogg']),
      ffmpegFile(wav300, ['-c:a', 'libmp3lame', '-b:a', '128k', '-f', 'mp3']),
      ffmpegFile(wav300, ['-c:a', 'aac', '-b:a', '128k', '-f', 'ipod']),
    ]);
    files = { wav: wav300, 'ogg-opus': opus, mp3, m4a };
  }, 120_000);

  it.each(binaries)('300 s of 48 kHz stereo as WAV, OGG/Opus, MP3 and M4A with the %s ffmpeg', async (_source, binary) => {
    for (const [name, bytes] of Object.entries(files)) {
      const samples = await decodeAudio(bytes, { ffmpegPath: binary, maxSeconds: 600 });
      expect({ name, seconds: Math.round(samples.length / 1600) / 10 }).toEqual({ name, seconds: 300 });
    }
    expect(await ffmpegChildren()).toEqual([]);
    expect(await serviceTempFiles()).toEqual([]);
  });
});
