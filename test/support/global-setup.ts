import { mkdir } from 'node:fs/promises';
import { TONE_MODEL_DIR, writeToneModel } from '../../testkit/tone-model.js';

/** Builds the tone test model once per run, into test-output/ (git-ignored). */
export default async function setup(): Promise<void> {
  await mkdir(TONE_MODEL_DIR, { recursive: true });
  await writeToneModel(TONE_MODEL_DIR);
}
