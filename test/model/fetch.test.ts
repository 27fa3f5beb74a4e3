import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import ort from 'onnxruntime-node';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/logger.js';
import { ensureModel, findModel, ModelMissingError } from '../../src/model/ensure-model.js';
import { runFetchCli } from '../../src/model/fetch-cli.js';
import {
  fetchModel,
  ModelFetchError,
  planDownload,
  resolveRevision,
  type ConvertCheckpoint,
  type FetchModelOptions,
  type ProgressEvent,
} from '../../src/model/fetch.js';
import type { HubFile } from '../../src/model/hub.js';
import { GraphBuilder } from '../../src/onnx/graph-builder.js';
import { viet } from '../support/cli.js';
import { HF_REFERENCE } from '../support/fixtures.js';
import { rejection } from '../support/rejection.js';
import { FakeHfHub, refusedEndpoint, startSilentHub, type FakeFile } from '../fakes/hf-hub.js';

const FIXTURE = path.join(HF_REFERENCE, 'fixture-tiny');
const TOKENIZER = ['config.json', 'preprocessor_config.json', 'special_tokens_map.json', 'tokenizer_config.json', 'vocab.json'];
const TOKEN = 'hf_testTokenThatMustNeverLeak1234';
const OTHER_TOKEN = 'hf_validButNotAllowedToken5678';

/** A small but valid ONNX model with a 256 kB weight, so a download can be cut midway. */
function tinyOnnx(seed: number): Uint8Array {
  const g = new GraphBuilder('tiny');
  const input = g.input('input_values', ['batch', 'samples']);
  const weights = new Float32Array(65_536);
  let x = seed;
  for (let i = 0; i < weights.length; i++) {
    x = (x * 1_103_515_245 + 12_345) % 2_147_483_648;
    weights[i] = x / 2_147_483_648 - 0.5;
  }
  const sum = g.op('ReduceSum', [g.weight('w', weights, [weights.length])], { keepdims: 0 });
  g.output('logits', g.op('Add', [input, sum]), ['batch', 'samples']);
  return g.toBytes();
}

const fixtureFiles = (names: string[]): FakeFile[] => names.map((name) => ({ path: name, source: path.join(FIXTURE, name) }));
const extras: FakeFile[] = [
  { path: '.gitattributes', content: '*.bin filter=lfs diff=lfs merge=lfs -text\n*.onnx filter=lfs diff=lfs merge=lfs -text\n' },
  { path: 'README.md', content: '---\nlicense: cc-by-nc-4.0\n---\n# test\n' },
];
const ONNX_MODEL = tinyOnnx(1);
const GATED_MODEL = tinyOnnx(2);

const sha256 = (data: Uint8Array): string => createHash('sha256').update(data).digest('hex');

let hub: FakeHfHub;
const dirs: string[] = [];

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'viet-stt-fetch-'));
  dirs.push(dir);
  return dir;
}

/** A logger whose lines are kept, with the token registered as a secret as the service does. */
function capturedLogger(): { logger: ReturnType<typeof createLogger>; lines: string[] } {
  const lines: string[] = [];
  const logger = createLogger({ level: 'debug', secrets: [TOKEN, OTHER_TOKEN] }, { write: (line: string) => void lines.push(line) });
  return { logger, lines };
}

/** Fails the test if conversion is attempted. */
const noConversion: ConvertCheckpoint = () => Promise.reject(new Error('conversion must not run for an ONNX repo'));

function options(dir: string, overrides: Partial<FetchModelOptions> = {}): FetchModelOptions {
  return {
    repo: 'test/tiny-onnx',
    revision: 'main',
    endpoint: hub.url,
    token: undefined,
    dir,
    logger: createLogger({ level: 'silent' }),
    progress: 'off',
    retryDelayMs: 0,
    ...overrides,
  };
}

async function listFilesDeep(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries.filter((e) => e.isFile()).map((e) => path.relative(dir, path.join(e.parentPath, e.name))).sort();
}

beforeAll(async () => {
  hub = await FakeHfHub.start([
    { id: 'test/tiny', files: [...extras, ...fixtureFiles(['pytorch_model.bin', ...TOKENIZER])] },
    {
      id: 'test/tiny-onnx',
      files: [
        ...extras,
        { path: 'onnx/model.onnx', content: ONNX_MODEL },
        ...fixtureFiles(['config.json', 'preprocessor_config.json', 'tokenizer_config.json', 'vocab.json']),
      ],
    },
    {
      id: 'test/gated',
      gated: true,
      allowedTokens: [TOKEN],
      files: [{ path: 'model.onnx', content: GATED_MODEL }, ...fixtureFiles(['preprocessor_config.json', 'vocab.json'])],
    },
  ]);
  hub.validTokens.add(OTHER_TOKEN);
});

afterAll(async () => {
  await hub.close();
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

afterEach(() => {
  hub.requests.length = 0;
  hub.clearFaults();
});

describe('planDownload', () => {
  const file = (p: string): HubFile => ({ path: p, size: 1, blobId: undefined, lfs: undefined });
  const plan = (paths: string[]) =>
    planDownload({ repo: 'o/r', revision: 'main', commit: 'c'.repeat(40), files: paths.map(file) });
  const tok = ['vocab.json', 'preprocessor_config.json', 'config.json'];

  it.each([
    [['onnx/model.onnx', 'model.onnx', 'pytorch_model.bin', ...tok], 'model.onnx', 'onnx'],
    [['onnx/model.onnx', 'pytorch_model.bin', ...tok], 'onnx/model.onnx', 'onnx'],
    [['onnx/model_quantized.onnx', 'model_quantized.onnx', ...tok], 'model_quantized.onnx', 'onnx'],
    [['model.onnx', 'model.safetensors', ...tok], 'model.onnx', 'onnx'],
    [['onnx/model_quantized.onnx', 'onnx/model.onnx', ...tok], 'onnx/model.onnx', 'onnx'],
    [['onnx/model_quantized.onnx', 'pytorch_model.bin', ...tok], 'onnx/model_quantized.onnx', 'onnx'],
    [['pytorch_model.bin', 'model.safetensors', ...tok], 'model.safetensors', 'safetensors'],
    [['pytorch_model.bin', ...tok], 'pytorch_model.bin', 'pytorch'],
  ])('%j → %s', (paths, model, source) => {
    const p = plan(paths);
    expect(p.model.path).toBe(model);
    expect(p.source).toBe(source);
    expect(p.tokenizer.map((f) => f.path).sort()).toEqual([...tok].sort());
  });

  it('takes ONNX external data along', () => {
    expect(plan(['onnx/model.onnx', 'onnx/model.onnx_data', 'onnx/model_fp16.onnx', ...tok]).companions.map((f) => f.path)).toEqual([
      'onnx/model.onnx_data',
    ]);
  });

  it('takes a sharded checkpoint: the index and its shards', () => {
    const p = plan(['model.safetensors.index.json', 'model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors', 'README.md', ...tok]);
    expect(p.source).toBe('safetensors');
    expect(p.model.path).toBe('model.safetensors.index.json');
    expect(p.companions.map((f) => f.path)).toEqual(['model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors']);
  });

  it.each([
    [['config.json', 'vocab.json', 'preprocessor_config.json'], 'has no model.onnx, onnx/model.onnx, model_quantized.onnx, onnx/model_quantized.onnx, model.safetensors or pytorch_model.bin'],
    [['pytorch_model.bin.index.json', 'weights.bin', ...tok], 'has a shard index (pytorch_model.bin.index.json) but no shards'],
    [['pytorch_model.bin', 'config.json'], 'has no vocab.json, preprocessor_config.json'],
    [['pytorch_model.bin', 'vocab.json', 'preprocessor_config.json'], 'has no config.json'],
  ])('refuses %j', (paths, message) => {
    expect(() => plan(paths)).toThrow(ModelFetchError);
    expect(() => plan(paths)).toThrow(message);
  });

  it('pins the default model to a commit', () => {
    expect(resolveRevision('khanhld/wav2vec2-base-vietnamese-160h', undefined)).toMatch(/^[0-9a-f]{40}$/);
    expect(resolveRevision('khanhld/wav2vec2-base-vietnamese-160h', 'v2')).toBe('v2');
    expect(resolveRevision('someone/else', undefined)).toBe('main');
  });
});

describe('fetchModel', () => {
  it('uses a repo that ships ONNX as it is, without conversion', async () => {
    const dir = await tempDir();
    const result = await fetchModel(options(dir, { convert: noConversion }));

    expect(result.source).toBe('onnx');
    expect(result.commit).toBe(hub.commitOf('test/tiny-onnx'));
    expect(await listFilesDeep(dir)).toEqual(['config.json', 'model.onnx', 'preprocessor_config.json', 'tokenizer_config.json', 'vocab.json']);
    expect(sha256(await readFile(path.join(dir, 'model.onnx')))).toBe(sha256(ONNX_MODEL));
    expect(await readFile(path.join(dir, 'vocab.json'))).toEqual(await readFile(path.join(FIXTURE, 'vocab.json')));
    expect(await findModel(dir)).toEqual({ onnx: path.join(dir, 'model.onnx'), vocab: path.join(dir, 'vocab.json') });

    // Files come from the listed commit; the ONNX through the CDN redirect.
    const resolves = hub.requests.filter((r) => r.server === 'hub' && r.url.includes('/resolve/'));
    expect(resolves.every((r) => r.url.includes(`/resolve/${result.commit}/`))).toBe(true);
    expect(hub.requestsFor('test/tiny-onnx', 'onnx/model.onnx').map((r) => `${r.server} ${r.status}`)).toEqual(['hub 302', 'cdn 200']);

    const session = await ort.InferenceSession.create(path.join(dir, 'model.onnx'));
    expect(session.inputNames).toEqual(['input_values']);
    expect(session.outputNames).toEqual(['logits']);
    await session.release();
  });

  it('fetches a PyTorch checkpoint, converts it, and keeps only model.onnx and the tokenizer files', async () => {
    const dir = await tempDir();
    const seen: { src: string[]; weightsSha: string; out: string; quantize: unknown }[] = [];
    const convert: ConvertCheckpoint = async (src, out, opts) => {
      seen.push({
        src: (await readdir(src)).sort(),
        weightsSha: sha256(await readFile(path.join(src, 'pytorch_model.bin'))),
        out,
        quantize: opts?.quantize,
      });
      await writeFile(path.join(out, 'model.onnx'), ONNX_MODEL);
    };
    const result = await fetchModel(options(dir, { repo: 'test/tiny', convert, quantize: 'int8' }));

    expect(result.source).toBe('pytorch');
    expect(seen).toHaveLength(1);
    expect(seen[0].src).toEqual(['config.json', 'preprocessor_config.json', 'pytorch_model.bin', 'special_tokens_map.json', 'tokenizer_config.json', 'vocab.json']);
    expect(seen[0].weightsSha).toBe(hub.sha256Of('test/tiny', 'pytorch_model.bin'));
    expect(seen[0].quantize).toBe('int8');
    expect(path.dirname(seen[0].out)).toBe(path.join(dir, '.download'));
    expect(await listFilesDeep(dir)).toEqual(['model.onnx', ...TOKENIZER].sort());
  });

  it('fetches the fixture checkpoint with the real converter and ends with a loadable model.onnx', async () => {
    const dir = await tempDir();
    const result = await fetchModel(options(dir, { repo: 'test/tiny' }));

    expect(result.source).toBe('pytorch');
    expect(await listFilesDeep(dir)).toEqual(['model.onnx', ...TOKENIZER].sort());
    const session = await ort.InferenceSession.create(path.join(dir, 'model.onnx'));
    try {
      expect(session.inputNames).toEqual(['input_values']);
      expect(session.outputNames).toEqual(['logits']);
      const reference = JSON.parse(await readFile(path.join(FIXTURE, 'reference/xin_chao.json'), 'utf8')) as {
        argmax_ids: number[];
      };
      const input = await readFile(path.join(FIXTURE, 'reference/xin_chao.input_values.f32.bin'));
      const values = new Float32Array(input.buffer.slice(input.byteOffset, input.byteOffset + input.byteLength));
      const out = await session.run({ input_values: new ort.Tensor('float32', values, [1, values.length]) });
      const logits = out.logits;
      expect(logits.dims).toEqual([1, reference.argmax_ids.length, 98]);
      const data = logits.data as Float32Array;
      const argmax = reference.argmax_ids.map((_, t) => {
        const row = data.subarray(t * 98, (t + 1) * 98);
        return row.indexOf(Math.max(...row));
      });
      expect(argmax).toEqual(reference.argmax_ids);
    } finally {
      await session.release();
    }
  });

  it('resumes with a Range request after the connection is cut', async () => {
    const dir = await tempDir();
    hub.cutConnection('test/tiny-onnx', 'onnx/model.onnx', 100_000);
    const { logger, lines } = capturedLogger();
    await fetchModel(options(dir, { convert: noConversion, logger }));

    const cdn = hub.requestsFor('test/tiny-onnx', 'onnx/model.onnx').filter((r) => r.server === 'cdn');
    expect(cdn).toHaveLength(2);
    expect(cdn[0].range).toBeUndefined();
    const resumedAt = Number(/^bytes=(\d+)-$/.exec(cdn[1].range ?? '')?.[1]);
    expect(resumedAt).toBeGreaterThan(0);
    expect(resumedAt).toBeLessThanOrEqual(100_000);
    expect(cdn[1].status).toBe(206);
    expect(sha256(await readFile(path.join(dir, 'model.onnx')))).toBe(hub.sha256Of('test/tiny-onnx', 'onnx/model.onnx'));
    const warning = lines.map((l) => JSON.parse(l) as { level: number; msg: string; error?: string }).find((l) => l.level === 40);
    expect(warning?.msg).toMatch(/^download of onnx\/model\.onnx interrupted at byte \d+; resuming$/);
    expect(warning?.error).toMatch(new RegExp(`^the connection to ${hub.cdnUrl} broke mid-download \\(`));
  });

  it('gives up on a stalled connection after the idle timeout and resumes', async () => {
    const dir = await tempDir();
    hub.stall('test/tiny-onnx', 'onnx/model.onnx', 150_000);
    const { logger, lines } = capturedLogger();
    await fetchModel(options(dir, { convert: noConversion, logger, idleTimeoutMs: 500 }));

    const cdn = hub.requestsFor('test/tiny-onnx', 'onnx/model.onnx').filter((r) => r.server === 'cdn');
    expect(cdn).toHaveLength(2);
    expect(cdn[1].range).toMatch(/^bytes=[1-9]\d*-$/);
    expect(sha256(await readFile(path.join(dir, 'model.onnx')))).toBe(hub.sha256Of('test/tiny-onnx', 'onnx/model.onnx'));
    const warning = lines.map((l) => JSON.parse(l) as { level: number; error?: string }).find((l) => l.level === 40);
    expect(warning?.error).toBe(`the download from ${hub.cdnUrl} stalled: no data for 500 ms`);
  });

  it('resumes a part left by an earlier run, hashing what is already there', async () => {
    const dir = await tempDir();
    // Every response stops at byte 120 000: once the client holds those, attempts make no progress.
    hub.cutConnection('test/tiny-onnx', 'onnx/model.onnx', 120_000, Number.POSITIVE_INFINITY);
    const first = await rejection(fetchModel(options(dir, { convert: noConversion, retries: 1 })));
    hub.clearFaults();
    expect(first).toBeInstanceOf(ModelFetchError);
    expect((first as ModelFetchError).reason).toBe('network');
    expect(first.message).toMatch(/^downloading onnx\/model\.onnx of test\/tiny-onnx failed after 2 attempts: .*; run the fetch again to resume from byte \d+$/);
    const parts = (await listFilesDeep(dir)).filter((f) => f.endsWith('.part'));
    expect(parts).toEqual([path.join('.download', hub.commitOf('test/tiny-onnx'), 'onnx', 'model.onnx.part')]);
    expect(await findModel(dir)).toBeUndefined();

    hub.requests.length = 0;
    await fetchModel(options(dir, { convert: noConversion }));
    const cdn = hub.requestsFor('test/tiny-onnx', 'onnx/model.onnx').filter((r) => r.server === 'cdn');
    expect(cdn).toHaveLength(1);
    expect(cdn[0].range).toMatch(/^bytes=[1-9]\d*-$/);
    expect(sha256(await readFile(path.join(dir, 'model.onnx')))).toBe(hub.sha256Of('test/tiny-onnx', 'onnx/model.onnx'));
    expect(existsSync(path.join(dir, '.download'))).toBe(false);
  });

  it('rejects a corrupt download: clear error, part deleted, nothing under the final name', async () => {
    const dir = await tempDir();
    hub.corrupt('test/tiny-onnx', 'onnx/model.onnx', 1);
    const error = await rejection(fetchModel(options(dir, { convert: noConversion })));

    expect(error).toBeInstanceOf(ModelFetchError);
    expect(error.name).toBe('ModelFetchError');
    expect((error as ModelFetchError).reason).toBe('corrupt');
    expect(error.message).toMatch(
      new RegExp(
        '^the download of onnx/model\\.onnx from model repo test/tiny-onnx is corrupt: its sha256 is [0-9a-f]{64}, ' +
          `the hub lists ${hub.sha256Of('test/tiny-onnx', 'onnx/model.onnx')}; the partial file was deleted, run the fetch again$`,
      ),
    );
    expect(await listFilesDeep(dir)).toEqual([]);
    expect(await findModel(dir)).toBeUndefined();
  });

  it('checks plain (non-LFS) files against their git blob id', async () => {
    const dir = await tempDir();
    hub.corrupt('test/tiny-onnx', 'vocab.json', 1);
    const error = await rejection(fetchModel(options(dir, { convert: noConversion })));
    expect((error as ModelFetchError).reason).toBe('corrupt');
    expect(error.message).toMatch(/^the download of vocab\.json from model repo test\/tiny-onnx is corrupt: its git blob id is [0-9a-f]{40}, the hub lists [0-9a-f]{40};/);
    expect(existsSync(path.join(dir, 'model.onnx'))).toBe(false);
    expect((await listFilesDeep(dir)).filter((f) => f.endsWith('.part'))).toEqual([]);
  });

  it('explains a missing repo and a missing revision', async () => {
    const dir = await tempDir();
    const repo = await rejection(fetchModel(options(dir, { repo: 'test/nope' })));
    expect(repo).toBeInstanceOf(ModelFetchError);
    expect((repo as ModelFetchError).reason).toBe('not_found');
    expect(repo.message).toBe(`model repo test/nope not found at revision main on ${hub.url} (if it is private, set HF_TOKEN)`);
    expect(repo.cause).toMatchObject({ name: 'HubHttpError', status: 404, errorCode: 'RepoNotFound' });

    const revision = await rejection(fetchModel(options(dir, { revision: 'v9' })));
    expect(revision.message).toBe(
      `model repo test/tiny-onnx not found at revision v9 on ${hub.url}: the repo has no such branch, tag or commit`,
    );
    expect(await listFilesDeep(dir)).toEqual([]);
  });

  it('explains 401 and 403: HF_TOKEN missing, rejected, or without access', async () => {
    const dir = await tempDir();
    const missing = await rejection(fetchModel(options(dir, { repo: 'test/gated' })));
    expect((missing as ModelFetchError).reason).toBe('unauthorized');
    expect(missing.message).toBe(
      `model repo test/gated on ${hub.url} needs authentication: set HF_TOKEN to a Hugging Face access token ` +
        'that can read it (for a gated repo, accept its conditions on the hub first)',
    );
    expect(missing.cause).toMatchObject({ status: 401, errorCode: 'GatedRepo' });

    const wrong = await rejection(fetchModel(options(dir, { repo: 'test/gated', token: 'hf_wrongToken000' })));
    expect(wrong.message).toBe(
      `HF_TOKEN was rejected by ${hub.url} (401) for model repo test/gated: it is wrong or expired; set HF_TOKEN to a valid access token`,
    );
    const noAccess = await rejection(fetchModel(options(dir, { repo: 'test/gated', token: OTHER_TOKEN })));
    expect((noAccess as ModelFetchError).reason).toBe('forbidden');
    expect(noAccess.message).toBe(
      `HF_TOKEN cannot read model repo test/gated on ${hub.url} (403): ` +
        'request access to the gated repo with the account that owns the token, or use another token',
    );
  });

  it('sends the token to the hub only, never to the CDN, and never writes it anywhere', async () => {
    const dir = await tempDir();
    const { logger, lines } = capturedLogger();
    await fetchModel(options(dir, { repo: 'test/gated', token: TOKEN, logger, progress: 'log' }));
    expect(sha256(await readFile(path.join(dir, 'model.onnx')))).toBe(sha256(GATED_MODEL));

    const hubRequests = hub.requests.filter((r) => r.server === 'hub');
    const cdnRequests = hub.requests.filter((r) => r.server === 'cdn');
    expect(hubRequests.length).toBeGreaterThan(0);
    expect(hubRequests.every((r) => r.authorization === `Bearer ${TOKEN}`)).toBe(true);
    expect(cdnRequests).toHaveLength(1);
    expect(cdnRequests[0].authorization).toBeUndefined();

    // Failures with a token: their messages, stacks and causes, and every log line.
    const failures = [
      await rejection(fetchModel(options(await tempDir(), { repo: 'test/gated', token: OTHER_TOKEN, logger }))),
      await rejection(fetchModel(options(await tempDir(), { repo: 'test/nope', token: TOKEN, logger }))),
    ];
    hub.corrupt('test/gated', 'model.onnx', 1);
    failures.push(await rejection(fetchModel(options(await tempDir(), { repo: 'test/gated', token: TOKEN, logger }))));
    const texts: string[] = [...lines];
    for (const failure of failures) {
      for (let e: unknown = failure; e instanceof Error; e = e.cause) texts.push(e.message, e.stack ?? '', JSON.stringify(e));
    }
    expect(lines.length).toBeGreaterThan(3);
    for (const text of texts) {
      expect(text).not.toContain(TOKEN);
      expect(text).not.toContain(OTHER_TOKEN);
      // The logger scrubs secrets; nothing should even have tried to log one.
      expect(text).not.toContain('[redacted]');
    }
  });

  it('reports progress: log lines every 10 %, a bar on a TTY, or events', async () => {
    const { logger, lines } = capturedLogger();
    await fetchModel(options(await tempDir(), { convert: noConversion, logger, progress: 'log' }));
    const percents = lines
      .map((l) => JSON.parse(l) as { file?: string; percent?: number })
      .filter((l) => l.file === 'onnx/model.onnx' && l.percent !== undefined)
      .map((l) => l.percent);
    expect(percents).toEqual([10, 20, 30, 40, 50, 60, 70, 80, 90, 100].filter((p) => percents.includes(p)));
    expect(percents).toContain(100);
    expect(percents.length).toBeGreaterThanOrEqual(3);

    const tty = Object.assign(new PassThrough(), { isTTY: true });
    let drawn = '';
    tty.on('data', (chunk: Buffer) => (drawn += chunk.toString()));
    await fetchModel(options(await tempDir(), { convert: noConversion, progress: 'auto', progressStream: tty }));
    expect(drawn).toContain('onnx/model.onnx [########################] 100%');

    const events: ProgressEvent[] = [];
    await fetchModel(options(await tempDir(), { convert: noConversion, progress: (e) => events.push(e) }));
    const model = events.filter((e) => e.file === 'onnx/model.onnx');
    expect(model[0]).toMatchObject({ phase: 'start', bytes: 0 });
    expect(model.at(-1)).toMatchObject({ phase: 'done', bytes: ONNX_MODEL.length, total: ONNX_MODEL.length });
  });
});

describe('ensureModel', () => {
  const modelConfig = (dir: string, env: Record<string, string> = {}) =>
    loadConfig({ MODEL_DIR: dir, MODEL_ID: 'test/tiny-onnx', HF_ENDPOINT: hub.url, ...env }).model;

  it('with MODEL_AUTO_FETCH=false and an empty dir, says to run npm run model:fetch', async () => {
    const dir = await tempDir();
    const error = await rejection(ensureModel(modelConfig(dir, { MODEL_AUTO_FETCH: 'false' }), createLogger({ level: 'silent' })));
    expect(error).toBeInstanceOf(ModelMissingError);
    expect(error.name).toBe('ModelMissingError');
    expect(error.message).toBe(
      `no model in ${dir} (it needs model.onnx, onnx/model.onnx, model_quantized.onnx or onnx/model_quantized.onnx, and vocab.json) and MODEL_AUTO_FETCH=false ` +
        'forbids downloading one: run `npm run model:fetch` to fetch test/tiny-onnx, or set MODEL_AUTO_FETCH=true',
    );
    expect(hub.requests).toEqual([]);
  });

  it('fetches into an empty dir, then finds the model there without asking the hub', async () => {
    const dir = await tempDir();
    const config = modelConfig(dir);
    await ensureModel(config, createLogger({ level: 'silent' }), { fetchOptions: { progress: 'off', convert: noConversion } });
    expect(await findModel(dir)).toBeDefined();
    hub.requests.length = 0;
    await ensureModel(config, createLogger({ level: 'silent' }));
    expect(hub.requests).toEqual([]);
  });

  it('takes a folder laid out as Transformers.js ships it (only onnx/model_quantized.onnx) as a model, as the core does', async () => {
    const dir = await tempDir();
    await mkdir(path.join(dir, 'onnx'));
    await writeFile(path.join(dir, 'onnx', 'model_quantized.onnx'), ONNX_MODEL);
    await writeFile(path.join(dir, 'vocab.json'), '{"<pad>": 0, "|": 1, "a": 2}');
    expect(await findModel(dir)).toEqual({ onnx: path.join(dir, 'onnx', 'model_quantized.onnx'), vocab: path.join(dir, 'vocab.json') });
    await ensureModel(modelConfig(dir, { MODEL_AUTO_FETCH: 'false' }), createLogger({ level: 'silent' }));
    expect(hub.requests).toEqual([]);
  });
});

/** Streams for `runFetchCli` that keep what it writes. */
const io = () => {
  const out = { stdout: '', stderr: '' };
  const stdout = new PassThrough().on('data', (c: Buffer) => (out.stdout += c.toString()));
  const stderr = new PassThrough().on('data', (c: Buffer) => (out.stderr += c.toString()));
  return { out, stdout, stderr };
};

describe('runFetchCli', () => {

  it('fetches the repo named on the command line into MODEL_DIR', async () => {
    const dir = await tempDir();
    const { out, stdout, stderr } = io();
    const code = await runFetchCli(['--', 'test/tiny-onnx', '--revision', 'main'], { MODEL_DIR: dir, HF_ENDPOINT: hub.url, LOG_LEVEL: 'silent' }, {
      stdout,
      stderr,
      fetchOptions: { progress: 'off', convert: noConversion },
    });
    expect(code).toBe(0);
    expect(out.stdout).toContain(`test/tiny-onnx@${hub.commitOf('test/tiny-onnx')} is ready`);
    expect(await findModel(dir)).toBeDefined();
  });

  it('run as `npm run model:fetch` runs it, says what it does in plain lines on stderr, never JSON or a stack', async () => {
    const dir = await tempDir();
    const run = await viet(['model:fetch', 'test/tiny-onnx', '--revision', 'main'], { env: { MODEL_DIR: dir, HF_ENDPOINT: hub.url } });
    expect(run.code).toBe(0);
    expect(run.stdout).toBe(`test/tiny-onnx@${hub.commitOf('test/tiny-onnx')} is ready in ${path.relative(process.cwd(), dir)}\n`);
    const lines = run.stderr.trimEnd().split('\n');
    expect(lines[0]).toBe('viet-stt: fetching test/tiny-onnx@main: using its onnx/model.onnx');
    expect(lines.at(-1)).toBe(`viet-stt: model test/tiny-onnx is ready in ${dir}`);
    const size = `${(ONNX_MODEL.length / 1000).toFixed(1)} kB`;
    expect(lines).toEqual(expect.arrayContaining([`viet-stt: downloading onnx/model.onnx: 100% of ${size}`, `viet-stt: downloaded onnx/model.onnx (${size}), verified`]));
    for (const line of lines) expect(line).toMatch(/^viet-stt: [a-z]/);
    expect(run.stderr).not.toMatch(/^\s*\{/m);
    expect(run.stderr).not.toMatch(/^\s+at /m);
    expect(await findModel(dir)).toBeDefined();
  });

  it('exits 1 with the reason on failure, 2 on bad arguments', async () => {
    const env = { MODEL_DIR: await tempDir(), HF_ENDPOINT: hub.url, LOG_LEVEL: 'silent', HF_TOKEN: OTHER_TOKEN };
    const failed = io();
    expect(await runFetchCli(['test/gated'], env, { stdout: failed.stdout, stderr: failed.stderr })).toBe(1);
    expect(failed.out.stderr).toBe(
      `model:fetch failed: HF_TOKEN cannot read model repo test/gated on ${hub.url} (403): ` +
        'request access to the gated repo with the account that owns the token, or use another token\n',
    );
    const bad = io();
    expect(await runFetchCli(['--quantize', 'int4'], env, { stdout: bad.stdout, stderr: bad.stderr })).toBe(2);
    expect(bad.out.stderr).toMatch(/^--quantize takes int8, not int4\n\nUsage: npm run model:fetch/);
  });
});

describe('when the hub cannot be reached', () => {
  /** The offline message exactly as a user reads it, after `what` failed. */
  const offline = (what: string, dir: string): string =>
    `${what}. Check the network and HF_ENDPOINT; without the hub, a model gets into MODEL_DIR (${dir}) one of three ways:\n` +
    '  1. copy a converted model folder (model.onnx, vocab.json, preprocessor_config.json) into MODEL_DIR and set MODEL_AUTO_FETCH=false;\n' +
    '  2. convert a checkpoint you have: npm run model:convert -- <checkpoint dir> <out dir>, then set MODEL_DIR to <out dir>;\n' +
    '  3. set HF_ENDPOINT to a mirror of the hub.';
  const silentOptions = { responseTimeoutMs: 200, connectTimeoutMs: 1_000 };

  it('fetchModel on a refused port: reason unreachable, the offline message, nothing written', async () => {
    const endpoint = await refusedEndpoint();
    const dir = await tempDir();
    const error = await rejection(fetchModel(options(dir, { endpoint })));
    expect(error).toBeInstanceOf(ModelFetchError);
    expect((error as ModelFetchError).reason).toBe('unreachable');
    expect(error.message).toBe(offline(`could not reach the Hugging Face hub at ${endpoint} (connection refused, ECONNREFUSED)`, dir));
    expect(error.cause).toMatchObject({ name: 'HubNetworkError', code: 'ECONNREFUSED', phase: 'request' });
    expect(await listFilesDeep(dir)).toEqual([]);
  });

  it('fetchModel on a hub that never answers: the response timeout, the offline message, "still waiting" lines on the way', async () => {
    const silent = await startSilentHub();
    try {
      const dir = await tempDir();
      const { logger, lines } = capturedLogger();
      const error = await rejection(
        fetchModel(options(dir, { endpoint: silent.url, token: TOKEN, logger, ...silentOptions, waitLogIntervalMs: 50 })),
      );
      expect((error as ModelFetchError).reason).toBe('unreachable');
      expect(error.message).toBe(offline(`could not reach the Hugging Face hub at ${silent.url} (connected, but no answer within 0.2 s)`, dir));
      expect(error.cause).toMatchObject({ name: 'HubNetworkError', code: 'ETIMEDOUT', origin: silent.url });
      const waiting = lines.map((l) => JSON.parse(l) as { msg: string; url?: string }).filter((l) => l.msg === 'still waiting for the hub');
      expect(waiting.length).toBeGreaterThanOrEqual(1);
      expect(waiting[0].url).toBe(`${silent.url}/api/models/test/tiny-onnx/revision/main`);
      expect(lines.join('\n')).not.toContain(TOKEN);
    } finally {
      await silent.close();
    }
  });

  it('npm run model:fetch exits 1 with the offline message on stderr, and no stack', async () => {
    const refused = await refusedEndpoint();
    const dir = await tempDir();
    const { out, stdout, stderr } = io();
    const code = await runFetchCli([], { MODEL_DIR: dir, HF_ENDPOINT: refused, LOG_LEVEL: 'silent' }, { stdout, stderr });
    expect(code).toBe(1);
    expect(out.stderr).toBe(
      `model:fetch failed: ${offline(`could not reach the Hugging Face hub at ${refused} (connection refused, ECONNREFUSED)`, dir)}\n`,
    );
    expect(out.stdout).toBe('');

    const silent = await startSilentHub();
    try {
      const timedOut = io();
      const env = { MODEL_DIR: dir, HF_ENDPOINT: silent.url, LOG_LEVEL: 'silent', HF_TOKEN: TOKEN };
      expect(await runFetchCli([], env, { stdout: timedOut.stdout, stderr: timedOut.stderr, fetchOptions: silentOptions })).toBe(1);
      expect(timedOut.out.stderr).toBe(
        `model:fetch failed: ${offline(`could not reach the Hugging Face hub at ${silent.url} (connected, but no answer within 0.2 s)`, dir)}\n`,
      );
      expect(timedOut.out.stderr).not.toMatch(/^\s+at /m);
      expect(timedOut.out.stderr).not.toContain(TOKEN);
    } finally {
      await silent.close();
    }
  });

  it('run as `npm run model:fetch` runs it, says the offline message on stderr alone: no JSON line, no stack', async () => {
    const refused = await refusedEndpoint();
    const dir = await tempDir();
    const run = await viet(['model:fetch'], { env: { MODEL_DIR: dir, HF_ENDPOINT: refused } });
    expect(run.code).toBe(1);
    expect(run.stderr).toBe(`model:fetch failed: ${offline(`could not reach the Hugging Face hub at ${refused} (connection refused, ECONNREFUSED)`, dir)}\n`);
    expect(run.stdout).toBe('');
  });

  it('ensureModel (npm start) fails with the offline message as its message', async () => {
    const refused = await refusedEndpoint();
    const dir = await tempDir();
    const config = loadConfig({ MODEL_DIR: dir, MODEL_ID: 'test/tiny-onnx', HF_ENDPOINT: refused }).model;
    const error = await rejection(ensureModel(config, createLogger({ level: 'silent' })));
    expect(error).toBeInstanceOf(ModelFetchError);
    expect(error.message).toBe(offline(`could not reach the Hugging Face hub at ${refused} (connection refused, ECONNREFUSED)`, dir));

    const silent = await startSilentHub();
    try {
      const silentConfig = loadConfig({ MODEL_DIR: dir, MODEL_ID: 'test/tiny-onnx', HF_ENDPOINT: silent.url }).model;
      const timedOut = await rejection(ensureModel(silentConfig, createLogger({ level: 'silent' }), { fetchOptions: silentOptions }));
      expect(timedOut.message).toBe(offline(`could not reach the Hugging Face hub at ${silent.url} (connected, but no answer within 0.2 s)`, dir));
    } finally {
      await silent.close();
    }
  });

  it('a CDN that refuses connections after the hub listed the repo: the offline message names the CDN', async () => {
    // The listing comes from the live hub; its redirect points at a port nobody listens on.
    const cdn = await refusedEndpoint();
    const redirecting = http.createServer((req, res) => {
      if (req.url?.includes('/resolve/')) {
        res.writeHead(302, { location: `${cdn}/blob`, 'x-repo-commit': hub.commitOf('test/tiny-onnx') });
        res.end();
        return;
      }
      void fetch(`${hub.url}${req.url ?? '/'}`).then(async (upstream) => {
        res.writeHead(upstream.status, { 'content-type': 'application/json' });
        res.end(await upstream.text());
      });
    });
    await new Promise<void>((resolve) => redirecting.listen(0, '127.0.0.1', resolve));
    try {
      const endpoint = `http://127.0.0.1:${(redirecting.address() as AddressInfo).port}`;
      const dir = await tempDir();
      const error = await rejection(fetchModel(options(dir, { endpoint, retries: 1, convert: noConversion })));
      expect((error as ModelFetchError).reason).toBe('unreachable');
      expect(error.message).toBe(
        offline(`could not reach ${cdn} (connection refused, ECONNREFUSED), where ${endpoint} sends downloads of test/tiny-onnx`, dir),
      );
    } finally {
      redirecting.closeAllConnections();
      await new Promise<void>((resolve) => redirecting.close(() => resolve()));
    }
  });
});
