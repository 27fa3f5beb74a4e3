/**
 * Pauses in speech, found by frame energy: where a long file can be cut into windows without
 * cutting through a word. Small pure functions over the decoded samples; no VAD model.
 */

/** Samples per energy frame: the model's own 20 ms frame, so every frame edge is a place the model's frames can be cut. */
export const PAUSE_FRAME = 320;

/** Level given to a frame of digital silence (and the floor of every frame), in dB under the peak. */
export const SILENCE_DB = -100;

/** A run of quiet frames: frames `from` (inclusive) to `to` (exclusive). */
export interface Pause {
  from: number;
  to: number;
}

export interface PauseThresholdOptions {
  /** Percentile (0–1) of frame levels taken as the noise floor. Default 0.1: the quietest tenth is pauses in almost any speech. */
  floorPercentile?: number;
  /** Percentile (0–1) taken as the speech level. Default 0.95: loud speech, but not the odd click. */
  speechPercentile?: number;
  /** How far over the noise floor a frame may be and still count as quiet, in dB. Default 10: steady background noise wanders by a few dB. */
  floorMarginDb?: number;
  /**
   * How far under the speech level a frame must be to count as quiet, in dB. Default 25: a dip
   * inside a word (a stop, a soft consonant) is 10–20 dB down; a pause is deeper. When no frame
   * is this far down (speech through loud noise, a tone with no gap) there is no pause.
   */
  minDepthDb?: number;
  /**
   * A frame this far under the peak is quiet whatever the rest of the file does, in dB. Default
   * −60: far under any speech, and it keeps pauses in a file that is mostly silence (whose
   * percentiles are all silence).
   */
  absoluteDb?: number;
}

/**
 * Mean-square energy of each `frame`-sample frame relative to the signal's peak (peak² is 0 dB),
 * in dB, never under {@link SILENCE_DB}. The last frame may be short. All-zero audio is all
 * silence.
 */
export function frameLevelsDb(samples: Float32Array, frame = PAUSE_FRAME): Float32Array {
  let peak = 0;
  for (let i = 0; i < samples.length; i++) peak = Math.max(peak, Math.abs(samples[i]));
  const levels = new Float32Array(Math.ceil(samples.length / frame)).fill(SILENCE_DB);
  if (peak === 0) return levels;
  const floor = 10 ** (SILENCE_DB / 10);
  for (let f = 0; f < levels.length; f++) {
    const end = Math.min(samples.length, (f + 1) * frame);
    let sum = 0;
    for (let i = f * frame; i < end; i++) sum += samples[i] * samples[i];
    const meanSquare = sum / (end - f * frame) / (peak * peak);
    levels[f] = 10 * Math.log10(Math.max(meanSquare, floor));
  }
  return levels;
}

/**
 * The level (dB under the peak) below which a frame is quiet, from the file's own levels:
 * `floorMarginDb` over the noise floor, but at least `minDepthDb` under the speech level, and
 * never under `absoluteDb`.
 */
export function pauseThresholdDb(levels: Float32Array, options: PauseThresholdOptions = {}): number {
  const { floorPercentile = 0.1, speechPercentile = 0.95, floorMarginDb = 10, minDepthDb = 25, absoluteDb = -60 } = options;
  if (levels.length === 0) return absoluteDb;
  const sorted = Float32Array.from(levels).sort();
  const at = (p: number): number => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))];
  return Math.max(Math.min(at(floorPercentile) + floorMarginDb, at(speechPercentile) - minDepthDb), absoluteDb);
}

/** Runs of at least `minFrames` consecutive frames under `thresholdDb`, in order. */
export function findPauses(levels: Float32Array, thresholdDb: number, minFrames: number): Pause[] {
  const pauses: Pause[] = [];
  let from = -1;
  for (let f = 0; f <= levels.length; f++) {
    const quiet = f < levels.length && levels[f] < thresholdDb;
    if (quiet && from < 0) from = f;
    if (!quiet && from >= 0) {
      if (f - from >= Math.max(1, minFrames)) pauses.push({ from, to: f });
      from = -1;
    }
  }
  return pauses;
}
