import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll } from 'vitest';

// Each test file gets a temporary folder of its own as TMPDIR (os.tmpdir() reads it, and the
// ffmpeg and service processes the file starts inherit it), so the checks that the service
// leaves no temporary file behind see only what this file's service made.
const dir = mkdtempSync(path.join(os.tmpdir(), 'stt-test-tmp-'));
const previous = process.env.TMPDIR;
process.env.TMPDIR = dir;
// The store the service opens at start (SQLite in DATA_DIR) lives there too, never in the
// working tree's `data/`.
const previousDataDir = process.env.DATA_DIR;
process.env.DATA_DIR = path.join(dir, 'data');

afterAll(() => {
  if (previous === undefined) delete process.env.TMPDIR;
  else process.env.TMPDIR = previous;
  if (previousDataDir === undefined) delete process.env.DATA_DIR;
  else process.env.DATA_DIR = previousDataDir;
  rmSync(dir, { recursive: true, force: true });
});
