#!/usr/bin/env node
/**
 * `npm run build`, which `npm start` runs first: the service as plain JavaScript in dist/, so
 * that node runs it with no TypeScript loader.
 *
 * 1. `tsc -p tsconfig.build.json`: every .ts under src/ and adapters/ (no list to keep up),
 *    into dist/src/ and dist/adapters/.
 * 2. The files there that are not TypeScript (the upload page in src/http/public/, the
 *    subtitles module src/core/subtitles.js that the server and the page share, and any other)
 *    are copied as they are beside the compiled modules, where `import.meta.url` finds them.
 * 3. What dist/ holds with no source left (a file moved or deleted since the last build) is
 *    removed, so that dist/ is the sources and nothing else.
 *
 * `--out-dir <dir>` builds elsewhere (the Docker test assembles the image's /app that way).
 * Without TypeScript installed (a production install, `npm ci --omit=dev`), a dist/ built before
 * is used as it is.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
/** The source folders tsconfig.build.json compiles. */
const SOURCES = ['src', 'adapters'];
/**
 * Non-TypeScript sources that only running from TypeScript needs: the bootstrap that loads a .ts
 * worker through tsx. Compiled, the pool starts the .js worker itself.
 */
const SOURCE_ONLY = new Set(['src/core/worker-bootstrap.mjs']);

const { values } = parseArgs({ options: { 'out-dir': { type: 'string' } } });
const outDir = path.resolve(ROOT, values['out-dir'] ?? 'dist');

let tsc;
try {
  tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
} catch {
  if (existsSync(path.join(outDir, 'src', 'main.js'))) {
    process.stderr.write(`build: TypeScript is not installed (a production install); running ${path.relative(ROOT, outDir)}/ as it was built\n`);
    process.exit(0);
  }
  process.stderr.write('build: TypeScript is not installed and there is no dist/ yet: run `npm install` (with dev dependencies) first\n');
  process.exit(1);
}

const buildInfo = path.join(outDir, '.tsbuildinfo');

/** Compiles; tsc's incremental build info makes a build with few changes quick. */
function compile() {
  const args = [tsc, '-p', path.join(ROOT, 'tsconfig.build.json'), '--outDir', outDir, '--tsBuildInfoFile', buildInfo];
  const compiled = spawnSync(process.execPath, args, { cwd: ROOT, stdio: 'inherit' });
  if (compiled.status !== 0) {
    process.stderr.write(`build: tsc exited with ${compiled.status ?? compiled.signal}\n`);
    process.exit(1);
  }
}

/** Every file under `dir` (relative to ROOT), `/`-separated. */
function filesUnder(dir) {
  if (!existsSync(path.join(ROOT, dir))) return [];
  return readdirSync(path.join(ROOT, dir), { withFileTypes: true }).flatMap((entry) => {
    const rel = `${dir}/${entry.name}`;
    return entry.isDirectory() ? filesUnder(rel) : entry.isFile() ? [rel] : [];
  });
}

/** The outputs tsc writes for one .ts source. */
const outputsOf = (source) => {
  const base = source.replace(/\.ts$/, '');
  return [`${base}.js`, `${base}.js.map`];
};

const sources = SOURCES.flatMap(filesUnder).filter((source) => !source.endsWith('.d.ts'));
const missingOutputs = () => sources.filter((s) => s.endsWith('.ts')).flatMap(outputsOf).filter((output) => !existsSync(path.join(outDir, output)));
compile();
// The build info says what was emitted, not what is still there: outputs deleted by hand are
// written again by a full build.
if (missingOutputs().length > 0) {
  rmSync(buildInfo, { force: true });
  compile();
}

const expected = new Set();
for (const source of sources) {
  if (source.endsWith('.ts')) {
    for (const output of outputsOf(source)) expected.add(output);
    continue;
  }
  if (SOURCE_ONLY.has(source)) continue;
  expected.add(source);
  const from = path.join(ROOT, source);
  const to = path.join(outDir, source);
  if (existsSync(to) && readFileSync(to).equals(readFileSync(from))) continue;
  mkdirSync(path.dirname(to), { recursive: true });
  copyFileSync(from, to);
}

for (const folder of SOURCES) {
  const built = path.join(outDir, folder);
  if (!existsSync(built)) continue;
  for (const file of readdirSync(built, { recursive: true, withFileTypes: true })) {
    if (!file.isFile()) continue;
    const rel = path.relative(outDir, path.join(file.parentPath, file.name)).split(path.sep).join('/');
    if (!expected.has(rel)) rmSync(path.join(outDir, rel));
  }
}
