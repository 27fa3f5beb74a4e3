import { realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import { SttError } from '../core/errors.js';

/**
 * Resolves a client-supplied path inside `audioDir`, the only folder the service may read from.
 * Refuses absolute escapes, `..`, NUL bytes and symlinks that lead outside; refuses everything
 * when no folder is configured. Error messages never echo the server's own paths.
 */
export async function resolveAudioPath(audioDir: string | undefined, requested: string): Promise<string> {
  if (!audioDir) throw new SttError('path_disabled');
  if (requested.includes('\0') || requested.trim() === '') throw new SttError('path_forbidden');
  const root = await realpath(audioDir).catch((error: unknown) => {
    throw new SttError('file_not_found', undefined, { cause: error });
  });
  const lexical = path.resolve(root, requested);
  if (!isInside(root, lexical)) throw new SttError('path_forbidden');
  let real: string;
  try {
    real = await realpath(lexical);
  } catch (error) {
    throw new SttError('file_not_found', undefined, { cause: error });
  }
  if (!isInside(root, real)) throw new SttError('path_forbidden');
  const info = await stat(real);
  if (!info.isFile()) throw new SttError('file_not_found');
  return real;
}

function isInside(root: string, candidate: string): boolean {
  const relative = path.relative(root, candidate);
  return relative !== '' && !relative.startsWith('..') && !path.isAbsolute(relative);
}
