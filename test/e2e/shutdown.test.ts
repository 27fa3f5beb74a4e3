import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFile } from 'node:fs/promises';
import http from 'node:http';
import { describe, expect, it } from 'vitest';
import { speech } from '../support/audio.js';
import { TONE_MODEL_DIR } from '../support/core.js';
import { postFile, serviceTempFiles, streamUpload, waitUntil } from '../support/server.js';
import { startServiceProcess } from '../support/service-process.js';

const PHRASE = 'một hai ba bốn năm';

describe('SIGTERM to the whole process group', () => {
  it('keeps answering while it drains, finishes every accepted job (ffmpeg got the signal too), then exits 0', async () => {
    const service = await startServiceProcess({ MODEL_DIR: TONE_MODEL_DIR, QUEUE_CONCURRENCY: '1' }, 30_000, { detached: true });
    const audio = await speech(PHRASE);
    const long = await speech(Array.from({ length: 12 }, () => PHRASE).join(' '));

    // One upload still streaming in, and complete ones being decoded and transcribed.
    const { request: slow, answer: slowAnswer } = streamUpload(`${service.url}/wav2vec2`, audio.length);
    slow.write(audio.subarray(0, 2000));
    await waitUntil(async () => {
      const health = (await (await fetch(`${service.url}/healthz`)).json()) as { uploads: { uploading: number } };
      return health.uploads.uploading === 1 ? true : undefined;
    }, 10_000, 'the upload to be arriving');
    const complete = [postFile(`${service.url}/wav2vec2`, long, 'long.wav'), postFile(`${service.url}/wav2vec2`, audio, 'b.wav')];
    const taken = (): number => service.logs.filter((l) => l.msg === 'incoming request' && (l.req as { url?: string } | undefined)?.url === '/wav2vec2').length;
    await waitUntil(async () => (taken() === 3 ? true : undefined), 10_000, 'the uploads to be taken in');

    // As systemd, a terminal's Ctrl-C or `kill -- -PGID` do: every process in the group, ffmpeg included.
    process.kill(-(service.child.pid as number), 'SIGTERM');
    await waitUntil(async () => (service.logs.some((l) => l.msg === 'shutting down: finishing running jobs') ? true : undefined), 10_000, 'shutdown to begin');

    // The listener stays open: a load balancer sees the drain, and new work is told why it is refused.
    const health = await fetch(`${service.url}/healthz`);
    expect(health.status).toBe(503);
    expect(await health.json()).toMatchObject({ status: 'draining' });
    const refused = await postFile(`${service.url}/wav2vec2`, audio, 'c.wav');
    expect(refused.status).toBe(503);
    expect(await refused.json()).toMatchObject({ error: 'shutting_down' });

    slow.end(audio.subarray(2000));
    const { status, body } = await slowAnswer;
    expect(status).toBe(200);
    expect(JSON.parse(body).transcript).toBe(PHRASE);
    const [longAnswer, shortAnswer] = await Promise.all(complete);
    expect(longAnswer.status).toBe(200);
    expect(((await longAnswer.json()) as { transcript: string }).transcript).toBe(Array.from({ length: 12 }, () => PHRASE).join(' '));
    expect(shortAnswer.status).toBe(200);
    expect(((await shortAnswer.json()) as { transcript: string }).transcript).toBe(PHRASE);
    expect(await service.exit).toBe(0);
    expect(service.logs.at(-1)?.msg).toBe('stopped');
    expect(await serviceTempFiles()).toEqual([]);
  });

  it('exits within SHUTDOWN_GRACE_SEC whatever a client does: a stalled upload is answered shutting_down', async () => {
    const service = await startServiceProcess({ MODEL_DIR: TONE_MODEL_DIR, SHUTDOWN_GRACE_SEC: '3' }, 30_000, { detached: true });
    // A multipart body that stops after its first bytes and never goes on.
    const stalled = http.request(`${service.url}/wav2vec2`, {
      method: 'POST',
      headers: { 'content-type': 'multipart/form-data; boundary=XyZ', 'content-length': 20 * 1024 * 1024 },
    });
    stalled.on('error', () => undefined);
    const answer = new Promise<{ status: number; body: string }>((resolve) => {
      stalled.on('response', (res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
      });
    });
    stalled.write('--XyZ\r\nContent-Disposition: form-data; name="file"; filename="a.ogg"\r\n\r\nOggS');
    await waitUntil(async () => {
      const health = (await (await fetch(`${service.url}/healthz`)).json()) as { uploads: { uploading: number } };
      return health.uploads.uploading === 1 ? true : undefined;
    }, 10_000, 'the upload to be arriving');

    const signalled = performance.now();
    service.child.kill('SIGTERM');
    const { status, body } = await answer;
    expect(status).toBe(503);
    expect(JSON.parse(body)).toMatchObject({ status: 'error', error: 'shutting_down' });
    expect(await service.exit).toBe(0);
    // Measured against the setting it must keep, not a guess of how fast the machine is.
    expect(performance.now() - signalled).toBeLessThan(3000);
    stalled.destroy();
  });

  // npm start builds dist/ first (tsc, seconds on an idle machine), hence the longer limit.
  it('npm start: builds, serves from dist/, and SIGTERM to the process the user started stops the service, leaving nothing behind', { timeout: 180_000 }, async () => {
    const npm = spawn('npm', ['start'], {
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', TMPDIR: process.env.TMPDIR ?? '', DATA_DIR: process.env.DATA_DIR ?? '', MODEL_DIR: TONE_MODEL_DIR, HOST: '127.0.0.1', PORT: '0', DEVICE: 'cpu' },
    });
    const exited = once(npm, 'exit');
    // The service's pid, from its first JSON log line.
    const pid = await new Promise<number>((resolve, reject) => {
      let text = '';
      npm.stdout.on('data', (chunk: Buffer) => {
        text += chunk.toString();
        const line = text.split('\n').find((l) => l.includes('"msg":"listening"'));
        if (line) resolve((JSON.parse(line) as { pid: number }).pid);
      });
      void exited.then(() => reject(new Error(`npm start exited before listening:\n${text}`)));
    });
    expect(pid).not.toBe(npm.pid);
    // The compiled service, with no TypeScript loader.
    expect((await readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0').filter(Boolean).slice(1)).toEqual(['dist/src/main.js']);
    npm.kill('SIGTERM');
    await exited;
    // The service got the signal, drained and exited: no orphan goes on serving.
    await waitUntil(async () => (isAlive(pid) ? undefined : true), 10_000, 'the service to exit');
  });
});

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

