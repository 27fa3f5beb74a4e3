import { readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { parentPort, workerData } from 'node:worker_threads';
import ort from 'onnxruntime-node';
import { keptFrames } from './chunking.js';
import { argmaxFrames } from './ctc.js';
import { logSoftmaxFrames } from './ctc-beam.js';
import type { WorkerData, WorkerReply, WorkerRequest } from './inference-protocol.js';

/**
 * One inference thread: owns one onnxruntime session, runs one chunk at a time and sends back
 * per-frame argmax ids and winner probabilities (not the whole logits matrix), and for the beam
 * search, when the request asks, the log-softmax of the frames the window keeps.
 */
async function main(): Promise<void> {
  const port = parentPort;
  if (!port) throw new Error('inference-worker must run in a worker thread');
  const data = workerData as WorkerData;
  const post = (reply: WorkerReply, transfer: ArrayBuffer[] = []): void => port.postMessage(reply, transfer);

  let session: ort.InferenceSession;
  let device: 'cpu' | 'cuda' = 'cpu';
  let fallback: string | undefined;
  // onnxruntime's defaults but for the threads: what the other settings (executionMode, memory
  // arena and pattern, spinning, optimisation level, a pre-optimised model) did is measured in the
  // README's Benchmarks section. Level 'all' stays: it includes the Gelu, BiasGelu and
  // DynamicQuantizeMatMul fusions the converter's graph relies on.
  const options = (providers: string[]): ort.InferenceSession.SessionOptions => ({
    executionProviders: providers,
    intraOpNumThreads: data.threads,
    interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
  });
  // The first session of the process is where onnxruntime reads its telemetry switch, from the
  // real process environment (not this thread's copy of process.env): the pool sets it until this
  // worker answers (onnxruntime-telemetry.ts).
  try {
    if (data.device === 'cpu') {
      session = await ort.InferenceSession.create(data.onnxPath, options(['cpu']));
    } else {
      try {
        if (data.device === 'auto' && !hasCudaProvider()) {
          throw new Error('onnxruntime-node was installed without its CUDA files');
        }
        session = await ort.InferenceSession.create(data.onnxPath, options(['cuda']));
        device = 'cuda';
      } catch (error) {
        if (data.device === 'cuda') throw error;
        const reason = error instanceof Error ? error.message.split('\n')[0] : String(error);
        fallback = `${reason}; for GPU inference install them with: ONNXRUNTIME_NODE_INSTALL=cuda12 node node_modules/onnxruntime-node/script/install.js`;
        session = await ort.InferenceSession.create(data.onnxPath, options(['cpu']));
      }
    }
  } catch (error) {
    post({ type: 'failed', message: error instanceof Error ? error.message : String(error) });
    return;
  }
  const inputName = session.inputNames[0];
  const outputName = session.outputNames.includes('logits') ? 'logits' : session.outputNames[0];
  post({ type: 'ready', device, inputName, outputName, fallback });

  port.on('message', (request: WorkerRequest) => {
    void run(request);
  });

  async function run(request: WorkerRequest): Promise<void> {
    try {
      const input = new ort.Tensor('float32', request.samples, [1, request.samples.length]);
      const started = performance.now();
      const outputs = await session.run({ [inputName]: input });
      const runMs = performance.now() - started;
      const logits = outputs[outputName];
      const dims = logits.dims;
      if (dims.length !== 3 || dims[0] !== 1) throw new Error(`logits have shape [${dims.join(', ')}], expected [1, frames, vocab]`);
      const frames = dims[1];
      const vocab = dims[2];
      const data = logits.data as Float32Array;
      const { ids, probs } = argmaxFrames(data, frames, vocab);
      let logProbs: Float32Array | undefined;
      if (request.logProbs) {
        const { from, to } = request.logProbs === 'all' ? { from: 0, to: frames } : keptFrames(request.logProbs, frames);
        logProbs = logSoftmaxFrames(data.subarray(from * vocab, to * vocab), to - from, vocab);
      }
      input.dispose();
      logits.dispose();
      const transfer = [ids.buffer as ArrayBuffer, probs.buffer as ArrayBuffer];
      if (logProbs) transfer.push(logProbs.buffer as ArrayBuffer);
      post({ type: 'result', id: request.id, ids, probs, frames, vocab, runMs, logProbs }, transfer);
    } catch (error) {
      post({ type: 'error', id: request.id, message: error instanceof Error ? error.message : String(error) });
    }
  }
}

/** True when onnxruntime-node's CUDA execution provider library sits beside its binding. */
function hasCudaProvider(): boolean {
  const bin = path.join(path.dirname(createRequire(import.meta.url).resolve('onnxruntime-node')), '..', 'bin');
  const find = (dir: string): boolean =>
    readdirSync(dir, { withFileTypes: true }).some((entry) =>
      entry.isDirectory() ? find(path.join(dir, entry.name)) : entry.name.startsWith('libonnxruntime_providers_cuda'),
    );
  try {
    return find(bin);
  } catch {
    return false;
  }
}

void main();
