import { open } from 'node:fs/promises';
import path from 'node:path';
import type { Telegram } from 'telegraf';
import type { Message } from 'telegraf/types';
import { SttError } from '../../src/core/errors.js';
import type { AudioInput } from '../../src/core/types.js';
import { DownloadError, downloadCapped } from '../shared.js';
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
  if (path.isAbsolute(filePath)) return { kind: 'buffer', data: await readLocalCapped(filePath, options.maxBytes, options.maxMb) };
  const url = `${options.apiRoot}/file/bot${options.token}/${filePath}`;
  const data = await downloadCapped(url, {
    maxBytes: options.maxBytes,
    maxMb: options.maxMb,
    idleMs: options.idleMs,
    signal: options.signal,
    fetch: options.fetch,
  });
  return { kind: 'buffer', data };
}

async function readLocalCapped(file: string, maxBytes: number, maxMb: number): Promise<Uint8Array> {
  const tooLarge = (): SttError => new SttError('payload_too_large', `The file is larger than the ${maxMb} MB limit.`);
  let data: Buffer;
  try {
    const handle = await open(file, 'r');
    try {
      if ((await handle.stat()).size > maxBytes) throw tooLarge();
      data = await handle.readFile();
    } finally {
      await handle.close();
    }
  } catch (error) {
    if (error instanceof SttError) throw error;
    // fs errors quote the path, and a local Bot API server keeps files under a folder named
    // after the token: keep only the error code.
    const code = error instanceof Error && 'code' in error ? String(error.code) : 'unknown';
    throw new DownloadError(`the local Bot API file could not be read (${code})`, undefined);
  }
  if (data.length > maxBytes) throw tooLarge();
  return data;
}
