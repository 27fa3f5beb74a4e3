import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseArpa } from '../../src/text/arpa.js';
import { viet } from '../support/cli.js';

// `npx viet-stt lm:build …` as a user types it: the bin script, in a child process.

describe('viet-stt lm:build', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'stt-lm-'));
    await writeFile(path.join(dir, 'corpus.txt'), 'Anh Tuấn gửi báo cáo.\nchị Lan gửi hoá đơn\nanh tuấn họp với chị lan\n');
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('writes an ARPA model of the team’s words that the reader loads', async () => {
    const out = path.join(dir, 'lm.arpa');
    const run = await viet(['lm:build', path.join(dir, 'corpus.txt'), '-o', out, '--order', '2']);
    expect(run).toMatchObject({ code: 0, stdout: '' });
    expect(run.stderr).toMatch(/^viet-stt lm:build: wrote .*lm\.arpa \(ngram 1=\d+, ngram 2=\d+\)\n$/);
    const model = parseArpa(await readFile(out, 'utf8'));
    expect(model.order).toBe(2);
    expect(model.has('tuấn')).toBe(true);
    // Seen twice after "anh", never after "chị".
    expect(model.logProb(['anh'], 'tuấn')).toBeGreaterThan(model.logProb(['chị'], 'tuấn'));
  });

  it.each<[string, string[], number, RegExp]>([
    ['no corpus', ['-o', 'x.arpa'], 2, /^viet-stt lm:build: name the corpus file; see viet-stt lm:build --help\n$/],
    ['no output', ['corpus.txt'], 2, /^viet-stt lm:build: give the output file with -o; see/],
    ['a bad order', ['corpus.txt', '-o', 'x.arpa', '--order', 'nine'], 2, /--order must be a whole number from 1 to 6, not "nine"/],
    ['an unknown option', ['corpus.txt', '--smoothing', 'witten-bell'], 2, /^viet-stt lm:build: Unknown option '--smoothing'/],
    ['a missing corpus', ['/nonexistent/corpus.txt', '-o', 'x.arpa'], 1, /^viet-stt lm:build: cannot read \/nonexistent\/corpus\.txt \(ENOENT\)\n$/],
    ['a directory', ['.', '-o', 'x.arpa'], 1, /^viet-stt lm:build: \. is a directory, not a text file\n$/],
  ])('%s: one line and a non-zero exit', async (_name, args, code, stderr) => {
    const run = await viet(['lm:build', ...args]);
    expect(run.code).toBe(code);
    expect(run.stdout).toBe('');
    expect(run.stderr).toMatch(stderr);
    expect(run.stderr.trim().split('\n')).toHaveLength(1);
  });

  it('--help prints its usage and exits 0', async () => {
    const run = await viet(['lm:build', '--help']);
    expect(run).toMatchObject({ code: 0, stderr: '' });
    expect(run.stdout).toContain('Usage: viet-stt lm:build <corpus.txt> -o <lm.arpa> [--order 3]');
  });
});
