import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { encodeSafetensors } from '../src/model/checkpoint/safetensors.js';
import { convertCheckpoint } from '../src/model/convert.js';
import { randomWav2Vec2Weights, wav2vec2BaseConfig } from '../testkit/random-weights.js';

/** What one conversion of the base-size checkpoint cost. */
export interface ConvertBenchResult {
  /** Wall-clock seconds of convertCheckpoint (read, build, write). */
  seconds: number;
  /** Peak resident memory of the process that converted, in MB (Node's own baseline included). */
  peakRssMb: number;
  /** Size of the written model.onnx in bytes. */
  bytes: number;
}

const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url));
const SELF = fileURLToPath(import.meta.url);

/**
 * Writes a random-weight wav2vec2-base CTC checkpoint (7 conv layers of 512, 12 layers of 768,
 * vocab 110, as khanhld/wav2vec2-base-vietnamese-160h) as model.safetensors in a temporary
 * directory, converts it in a child process (so its peak RSS is the conversion's alone, not the
 * random generation's), and reports time, peak memory and output size.
 */
export async function benchConvert(options: { quantize?: 'int8' } = {}): Promise<ConvertBenchResult> {
  const dir = await mkdtemp(path.join(tmpdir(), 'bench-convert-'));
  try {
    const src = path.join(dir, 'checkpoint');
    await writeRandomBaseCheckpoint(src);
    const args = ['--import', 'tsx', SELF, '--child', src, path.join(dir, 'out'), ...(options.quantize ? [options.quantize] : [])];
    const stdout = await run(process.execPath, args);
    return JSON.parse(stdout.trim().split('\n').pop() ?? '') as ConvertBenchResult;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** A random base-size checkpoint directory: config.json and model.safetensors. */
export async function writeRandomBaseCheckpoint(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  const config = wav2vec2BaseConfig(110);
  await writeFile(path.join(dir, 'config.json'), JSON.stringify({ ...config, architectures: ['Wav2Vec2ForCTC'] }, null, 2));
  await writeFile(path.join(dir, 'model.safetensors'), encodeSafetensors(randomWav2Vec2Weights(config, 1)));
}

function run(command: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`the conversion child exited with ${code}`))));
  });
}

async function child(src: string, out: string, quantize: string | undefined): Promise<void> {
  const result = await convertCheckpoint(src, out, { quantize: quantize === 'int8' ? 'int8' : undefined });
  const report: ConvertBenchResult = {
    seconds: result.seconds,
    peakRssMb: process.resourceUsage().maxRSS / 1024,
    bytes: result.bytes,
  };
  process.stdout.write(`${JSON.stringify(report)}\n`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  if (process.argv[2] === '--child') {
    await child(process.argv[3], process.argv[4], process.argv[5]);
  } else {
    for (const quantize of [undefined, 'int8'] as const) {
      const r = await benchConvert({ quantize });
      console.log(
        `convert wav2vec2-base (random weights, ${quantize ?? 'float32'}): ${r.seconds.toFixed(2)} s, ` +
          `peak RSS ${r.peakRssMb.toFixed(0)} MB, model.onnx ${(r.bytes / 1e6).toFixed(1)} MB`,
      );
    }
  }
}
