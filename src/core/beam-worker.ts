import { readFile } from 'node:fs/promises';
import { parentPort, workerData } from 'node:worker_threads';
import { parseArpa } from '../text/arpa.js';
import type { BeamReply, BeamRequest, BeamWorkerData } from './beam-decoder.js';
import type { CtcVocabulary } from './ctc.js';
import { CtcBeamSearch, type CtcBeamOptions } from './ctc-beam.js';

/**
 * The beam search thread: reads the language model once, keeps the search for the configured
 * hotwords, and builds one for a request that brings its own (the last such is kept for the next).
 */
async function main(): Promise<void> {
  const port = parentPort;
  if (!port) throw new Error('beam-worker must run in a worker thread');
  const data = workerData as BeamWorkerData;
  const post = (reply: BeamReply, transfer: ArrayBuffer[] = []): void => port.postMessage(reply, transfer);
  const vocabulary: CtcVocabulary = { tokens: data.tokens, blankId: data.blankId, delimiterId: data.delimiterId, specialIds: new Set(data.specialIds) };
  let options: CtcBeamOptions;
  let base: CtcBeamSearch;
  try {
    const languageModel = data.lmPath === undefined ? undefined : parseArpa(await readFile(data.lmPath, 'utf8'));
    options = { beamWidth: data.beamWidth, hotwordWeight: data.hotwordWeight, alpha: data.alpha, beta: data.beta, languageModel };
    base = new CtcBeamSearch(vocabulary, { ...options, hotwords: data.hotwords });
    post({ type: 'ready', unusableHotwords: [...base.unusableHotwords], lmOrder: languageModel?.order });
  } catch (error) {
    post({ type: 'failed', message: error instanceof Error ? error.message : String(error) });
    return;
  }
  let last: { key: string; search: CtcBeamSearch } | undefined;
  const searchFor = (hotwords: string[]): CtcBeamSearch => {
    if (hotwords.length === 0) return base;
    const key = hotwords.join('\n');
    if (last?.key !== key) last = { key, search: new CtcBeamSearch(vocabulary, { ...options, hotwords: [...data.hotwords, ...hotwords] }) };
    return last.search;
  };
  port.on('message', (request: BeamRequest) => {
    try {
      const search = searchFor(request.hotwords);
      const { text, words, alignment } = search.decodeAligned({ data: request.logProbs, frames: request.frames, vocab: request.vocab });
      const unusable = search === base ? [] : search.unusableHotwords.filter((hotword) => !base.unusableHotwords.includes(hotword));
      post({ type: 'result', id: request.id, text, words, ids: alignment.ids, probs: alignment.probs, unusableHotwords: unusable }, [
        alignment.ids.buffer as ArrayBuffer,
        alignment.probs.buffer as ArrayBuffer,
      ]);
    } catch (error) {
      post({ type: 'error', id: request.id, message: error instanceof Error ? error.message : String(error) });
    }
  });
}

void main();
