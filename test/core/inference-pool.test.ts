import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SttError } from '../../src/core/errors.js';
import { InferencePool, type PoolJob } from '../../src/core/inference-pool.js';
import { loadModelFiles } from '../../src/core/model-files.js';
import { createLogger } from '../../src/logger.js';
import { TONE_MODEL_DIR } from '../support/core.js';

/** Two seconds of silence: one window of the tone model. */
const WINDOW = new Float32Array(32_000);

describe('the inference pool serves windows by their job as it stands', () => {
  let pool: InferencePool;
  beforeAll(async () => {
    const model = await loadModelFiles(TONE_MODEL_DIR);
    pool = await InferencePool.start({ onnxPath: model.onnxPath, modelName: model.name, device: 'cpu', workers: 1, threads: 1, logger: createLogger({ level: 'silent' }) });
  });
  afterAll(async () => pool.close());

  it('a long job promoted while its window waits goes before a voice note that was there first', async () => {
    const order: string[] = [];
    const track = (name: string, job: PoolJob) => pool.run(WINDOW, job).then(() => void order.push(name));
    // The one worker is busy with the first window; the others wait.
    const busy = track('busy', { priority: 0 });
    const note = track('note', { priority: 0 });
    const long: { priority: number } = { priority: -2000 };
    const longWindow = track('long', long);
    const later = track('later note', { priority: 0 });
    expect(pool.backlog).toBe(3);
    // What JobQueue does when the long job has waited maxWaitMs: one number changes.
    long.priority = 1000;
    await Promise.all([busy, note, longWindow, later]);
    expect(order).toEqual(['busy', 'long', 'note', 'later note']);
  });

  it('without promotion the long job\'s window yields to every voice note', async () => {
    const order: string[] = [];
    const track = (name: string, job: PoolJob) => pool.run(WINDOW, job).then(() => void order.push(name));
    await Promise.all([track('busy', { priority: 0 }), track('long', { priority: -2000 }), track('note', { priority: 0 })]);
    expect(order).toEqual(['busy', 'note', 'long']);
  });

  it('a cancelled job\'s waiting window leaves the line with the job\'s reason; the next runs', async () => {
    const controller = new AbortController();
    const busy = pool.run(WINDOW, { priority: 0 });
    const cancelled = pool.run(WINDOW, { priority: 0, signal: controller.signal });
    expect(pool.backlog).toBe(1);
    controller.abort(new SttError('cancelled', 'The job was cancelled.'));
    await expect(cancelled).rejects.toMatchObject({ code: 'cancelled', message: 'The job was cancelled.' });
    expect(pool.backlog).toBe(0);
    await busy;
    expect((await pool.run(WINDOW, { priority: 0, signal: controller.signal }).catch((error: unknown) => error)) as SttError).toMatchObject({ code: 'cancelled' });
    expect((await pool.run(WINDOW)).frames).toBeGreaterThan(0);
  });
});
