import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadModelFiles, MODEL_FOLDER, ModelFilesError, type ModelFileNeed } from '../../src/core/model-files.js';
import { findModel } from '../../src/model/ensure-model.js';
import { planDownload } from '../../src/model/fetch.js';

/** The README's words for each need. */
const NEEDED: Record<ModelFileNeed, string> = { load: 'yes', fetch: 'from the hub', convert: 'to convert a checkpoint', optional: 'no' };

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'model-folder-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A folder holding `files` (a minimal vocabulary for vocab.json, a stub for the rest). */
async function folder(name: string, files: string[]): Promise<string> {
  const at = path.join(dir, name);
  for (const file of files) {
    await mkdir(path.dirname(path.join(at, file)), { recursive: true });
    await writeFile(path.join(at, file), file === 'vocab.json' ? '{"<pad>": 0, "|": 1, "a": 2}' : '{}');
  }
  return at;
}

describe('what a model folder holds', () => {
  it('is the table the README documents, row for row', async () => {
    const readme = await readFile('README.md', 'utf8');
    const start = readme.indexOf('<!-- model-folder:start -->');
    expect(start).toBeGreaterThanOrEqual(0);
    const block = readme.slice(start, readme.indexOf('<!-- model-folder:end -->'));
    const rows = block.split('\n').filter((line) => line.startsWith('| `'));
    expect(rows).toEqual([
      `| ${MODEL_FOLDER.onnx.map((name) => `\`${name}\``).join(', ')} | yes, the first found | the graph |`,
      // A bar inside a cell is escaped, or Markdown would start a new cell there.
      ...MODEL_FOLDER.files.map((file) => `| \`${file.name}\` | ${NEEDED[file.need]} | ${file.what.replaceAll('|', '\\|')} |`),
    ]);
  });

  it('the service, the start-up check and the fetcher take the same graph when there are several', async () => {
    const layouts = [
      ['onnx/model.onnx', 'model.onnx'],
      ['onnx/model_quantized.onnx', 'onnx/model.onnx'],
      ['onnx/model_quantized.onnx', 'model_quantized.onnx'],
    ];
    for (const [n, graphs] of layouts.entries()) {
      const at = await folder(`several-${n}`, [...graphs, 'vocab.json', 'preprocessor_config.json']);
      const loaded = await loadModelFiles(at);
      expect((await findModel(at))?.onnx).toBe(loaded.onnxPath);
      const plan = planDownload({
        repo: 'o/r',
        revision: 'main',
        commit: 'c'.repeat(40),
        files: [...graphs, 'vocab.json', 'preprocessor_config.json'].map((p) => ({ path: p, size: 1, blobId: undefined, lfs: undefined })),
      });
      expect(path.join(at, plan.model.path)).toBe(loaded.onnxPath);
    }
  });

  it('a folder without vocab.json holds no model, and the service says which file is missing', async () => {
    const at = await folder('no-vocab', ['model.onnx', 'preprocessor_config.json']);
    expect(await findModel(at)).toBeUndefined();
    await expect(loadModelFiles(at)).rejects.toThrow(new ModelFilesError(`vocab.json is missing from ${at}`));
  });

  it('a folder without a graph: the service names every place it looked', async () => {
    const at = await folder('no-graph', ['vocab.json']);
    expect(await findModel(at)).toBeUndefined();
    await expect(loadModelFiles(at)).rejects.toThrow(
      `no ONNX graph in ${at}: a model folder holds model.onnx, onnx/model.onnx, model_quantized.onnx or onnx/model_quantized.onnx, and vocab.json`,
    );
  });

  it('a folder with only the graph and vocab.json is a model, read with 16 kHz and normalisation', async () => {
    const at = await folder('bare', ['onnx/model.onnx', 'vocab.json']);
    expect(await findModel(at)).toEqual({ onnx: path.join(at, 'onnx', 'model.onnx'), vocab: path.join(at, 'vocab.json') });
    expect(await loadModelFiles(at)).toMatchObject({ onnxPath: path.join(at, 'onnx', 'model.onnx'), samplingRate: 16_000, doNormalize: true });
  });
});
