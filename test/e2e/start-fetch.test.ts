import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HF_REFERENCE } from '../support/fixtures.js';
import { FakeHfHub, refusedEndpoint, type FakeFile } from '../fakes/hf-hub.js';

/**
 * `npm start` on a fresh machine: an empty MODEL_DIR, the fake hub as HF_ENDPOINT. main.ts must
 * fetch the PyTorch checkpoint, convert it, load it and serve a transcript; with the hub out of
 * reach it must end with the offline message and a non-zero exit, no stack.
 */

const FIXTURE = path.join(HF_REFERENCE, 'fixture-tiny');
const FILES = ['config.json', 'preprocessor_config.json', 'pytorch_model.bin', 'special_tokens_map.json', 'tokenizer_config.json', 'vocab.json'];
const READY_WITHIN_MS = 120_000;
const EXIT_WITHIN_MS = 30_000;

interface LogLine {
  level?: number;
  msg?: string;
  url?: string;
}

let hub: FakeHfHub;
let modelDir: string;
let child: ChildProcess | undefined;
const stderrTail: string[] = [];
const logLines: LogLine[] = [];

/** Resolves with the `listening` line's url; rejects if the child exits first or takes too long. */
function waitForListening(proc: ChildProcess): Promise<string> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      reject(new Error(`no "listening" log line within ${READY_WITHIN_MS} ms; stderr:\n${stderrTail.join('\n')}`));
    }, READY_WITHIN_MS);
    const lines = createInterface({ input: proc.stdout! });
    lines.on('line', (line) => {
      let parsed: LogLine;
      try {
        parsed = JSON.parse(line) as LogLine;
      } catch {
        return;
      }
      logLines.push(parsed);
      if (parsed.msg === 'listening' && typeof parsed.url === 'string') {
        clearTimeout(timer);
        resolve(parsed.url);
      }
    });
    proc.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(
        new Error(
          `main.ts exited (${code ?? signal}) before listening; last log: ${JSON.stringify(logLines.at(-1))}; ` +
            `stderr:\n${stderrTail.join('\n')}`,
        ),
      );
    });
  });
}

/** Sends SIGTERM and waits, within a bound, for the child to exit. */
function stop(proc: ChildProcess): Promise<number | null> {
  if (proc.exitCode !== null || proc.signalCode !== null) return Promise.resolve(proc.exitCode);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`main.ts did not exit within ${EXIT_WITHIN_MS} ms of SIGTERM`));
    }, EXIT_WITHIN_MS);
    proc.once('exit', (code) => {
      clearTimeout(timer);
      resolve(code);
    });
    proc.kill('SIGTERM');
  });
}

/** main.ts from its sources (`npm start` runs the same, compiled), with the service's own settings only, and `env` over them. */
function startMain(env: Record<string, string>): ChildProcess {
  // Nothing from the developer's environment or .env leaks in (dotenv leaves variables that are
  // already set, even empty ones, alone).
  const inherited = Object.fromEntries(
    Object.entries(process.env).filter(([key]) => !/^(MODEL_|HF_|TELEGRAM_|DISCORD_|API_KEY|AUDIO_DIR|PORT$|HOST$|LOG_LEVEL$)/.test(key)),
  );
  return spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    cwd: process.cwd(),
    env: {
      ...inherited,
      MODEL_DIR: modelDir,
      HF_ENDPOINT: hub.url,
      MODEL_ID: 'test/tiny',
      MODEL_REVISION: '',
      MODEL_AUTO_FETCH: 'true',
      HF_TOKEN: '',
      TELEGRAM_BOT_TOKEN: '',
      DISCORD_BOT_TOKEN: '',
      API_KEY: '',
      PORT: '0',
      HOST: '127.0.0.1',
      LOG_LEVEL: 'info',
      DEVICE: 'cpu',
      INFERENCE_WORKERS: '1',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

beforeAll(async () => {
  const files: FakeFile[] = FILES.map((name) => ({ path: name, source: path.join(FIXTURE, name) }));
  hub = await FakeHfHub.start([{ id: 'test/tiny', files }]);
  modelDir = await mkdtemp(path.join(os.tmpdir(), 'viet-stt-e2e-model-'));
});

afterAll(async () => {
  if (child) await stop(child).catch(() => undefined);
  await hub?.close();
  if (modelDir) await rm(modelDir, { recursive: true, force: true });
});

describe('npm start with an empty MODEL_DIR', () => {
  it('fetches the checkpoint from the hub, converts it, and serves a transcript', async () => {
    child = startMain({});
    createInterface({ input: child.stderr! }).on('line', (line) => {
      stderrTail.push(line);
      if (stderrTail.length > 40) stderrTail.shift();
    });

    const url = await waitForListening(child);

    // It went to the hub, and MODEL_DIR now holds the converted model and the tokenizer files only.
    expect(hub.requestsFor('test/tiny', 'pytorch_model.bin').some((r) => r.server === 'cdn' && r.status === 200)).toBe(true);
    expect((await readdir(modelDir)).sort()).toEqual(['model.onnx', ...FILES.filter((f) => f !== 'pytorch_model.bin')].sort());

    const wav = await readFile(path.join(FIXTURE, 'inputs/xin_chao.wav'));
    const form = new FormData();
    form.append('file', new Blob([new Uint8Array(wav)], { type: 'audio/wav' }), 'xin_chao.wav');
    const res = await fetch(`${url}/wav2vec2`, { method: 'POST', body: form });
    const body = (await res.json()) as { transcript?: string };
    expect(res.status, JSON.stringify(body)).toBe(200);

    const reference = JSON.parse(await readFile(path.join(FIXTURE, 'reference/xin_chao.json'), 'utf8')) as { text: string };
    const expected = reference.text.replaceAll('<s>', '').replaceAll('</s>', '').replaceAll('<unk>', '');
    expect(body.transcript).toBe(expected);

    const code = await stop(child);
    child = undefined;
    expect(code).toBe(0);
  });

  it('with the hub out of reach, ends with the offline message on stderr and exit code 1, no stack', async () => {
    const endpoint = await refusedEndpoint();
    const proc = startMain({ HF_ENDPOINT: endpoint, MODEL_DIR: path.join(modelDir, 'offline') });
    let stderr = '';
    proc.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    proc.stdout!.resume();
    // 'close', not 'exit': by then stderr has been read to its end.
    const [code] = (await once(proc, 'close')) as [number | null];

    expect(code).toBe(1);
    expect(stderr).toBe(
      `viet-stt could not start: could not reach the Hugging Face hub at ${endpoint} (connection refused, ECONNREFUSED). ` +
        `Check the network and HF_ENDPOINT; without the hub, a model gets into MODEL_DIR (${path.join(modelDir, 'offline')}) one of three ways:\n` +
        '  1. copy a converted model folder (model.onnx, vocab.json, preprocessor_config.json) into MODEL_DIR and set MODEL_AUTO_FETCH=false;\n' +
        '  2. convert a checkpoint you have: npm run model:convert -- <checkpoint dir> <out dir>, then set MODEL_DIR to <out dir>;\n' +
        '  3. set HF_ENDPOINT to a mirror of the hub.\n',
    );
  });
});
