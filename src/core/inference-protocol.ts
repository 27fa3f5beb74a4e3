/** Messages between the inference pool and its worker threads. */

export interface WorkerData {
  onnxPath: string;
  device: 'auto' | 'cpu' | 'cuda';
  threads: number;
}

export interface WorkerRequest {
  type: 'run';
  id: number;
  samples: Float32Array;
}

export type WorkerReply =
  | { type: 'ready'; device: 'cpu' | 'cuda'; inputName: string; outputName: string; fallback?: string }
  | { type: 'failed'; message: string }
  | { type: 'result'; id: number; ids: Int32Array; probs: Float32Array; frames: number; vocab: number; runMs: number }
  | { type: 'error'; id: number; message: string };
