import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/logger.js';
import { HubClient, HubNetworkError, HubResponseError } from '../../src/model/hub.js';
import { rejection } from '../support/rejection.js';
import { refusedEndpoint, startSilentHub } from '../fakes/hf-hub.js';

/**
 * The hub client's bounds on waiting, against real sockets on 127.0.0.1: a server that takes
 * the connection and never answers, one that sends headers and then nothing, a refused port, and
 * a DNS lookup that never answers (the connect phase). Every bound is small; the tests wait on
 * the failure itself, never on a sleep.
 */

const TOKEN = 'hf_hubClientTokenThatMustNeverLeak42';
const closers: (() => Promise<void>)[] = [];

afterEach(async () => {
  await Promise.all(closers.splice(0).map((close) => close()));
});

function collectingLogger(): { logger: ReturnType<typeof createLogger>; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const logger = createLogger({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) });
  return { logger, lines };
}

describe('HubClient: bounded waits', () => {
  it('fails with ETIMEDOUT when the server takes the connection and never answers, and closes the socket', async () => {
    const hub = await startSilentHub();
    closers.push(() => hub.close());
    const client = new HubClient({ endpoint: hub.url, token: TOKEN, responseTimeoutMs: 200 });
    const started = performance.now();
    const error = await rejection(client.listFiles('test/tiny', 'main'));
    const waited = performance.now() - started;

    expect(error).toBeInstanceOf(HubNetworkError);
    expect(error).toMatchObject({ name: 'HubNetworkError', origin: hub.url, code: 'ETIMEDOUT', phase: 'request' });
    expect(error.message).toBe(
      `could not reach ${hub.url}: it took the connection but sent no answer to ` +
        `${hub.url}/api/models/test/tiny/revision/main within 0.2 s`,
    );
    expect((error as HubNetworkError).detail).toBe('connected, but no answer within 0.2 s');
    expect(error.message).not.toContain(TOKEN);
    expect(waited).toBeGreaterThanOrEqual(190);
    expect(waited).toBeLessThan(5_000);

    // Nothing is left behind: the client hung up, so the server's side of the socket closes.
    expect(hub.open.size).toBeLessThanOrEqual(1);
    for (const socket of hub.open) await once(socket, 'close');
    expect(hub.open.size).toBe(0);
  });

  it('fails with ETIMEDOUT when no connection comes within the connect timeout (a DNS lookup that never answers)', async () => {
    let lookups = 0;
    // The connect phase is lookup + TCP (+ TLS): a resolver that never calls back holds it open.
    const agent = new http.Agent({ lookup: () => void (lookups += 1) });
    closers.push(async () => agent.destroy());
    const client = new HubClient({ endpoint: 'http://hub.invalid:8080', agents: { http: agent }, connectTimeoutMs: 150, responseTimeoutMs: 60_000 });
    const error = await rejection(client.listFiles('test/tiny', 'main'));

    expect(lookups).toBe(1);
    expect(error).toBeInstanceOf(HubNetworkError);
    expect(error).toMatchObject({ origin: 'http://hub.invalid:8080', code: 'ETIMEDOUT', phase: 'request' });
    expect(error.message).toBe('could not reach http://hub.invalid:8080: no connection within 0.15 s');
  });

  it('fails with ENOTFOUND when the name does not resolve', async () => {
    const agent = new http.Agent({
      lookup: (hostname, _options, callback) =>
        callback(Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' }), '', 4),
    });
    closers.push(async () => agent.destroy());
    const client = new HubClient({ endpoint: 'http://hub.invalid', agents: { http: agent } });
    const error = await rejection(client.listFiles('test/tiny', 'main'));
    expect(error).toMatchObject({ name: 'HubNetworkError', origin: 'http://hub.invalid', code: 'ENOTFOUND', phase: 'request' });
    expect(error.message).toBe('could not reach http://hub.invalid (ENOTFOUND)');
  });

  it('fails with ECONNREFUSED at once on a closed port, and the next request to a live server works', async () => {
    const url = await refusedEndpoint();
    const client = new HubClient({ endpoint: url, responseTimeoutMs: 60_000, connectTimeoutMs: 60_000 });
    const started = performance.now();
    const error = await rejection(client.listFiles('test/tiny', 'main'));
    expect(performance.now() - started).toBeLessThan(5_000);
    expect(error).toMatchObject({ name: 'HubNetworkError', origin: url, code: 'ECONNREFUSED', phase: 'request' });
    expect(error.message).toBe(`could not reach ${url} (ECONNREFUSED)`);

    const live = http.createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ sha: 'a'.repeat(40), siblings: [{ rfilename: 'vocab.json', size: 2 }] }));
    });
    live.listen(0, '127.0.0.1');
    await once(live, 'listening');
    closers.push(() => new Promise<void>((resolve) => live.close(() => resolve())));
    const liveClient = new HubClient({ endpoint: `http://127.0.0.1:${(live.address() as AddressInfo).port}` });
    const listing = await liveClient.listFiles('test/tiny', 'main');
    expect(listing.files.map((f) => f.path)).toEqual(['vocab.json']);
    live.closeAllConnections();
  });

  it('logs "still waiting for the hub" with the URL without its query while it waits, and stops when the wait ends', async () => {
    const hub = await startSilentHub();
    closers.push(() => hub.close());
    const { logger, lines } = collectingLogger();
    const client = new HubClient({ endpoint: hub.url, token: TOKEN, logger, waitLogIntervalMs: 50, responseTimeoutMs: 400 });
    const error = await rejection(client.listFiles('test/tiny', 'main'));
    expect((error as HubNetworkError).code).toBe('ETIMEDOUT');

    const waiting = lines.filter((l) => l.msg === 'still waiting for the hub');
    // 400 ms at one line per 50 ms: several lines, each a little later than the one before.
    expect(waiting.length).toBeGreaterThanOrEqual(3);
    for (const line of waiting) {
      expect(line.level).toBe(30);
      expect(line.url).toBe(`${hub.url}/api/models/test/tiny/revision/main`);
      expect(typeof line.waitedSec).toBe('number');
    }
    const waited = waiting.map((l) => l.waitedSec as number);
    expect(waited).toEqual([...waited].sort((a, b) => a - b));
    expect(waited.at(-1)).toBeLessThanOrEqual(0.4);
    expect(JSON.stringify(lines)).not.toContain(TOKEN);

    // The timer went with the wait: two more intervals bring no line.
    const count = lines.length;
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(lines.length).toBe(count);
  });

  it('fails a listing whose body stalls after the headers, after the idle timeout', async () => {
    const stalling = http.createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': '1000' });
      res.write('{"sha":"');
    });
    stalling.listen(0, '127.0.0.1');
    await once(stalling, 'listening');
    closers.push(async () => {
      stalling.closeAllConnections();
      await new Promise<void>((resolve) => stalling.close(() => resolve()));
    });
    const url = `http://127.0.0.1:${(stalling.address() as AddressInfo).port}`;
    const client = new HubClient({ endpoint: url, idleTimeoutMs: 150 });
    const error = await rejection(client.listFiles('test/tiny', 'main'));
    expect(error).toMatchObject({ name: 'HubNetworkError', origin: url, code: 'ETIMEDOUT', phase: 'body' });
    expect(error.message).toBe(`the download from ${url} stalled: no data for 150 ms`);
  });

  it('refuses a listing that is not JSON', async () => {
    const server = http.createServer((_req, res) => res.end('<html>captive portal</html>'));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    closers.push(async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    });
    const client = new HubClient({ endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}` });
    const error = await rejection(client.listFiles('test/tiny', 'main'));
    expect(error).toBeInstanceOf(HubResponseError);
    expect(error.message).toBe("the hub's answer for test/tiny@main is not JSON");
  });
});
