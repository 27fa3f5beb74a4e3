import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { DownloadError, UserRateLimiter, downloadCapped, splitMessage, type DownloadOptions } from '../../adapters/shared.js';
import { SttError } from '../../src/core/errors.js';
import { StreamLimitError } from '../../src/core/read-stream.js';

describe('splitMessage', () => {
  it.each([
    ['', 10, []],
    ['xin chào', 10, ['xin chào']],
    ['xin chào các bạn', 8, ['xin chào', 'các bạn']],
    ['một hai ba bốn', 7, ['một hai', 'ba bốn']],
    ['  spaced   out  ', 20, ['spaced out']],
    ['abcdefghij klm', 4, ['abcd', 'efgh', 'ij', 'klm']],
  ])('%j under %i characters → %j', (text, limit, parts) => {
    expect(splitMessage(text, limit)).toEqual(parts);
  });

  it('never cuts or repeats a word, and every part fits', () => {
    const words = Array.from({ length: 3000 }, (_, i) => ['xin', 'chào', 'các', 'bạn', 'người', 'việt', 'nam'][i % 7]);
    const parts = splitMessage(words.join(' '), 4096);
    expect(parts.every((p) => p.length <= 4096)).toBe(true);
    expect(parts.join(' ').split(' ')).toEqual(words);
  });
});

describe('UserRateLimiter', () => {
  it('allows `limit` jobs per user per window, then again once the window has passed', () => {
    let now = 0;
    const limiter = new UserRateLimiter(2, 60_000, () => now);
    expect([limiter.take('lan'), limiter.take('lan'), limiter.take('lan'), limiter.take('minh')]).toEqual([true, true, false, true]);
    now = 60_000;
    expect(limiter.take('lan')).toBe(true);
  });

  it('forgets users whose last job left the window, so it does not grow without bound', () => {
    let now = 0;
    const limiter = new UserRateLimiter(5, 1_000, () => now);
    for (let user = 0; user < 100; user++) limiter.take(`user-${user}`);
    expect(limiter.trackedUsers).toBe(100);
    now = 5_000;
    limiter.take('late');
    expect(limiter.trackedUsers).toBe(1);
  });

  it('is off at 0', () => {
    const limiter = new UserRateLimiter(0, 1_000);
    expect(Array.from({ length: 50 }, () => limiter.take('lan')).every(Boolean)).toBe(true);
  });
});

describe('downloadCapped', () => {
  const TOKEN = '7123456789:AAHk3Jx9QeVt1mZrBq8WcYp2LsD4fGnUo0E';
  const servers: http.Server[] = [];

  /** A file server on 127.0.0.1 whose answer the test writes. */
  async function serve(handler: http.RequestListener): Promise<string> {
    const server = http.createServer(handler);
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}/file/bot${TOKEN}/voice/file_1.oga`;
  }

  afterEach(async () => {
    for (const server of servers.splice(0)) {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  const limits = { maxBytes: 1000, maxMb: 0.001 };

  it('returns the bytes', async () => {
    const url = await serve((_req, res) => res.end(Buffer.alloc(600, 7)));
    expect(await downloadCapped(url, limits)).toEqual(Buffer.alloc(600, 7));
  });

  it('refuses a declared size over the cap before reading the body', async () => {
    const url = await serve((_req, res) => {
      res.writeHead(200, { 'content-length': '5000' });
      res.write(Buffer.alloc(10));
    });
    await expect(downloadCapped(url, limits)).rejects.toEqual(new SttError('payload_too_large', 'The file is larger than the 0.001 MB limit.'));
  });

  it('stops a body that passes the cap while it streams, whatever was declared', async () => {
    let sent = 0;
    const url = await serve((_req, res) => {
      res.writeHead(200);
      const timer = setInterval(() => {
        if (res.destroyed || sent > 100_000) return clearInterval(timer);
        sent += 400;
        res.write(Buffer.alloc(400));
      }, 5);
    });
    await expect(downloadCapped(url, limits)).rejects.toMatchObject({ code: 'payload_too_large' });
    expect(sent).toBeLessThan(100_000);
  });

  it('gives up a server that answers nothing, and one that stalls mid-body, after idleMs', async () => {
    const silent = await serve(() => undefined);
    await expect(downloadCapped(silent, { ...limits, idleMs: 200 })).rejects.toEqual(
      new DownloadError('the file download stalled: nothing arrived for 0.2 s', undefined),
    );
    const stalling = await serve((_req, res) => {
      res.writeHead(200, { 'content-length': '800' });
      res.write(Buffer.alloc(100));
    });
    const error = await downloadCapped(stalling, { ...limits, idleMs: 200 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DownloadError);
    expect((error as DownloadError).message).toBe('the file download stalled: nothing arrived for 0.2 s');
  });

  it('says why a connection failed, by code, without the URL that holds the token', async () => {
    const url = await serve((req) => req.socket.destroy());
    const error = (await downloadCapped(url, limits).catch((e: unknown) => e)) as DownloadError;
    expect(error).toBeInstanceOf(DownloadError);
    expect(error.message).toBe('the file could not be downloaded');
    expect(String((error.cause as Error).message)).toMatch(/^TypeError \((ECONNRESET|UND_ERR_SOCKET)\)$/);
    expect(JSON.stringify([error.message, (error.cause as Error).message, error.stack])).not.toContain(TOKEN.split(':')[1]);
  });

  describe('on a clock', () => {
    afterEach(() => {
      vi.useRealTimers();
    });

    /** A fetch whose body sends `chunk` every `everyMs` until aborted; records the signal it got. */
    function trickle(chunk: number, everyMs: number) {
      const seen: { signal?: AbortSignal } = {};
      const doFetch = (async (_url: string | URL | Request, init?: RequestInit) => {
        seen.signal = init?.signal ?? undefined;
        let timer: NodeJS.Timeout | undefined;
        const body = new ReadableStream<Uint8Array>({
          start(controller) {
            timer = setInterval(() => controller.enqueue(new Uint8Array(chunk)), everyMs);
            seen.signal?.addEventListener('abort', () => clearInterval(timer));
          },
          cancel: () => clearInterval(timer),
        });
        return new Response(body, { status: 200 });
      }) as typeof fetch;
      return { doFetch, seen };
    }

    it.each<[string, Partial<DownloadOptions>, number, number, string]>([
      ['a body past its deadline', { idleMs: 500, deadlineMs: 1_000 }, 10, 400, 'the file download took too long: not finished within 1 s'],
      ['a trickle under the minimum rate', { idleMs: 1_000, minBytesPerSec: 100, deadlineMs: 60_000 }, 1, 400, 'the file download was too slow: under 100 bytes/s on average'],
    ])('gives up %s, aborts the fetch, and says so without the URL', async (_name, options, chunk, everyMs, message) => {
      vi.useFakeTimers();
      const { doFetch, seen } = trickle(chunk, everyMs);
      const download = downloadCapped(`https://api.telegram.org/file/bot${TOKEN}/voice/file_1.oga`, { ...limits, ...options, fetch: doFetch }).catch((e: unknown) => e);
      await vi.advanceTimersByTimeAsync(5_000);
      const error = (await download) as DownloadError;
      expect(error).toBeInstanceOf(DownloadError);
      expect(error.message).toBe(message);
      expect(error.status).toBe(200);
      expect(error.cause).toBeInstanceOf(StreamLimitError);
      expect(seen.signal?.aborted).toBe(true);
      expect(vi.getTimerCount()).toBe(0);
    });

    it('keeps a slow but steady download going when there is no minimum rate', async () => {
      vi.useFakeTimers();
      let sent = 0;
      const doFetch = (async () =>
        new Response(
          new ReadableStream<Uint8Array>({
            async pull(controller) {
              await new Promise((resolve) => setTimeout(resolve, 400));
              if (sent === 20) return controller.close();
              sent++;
              controller.enqueue(new Uint8Array(1));
            },
          }),
        )) as typeof fetch;
      const download = downloadCapped('https://example.test/f', { ...limits, idleMs: 1_000, fetch: doFetch });
      await vi.advanceTimersByTimeAsync(10_000);
      expect((await download).length).toBe(20);
    });
  });

  it('calls a body that breaks mid-way cut off, by code, without the URL', async () => {
    const url = await serve((_req, res) => {
      res.writeHead(200, { 'content-length': '800' });
      res.write(Buffer.alloc(100), () => res.destroy());
    });
    const error = (await downloadCapped(url, limits).catch((e: unknown) => e)) as DownloadError;
    expect(error).toBeInstanceOf(DownloadError);
    expect(error.message).toBe('the file download was cut off');
    expect(error.status).toBe(200);
    expect(JSON.stringify([error.message, (error.cause as Error).message, error.stack])).not.toContain(TOKEN.split(':')[1]);
  });

  it('reports a non-2xx answer with its status', async () => {
    const url = await serve((_req, res) => {
      res.writeHead(404);
      res.end('Not Found');
    });
    await expect(downloadCapped(url, limits)).rejects.toEqual(new DownloadError('the file download answered 404', 404));
  });
});
