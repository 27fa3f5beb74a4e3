/** Messages between the inference pool and its worker threads. */
import type { Chunk } from './chunking.js';

export interface WorkerData {
  onnxPath: string;
  device: 'auto' | 'cpu' | 'cuda';
  threads: number;
}

export interface WorkerRequest {
  type: 'run';
  id: number;
  samples: Float32Array;
  /**
   * Also send the log-softmax of the frames kept of this window (`keptFrames` of the chunk;
   * `'all'` for every frame), for the beam search. Unset: ids and probabilities only.
   */
  logProbs?: Chunk | 'all';
}

export type WorkerReply =
  | { type: 'ready'; device: 'cpu' | 'cuda'; inputName: string; outputName: string; fallback?: string }
  | { type: 'failed'; message: string }
  | { type: 'result'; id: number; ids: Int32Array; probs: Float32Array; frames: number; vocab: number; runMs: number; logProbs?: Float32Array }
  | { type: 'error'; id: number; message: string };
