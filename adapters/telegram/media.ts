import { open, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import type { Telegram } from 'telegraf';
import type { Message } from 'telegraf/types';
import { SttError } from '../../src/core/errors.js';
import type { AudioInput } from '../../src/core/types.js';
import { StreamLimitError, readStream } from '../../src/core/read-stream.js';
import { fileTooLarge } from '../../src/core/errors.js';
import { DownloadError, downloadCapped, limitFailure } from '../shared.js';
import { FileTooBigError, isFileTooBig } from './errors.js';

/** Which kind of Telegram message carries the audio. */
export type AudioKind = 'voice' | 'audio' | 'video_note' | 'document';

/** The audio a message carries, as Telegram describes it before any download. */
export interface AudioRef {
  kind: AudioKind;
  fileId: string;
  /** Bytes, when Telegram says. */
  fileSize?: number;
  /** Seconds, when Telegram says (voice, audio and video notes). */
  duration?: number;
}

/** A message, or the message another one replies to. */
export type AnyMessage = Message | NonNullable<Message.CommonMessage['reply_to_message']>;

const AUDIO_FILE_NAME = /\.(ogg|oga|opus|mp3|m4a|aac|wav|flac|weba|webm|amr|wma|mka)$/i;

/** The audio in a message: a voice note, an audio file, a video note, or a document that is audio. */
export function audioOf(message: AnyMessage): AudioRef | undefined {
  if ('voice' in message) {
    const { file_id, file_size, duration } = message.voice;
    return { kind: 'voice', fileId: file_id, fileSize: file_size, duration };
  }
  if ('audio' in message) {
    const { file_id, file_size, duration } = message.audio;
    return { kind: 'audio', fileId: file_id, fileSize: file_size, duration };
  }
  if ('video_note' in message) {
    const { file_id, file_size, duration } = message.video_note;
    return { kind: 'video_note', fileId: file_id, fileSize: file_size, duration };
  }
  if ('document' in message) {
    const { file_id, file_size, mime_type, file_name } = message.document;
    const isAudio = mime_type?.startsWith('audio/') || mime_type === 'application/ogg' || (file_name !== undefined && AUDIO_FILE_NAME.test(file_name));
    return isAudio ? { kind: 'document', fileId: file_id, fileSize: file_size } : undefined;
  }
  return undefined;
}

/** What fetching a Telegram file needs. */
export interface FetchAudioOptions {
  telegram: Telegram;
  token: string;
  /** The Bot API root, without a trailing slash. */
  apiRoot: string;
  maxBytes: number;
  maxMb: number;
  /** A download that receives nothing for this long is given up. */
  idleMs: number;
  /** The whole file must arrive within this long (`UPLOAD_DEADLINE_SEC`); default: no deadline. */
  deadlineMs?: number;
  /** Once past `idleMs`, the least average rate in bytes a second (`UPLOAD_MIN_RATE_KBPS`); default 0: none. */
  minBytesPerSec?: number;
  signal?: AbortSignal;
  fetch?: typeof fetch;
}

/**
 * Gets a Telegram file as audio for the core: getFile, then the download, capped while it
 * streams. With a local Bot API server (`--local`), `file_path` is an absolute path on this
 * machine, read in place (capped). The download URL holds the token: it is built here and never
 * logged, and errors never quote it (nor the local path, which holds it too).
 */
export async function fetchAudio(ref: AudioRef, options: FetchAudioOptions): Promise<AudioInput> {
  let filePath: string | undefined;
  try {
    filePath = (await options.telegram.getFile(ref.fileId)).file_path;
  } catch (error) {
    if (isFileTooBig(error)) throw new FileTooBigError({ cause: error });
    throw error;
  }
  if (!filePath) throw new DownloadError('getFile answered without a file_path', undefined);
  if (path.isAbsolute(filePath)) return { kind: 'buffer', data: await readLocalCapped(filePath, options) };
  const url = `${options.apiRoot}/file/bot${options.token}/${filePath}`;
  const data = await downloadCapped(url, {
    maxBytes: options.maxBytes,
    maxMb: options.maxMb,
    idleMs: options.idleMs,
    deadlineMs: options.deadlineMs,
    minBytesPerSec: options.minBytesPerSec,
    signal: options.signal,
    fetch: options.fetch,
  });
  return { kind: 'buffer', data };
}

/**
 * Reads a local Bot API server's file under the same limits as a download: refused by its size
 * first, then capped and timed while it streams (a file can still grow, or sit on a stalled mount).
 */
async function readLocalCapped(file: string, options: FetchAudioOptions): Promise<Uint8Array> {
  const what = 'the local Bot API file read';
  let handle: FileHandle | undefined;
  try {
    handle = await open(file, 'r');
    if ((await handle.stat()).size > options.maxBytes) throw fileTooLarge(options.maxMb);
    const stream = handle.createReadStream({ autoClose: false });
    return await readStream(stream, {
      maxBytes: options.maxBytes,
      idleMs: options.idleMs,
      deadlineMs: options.deadlineMs,
      minBytesPerSec: options.minBytesPerSec,
      signal: options.signal,
      stop: () => stream.destroy(),
    });
  } catch (error) {
    if (error instanceof SttError) throw error;
    if (error instanceof StreamLimitError) throw limitFailure(error, what, options.maxMb);
    if (options.signal?.aborted) throw error;
    // fs errors quote the path, and a local Bot API server keeps files under a folder named
    // after the token: keep only the error code.
    const code = error instanceof Error && 'code' in error ? String(error.code) : 'unknown';
    throw new DownloadError(`the local Bot API file could not be read (${code})`, undefined);
  } finally {
    await handle?.close().catch(() => undefined);
  }
}
