/** One window of the audio to run through the model, and which of its frames to keep. */
export interface Chunk {
  /** First sample of the window. */
  start: number;
  /** One past the last sample of the window. */
  end: number;
  /** Samples at the start that overlap the previous window (their frames are dropped). */
  strideLeft: number;
  /** Samples at the end that overlap the next window (their frames are dropped). */
  strideRight: number;
}

/**
 * Cuts `length` samples into overlapping windows as Hugging Face's ASR pipeline does for CTC
 * models (`chunk_iter`): window and strides rounded to the model's frame (`align` samples), a
 * step of `window - left - right`, no left stride on the first window and no right stride on the
 * last. Audio no longer than one window is one chunk with no strides.
 */
export function planChunks(length: number, windowSamples: number, strideSamples: number, align = 320): Chunk[] {
  const window = Math.max(align, Math.round(windowSamples / align) * align);
  const stride = Math.round(strideSamples / align) * align;
  if (window <= 2 * stride) throw new RangeError('the window must be longer than both strides together');
  const step = window - 2 * stride;
  const chunks: Chunk[] = [];
  for (let start = 0; start < length; start += step) {
    const end = Math.min(start + window, length);
    const isLast = start + window >= length;
    const strideLeft = start === 0 ? 0 : stride;
    if (end - start > strideLeft) {
      chunks.push({ start, end, strideLeft, strideRight: isLast ? 0 : stride });
    }
    if (isLast) break;
  }
  return chunks;
}

/**
 * Which of a chunk's `frames` logits frames to keep: the pipeline's `rescale_stride` and
 * postprocess (token_n = round(samples / align), left/right scaled by token_n / samples).
 */
export function keptFrames(chunk: Chunk, frames: number, align = 320): { from: number; to: number } {
  const samples = chunk.end - chunk.start;
  const tokens = Math.round(samples / align);
  const left = Math.round((chunk.strideLeft / samples) * tokens);
  const right = Math.round((chunk.strideRight / samples) * tokens);
  return { from: Math.min(left, frames), to: Math.max(Math.min(tokens - right, frames), Math.min(left, frames)) };
}
