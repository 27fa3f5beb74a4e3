import { access } from 'node:fs/promises';

/** Whether something exists at `file` (and this process may see it). */
export async function pathExists(file: string): Promise<boolean> {
  try {
    await access(file);
    return true;
  } catch {
    return false;
  }
}
