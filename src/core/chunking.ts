import { findPauses, frameLevelsDb, pauseThresholdDb, type Pause, type PauseThresholdOptions } from './pauses.js';

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

/** How {@link planWindows} cuts long audio. */
export interface WindowOptions {
  /** The longest window, in samples (rounded to the frame): `CHUNK_SEC`. */
  maxSamples: number;
  /** The overlap dropped at each side of a cut that falls in speech, in samples (rounded to the frame): `STRIDE_SEC`. */
  strideSamples: number;
  /**
   * How far back from a window's longest end a pause is looked for, in samples. Default
   * max(2 × stride, window / 4): a pause anywhere in the last 2 × stride ends a window no
   * earlier than a cut in speech would start the next one (window − 2 × stride), so cutting at
   * pauses never needs more windows than strides do; a quarter of the window when strides are
   * short or off.
   */
  searchSamples?: number;
  /**
   * The shortest pause a window may end in, in samples. Default 3200 (200 ms): longer than the
   * silences inside a word (stop closures are 50–150 ms), shorter than a breath or the gap
   * between phrases. The cut keeps half of it on each side, at least.
   */
  minPauseSamples?: number;
  /**
   * Audio each window gets past a cut made in a pause (or in speech with no stride), on both
   * sides, in samples (rounded to the frame): `PAUSE_CONTEXT_SEC`. Its frames are dropped as
   * strides are, so the kept frames still tile the audio; what it buys is that the frames next
   * to the cut see their neighbours as one pass would (wav2vec2's positional conv reaches 1.28 s
   * each way). Default 0: windows meet at the cut.
   */
  contextSamples?: number;
  /** How quiet a frame must be to count as pause; see {@link pauseThresholdDb}. */
  threshold?: PauseThresholdOptions;
  /** The model's frame in samples; default 320. */
  align?: number;
}

/**
 * Cuts `samples` into windows of at most `maxSamples`, ending each one in a pause where one
 * is found in its last `searchSamples`: it is cut at a frame edge inside the pause with no
 * overlap, except one frame past the cut dropped as a right stride, so that the frame ending
 * at the cut sees its whole receptive field and the kept frames tile the audio exactly. Of the
 * pauses there the longest is chosen (the latest of equals), and the cut sits at its middle as
 * far as the search allows; with `contextSamples`, each side of that cut also reaches that far
 * into the other window's audio, dropped. Where speech runs through (no pause found) the window
 * is cut as {@link planChunks} cuts it, with `strideSamples` of overlap dropped on each side.
 * Audio with no pause at all gets exactly the Hugging Face plan; audio no longer than one window
 * is one chunk with no strides. With `strideSamples` 0 a cut in speech is made as one in a pause.
 */
export function planWindows(samples: Float32Array, options: WindowOptions): Chunk[] {
  const align = options.align ?? 320;
  const levels = frameLevelsDb(samples, align);
  const minFrames = Math.max(1, Math.ceil((options.minPauseSamples ?? 3200) / align));
  return windowsAtPauses(samples.length, findPauses(levels, pauseThresholdDb(levels, options.threshold), minFrames), options);
}

/**
 * The planning step of {@link planWindows}, given the pauses (runs of quiet frames, `align`
 * samples each) as found in the audio: pure arithmetic over `length` samples.
 */
export function windowsAtPauses(length: number, pauses: readonly Pause[], options: WindowOptions): Chunk[] {
  const align = options.align ?? 320;
  const window = Math.max(align, Math.round(options.maxSamples / align) * align);
  const stride = Math.round(options.strideSamples / align) * align;
  const context = Math.round((options.contextSamples ?? 0) / align) * align;
  if (window <= 2 * stride) throw new RangeError('the window must be longer than both strides together');
  if (window < 2 * context + 2 * align) throw new RangeError('the window must be longer than the context on both sides of a cut');
  // A cut must leave room for its right context, so the search reaches at least that far back.
  const search = Math.max(context + align, Math.round((options.searchSamples ?? Math.max(2 * stride, window / 4)) / align) * align);
  const half = Math.floor(Math.max(1, Math.ceil((options.minPauseSamples ?? 3200) / align)) / 2);
  const chunks: Chunk[] = [];
  let start = 0;
  let strideLeft = 0;
  for (;;) {
    if (start + window >= length) {
      chunks.push({ start, end: length, strideLeft, strideRight: 0 });
      return chunks;
    }
    // Frame edges a cut may sit on: past the left stride or context, and one frame and the
    // context short of the longest end.
    const lo = Math.ceil(Math.max(start + Math.max(strideLeft, context) + align, start + window - search) / align);
    const hi = Math.floor((start + window - align - context) / align);
    const cut = cutInPause(pauses, lo, hi, half);
    if (cut !== undefined || stride === 0) {
      // In a pause, or in speech with no overlap asked for (STRIDE_SEC=0): one frame past the
      // cut, dropped, so that the frame ending at the cut is the model's whole frame, and the
      // context on both sides, dropped too.
      const at = (cut ?? hi) * align;
      const end = at + align + context;
      chunks.push({ start, end, strideLeft, strideRight: end - at });
      start = at - context;
      strideLeft = context;
    } else {
      chunks.push({ start, end: start + window, strideLeft, strideRight: stride });
      start += window - 2 * stride;
      strideLeft = stride;
    }
  }
}

/**
 * The frame edge in [lo, hi] to cut at: in the longest pause (the latest of equals) that has
 * an edge there with at least `half` quiet frames on each side, as near its middle as allowed.
 */
function cutInPause(pauses: readonly Pause[], lo: number, hi: number, half: number): number | undefined {
  let best: { cut: number; length: number } | undefined;
  for (const pause of pauses) {
    const from = Math.max(lo, pause.from + half);
    const to = Math.min(hi, pause.to - half);
    if (from > to) continue;
    const length = pause.to - pause.from;
    if (best && length < best.length) continue;
    best = { cut: Math.min(to, Math.max(from, pause.from + Math.floor(length / 2))), length };
  }
  return best?.cut;
}
