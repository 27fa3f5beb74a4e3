import { createHmac } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { CallbackSender } from '../../src/jobs/callback.js';
import { createLogger } from '../../src/logger.js';

interface Received {
  body: string;
  signature: string | undefined;
  type: string | undefined;
}

/** A callback receiver on 127.0.0.1 that answers each try with the next status of `statuses` (then 200). */
async function receiver(statuses: number[] = []) {
  const received: Received[] = [];
  const waiters: (() => void)[] = [];
  const server = http.createServer((request, response) => {
    let body = '';
    request.on('data', (chunk: Buffer) => (body += chunk.toString()));
    request.on('end', () => {
      received.push({ body, signature: request.headers['x-viet-stt-signature'] as string | undefined, type: request.headers['content-type'] });
      response.statusCode = statuses.shift() ?? 200;
      response.end();
      waiters.splice(0).forEach((wake) => wake());
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    host: `127.0.0.1:${(server.address() as AddressInfo).port}`,
    received,
    /** Resolves once `count` tries have arrived. */
    async tries(count: number): Promise<void> {
      while (received.length < count) await new Promise<void>((resolve) => waiters.push(resolve));
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

const SECRET = 'callback-secret-for-tests';

/** The sender's log lines, and a wait for the n-th retry it has scheduled (it logs, then sets its timer). */
function logged() {
  const lines: Record<string, unknown>[] = [];
  const waiters: (() => void)[] = [];
  const logger = createLogger({ level: 'info' }, {
    write(line: string) {
      lines.push(JSON.parse(line) as Record<string, unknown>);
      waiters.splice(0).forEach((wake) => wake());
    },
  });
  return {
    logger,
    lines,
    async failures(count: number): Promise<void> {
      const failed = () => lines.filter((l) => l.msg === 'callback refused' || l.msg === 'callback failed').length;
      while (failed() < count) await new Promise<void>((resolve) => waiters.push(resolve));
    },
  };
}
const logger = createLogger({ level: 'silent' });

describe('job callbacks', () => {
  let receivers: Awaited<ReturnType<typeof receiver>>[] = [];
  beforeEach(() => {
    receivers = [];
  });
  afterEach(async () => {
    vi.useRealTimers();
    await Promise.all(receivers.map((r) => r.close()));
  });
  const start = async (statuses?: number[]) => {
    const r = await receiver(statuses);
    receivers.push(r);
    return r;
  };

  it('POSTs the JSON signed with HMAC-SHA256 of the raw body', async () => {
    const target = await start();
    const sender = new CallbackSender({ secret: SECRET, allowedHosts: [target.host], logger });
    const body = JSON.stringify({ id: 'a', status: 'done', position: null, progress: 1 });
    expect(await sender.deliver(`http://${target.host}/hooks/stt?team=7`, body)).toBe(true);
    expect(target.received).toEqual([
      { body, signature: `sha256=${createHmac('sha256', SECRET).update(body).digest('hex')}`, type: 'application/json' },
    ]);
  });

  it('retries a refused callback after 1 s, then 2 s, and stops once it is taken', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const target = await start([500, 503]);
    const log = logged();
    const sender = new CallbackSender({ secret: SECRET, allowedHosts: [target.host], logger: log.logger });
    const delivered = sender.deliver(`http://${target.host}/hook?token=receiver-own-token`, '{"id":"b"}');
    await log.failures(1);
    await vi.advanceTimersByTimeAsync(999);
    expect(target.received).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    await target.tries(2);
    await log.failures(2);
    await vi.advanceTimersByTimeAsync(1999);
    expect(target.received).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(1);
    await target.tries(3);
    expect(await delivered).toBe(true);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(target.received).toHaveLength(3);
    // Only the host is logged: the URL's own token stays out.
    expect(log.lines.map((l) => [l.msg, l.host, l.status])).toEqual([
      ['callback refused', target.host, 500],
      ['callback refused', target.host, 503],
    ]);
    expect(JSON.stringify(log.lines)).not.toContain('receiver-own-token');
  });

  it('gives up after its bounded tries', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const target = await start([500, 500, 500, 500]);
    const log = logged();
    const sender = new CallbackSender({ secret: SECRET, allowedHosts: [target.host], logger: log.logger, attempts: 3 });
    const delivered = sender.deliver(`http://${target.host}/`, '{}');
    await log.failures(1);
    await vi.advanceTimersByTimeAsync(1000);
    await log.failures(2);
    await vi.advanceTimersByTimeAsync(2000);
    await target.tries(3);
    expect(await delivered).toBe(false);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(target.received).toHaveLength(3);
  });

  it('refuses hosts not listed exactly, other schemes, credentials, and any callback without a secret; nothing is called', async () => {
    const allowed = await start();
    const other = await start();
    const sender = new CallbackSender({ secret: SECRET, allowedHosts: [allowed.host], logger });
    const port = allowed.host.split(':')[1];
    for (const url of [
      `http://${other.host}/`,
      `http://localhost:${port}/`,
      `http://127.0.0.1/`,
      `http://127.0.0.1.${port}/`,
      `ftp://${allowed.host}/`,
      `http://user:pass@${allowed.host}/`,
      'not a url',
    ]) {
      expect(() => sender.check(url), url).toThrow(expect.objectContaining({ code: 'callback_not_allowed' }));
      expect(await sender.deliver(url, '{}'), url).toBe(false);
    }
    const unsigned = new CallbackSender({ secret: undefined, allowedHosts: [allowed.host], logger });
    expect(() => unsigned.check(`http://${allowed.host}/`)).toThrow(
      expect.objectContaining({ code: 'callback_not_allowed', message: 'callback_url needs CALLBACK_SECRET set on the server, so that callbacks can be signed.' }),
    );
    expect(other.received).toEqual([]);
    expect(allowed.received).toEqual([]);
  });

  it('close() ends a retry that is waiting', async () => {
    const target = await start([500]);
    const sender = new CallbackSender({ secret: SECRET, allowedHosts: [target.host], logger, firstRetryMs: 3_600_000 });
    const delivered = sender.deliver(`http://${target.host}/`, '{}');
    await target.tries(1);
    sender.close();
    expect(await delivered).toBe(false);
    expect(target.received).toHaveLength(1);
  });
});
