import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { ERROR_CATALOGUE, SttError, toSttError } from '../../src/core/errors.js';

describe('the error catalogue', () => {
  it('is the table the README documents, code for code and status for status', async () => {
    const readme = await readFile('README.md', 'utf8');
    const block = readme.slice(readme.indexOf('<!-- errors:start -->'), readme.indexOf('<!-- errors:end -->'));
    const documented = Object.fromEntries([...block.matchAll(/^\| `([a-z_]+)` \| (\d{3}) \|/gm)].map((m) => [m[1], Number(m[2])]));
    const catalogue = Object.fromEntries(Object.entries(ERROR_CATALOGUE).map(([code, entry]) => [code, entry.status]));
    expect(documented).toEqual(catalogue);
  });

  it('keeps the cause and names itself', () => {
    const cause = new Error('ffmpeg exited with code 1');
    const error = new SttError('invalid_audio', undefined, { cause });
    expect(error.name).toBe('SttError');
    expect(error.cause).toBe(cause);
    expect(error.status).toBe(400);
    expect(error.message).toBe(ERROR_CATALOGUE.invalid_audio.message);
  });

  it('turns an unknown failure into internal without its message', () => {
    const error = toSttError(new Error('/srv/models/secret.onnx: bad'));
    expect(error.code).toBe('internal');
    expect(error.message).not.toContain('/srv');
  });
});
