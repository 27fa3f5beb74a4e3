import { describe, expect, it } from 'vitest';
import type { Job } from '../../src/core/job-queue.js';
import type { JobHandle } from '../../src/core/types.js';
import { encodeWav } from '../../src/core/wav.js';
import { createLogger } from '../../src/logger.js';
import { synthesizeSpeech } from '../../testkit/tone-model.js';
import { testCore } from '../support/core.js';
import { waitUntil } from '../support/server.js';

/** Tone-model speech of about `seconds` (three words take two seconds). */
function speechOf(seconds: number): Uint8Array {
  const words = 'một hai ba bốn năm sáu'.split(' ');
  return encodeWav(synthesizeSpeech(Array.from({ length: Math.round(seconds * 1.5) }, (_, i) => words[i % words.length]).join(' ')));
}

/** A slot of the queue held until opened. */
function gate() {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  return { open, task: () => opened };
}

/**
 * Three slots, one inference worker, one-second windows: two voice notes and a 40 s file run
 * side by side, so the pool chooses between their windows all the way.
 */
async function race(maxWaitMs: number): Promise<string[]> {
  const { core } = await testCore({ QUEUE_CONCURRENCY: '3', CHUNK_SEC: '1', STRIDE_SEC: '0.2' }, createLogger({ level: 'silent' }), { maxWaitMs });
  try {
    // Every slot is held while the three are decoded and queued.
    const gates = [gate(), gate(), gate()];
    const held = gates.map((g) => core.queue.admit().run(g.task, { durationSec: 5 }));
    const order: string[] = [];
    const handles: Record<string, JobHandle> = {};
    const start = (name: string, audio: Uint8Array) =>
      core.transcriber.transcribe({ kind: 'buffer', data: audio }, { onAdmitted: (job) => (handles[name] = job) }).then(() => void order.push(name));
    const jobs = [start('note-1', speechOf(25)), start('note-2', speechOf(25)), start('long', speechOf(40))];
    await waitUntil(async () => (Object.values(handles).every((h) => h.state === 'waiting') && Object.keys(handles).length === 3 ? true : undefined), 30_000, 'all three queued');
    if (maxWaitMs < 1000) await waitUntil(async () => ((handles.long as Job).priority > 0 ? true : undefined), 5000, 'the long job promoted');
    for (const g of gates) g.open();
    await Promise.all([...held, ...jobs]);
    return order;
  } finally {
    await core.close();
  }
}

describe('one Job through queue, decode and pool', () => {
  it('a long job promoted after its wait keeps its place in the pool: its windows go before the voice notes\' and it ends first', async () => {
    expect((await race(1)).at(0)).toBe('long');
  });

  it('unpromoted, the same long job\'s windows yield to every voice note\'s and it ends last', async () => {
    expect((await race(60_000)).at(-1)).toBe('long');
  });

  it('reports progress window by window on the job and through onPartial; an aborted running job stops at its next window', async () => {
    const { core } = await testCore({ CHUNK_SEC: '1', STRIDE_SEC: '0.2' });
    try {
      const controller = new AbortController();
      let handle: JobHandle | undefined;
      const seen: { windowsDone: number; windows: number; progress: number }[] = [];
      const running = core.transcriber.transcribe(
        { kind: 'buffer', data: speechOf(30) },
        {
          signal: controller.signal,
          onAdmitted: (job) => (handle = job),
          onPartial: ({ windowsDone, windows }) => {
            seen.push({ windowsDone, windows, progress: handle?.progress ?? -1 });
            if (windowsDone === 3) controller.abort();
          },
        },
      );
      await expect(running).rejects.toMatchObject({ code: 'cancelled' });
      expect(seen.map((s) => s.windowsDone)).toEqual([1, 2, 3]);
      expect(seen.every((s) => s.windows > 20 && s.progress === s.windowsDone / s.windows)).toBe(true);
      expect(handle?.state).toBe('ended');
      expect(handle?.progress).toBe(3 / seen[0].windows);
      expect(core.transcriber.status()).toMatchObject({ waiting: 0, running: 0 });
    } finally {
      await core.close();
    }
  });
});
