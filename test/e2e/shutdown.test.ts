import { describe, expect, it } from 'vitest';
import { speech } from '../support/audio.js';
import { TONE_MODEL_DIR } from '../support/core.js';
import { postFile, streamUpload, waitUntil } from '../support/server.js';
import { startServiceProcess } from '../support/service-process.js';

describe('SIGTERM', () => {
  it('finishes and answers every accepted job, refuses new ones, then exits 0', async () => {
    const service = await startServiceProcess({ MODEL_DIR: TONE_MODEL_DIR, QUEUE_CONCURRENCY: '1' });
    const audio = await speech('một hai ba bốn năm');

    // One upload still streaming in (admitted, not yet decoded) and one complete.
    const { request: slow, answer: slowAnswer } = streamUpload(`${service.url}/wav2vec2`, audio.length);
    slow.write(audio.subarray(0, 2000));
    await waitUntil(async () => {
      const health = (await (await fetch(`${service.url}/healthz`)).json()) as { queue: { waiting: number } };
      return health.queue.waiting === 1 ? true : undefined;
    }, 10_000, 'the upload to be admitted');
    const complete = postFile(`${service.url}/wav2vec2`, audio, 'b.wav');
    // SIGTERM once the service has taken both requests in: what it accepted, it must answer.
    const uploads = (): number => service.logs.filter((l) => l.msg === 'incoming request' && (l.req as { url?: string } | undefined)?.url === '/wav2vec2').length;
    await waitUntil(async () => (uploads() === 2 ? true : undefined), 10_000, 'the second upload to be taken in');

    service.child.kill('SIGTERM');
    await waitUntil(async () => (service.logs.some((l) => l.msg === 'shutting down: finishing running jobs') ? true : undefined), 10_000, 'shutdown to begin');

    // New work: the listener is closed (refused), or a request that still reaches it is told so.
    const refused = await postFile(`${service.url}/wav2vec2`, audio, 'c.wav').then(
      async (r) => `${r.status} ${((await r.json()) as { error: string }).error}`,
      () => 'connection refused',
    );
    expect(['503 shutting_down', 'connection refused']).toContain(refused);

    slow.end(audio.subarray(2000));
    const [a, b] = await Promise.all([slowAnswer, complete]);
    expect(a.status).toBe(200);
    expect(JSON.parse(a.body).transcript).toBe('một hai ba bốn năm');
    expect(b.status).toBe(200);
    expect(((await b.json()) as { transcript: string }).transcript).toBe('một hai ba bốn năm');
    expect(await service.exit).toBe(0);
    expect(service.logs.at(-1)?.msg).toBe('stopped');
  });
});
