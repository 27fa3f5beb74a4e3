#!/usr/bin/env node
// The viet-stt command. It runs the CLI compiled into dist/ (`npm run build`; `npm start` builds
// too), with no TypeScript loader. Only a source checkout with its dev dependencies runs the
// TypeScript sources instead, through tsx, as the tests do, so that an edit counts without a
// build; an installed copy (the Docker image, `npm ci --omit=dev`) has no tsx and never does.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';

/** One line, never a stack: whatever went wrong is said in its message. */
function fail(error) {
  process.stderr.write(`viet-stt: ${error instanceof Error ? error.message.split('\n')[0] : String(error)}\n`);
  process.exit(1);
}

function hasTsx() {
  try {
    createRequire(import.meta.url).resolve('tsx/esm/api');
    return true;
  } catch {
    return false;
  }
}

const sources = new URL('../src/cli.ts', import.meta.url);
const compiled = new URL('../dist/src/cli.js', import.meta.url);
let runCli;
try {
  if (existsSync(sources) && hasTsx()) {
    const { register } = await import('tsx/esm/api');
    register();
    ({ runCli } = await import(sources.href));
  } else if (existsSync(compiled)) {
    ({ runCli } = await import(compiled.href));
  } else {
    throw new Error('dist/ is not built: run `npm run build` in the project folder first');
  }
  await import('dotenv/config');
} catch (error) {
  fail(error);
}
try {
  process.exit(await runCli(process.argv.slice(2)));
} catch (error) {
  fail(error);
}
