import { copyFile, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeSafetensors } from '../../src/model/checkpoint/safetensors.js';
import { CheckpointError } from '../../src/model/checkpoint/state-dict.js';
import { readTorchZip } from '../../src/model/checkpoint/torch-zip.js';
import { runConvertCli } from '../../src/model/convert-cli.js';
import { convertCheckpoint } from '../../src/model/convert.js';
import { Wav2Vec2ConversionError } from '../../src/model/wav2vec2-graph.js';
import { argmax, HF_REFERENCE, maxAbsDiff, readCase, runLogits } from './support/reference.js';

/** The files beside the graph that a converted folder takes from its checkpoint. */
const SIDE_FILES = ['vocab.json', 'preprocessor_config.json', 'tokenizer_config.json', 'special_tokens_map.json', 'config.json'];

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'convert-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const tiny = path.join(HF_REFERENCE, 'fixture-tiny');
const padlast = path.join(HF_REFERENCE, 'fixture-tiny-padlast');

async function expectParity(modelDir: string, fixture: string): Promise<void> {
  const session = await ort.InferenceSession.create(await readFile(path.join(modelDir, 'model.onnx')));
  const reference = await readCase(fixture, 'sine440_3s');
  const logits = await runLogits(session, reference.inputValues);
  expect(maxAbsDiff(logits.data, reference.logits)).toBeLessThan(1e-4);
  expect(argmax(logits.data, 98)).toEqual(reference.argmax);
}

describe('convertCheckpoint', () => {
  it('writes model.onnx and copies the side files, leaving no temporary files', async () => {
    const out = path.join(dir, 'tiny');
    const result = await convertCheckpoint(padlast, out);
    expect(result.weightsFile).toBe(path.join(padlast, 'pytorch_model.bin'));
    expect(result.modelPath).toBe(path.join(out, 'model.onnx'));
    expect(result.copied).toEqual([...SIDE_FILES]);
    expect(result.missing).toEqual([]);
    expect((await readdir(out)).sort()).toEqual(['model.onnx', ...SIDE_FILES].sort());
    expect((await stat(result.modelPath)).size).toBe(result.bytes);
    for (const name of SIDE_FILES) {
      expect(await readFile(path.join(out, name), 'utf8')).toBe(await readFile(path.join(padlast, name), 'utf8'));
    }
    await expectParity(out, 'fixture-tiny-padlast');
    // Converting again replaces the files in place.
    await convertCheckpoint(padlast, out);
    expect((await readdir(out)).sort()).toEqual(['model.onnx', ...SIDE_FILES].sort());
  });

  it('prefers model.safetensors over pytorch_model.bin', async () => {
    const src = path.join(dir, 'both');
    await mkdir(src);
    for (const name of SIDE_FILES) await copyFile(path.join(tiny, name), path.join(src, name));
    await writeFile(path.join(src, 'model.safetensors'), encodeSafetensors(await readTorchZip(path.join(tiny, 'pytorch_model.bin'))));
    await writeFile(path.join(src, 'pytorch_model.bin'), 'not a checkpoint: reading it would fail');
    const result = await convertCheckpoint(src, path.join(dir, 'both-out'));
    expect(result.weightsFile).toBe(path.join(src, 'model.safetensors'));
    await expectParity(path.join(dir, 'both-out'), 'fixture-tiny');
  });

  it('reads sharded safetensors through model.safetensors.index.json', async () => {
    const src = path.join(dir, 'sharded');
    await mkdir(src);
    await copyFile(path.join(tiny, 'config.json'), path.join(src, 'config.json'));
    const entries = [...(await readTorchZip(path.join(tiny, 'pytorch_model.bin')))];
    const half = Math.floor(entries.length / 2);
    const shards = { 'model-00001-of-00002.safetensors': entries.slice(0, half), 'model-00002-of-00002.safetensors': entries.slice(half) };
    const weightMap: Record<string, string> = {};
    for (const [file, part] of Object.entries(shards)) {
      await writeFile(path.join(src, file), encodeSafetensors(new Map(part)));
      for (const [key] of part) weightMap[key] = file;
    }
    await writeFile(path.join(src, 'model.safetensors.index.json'), JSON.stringify({ metadata: {}, weight_map: weightMap }));
    const result = await convertCheckpoint(src, path.join(dir, 'sharded-out'));
    expect(result.missing).toContain('vocab.json');
    await expectParity(path.join(dir, 'sharded-out'), 'fixture-tiny');
  });

  it('explains a directory without weights or config', async () => {
    const empty = path.join(dir, 'empty');
    await mkdir(empty);
    await expect(convertCheckpoint(empty, path.join(dir, 'x'))).rejects.toThrow(/config\.json/);
    await copyFile(path.join(tiny, 'config.json'), path.join(empty, 'config.json'));
    const error = await convertCheckpoint(empty, path.join(dir, 'x')).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CheckpointError);
    expect((error as Error).message).toMatch(/no model weights.*model\.safetensors.*pytorch_model\.bin/);
  });

  it('names the weights file when the checkpoint does not fit its config', async () => {
    const src = path.join(dir, 'misfit');
    await mkdir(src);
    const config = JSON.parse(await readFile(path.join(tiny, 'config.json'), 'utf8')) as Record<string, unknown>;
    await writeFile(path.join(src, 'config.json'), JSON.stringify({ ...config, num_hidden_layers: 3 }));
    await copyFile(path.join(tiny, 'pytorch_model.bin'), path.join(src, 'pytorch_model.bin'));
    const error = await convertCheckpoint(src, path.join(dir, 'misfit-out')).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(Wav2Vec2ConversionError);
    expect((error as Error).message).toMatch(/pytorch_model\.bin.*\n.*missing wav2vec2\.encoder\.layers\.2/);
  });
});

describe('runConvertCli', () => {
  const capture = () => {
    const out: string[] = [];
    const err: string[] = [];
    return { out, err, io: { out: (l: string) => out.push(l), err: (l: string) => err.push(l) } };
  };

  it('converts with --quantize int8 and reports what it wrote', async () => {
    const c = capture();
    const out = path.join(dir, 'cli-int8');
    expect(await runConvertCli([tiny, out, '--quantize', 'int8'], c.io)).toBe(0);
    expect(c.out.join('\n')).toMatch(/converted .*pytorch_model\.bin → .*model\.onnx .*int8/);
    const session = await ort.InferenceSession.create(await readFile(path.join(out, 'model.onnx')));
    const reference = await readCase('fixture-tiny', 'xin_chao');
    expect(maxAbsDiff((await runLogits(session, reference.inputValues)).data, reference.logits)).toBeLessThan(0.3);
  });

  it('answers bad usage with the usage text and exit code 2', async () => {
    for (const argv of [[], [tiny], [tiny, dir, '--quantize', 'int4'], [tiny, dir, '--bogus']]) {
      const c = capture();
      expect(await runConvertCli(argv, c.io)).toBe(2);
      expect(c.err.join('\n')).toMatch(/Usage: npm run model:convert/);
    }
  });

  it('prints the error and its cause and exits 1 when conversion fails', async () => {
    const c = capture();
    expect(await runConvertCli([path.join(dir, 'nowhere'), path.join(dir, 'o')], c.io)).toBe(1);
    expect(c.err.join('\n')).toMatch(/CheckpointError: cannot read .*config\.json[\s\S]*caused by .*ENOENT/);
  });
});
