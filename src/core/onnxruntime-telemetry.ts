/**
 * onnxruntime's own switch for the telemetry that its official Linux and macOS builds (1.29 and
 * later) carry: Microsoft's 1DS SDK. Unless it is off, the first session a process creates
 * writes `mat-debug-<pid>.log` and `.ses` into TMPDIR (left behind at exit), a device id and an
 * event cache under `${XDG_CACHE_HOME:-~/.cache}/Microsoft/DeveloperTools/.onnxruntime` (on
 * Linux), and within seconds looks up mobile.events.data.microsoft.com to upload its events.
 * With `ORT_DISABLE_TELEMETRY=1` it does none of that (measured with onnxruntime-node 1.30.0).
 *
 * The native library reads the variable with getenv(3), so from the real process environment
 * (which `process.env` in the main thread writes, and a worker thread's `process.env` does not),
 * and only once: when the first session of the process is created (not at `import`); the choice
 * then holds for the life of the process. See onnxruntime's docs/Privacy.md, "Disabling
 * Telemetry".
 */
export const ONNXRUNTIME_TELEMETRY_SWITCH = 'ORT_DISABLE_TELEMETRY';

/** Holds taken and not yet given back; while `owned`, the value to put back when the last goes. */
let holds = 0;
let owned = false;
let previous: string | undefined;

/**
 * Sets `ORT_DISABLE_TELEMETRY=1` in the process environment until every returned release
 * function has been called, so that it is there while a worker creates its first session and
 * gone afterwards (ffmpeg and every other child started later do not inherit it). Holds overlap:
 * the variable goes when the last one is released. A non-empty value the operator set is left
 * as it is, `0` included, so telemetry can still be turned on deliberately. Releasing twice is
 * harmless.
 */
export function holdOnnxruntimeTelemetryOff(): () => void {
  const env = process.env;
  if (holds++ === 0 && !env[ONNXRUNTIME_TELEMETRY_SWITCH]) {
    previous = env[ONNXRUNTIME_TELEMETRY_SWITCH];
    env[ONNXRUNTIME_TELEMETRY_SWITCH] = '1';
    owned = true;
  }
  let released = false;
  return () => {
    if (released) return;
    released = true;
    if (--holds > 0 || !owned) return;
    owned = false;
    if (env[ONNXRUNTIME_TELEMETRY_SWITCH] !== '1') return;
    if (previous === undefined) delete env[ONNXRUNTIME_TELEMETRY_SWITCH];
    else env[ONNXRUNTIME_TELEMETRY_SWITCH] = previous;
  };
}
