import { Worker } from 'node:worker_threads';
import type { Logger } from '../logger.js';
import { InferenceError, SttError } from './errors.js';
import type { WorkerData, WorkerReply, WorkerRequest } from './inference-protocol.js';
import type { FramePredictions } from './ctc.js';
import { holdOnnxruntimeTelemetryOff } from './onnxruntime-telemetry.js';
import type { Device } from './types.js';

export interface InferencePoolOptions {
  onnxPath: string;
  /** A short model name for errors and logs. */
  modelName: string;
  device: 'auto' | 'cpu' | 'cuda';
  workers: number;
  threads: number;
  logger: Logger;
  /**
   * The worker script; default the project's inference-worker. Tests hand in a faulty one to
   * prove that a crashed worker is replaced.
   */
  workerUrl?: URL;
  /**
   * After a worker dies and its replacement fails to load, the wait before the next try; it
   * doubles with each failure, up to 30 s.
   * @defaultValue 1000 ms
   */
  restartDelayMs?: number;
}

/** The longest wait between two tries to restart a worker. */
const MAX_RESTART_DELAY_MS = 30_000;

export interface ChunkResult extends FramePredictions {
  frames: number;
  vocab: number;
  /** How long onnxruntime's `session.run` took for this chunk, in milliseconds. */
  runMs: number;
  /** `[kept frames, vocab]` log-softmax, when the run asked for it (see {@link RunOptions}). */
  logProbs?: Float32Array;
}

/** What a run sends back beside ids and probabilities. */
export interface RunOptions {
  /** The log-softmax of the frames kept of this chunk (as `keptFrames` says), or of every frame. */
  logProbs?: WorkerRequest['logProbs'];
}

/**
 * Whose window a chunk is: the pool reads the job's priority when a worker frees up (so a job
 * promoted while its windows wait is served first at once), and drops a waiting window when
 * the job's signal aborts. A core Job is one.
 */
export interface PoolJob {
  readonly priority: number;
  readonly signal?: AbortSignal;
}

interface Task {
  samples: Float32Array;
  logProbs: WorkerRequest['logProbs'];
  job: PoolJob;
  seq: number;
  resolve: (result: ChunkResult) => void;
  reject: (error: Error) => void;
}

interface Slot {
  worker: Worker;
  task: Task | undefined;
}

const BOOTSTRAP = new URL('./worker-bootstrap.mjs', import.meta.url);

/** A worker module of src/core by name: its .ts source when running from source, else the built .js. */
export function coreWorkerUrl(name: string): URL {
  return new URL(`./${name}.${import.meta.url.endsWith('.ts') ? 'ts' : 'js'}`, import.meta.url);
}

/** Starts a worker thread on `url`: a TypeScript source through tsx's bootstrap, built JavaScript directly. */
export function startWorkerThread(url: URL, data: object): Worker {
  const typescript = url.pathname.endsWith('.ts');
  return new Worker(typescript ? BOOTSTRAP : url, { workerData: typescript ? { ...data, entry: url.href } : data });
}

const DEFAULT_WORKER = coreWorkerUrl('inference-worker');

/**
 * Runs the model in worker threads so that onnxruntime's native work never blocks the event
 * loop. Each worker owns one session and runs one chunk at a time; waiting chunks are served by
 * their job's priority as it stands when a worker frees up, so a short voice note's chunk
 * overtakes the rest of a long file's, and a long file promoted after its wait overtakes both. A
 * worker that dies fails its chunk with an InferenceError and is replaced.
 */
export class InferencePool {
  private readonly slots: Slot[] = [];
  private readonly waiting: Task[] = [];
  private seq = 0;
  private closed = false;
  /** Set while no worker is alive and the last try to start one failed: jobs fail at once. */
  private unavailable: Error | undefined;
  private readonly retries = new Set<NodeJS.Timeout>();

  private constructor(
    private readonly options: InferencePoolOptions,
    readonly device: Device,
  ) {}

  /** Starts the workers and waits until every one has loaded the model. */
  static async start(options: InferencePoolOptions): Promise<InferencePool> {
    const first = await spawn(options);
    const pool = new InferencePool(options, first.device);
    if (first.fallback) {
      options.logger.warn({ reason: first.fallback }, 'CUDA execution provider unavailable, running on CPU');
    }
    pool.adopt(first.worker);
    const rest = await Promise.all(Array.from({ length: options.workers - 1 }, () => spawn({ ...options, device: first.device })));
    for (const r of rest) pool.adopt(r.worker);
    options.logger.info({ device: pool.device, workers: options.workers, threads: options.threads }, 'model loaded');
    return pool;
  }

  /** Chunks waiting for a worker. */
  get backlog(): number {
    return this.waiting.length;
  }

  /**
   * Runs one chunk of normalised audio for `job`: a higher priority runs sooner; an aborted job's
   * chunk leaves the line (one already on a worker finishes, and its result is dropped by the job).
   */
  run(samples: Float32Array, job: PoolJob = { priority: 0 }, options: RunOptions = {}): Promise<ChunkResult> {
    if (this.closed) return Promise.reject(new InferenceError('the inference pool is closed', this.options.modelName, [1, samples.length]));
    if (this.unavailable) return Promise.reject(new SttError('model_unavailable', undefined, { cause: this.unavailable }));
    const { signal } = job;
    if (signal?.aborted) return Promise.reject(signal.reason as Error);
    return new Promise<ChunkResult>((resolve, reject) => {
      const onAbort = (): void => {
        const index = this.waiting.indexOf(task);
        if (index < 0) return;
        this.waiting.splice(index, 1);
        reject(signal?.reason as Error);
      };
      const task: Task = {
        samples,
        logProbs: options.logProbs,
        job,
        seq: this.seq++,
        resolve: (result) => {
          signal?.removeEventListener('abort', onAbort);
          resolve(result);
        },
        reject: (error) => {
          signal?.removeEventListener('abort', onAbort);
          reject(error);
        },
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiting.push(task);
      this.dispatch();
    });
  }

  /** Stops every worker; chunks still waiting fail. */
  async close(): Promise<void> {
    this.closed = true;
    for (const timer of this.retries) clearTimeout(timer);
    this.retries.clear();
    for (const task of this.waiting.splice(0)) {
      task.reject(new InferenceError('the inference pool closed', this.options.modelName, [1, task.samples.length]));
    }
    await Promise.all(this.slots.map((slot) => slot.worker.terminate()));
    this.slots.length = 0;
  }

  private adopt(worker: Worker): void {
    const slot: Slot = { worker, task: undefined };
    this.slots.push(slot);
    worker.on('message', (reply: WorkerReply) => {
      const task = slot.task;
      if (!task || (reply.type !== 'result' && reply.type !== 'error')) return;
      slot.task = undefined;
      if (reply.type === 'result') {
        task.resolve({ ids: reply.ids, probs: reply.probs, frames: reply.frames, vocab: reply.vocab, runMs: reply.runMs, logProbs: reply.logProbs });
      } else {
        task.reject(new InferenceError(`inference failed: ${reply.message}`, this.options.modelName, [1, task.samples.length]));
      }
      this.dispatch();
    });
    worker.on('error', (error) => this.replace(slot, error));
    worker.on('exit', (code) => this.replace(slot, new Error(`the inference worker exited with code ${code}`)));
  }

  private replace(slot: Slot, cause: Error): void {
    const index = this.slots.indexOf(slot);
    if (index < 0) return;
    this.slots.splice(index, 1);
    const task = slot.task;
    slot.task = undefined;
    if (task) {
      task.reject(new InferenceError('the inference worker stopped', this.options.modelName, [1, task.samples.length], { cause }));
    }
    if (this.closed) return;
    this.options.logger.error({ err: cause }, 'inference worker died; starting a new one');
    void slot.worker.terminate();
    this.restart(0);
  }

  /**
   * Starts a worker in place of a dead one. If it cannot load, tries again later, and while no
   * worker is alive every chunk fails at once with `model_unavailable` instead of waiting.
   */
  private restart(failures: number): void {
    spawn({ ...this.options, device: this.device }).then(
      ({ worker }) => {
        if (this.closed) {
          void worker.terminate();
          return;
        }
        if (this.unavailable) this.options.logger.info('inference worker running again');
        this.unavailable = undefined;
        this.adopt(worker);
        this.dispatch();
      },
      (error: unknown) => {
        if (this.closed) return;
        const delay = Math.min(MAX_RESTART_DELAY_MS, (this.options.restartDelayMs ?? 1000) * 2 ** failures);
        this.options.logger.error({ err: error, retryInMs: delay }, 'could not restart the inference worker');
        if (this.slots.length === 0) {
          this.unavailable = error instanceof Error ? error : new Error(String(error));
          for (const task of this.waiting.splice(0)) task.reject(new SttError('model_unavailable', undefined, { cause: this.unavailable }));
        }
        const timer = setTimeout(() => {
          this.retries.delete(timer);
          this.restart(failures + 1);
        }, delay);
        this.retries.add(timer);
      },
    );
  }

  /** Takes the waiting chunk whose job goes first now. */
  private next(): Task {
    let best = 0;
    for (let i = 1; i < this.waiting.length; i++) if (goesBefore(this.waiting[i], this.waiting[best])) best = i;
    return this.waiting.splice(best, 1)[0];
  }

  private dispatch(): void {
    for (const slot of this.slots) {
      if (slot.task || this.waiting.length === 0) continue;
      const task = this.next();
      slot.task = task;
      const request: WorkerRequest = { type: 'run', id: task.seq, samples: task.samples, logProbs: task.logProbs };
      slot.worker.postMessage(request);
    }
  }
}

/** True when `a` runs before `b`: its job's priority is higher now, or the same and it came first. */
function goesBefore(a: Task, b: Task): boolean {
  return a.job.priority > b.job.priority || (a.job.priority === b.job.priority && a.seq < b.seq);
}

async function spawn(options: InferencePoolOptions): Promise<{ worker: Worker; device: Device; fallback?: string }> {
  const url = options.workerUrl ?? DEFAULT_WORKER;
  const data: WorkerData = { onnxPath: options.onnxPath, device: options.device, threads: options.threads };
  // onnxruntime reads its telemetry switch when the worker creates its session, which is before
  // the worker answers; the switch is held until then (see onnxruntime-telemetry.ts).
  const releaseTelemetrySwitch = holdOnnxruntimeTelemetryOff();
  let worker: Worker;
  try {
    worker = startWorkerThread(url, data);
  } catch (error) {
    releaseTelemetrySwitch();
    throw error;
  }
  return new Promise((resolve, reject) => {
    const fail = (error: Error): void => {
      cleanup();
      void worker.terminate();
      reject(new InferenceError(`could not load the model: ${error.message}`, options.modelName, [], { cause: error }));
    };
    const onMessage = (reply: WorkerReply): void => {
      if (reply.type === 'ready') {
        cleanup();
        resolve({ worker, device: reply.device, fallback: reply.fallback });
      } else if (reply.type === 'failed') {
        fail(new Error(reply.message));
      }
    };
    const onExit = (code: number): void => fail(new Error(`the worker exited with code ${code} while loading`));
    const cleanup = (): void => {
      releaseTelemetrySwitch();
      worker.off('message', onMessage);
      worker.off('error', fail);
      worker.off('exit', onExit);
    };
    worker.on('message', onMessage);
    worker.on('error', fail);
    worker.on('exit', onExit);
  });
}
