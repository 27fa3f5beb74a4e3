/**
 * Scales the signal so its largest absolute sample is 1, in place. A silent (all-zero) signal is
 * left as it is.
 */
export function peakNormalize(samples: Float32Array): Float32Array {
  let peak = 0;
  for (let i = 0; i < samples.length; i++) {
    const a = Math.abs(samples[i]);
    if (a > peak) peak = a;
  }
  if (peak > 0) {
    for (let i = 0; i < samples.length; i++) samples[i] = samples[i] / peak;
  }
  return samples;
}

/**
 * Zero mean, unit variance, as Hugging Face's Wav2Vec2FeatureExtractor does when `do_normalize`
 * is set: `(x - mean) / sqrt(var + 1e-7)` with the population variance. Returns a new array.
 */
export function zeroMeanUnitVariance(samples: Float32Array): Float32Array {
  const n = samples.length;
  const out = new Float32Array(n);
  if (n === 0) return out;
  let sum = 0;
  for (let i = 0; i < n; i++) sum += samples[i];
  const mean = sum / n;
  let squares = 0;
  for (let i = 0; i < n; i++) {
    const d = samples[i] - mean;
    squares += d * d;
  }
  const scale = 1 / Math.sqrt(squares / n + 1e-7);
  for (let i = 0; i < n; i++) out[i] = (samples[i] - mean) * scale;
  return out;
}
