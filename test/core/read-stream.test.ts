import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { ReadableStream } from 'node:stream/web';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { StreamLimitError, limitStream, readStream, type StreamLimits } from '../../src/core/read-stream.js';

const bytes = (n: number, fill = 7): Uint8Array => new Uint8Array(n).fill(fill);

/**
 * A source the test feeds by hand, built on an async generator like most real iterators: its
 * `return()` queues behind a pending `next()`, so a reader that relied on it would hang.
 */
function channel() {
  const queue: (Uint8Array | Error | null)[] = [];
  let wake: (() => void) | undefined;
  const state = { returned: false, nexts: 0 };
  async function* generate(): AsyncGenerator<Uint8Array> {
    try {
      for (;;) {
        while (queue.length === 0) await new Promise<void>((resolve) => (wake = resolve));
        const item = queue.shift();
        if (item === null) return;
        if (item instanceof Error) throw item;
        if (item) yield item;
      }
    } finally {
      state.returned = true;
    }
  }
  const gen = generate();
  const source: AsyncIterable<Uint8Array> = {
    [Symbol.asyncIterator]: () => ({
      next: () => {
        state.nexts++;
        return gen.next();
      },
      return: () => gen.return(undefined),
    }),
  };
  const push = (item: Uint8Array | Error | null): void => {
    queue.push(item);
    wake?.();
  };
  return { source, push, state };
}

/** A promise's outcome, caught at once so a rejection is never unhandled while time is advanced. */
function settle<T>(promise: Promise<T>): { result: Promise<{ value?: T; error?: unknown }>; done: () => boolean } {
  let done = false;
  const result = promise.then(
    (value) => ((done = true), { value }),
    (error: unknown) => ((done = true), { error }),
  );
  return { result, done: () => done };
}

const base: StreamLimits = { maxBytes: 100, idleMs: 5_000 };

describe('readStream over real streams', () => {
  it.each<[string, () => AsyncIterable<Uint8Array>]>([
    ['a Node Readable', () => Readable.from([bytes(3, 1), bytes(4, 2)])],
    [
      'a web ReadableStream',
      () =>
        new ReadableStream<Uint8Array>({
          start(controller) {
            controller.enqueue(bytes(3, 1));
            controller.enqueue(bytes(4, 2));
            controller.close();
          },
        }),
    ],
    [
      'an async generator',
      () =>
        (async function* () {
          yield bytes(3, 1);
          yield new Uint8Array(0);
          yield bytes(4, 2);
        })(),
    ],
  ])('gives back exactly the bytes of %s', async (_name, make) => {
    const stop = vi.fn();
    const data = await readStream(make(), { ...base, stop });
    expect(data).toEqual(Buffer.from([1, 1, 1, 2, 2, 2, 2]));
    expect(stop).not.toHaveBeenCalled();
  });

  it.each<[string, number, number[], 'ok' | 'too_large']>([
    ['exactly maxBytes in one chunk', 10, [10], 'ok'],
    ['exactly maxBytes in many chunks', 10, [3, 3, 4], 'ok'],
    ['maxBytes + 1 in one chunk', 10, [11], 'too_large'],
    ['maxBytes + 1 in the last byte', 10, [5, 5, 1], 'too_large'],
    ['an empty stream', 0, [], 'ok'],
    ['one byte over a cap of 0', 0, [1], 'too_large'],
    ['no cap', Infinity, [1000, 1000], 'ok'],
  ])('%s', async (_name, maxBytes, sizes, expected) => {
    const stop = vi.fn();
    const outcome = await settle(readStream(Readable.from(sizes.map((n) => bytes(n))), { maxBytes, idleMs: 5_000, stop })).result;
    if (expected === 'ok') {
      expect(outcome.value?.length).toBe(sizes.reduce((a, b) => a + b, 0));
      expect(stop).not.toHaveBeenCalled();
    } else {
      expect(outcome.error).toBeInstanceOf(StreamLimitError);
      expect(outcome.error).toMatchObject({ reason: 'too_large', limit: maxBytes });
      expect(stop).toHaveBeenCalledExactlyOnceWith(outcome.error);
    }
  });

  it('fails too_large as soon as the extra byte arrives, without reading on', async () => {
    const pulled: number[] = [];
    const source = Readable.from(
      (function* () {
        for (let i = 0; i < 10; i++) {
          pulled.push(i);
          yield bytes(4);
        }
      })(),
    );
    await expect(readStream(source, { maxBytes: 10, idleMs: 5_000 })).rejects.toMatchObject({ reason: 'too_large' });
    expect(pulled.length).toBeLessThan(10);
    expect(source.destroyed).toBe(true); // the default iterator's return() destroys it
  });

  it('passes a source error through, and calls stop with it', async () => {
    const boom = new Error('boom');
    const source = new Readable({
      read() {
        this.destroy(boom);
      },
    });
    const stop = vi.fn();
    await expect(readStream(source, { ...base, stop })).rejects.toBe(boom);
    expect(stop).toHaveBeenCalledExactlyOnceWith(boom);
  });

  it('keeps a Node stream alive when asked: after too_large a server still reads the rest and answers 413', async () => {
    const sent = 200_000;
    const server = http.createServer((req, res) => {
      void (async () => {
        try {
          await readStream(req.iterator({ destroyOnReturn: false }), { maxBytes: 1000, idleMs: 5_000 });
          res.end('accepted');
        } catch (error) {
          const alive = !req.destroyed;
          let rest = 0;
          for await (const chunk of req) rest += (chunk as Buffer).length;
          res.writeHead(413, { 'content-type': 'text/plain' });
          res.end(`${(error as StreamLimitError).reason} ${rest > 0 && rest < sent} ${alive}`);
        }
      })();
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    try {
      const { port } = server.address() as AddressInfo;
      const response = await fetch(`http://127.0.0.1:${port}/`, { method: 'POST', body: Buffer.alloc(sent, 1) });
      expect(response.status).toBe(413);
      expect(await response.text()).toBe('too_large true true');
      // And the server still answers the next request.
      const next = await fetch(`http://127.0.0.1:${port}/`, { method: 'POST', body: 'small' });
      expect(await next.text()).toBe('accepted');
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });
});

describe('limitStream in time', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it.each<[string, Partial<StreamLimits>, number[], StreamLimitError['reason'], number]>([
    // name, limits, gaps in ms before each 10-byte chunk (then silence), reason, ms after which it fails
    ['idle before the first byte', {}, [], 'idle', 5_000],
    ['idle between two chunks', {}, [1_000, 1_000], 'idle', 7_000],
    ['deadline on a steady stream', { deadlineMs: 10_000, idleMs: 3_000 }, [2_000, 2_000, 2_000, 2_000], 'deadline', 10_000],
    ['too_slow on a trickle checked by the timer', { minBytesPerSec: 8, maxBytes: 1_000 }, [0, 2_000, 2_000], 'too_slow', 5_001],
  ])('%s', async (_name, limits, gaps, reason, failsAt) => {
    vi.useFakeTimers();
    const { source, push } = channel();
    const stop = vi.fn();
    const read = settle(readStream(source, { ...base, ...limits, stop }));
    let elapsed = 0;
    for (const gap of gaps) {
      await vi.advanceTimersByTimeAsync(gap);
      elapsed += gap;
      push(bytes(10));
    }
    await vi.advanceTimersByTimeAsync(failsAt - elapsed - 1);
    expect(read.done()).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    const { error } = await read.result;
    expect(error).toBeInstanceOf(StreamLimitError);
    expect(error).toMatchObject({ reason });
    expect(stop).toHaveBeenCalledExactlyOnceWith(error);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('catches a client that sends one byte every two seconds, while the idle timer never fires', async () => {
    vi.useFakeTimers();
    const { source, push } = channel();
    const read = settle(readStream(source, { maxBytes: 1_000_000, idleMs: 5_000, deadlineMs: 300_000, minBytesPerSec: 8 }));
    for (let second = 0; second < 20 && !read.done(); second += 2) {
      push(bytes(1));
      await vi.advanceTimersByTimeAsync(2_000);
    }
    const { error } = await read.result;
    expect(error).toMatchObject({ reason: 'too_slow', limit: 8, message: 'slower than 8 bytes/s on average' });
    expect(vi.getTimerCount()).toBe(0);
  });

  it('counts the consumer\'s time between chunks in the deadline and the rate, not in idle', async () => {
    vi.useFakeTimers();
    for (const [limits, reason] of [
      [{ deadlineMs: 4_000 }, 'deadline'],
      [{ minBytesPerSec: 1_000 }, 'too_slow'],
    ] as const) {
      const { source, push } = channel();
      push(bytes(10));
      push(bytes(10));
      const stop = vi.fn();
      const seen: number[] = [];
      const consume = async (): Promise<void> => {
        for await (const chunk of limitStream(source, { maxBytes: 100, idleMs: 2_000, ...limits, stop })) {
          seen.push(chunk.length);
          await vi.advanceTimersByTimeAsync(6_000);
        }
      };
      await expect(consume()).rejects.toMatchObject({ reason });
      expect(seen).toEqual([10]);
      expect(stop).toHaveBeenCalledOnce();
    }
  });

  it('never fails too_slow when minBytesPerSec is 0 or unset', async () => {
    vi.useFakeTimers();
    for (const minBytesPerSec of [0, undefined]) {
      const { source, push } = channel();
      const read = settle(readStream(source, { maxBytes: 1_000, idleMs: 5_000, minBytesPerSec }));
      for (let i = 0; i < 30; i++) {
        push(bytes(1));
        await vi.advanceTimersByTimeAsync(4_000);
      }
      push(null);
      expect((await read.result).value?.length).toBe(30);
      expect(vi.getTimerCount()).toBe(0);
    }
  });

  it('does not count empty chunks as something arriving', async () => {
    vi.useFakeTimers();
    const { source, push } = channel();
    const read = settle(readStream(source, { maxBytes: 10, idleMs: 5_000 }));
    for (let i = 0; i < 4; i++) {
      await vi.advanceTimersByTimeAsync(1_000);
      push(new Uint8Array(0));
    }
    await vi.advanceTimersByTimeAsync(999);
    expect(read.done()).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect((await read.result).error).toMatchObject({ reason: 'idle' });
  });

  it('counts the deadline from startedAt', async () => {
    vi.useFakeTimers();
    const { source } = channel();
    const read = settle(readStream(source, { maxBytes: 10, idleMs: 60_000, deadlineMs: 10_000, startedAt: performance.now() - 9_000 }));
    await vi.advanceTimersByTimeAsync(999);
    expect(read.done()).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect((await read.result).error).toMatchObject({ reason: 'deadline', limit: 10_000, message: 'not finished within 10 s' });
  });

  it('does not count the consumer\'s own time between chunks as idle', async () => {
    vi.useFakeTimers();
    const { source, push } = channel();
    push(bytes(1));
    push(bytes(1));
    push(null);
    const seen: number[] = [];
    for await (const chunk of limitStream(source, { maxBytes: 10, idleMs: 1_000 })) {
      seen.push(chunk.length);
      await vi.advanceTimersByTimeAsync(5_000);
    }
    expect(seen).toEqual([1, 1]);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('rejects at once on abort, with the signal\'s reason, while a next() is pending', async () => {
    vi.useFakeTimers();
    const { source, state } = channel();
    const controller = new AbortController();
    const stop = vi.fn();
    const read = settle(readStream(source, { ...base, signal: controller.signal, stop }));
    await vi.advanceTimersByTimeAsync(100);
    const reason = new Error('cancelled by the user');
    controller.abort(reason);
    expect(await read.result).toEqual({ error: reason });
    expect(stop).toHaveBeenCalledExactlyOnceWith(reason);
    expect(state.returned).toBe(false); // return() waits for the pending next()
    expect(vi.getTimerCount()).toBe(0);
  });

  it('rejects before reading when the signal is already aborted', async () => {
    const { source, state } = channel();
    const stop = vi.fn();
    const signal = AbortSignal.abort(new Error('too late'));
    await expect(readStream(source, { ...base, signal, stop })).rejects.toThrow('too late');
    expect(stop).toHaveBeenCalledOnce();
    expect(state.nexts).toBe(0);
  });

  it('ignores a late chunk after a limit, swallows a late rejection, and then ends the source', async () => {
    vi.useFakeTimers();
    const unhandled = vi.fn();
    process.on('unhandledRejection', unhandled);
    try {
      const late = channel();
      const read = settle(readStream(late.source, { ...base, idleMs: 1_000 }));
      await vi.advanceTimersByTimeAsync(1_000);
      expect((await read.result).error).toMatchObject({ reason: 'idle' });
      late.push(bytes(5));
      await vi.advanceTimersByTimeAsync(0);
      expect(late.state.returned).toBe(true);

      const failing = channel();
      const read2 = settle(readStream(failing.source, { ...base, idleMs: 1_000 }));
      await vi.advanceTimersByTimeAsync(1_000);
      expect((await read2.result).error).toMatchObject({ reason: 'idle' });
      failing.push(new Error('socket closed'));
      await vi.advanceTimersByTimeAsync(0);
      expect(failing.state.returned).toBe(true);
    } finally {
      vi.useRealTimers();
      await new Promise((resolve) => setImmediate(resolve));
      process.off('unhandledRejection', unhandled);
    }
    expect(unhandled).not.toHaveBeenCalled();
  });

  it('calls stop once when the consumer breaks, and ends the source', async () => {
    vi.useFakeTimers();
    const { source, push, state } = channel();
    const stop = vi.fn();
    push(bytes(1));
    push(bytes(1));
    for await (const _chunk of limitStream(source, { ...base, stop })) break;
    expect(stop).toHaveBeenCalledExactlyOnceWith(undefined);
    await vi.advanceTimersByTimeAsync(0);
    expect(state.returned).toBe(true);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('calls stop once when the consumer throws', async () => {
    const { source, push } = channel();
    const stop = vi.fn();
    push(bytes(1));
    const consume = async (): Promise<void> => {
      for await (const _chunk of limitStream(source, { ...base, stop })) throw new Error('disk full');
    };
    await expect(consume()).rejects.toThrow('disk full');
    expect(stop).toHaveBeenCalledOnce();
  });

  it('leaves no timer behind on success', async () => {
    vi.useFakeTimers();
    const { source, push } = channel();
    const stop = vi.fn();
    const read = settle(readStream(source, { maxBytes: 100, idleMs: 5_000, deadlineMs: 60_000, minBytesPerSec: 1, stop }));
    await vi.advanceTimersByTimeAsync(1_000);
    push(bytes(50));
    push(null);
    expect((await read.result).value?.length).toBe(50);
    expect(stop).not.toHaveBeenCalled();
    expect(vi.getTimerCount()).toBe(0);
  });

  it('names the limit in a message with no source in it', async () => {
    vi.useFakeTimers();
    const { source } = channel();
    const read = settle(readStream(source, { maxBytes: 1, idleMs: 1_500 }));
    await vi.advanceTimersByTimeAsync(1_500);
    const { error } = await read.result;
    expect(error).toMatchObject({ name: 'StreamLimitError', reason: 'idle', limit: 1_500, message: 'nothing arrived for 1.5 s' });
  });
});
