import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { writeToneModel } from '../../src/model/tone-model.js';

/** Builds the tone test model once per run, into test-output/ (git-ignored). */
export default async function setup(): Promise<void> {
  const dir = path.resolve('test-output/tone-model');
  await mkdir(dir, { recursive: true });
  await writeToneModel(dir);
}
