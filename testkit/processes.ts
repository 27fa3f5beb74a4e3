import { readdir, readFile, readlink } from 'node:fs/promises';

/**
 * ffmpeg processes whose parent is this process: what a decode that was refused, cancelled or
 * timed out must not leave behind. Read from /proc, so it sees children that the service's own
 * bookkeeping might have lost track of.
 */
export async function ffmpegChildren(): Promise<number[]> {
  const found: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = await readFile(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid !== process.pid) continue;
      if ((await readlink(`/proc/${entry}/exe`)).includes('ffmpeg')) found.push(Number(entry));
    } catch {
      // The process ended while it was being read.
    }
  }
  return found;
}
