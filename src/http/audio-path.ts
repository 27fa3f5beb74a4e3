import { constants, existsSync } from 'node:fs';
import { open, readlink, realpath, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { SttError } from '../core/errors.js';

/** A file inside AUDIO_DIR, opened once and checked as opened. Close it when done. */
export interface OpenedAudio {
  /** What ffmpeg reads: the open file itself, so a file swapped in after the check is never read. */
  readonly path: string;
  /** The path as the client gave it, relative to AUDIO_DIR: safe to echo. */
  readonly label: string;
  close(): Promise<void>;
}

/** Where Linux shows a process's open files; elsewhere the checked real path is opened again. */
const PROC_FDS = `/proc/${process.pid}/fd`;

/**
 * Opens a client-supplied path inside `audioDir`, the only folder the service may read from.
 *
 * Absolute paths, `..`, NUL bytes and empty paths are refused with `path_forbidden` (they
 * are refused as written, before the disk is touched). Everything else is opened once,
 * without blocking (a FIFO cannot hang it), and what was opened is checked: a regular file,
 * whose real path lies inside the folder. A missing file, a symlink that leads out, a folder
 * and a FIFO all get the same `file_not_found`, so the answer tells nothing about what exists
 * outside. Messages never echo a server path.
 */
export async function openAudioPath(audioDir: string | undefined, requested: string): Promise<OpenedAudio> {
  if (!audioDir) throw new SttError('path_disabled');
  if (!isPlainRelative(requested)) throw new SttError('path_forbidden');
  const root = await realpath(audioDir).catch((error: unknown) => {
    throw new SttError('file_not_found', undefined, { cause: error });
  });
  let handle: FileHandle;
  try {
    handle = await open(path.join(root, requested), constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
  } catch (error) {
    throw new SttError('file_not_found', undefined, { cause: error });
  }
  try {
    const opened = existsSync(PROC_FDS) ? `${PROC_FDS}/${handle.fd}` : undefined;
    const real = opened ? await readlink(opened) : await realpath(path.join(root, requested));
    const info = await handle.stat();
    if (!info.isFile() || !isInside(root, real)) throw new SttError('file_not_found');
    return {
      path: opened ?? real,
      label: path.normalize(requested),
      close: () => handle.close(),
    };
  } catch (error) {
    await handle.close();
    throw error instanceof SttError ? error : new SttError('file_not_found', undefined, { cause: error });
  }
}

/** A relative path with no `..` segment, no NUL, not empty, in POSIX or Windows spelling. */
function isPlainRelative(requested: string): boolean {
  if (requested.trim() === '' || requested.includes('\0')) return false;
  if (path.isAbsolute(requested) || /^[A-Za-z]:/.test(requested) || requested.startsWith('\\')) return false;
  return !requested.split(/[\\/]/).includes('..');
}

function isInside(root: string, candidate: string): boolean {
  const relative = path.relative(root, candidate);
  return relative !== '' && relative !== '..' && !relative.startsWith(`..${path.sep}`) && !path.isAbsolute(relative);
}
