import { watch, type FSWatcher } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { InferencePool } from '../../src/core/inference-pool.js';
import { holdOnnxruntimeTelemetryOff, ONNXRUNTIME_TELEMETRY_SWITCH } from '../../src/core/onnxruntime-telemetry.js';
import { createLogger } from '../../src/logger.js';
import { speech } from '../support/audio.js';
import { TONE_MODEL_DIR } from '../support/core.js';
import { postFile } from '../support/server.js';
import { startServiceProcess } from '../support/service-process.js';

// onnxruntime's official Linux build (1.29 and later) starts Microsoft's 1DS telemetry with the
// first session of a process unless ORT_DISABLE_TELEMETRY is set: `mat-debug-<pid>.log` and
// `.ses` in TMPDIR, a device id and an event cache under $XDG_CACHE_HOME or ~/.cache. It also
// stays off when one of these CI markers is set, which would let these tests pass without the
// switch; they are cleared while the tests run.
//
// tsx, which loads the TypeScript sources, keeps a compile cache of its own in TMPDIR/tsx-<uid>;
// it is turned off here (TSX_DISABLE_CACHE) so that the folders must be entirely empty.
const CI_MARKERS = [
  'CI',
  'TF_BUILD',
  'GITHUB_ACTIONS',
  'GITLAB_CI',
  'CIRCLECI',
  'TRAVIS',
  'JENKINS_URL',
  'CODEBUILD_BUILD_ID',
  'BUILDKITE',
  'TEAMCITY_VERSION',
  'APPVEYOR',
  'BITBUCKET_BUILD_NUMBER',
  'SYSTEM_TEAMFOUNDATIONCOLLECTIONURI',
  'ORT_RUNNING_UNIT_TESTS',
];

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** Sets (or with undefined, removes) environment variables until the test ends. */
function setEnv(values: Record<string, string | undefined>): void {
  const saved = Object.fromEntries(Object.keys(values).map((key) => [key, process.env[key]]));
  for (const [key, value] of Object.entries(values)) {
    if (value === undefined) delete process.env[key];
    else process.env[key] = value;
  }
  cleanups.push(() => {
    for (const [key, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
    }
  });
}

/** A fresh empty folder, removed when the test ends, and every name that ever appeared in it. */
async function watchedFolder(prefix: string): Promise<{ dir: string; seen: Set<string> }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), prefix));
  const seen = new Set<string>();
  const watcher: FSWatcher = watch(dir, { recursive: false }, (_event, name) => {
    if (name) seen.add(name.toString());
  });
  cleanups.push(async () => {
    watcher.close();
    await rm(dir, { recursive: true, force: true });
  });
  return { dir, seen };
}

describe("onnxruntime's telemetry files", () => {
  // The first test in this file creates the process's first onnxruntime session: the one that
  // decides, once for the life of the process, whether telemetry starts.
  it('an InferencePool writes nothing into TMPDIR or HOME: no mat-debug-*.log, no .ses, no ~/.cache', async () => {
    const tmp = await watchedFolder('stt-ort-tmp-');
    const home = await watchedFolder('stt-ort-home-');
    setEnv({ TMPDIR: tmp.dir, HOME: home.dir, XDG_CACHE_HOME: undefined, TSX_DISABLE_CACHE: '1', [ONNXRUNTIME_TELEMETRY_SWITCH]: undefined });
    setEnv(Object.fromEntries(CI_MARKERS.map((name) => [name, undefined])));

    const pool = await InferencePool.start({
      onnxPath: path.join(TONE_MODEL_DIR, 'model.onnx'),
      modelName: 'tone',
      device: 'cpu',
      // Two workers: their sessions load at the same time, each holding the switch.
      workers: 2,
      threads: 1,
      logger: createLogger({ level: 'silent' }),
    });
    cleanups.push(() => pool.close());
    // Scoped to the loading: children started from now on (ffmpeg) do not inherit it.
    expect(process.env[ONNXRUNTIME_TELEMETRY_SWITCH]).toBeUndefined();
    expect(await readdir(tmp.dir)).toEqual([]);

    const samples = new Float32Array(16_000).map((_, i) => 0.3 * Math.sin((2 * Math.PI * 440 * i) / 16_000));
    const results = await Promise.all([pool.run(samples), pool.run(samples)]);
    for (const result of results) expect(result.frames).toBeGreaterThan(0);
    expect(await readdir(tmp.dir)).toEqual([]);

    await pool.close();
    expect(await readdir(tmp.dir)).toEqual([]);
    expect(await readdir(home.dir)).toEqual([]);
    // Every name that appeared in either folder at any time, however briefly.
    expect([...tmp.seen, ...home.seen]).toEqual([]);
  });

  it('the whole service process, from start through a transcription to SIGTERM, leaves its TMPDIR and HOME empty', async () => {
    const tmp = await watchedFolder('stt-ort-service-tmp-');
    const home = await watchedFolder('stt-ort-service-home-');
    const audio = await speech('một hai ba', 'ogg-opus');
    // startServiceProcess passes only the environment it names: no CI marker reaches the service.
    const service = await startServiceProcess({ MODEL_DIR: TONE_MODEL_DIR, TMPDIR: tmp.dir, HOME: home.dir, TSX_DISABLE_CACHE: '1' });
    cleanups.push(() => {
      if (service.child.exitCode === null) service.child.kill('SIGKILL');
    });

    // An Ogg upload goes through ffmpeg, which runs with the service's TMPDIR.
    const response = await postFile(`${service.url}/wav2vec2`, audio, 'voice.ogg');
    expect(response.status).toBe(200);
    expect(((await response.json()) as { transcript: string }).transcript).toBe('một hai ba');
    expect(await readdir(tmp.dir)).toEqual([]);

    service.child.kill('SIGTERM');
    expect(await service.exit).toBe(0);
    expect(await readdir(tmp.dir)).toEqual([]);
    expect(await readdir(home.dir)).toEqual([]);
    // Only the decoder's own folders may have come and gone in TMPDIR.
    expect([...tmp.seen].filter((name) => !name.startsWith('viet-stt-decode-'))).toEqual([]);
    expect([...home.seen]).toEqual([]);
  });
});

describe('holdOnnxruntimeTelemetryOff', () => {
  it('sets the switch while any hold is taken, removes it with the last, and releasing twice changes nothing', () => {
    setEnv({ [ONNXRUNTIME_TELEMETRY_SWITCH]: undefined });
    const first = holdOnnxruntimeTelemetryOff();
    const second = holdOnnxruntimeTelemetryOff();
    expect(process.env[ONNXRUNTIME_TELEMETRY_SWITCH]).toBe('1');
    first();
    first();
    expect(process.env[ONNXRUNTIME_TELEMETRY_SWITCH]).toBe('1');
    second();
    expect(process.env[ONNXRUNTIME_TELEMETRY_SWITCH]).toBeUndefined();
  });

  it("keeps the operator's own value, 0 included", () => {
    for (const value of ['0', '1', 'true']) {
      setEnv({ [ONNXRUNTIME_TELEMETRY_SWITCH]: value });
      const release = holdOnnxruntimeTelemetryOff();
      expect(process.env[ONNXRUNTIME_TELEMETRY_SWITCH]).toBe(value);
      release();
      expect(process.env[ONNXRUNTIME_TELEMETRY_SWITCH]).toBe(value);
    }
  });

  it('treats an empty value as unset and puts it back', () => {
    setEnv({ [ONNXRUNTIME_TELEMETRY_SWITCH]: '' });
    const release = holdOnnxruntimeTelemetryOff();
    expect(process.env[ONNXRUNTIME_TELEMETRY_SWITCH]).toBe('1');
    release();
    expect(process.env[ONNXRUNTIME_TELEMETRY_SWITCH]).toBe('');
  });
});
