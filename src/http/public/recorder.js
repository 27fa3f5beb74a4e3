// Recording from the microphone into a file to transcribe, with MediaRecorder.

/** Containers tried in order: Opus in WebM (Chromium, Firefox) or Ogg, then what Safari records. */
const MIME_TYPES = ['audio/webm;codecs=opus', 'audio/ogg;codecs=opus', 'audio/webm', 'audio/mp4'];

/**
 * Starts recording. `onTick(seconds)` is called four times a second; the recording stops by
 * itself at `limitSec`, or when `stop()` of the answer is called, and then `onStop(file, seconds)`
 * hands over the recording, named `<name>-<date>-<time>.<ext>`. A failure is `onError(code,
 * detail)` with one of the page's codes (`mic_unsupported`, `mic_denied`, `mic_missing`,
 * `mic_failed`), and the answer is then undefined.
 *
 * @param {object} options
 * @param {number} options.limitSec
 * @param {string} options.name
 * @param {(seconds: number) => void} options.onTick
 * @param {(file: File, seconds: number) => void} options.onStop
 * @param {(code: string, detail?: string) => void} options.onError
 * @returns {Promise<{ stop(): void } | undefined>}
 */
export async function startRecording({ limitSec, name, onTick, onStop, onError }) {
  if (!navigator.mediaDevices?.getUserMedia || typeof MediaRecorder === 'undefined') {
    onError('mic_unsupported');
    return undefined;
  }
  let stream;
  try {
    stream = await navigator.mediaDevices.getUserMedia({ audio: { channelCount: 1, echoCancellation: true, noiseSuppression: true } });
  } catch (error) {
    // getUserMedia rejects with a DOMException, whose name says why (older browsers' DOMException is no Error).
    const known = error instanceof DOMException || error instanceof Error ? error : undefined;
    const reason = known?.name;
    if (reason === 'NotAllowedError' || reason === 'SecurityError') onError('mic_denied');
    else if (reason === 'NotFoundError' || reason === 'OverconstrainedError') onError('mic_missing');
    else onError('mic_failed', known ? known.message : String(error));
    return undefined;
  }
  const mimeType = MIME_TYPES.find((type) => MediaRecorder.isTypeSupported(type));
  const recorder = new MediaRecorder(stream, mimeType ? { mimeType, audioBitsPerSecond: 64_000 } : undefined);
  /** @type {Blob[]} */
  const chunks = [];
  const started = Date.now();
  const elapsed = () => (Date.now() - started) / 1000;
  const tick = () => {
    onTick(elapsed());
    if (elapsed() >= limitSec && recorder.state === 'recording') recorder.stop();
  };
  const timer = setInterval(tick, 250);
  recorder.addEventListener('dataavailable', (event) => {
    if (event.data.size > 0) chunks.push(event.data);
  });
  recorder.addEventListener('stop', () => {
    clearInterval(timer);
    for (const track of stream.getTracks()) track.stop();
    const type = (recorder.mimeType || mimeType || 'audio/webm').split(';')[0];
    const extension = type.includes('ogg') ? 'ogg' : type.includes('mp4') ? 'm4a' : 'webm';
    const stamp = new Date().toISOString().slice(0, 19).replace(/[-:]/g, '').replace('T', '-');
    onStop(new File(chunks, `${name}-${stamp}.${extension}`, { type }), elapsed());
  });
  recorder.addEventListener('error', (event) => onError('mic_failed', String(event.error?.message ?? '')));
  recorder.start(1000);
  tick();
  return {
    stop() {
      if (recorder.state === 'recording') recorder.stop();
    },
  };
}

/**
 * A recording's length as mm:ss.
 * @param {number} seconds
 * @returns {string}
 */
export function clock(seconds) {
  const whole = Math.floor(seconds);
  return `${String(Math.floor(whole / 60)).padStart(2, '0')}:${String(whole % 60).padStart(2, '0')}`;
}
