/**
 * No Docker engine runs where the tests run, so the Dockerfile, .dockerignore and compose.yaml
 * are checked here: parsed (a small Dockerfile parser below: instructions, stages, line
 * continuations, comments, ARG defaults in FROM) and held to what a reviewer would check, and the
 * image's own CMD and HEALTHCHECK are run on this machine against the real service. The image's
 * npm install must be the one .ci/run does, so that every CI run proves it.
 */
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readdir, readFile, symlink, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { resolveFfmpegPath } from '../../src/core/decode.js';
import { speech } from '../support/audio.js';
import { TONE_MODEL_DIR } from '../support/core.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
const read = (file: string): string => readFileSync(path.join(ROOT, file), 'utf8');

// ---------------------------------------------------------------------------------------------
// A small Dockerfile parser.

interface Instruction {
  /** Upper-cased keyword: FROM, RUN, COPY, … */
  keyword: string;
  /** Everything after the keyword, continuation lines joined, flags included. */
  raw: string;
  /** Leading `--name=value` flags (FROM, COPY, ADD, RUN, HEALTHCHECK). */
  flags: Record<string, string>;
  /** The arguments after the flags. */
  args: string;
  /** The JSON array of exec form (CMD, ENTRYPOINT, RUN, VOLUME, COPY…), when that form is used. */
  exec: string[] | undefined;
  /** First line, 1-based. */
  line: number;
  /** The comment lines directly above it, without `#`. */
  comments: string[];
}

interface Stage {
  index: number;
  name: string | undefined;
  /** The FROM image or stage, build args substituted. */
  from: string;
  instructions: Instruction[];
}

interface Dockerfile {
  directives: Record<string, string>;
  /** ARG defaults declared before the first FROM. */
  globalArgs: Record<string, string>;
  stages: Stage[];
}

function parseDockerfile(text: string): Dockerfile {
  const lines = text.split(/\r?\n/);
  const directives: Record<string, string> = {};
  let i = 0;
  // Parser directives: `# key=value` lines at the very top.
  for (; i < lines.length; i++) {
    const m = /^#\s*([a-zA-Z]+)\s*=\s*(\S+)\s*$/.exec(lines[i]);
    if (!m) break;
    directives[m[1].toLowerCase()] = m[2];
  }
  const escape = directives.escape ?? '\\';
  const instructions: Instruction[] = [];
  let comments: string[] = [];
  while (i < lines.length) {
    const line = lines[i];
    const trimmed = line.trim();
    if (trimmed === '') {
      comments = [];
      i++;
      continue;
    }
    if (trimmed.startsWith('#')) {
      comments.push(trimmed.replace(/^#\s?/, ''));
      i++;
      continue;
    }
    const start = i + 1;
    let logical = '';
    let current = line;
    for (;;) {
      const body = current.replace(/\s+$/, '');
      if (body.endsWith(escape)) {
        logical += body.slice(0, -escape.length);
        i++;
        // Comment and empty lines inside a continuation are dropped, as Docker does.
        while (i < lines.length && (lines[i].trim() === '' || lines[i].trim().startsWith('#'))) i++;
        if (i >= lines.length) break;
        current = lines[i];
      } else {
        logical += body;
        i++;
        break;
      }
    }
    const m = /^\s*(\S+)\s*([\s\S]*)$/.exec(logical);
    if (!m) throw new Error(`line ${start}: cannot parse ${JSON.stringify(logical)}`);
    const keyword = m[1].toUpperCase();
    const raw = m[2].trim();
    const flags: Record<string, string> = {};
    let args = raw;
    for (;;) {
      const flag = /^--([a-z-]+)(?:=(\S*))?\s*/.exec(args);
      if (!flag) break;
      flags[flag[1]] = flag[2] ?? 'true';
      args = args.slice(flag[0].length);
    }
    instructions.push({ keyword, raw, flags, args, exec: execForm(args), line: start, comments });
    comments = [];
  }

  const globalArgs: Record<string, string> = {};
  const stages: Stage[] = [];
  for (const ins of instructions) {
    if (ins.keyword === 'FROM') {
      const [image, as, name] = ins.args.split(/\s+/);
      if (as !== undefined && as.toUpperCase() !== 'AS') throw new Error(`line ${ins.line}: FROM ${ins.args}`);
      stages.push({ index: stages.length, name: name?.toLowerCase(), from: substitute(image, globalArgs), instructions: [ins] });
    } else if (stages.length === 0) {
      if (ins.keyword !== 'ARG') throw new Error(`line ${ins.line}: ${ins.keyword} before the first FROM`);
      const [key, value] = ins.args.split(/=(.*)/s);
      globalArgs[key] = unquote(value ?? '');
    } else {
      stages[stages.length - 1].instructions.push(ins);
    }
  }
  return { directives, globalArgs, stages };
}

function execForm(args: string): string[] | undefined {
  if (!args.startsWith('[')) return undefined;
  try {
    const value: unknown = JSON.parse(args);
    return Array.isArray(value) && value.every((v) => typeof v === 'string') ? (value as string[]) : undefined;
  } catch {
    return undefined;
  }
}

function substitute(text: string, vars: Record<string, string>): string {
  return text.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)/g, (_m, braced: string | undefined, fallback: string | undefined, bare: string | undefined) => {
    const name = braced ?? bare ?? '';
    return vars[name] || fallback || '';
  });
}

function unquote(value: string): string {
  const v = value.trim();
  return /^(["']).*\1$/s.test(v) ? v.slice(1, -1) : v;
}

/** Splits shell words, keeping quoted parts together (quotes removed). */
function shellWords(text: string): string[] {
  const words: string[] = [];
  for (const m of text.matchAll(/(?:[^\s"']+|"(?:\\.|[^"\\])*"|'[^']*')+/g)) {
    words.push(m[0].replace(/"((?:\\.|[^"\\])*)"|'([^']*)'/g, (_q, dq: string | undefined, sq: string | undefined) => dq ?? sq ?? ''));
  }
  return words;
}

/** The simple commands of a shell-form RUN: split at `&&`, `||`, `;` and newlines, trimmed. */
function shellCommands(ins: Instruction): string[] {
  return ins.args
    .split(/&&|\|\||;|\n/)
    .map((c) => c.replace(/\s+/g, ' ').trim())
    .filter(Boolean);
}

/** ENV key=value pairs (and the legacy `ENV key value`). */
function envPairs(ins: Instruction): [string, string][] {
  const words = shellWords(ins.args);
  if (words.length > 0 && !words[0].includes('=')) return [[words[0], words.slice(1).join(' ')]];
  return words.map((w) => {
    const at = w.indexOf('=');
    return [w.slice(0, at), w.slice(at + 1)];
  });
}

/** Duration flags (30s, 10m, 500ms, 1h) in seconds. */
function seconds(duration: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(duration);
  if (!m) throw new Error(`unsupported duration ${duration}`);
  return Number(m[1]) * { ms: 0.001, s: 1, m: 60, h: 3600 }[m[2] as 'ms' | 's' | 'm' | 'h'];
}

class Image {
  constructor(readonly file: Dockerfile) {}

  stage(name: string): Stage {
    const stage = this.file.stages.find((s) => s.name === name);
    if (!stage) throw new Error(`no stage ${name}`);
    return stage;
  }

  /** A FROM that names an earlier stage. */
  private parent(stage: Stage): Stage | undefined {
    return this.file.stages.find((s) => s.index < stage.index && s.name !== undefined && s.name === stage.from.toLowerCase());
  }

  /** The stage and the stages it is built FROM, base first. */
  ancestry(stage: Stage): Stage[] {
    const parent = this.parent(stage);
    return parent ? [...this.ancestry(parent), stage] : [stage];
  }

  /** The image at the root of the stage's FROM chain. */
  baseImage(stage: Stage): string {
    return this.ancestry(stage)[0].from;
  }

  /** Every stage whose work ends up in this one: its FROM chain and what it COPYs --from, recursively. */
  feeding(stage: Stage, seen = new Set<Stage>()): Stage[] {
    for (const s of this.ancestry(stage)) {
      if (seen.has(s)) continue;
      seen.add(s);
      for (const ins of s.instructions) {
        const from = ins.keyword === 'COPY' ? ins.flags.from : undefined;
        const source = from === undefined ? undefined : this.file.stages.find((x) => x.name === from.toLowerCase() && x.index < s.index);
        if (source) this.feeding(source, seen);
      }
    }
    return [...seen].sort((a, b) => a.index - b.index);
  }

  /** The stage's instructions with those inherited through FROM, base first. */
  inherited(stage: Stage, keyword: string): Instruction[] {
    return this.ancestry(stage).flatMap((s) => s.instructions.filter((ins) => ins.keyword === keyword));
  }

  /** The last value of a keyword that a stage inherits (USER, CMD, HEALTHCHECK, STOPSIGNAL…). */
  last(stage: Stage, keyword: string): Instruction | undefined {
    return this.inherited(stage, keyword).at(-1);
  }

  env(stage: Stage): Record<string, string> {
    return Object.fromEntries(this.inherited(stage, 'ENV').flatMap(envPairs));
  }

  /** The simple shell commands of every RUN in the stages that feed this one. */
  commands(stage: Stage): string[] {
    return this.feeding(stage).flatMap((s) => s.instructions.filter((ins) => ins.keyword === 'RUN').flatMap(shellCommands));
  }

  workdir(stage: Stage): string {
    return this.last(stage, 'WORKDIR')?.args ?? '/';
  }
}

// ---------------------------------------------------------------------------------------------
// .dockerignore, with Docker's rules: patterns from the context root, `*` and `?` within one path
// segment, `**` across any number, `!` re-includes, the last matching line wins, and a pattern
// that matches a folder matches everything inside it.

function dockerignore(text: string): (file: string) => boolean {
  const rules = text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'))
    .map((l) => {
      const exclude = !l.startsWith('!');
      const pattern = path.posix.normalize((exclude ? l : l.slice(1)).trim()).replace(/^\/+/, '').replace(/\/+$/, '');
      return { exclude, re: globToRegExp(pattern) };
    });
  return (file) => {
    const parts = path.posix.normalize(file).split('/');
    const prefixes = parts.map((_, n) => parts.slice(0, n + 1).join('/'));
    let excluded = false;
    for (const rule of rules) if (prefixes.some((p) => rule.re.test(p))) excluded = rule.exclude;
    return excluded;
  };
}

function globToRegExp(pattern: string): RegExp {
  let re = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === '*' && pattern[i + 1] === '*') {
      if (pattern[i + 2] === '/') {
        re += '(?:.*/)?';
        i += 2;
      } else {
        re += '.*';
        i += 1;
      }
    } else if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else re += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

function filesUnder(dir: string): string[] {
  return readdirSync(path.join(ROOT, dir), { withFileTypes: true }).flatMap((entry) => {
    const rel = path.posix.join(dir, entry.name);
    return entry.isDirectory() ? filesUnder(rel) : [rel];
  });
}

// ---------------------------------------------------------------------------------------------
// A minimal YAML reader for compose.yaml: block maps and sequences (maps as sequence items
// too), flow sequences, quoted and plain scalars, comments. Checked against js-yaml when that
// is installed.

type Yaml = string | number | boolean | null | Yaml[] | { [key: string]: Yaml };
type YamlMap = { [key: string]: Yaml };

interface YamlLine {
  indent: number;
  text: string;
  n: number;
}

function parseYaml(text: string): Yaml {
  const lines: YamlLine[] = [];
  text.split(/\r?\n/).forEach((raw, n) => {
    const body = stripYamlComment(raw).replace(/\s+$/, '');
    if (body.trim() === '' || body.trim() === '---') return;
    if (/^\t/.test(body)) throw new Error(`line ${n + 1}: tab indentation`);
    lines.push({ indent: body.length - body.trimStart().length, text: body.trim(), n: n + 1 });
  });
  if (lines.length === 0) return null;
  const [value, next] = yamlNode(lines, 0);
  if (next !== lines.length) throw new Error(`line ${lines[next].n}: unexpected indentation`);
  return value;
}

const isSeqItem = (text: string): boolean => text === '-' || text.startsWith('- ');

function yamlNode(lines: YamlLine[], i: number): [Yaml, number] {
  return isSeqItem(lines[i].text) ? yamlSeq(lines, i, lines[i].indent) : yamlMap(lines, i, lines[i].indent);
}

function yamlSeq(lines: YamlLine[], i: number, indent: number): [Yaml[], number] {
  const items: Yaml[] = [];
  while (i < lines.length && lines[i].indent === indent && isSeqItem(lines[i].text)) {
    const rest = lines[i].text.slice(1).trimStart();
    if (rest === '') {
      if (i + 1 < lines.length && lines[i + 1].indent > indent) {
        const [value, next] = yamlNode(lines, i + 1);
        items.push(value);
        i = next;
      } else {
        items.push(null);
        i++;
      }
    } else if (splitYamlKey(rest)) {
      // `- key: value` opens a map whose keys line up with `key`.
      const inner = indent + (lines[i].text.length - rest.length);
      lines[i] = { indent: inner, text: rest, n: lines[i].n };
      const [value, next] = yamlMap(lines, i, inner);
      items.push(value);
      i = next;
    } else {
      items.push(yamlScalar(rest));
      i++;
    }
  }
  return [items, i];
}

function yamlMap(lines: YamlLine[], i: number, indent: number): [YamlMap, number] {
  const map: YamlMap = {};
  while (i < lines.length && lines[i].indent === indent && !isSeqItem(lines[i].text)) {
    const entry = splitYamlKey(lines[i].text);
    if (!entry) throw new Error(`line ${lines[i].n}: expected "key: value"`);
    const [key, rest] = entry;
    if (key in map) throw new Error(`line ${lines[i].n}: duplicate key ${key}`);
    if (rest !== '') {
      map[key] = yamlScalar(rest);
      i++;
    } else if (i + 1 < lines.length && lines[i + 1].indent > indent) {
      [map[key], i] = yamlNode(lines, i + 1);
    } else if (i + 1 < lines.length && lines[i + 1].indent === indent && isSeqItem(lines[i + 1].text)) {
      [map[key], i] = yamlSeq(lines, i + 1, indent);
    } else {
      map[key] = null;
      i++;
    }
  }
  return [map, i];
}

function splitYamlKey(text: string): [string, string] | undefined {
  const m = /^("(?:[^"\\]|\\.)*"|'[^']*'|[^\s"'#][^:]*?)\s*:(?:\s+(.*))?$/.exec(text);
  if (!m) return undefined;
  const key = yamlScalar(m[1]);
  return [String(key), (m[2] ?? '').trim()];
}

function yamlScalar(text: string): Yaml {
  const s = text.trim();
  if (s.startsWith('"')) return JSON.parse(s) as string;
  if (s.startsWith("'")) return s.slice(1, -1).replace(/''/g, "'");
  if (s.startsWith('[') && s.endsWith(']')) {
    const inner = s.slice(1, -1).trim();
    return inner === '' ? [] : inner.split(',').map((part) => yamlScalar(part));
  }
  if (s === '{}') return {};
  if (/^(true|false)$/.test(s)) return s === 'true';
  if (/^(null|~)$/.test(s)) return null;
  if (/^-?\d+(\.\d+)?$/.test(s)) return Number(s);
  return s;
}

function stripYamlComment(line: string): string {
  let quote: string | undefined;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (quote) {
      if (c === quote) quote = undefined;
    } else if (c === '"' || c === "'") quote = c;
    else if (c === '#' && (i === 0 || /\s/.test(line[i - 1]))) return line.slice(0, i);
  }
  return line;
}

const asMap = (value: Yaml | undefined): YamlMap => {
  if (value === null || value === undefined || typeof value !== 'object' || Array.isArray(value)) throw new Error(`not a map: ${JSON.stringify(value)}`);
  return value;
};
const asList = (value: Yaml | undefined): Yaml[] => {
  if (!Array.isArray(value)) throw new Error(`not a list: ${JSON.stringify(value)}`);
  return value;
};

// ---------------------------------------------------------------------------------------------
// What the checks compare against.

const dockerfile = parseDockerfile(read('Dockerfile'));
const image = new Image(dockerfile);
const cpu = image.stage('cpu');
const gpu = image.stage('gpu');
const finals = [cpu, gpu];
const excluded = dockerignore(read('.dockerignore'));
const pkg = JSON.parse(read('package.json')) as {
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
  engines: { node: string };
  allowScripts: Record<string, boolean>;
};

/** The install line of .ci/run. */
const CI_INSTALL = (() => {
  const lines = read('.ci/run')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => /^npm (ci|install)\b/.test(l));
  if (lines.length !== 1) throw new Error(`.ci/run should install once, with npm ci; found ${JSON.stringify(lines)}`);
  return lines[0];
})();

/** The settings the service reads (keys of src/config.ts's schema). */
const CONFIG_KEYS = new Set([...read('src/config.ts').matchAll(/^\s{2}([A-Z][A-Z0-9_]+):/gm)].map((m) => m[1]));

const npmInstalls = (stage: Stage): string[] => image.commands(stage).filter((c) => /^npm (ci|install|i)\b/.test(c));

/** The stage a final image copies a folder of /app from (`COPY --from=<stage> /app/<folder>`). */
function copiedFrom(stage: Stage, folder: string): Stage {
  const copy = stage.instructions.find((ins) => ins.keyword === 'COPY' && ins.flags.from && shellWords(ins.args)[0] === `/app/${folder}`);
  if (!copy) throw new Error(`stage ${stage.name} copies no /app/${folder} from another stage`);
  return image.stage(copy.flags.from.toLowerCase());
}
const modulesStage = (stage: Stage): Stage => copiedFrom(stage, 'node_modules');

// ---------------------------------------------------------------------------------------------

describe('Dockerfile: stages and base images', () => {
  it('parses into known instructions and uniquely named stages', () => {
    const known = ['FROM', 'RUN', 'CMD', 'LABEL', 'EXPOSE', 'ENV', 'ADD', 'COPY', 'ENTRYPOINT', 'VOLUME', 'USER', 'WORKDIR', 'ARG', 'ONBUILD', 'STOPSIGNAL', 'HEALTHCHECK', 'SHELL'];
    for (const stage of dockerfile.stages) for (const ins of stage.instructions) expect(known, `line ${ins.line}`).toContain(ins.keyword);
    const names = dockerfile.stages.map((s) => s.name);
    expect(names.every((n) => n !== undefined)).toBe(true);
    expect(new Set(names).size).toBe(names.length);
    expect(dockerfile.directives.syntax).toMatch(/^docker\/dockerfile:1/);
  });

  it('builds the CPU image by default (the last stage) and the GPU one with --target gpu', () => {
    expect(dockerfile.stages.at(-1)?.name).toBe('cpu');
    expect(gpu.index).toBeLessThan(cpu.index);
  });

  it('bases the CPU image on Node 24 LTS bookworm-slim, which engines admits as it admits the Node 20 CI runs', () => {
    const base = image.baseImage(cpu);
    const m = /^node:24(?:\.\d+){0,2}-bookworm-slim(?:@sha256:[0-9a-f]{64})?$/.exec(base);
    expect(m, base).not.toBeNull();
    const minimum = /^>=\s*(\d+)\.(\d+)$/.exec(pkg.engines.node);
    expect(minimum, pkg.engines.node).not.toBeNull();
    const admits = (version: string): boolean => {
      const [major, minor] = version.split('.').map(Number);
      return major > Number(minimum?.[1]) || (major === Number(minimum?.[1]) && minor >= Number(minimum?.[2]));
    };
    expect(admits('24.0.0')).toBe(true);
    expect(admits(process.versions.node), `engines ${pkg.engines.node} and this Node, ${process.versions.node}`).toBe(true);
    expect(admits('20.19.0')).toBe(true);
  });

  it('bases the GPU image on NVIDIA CUDA 12 with cuDNN (runtime), running the same Node as the CPU image', () => {
    expect(image.baseImage(gpu)).toMatch(/^nvidia\/cuda:12\.\d+\.\d+-cudnn(?:9)?-runtime-ubuntu\d\d\.04(?:@sha256:[0-9a-f]{64})?$/);
    const nodeCopy = gpu.instructions.find((ins) => ins.keyword === 'COPY' && ins.args.startsWith('/usr/local/bin/node '));
    expect(nodeCopy?.flags.from).toBeDefined();
    expect(image.baseImage(image.stage(nodeCopy?.flags.from ?? ''))).toBe(image.baseImage(cpu));
  });

  it('names every image with a tag, never latest, and every COPY --from an earlier stage', () => {
    for (const stage of dockerfile.stages) {
      const isStage = dockerfile.stages.some((s) => s.index < stage.index && s.name === stage.from);
      if (!isStage) expect(stage.from, `stage ${stage.name}`).toMatch(/^[a-z0-9./_-]+:(?!latest\b)[\w.-]+(@sha256:[0-9a-f]{64})?$/);
      for (const ins of stage.instructions.filter((x) => x.keyword === 'COPY' && x.flags.from)) {
        expect(
          dockerfile.stages.some((s) => s.index < stage.index && s.name === ins.flags.from),
          `line ${ins.line}`,
        ).toBe(true);
      }
    }
    expect(dockerfile.stages.flatMap((s) => s.instructions).filter((ins) => ins.keyword === 'ADD')).toEqual([]);
  });
});

describe('Dockerfile: npm install, the same as CI', () => {
  it('.ci/run installs with npm ci, and package.json\'s allowScripts denies onnxruntime-node\'s CUDA download', () => {
    expect(CI_INSTALL).toMatch(/^npm ci\b/);
    expect(pkg.allowScripts['onnxruntime-node']).toBe(false);
  });

  it('the CPU image\'s node_modules are installed with exactly .ci/run\'s command, then rid of dev dependencies', () => {
    const modules = modulesStage(cpu);
    expect(npmInstalls(modules)).toEqual([CI_INSTALL]);
    const commands = image.commands(modules);
    const prune = commands.findIndex((c) => /^npm prune\b.*--omit=dev\b/.test(c));
    expect(prune).toBeGreaterThan(commands.indexOf(CI_INSTALL));
  });

  it('the GPU image\'s node_modules are installed with .ci/run\'s command, get CUDA as README.md says, then are rid of dev dependencies', () => {
    const modules = modulesStage(gpu);
    expect(npmInstalls(modules)).toEqual([CI_INSTALL]);
    const commands = image.commands(modules);
    const cuda = /^ONNXRUNTIME_NODE_INSTALL=cuda12 node node_modules\/onnxruntime-node\/script\/install\.js$/m.exec(read('README.md'))?.[0];
    expect(cuda, 'the GPU command in README.md').toBeDefined();
    expect(commands.indexOf(cuda ?? '')).toBeGreaterThan(commands.indexOf(CI_INSTALL));
    expect(commands.some((c) => /^npm prune\b.*--omit=dev\b/.test(c))).toBe(true);
    // The build stops when the CUDA provider did not arrive.
    expect(commands).toContain('test -f node_modules/onnxruntime-node/bin/napi-v6/linux/x64/libonnxruntime_providers_cuda.so');
  });

  it('installs from the lockfile with the project\'s .npmrc in place', () => {
    for (const final of finals) {
      for (const stage of image.feeding(final)) {
        const install = stage.instructions.findIndex((ins) => ins.keyword === 'RUN' && /\bnpm ci\b/.test(ins.args));
        if (install < 0) continue;
        const copied = stage.instructions
          .slice(0, install)
          .filter((ins) => ins.keyword === 'COPY' && !ins.flags.from)
          .flatMap((ins) => shellWords(ins.args).slice(0, -1));
        expect(copied, `stage ${stage.name}`).toEqual(expect.arrayContaining(['package.json', 'package-lock.json', '.npmrc']));
      }
    }
  });

  it('builds dist/ in a stage of its own with `npm run build`, from the sources alone, and the images copy only dist/', () => {
    const build = copiedFrom(cpu, 'dist');
    expect(copiedFrom(gpu, 'dist')).toBe(build);
    expect(image.commands(build).at(-1)).toBe('npm run build');
    const sources = build.instructions.filter((ins) => ins.keyword === 'COPY' && !ins.flags.from).flatMap((ins) => shellWords(ins.args).slice(0, -1));
    expect(sources.sort()).toEqual(['adapters', 'scripts', 'src', 'tsconfig.build.json', 'tsconfig.json']);
  });
});

describe('Dockerfile: the running images', () => {
  it.each(finals.map((s) => [s.name, s] as const))('%s: runs as a non-root user', (_name, stage) => {
    const user = image.last(stage, 'USER')?.args.split(':')[0];
    expect(user).toBeDefined();
    expect(['root', '0', '']).not.toContain(user);
    // An image not based on node's must create the user, with the node image's uid (1000).
    if (!image.baseImage(stage).startsWith('node:')) {
      expect(image.commands(stage).some((c) => c.startsWith('useradd') && c.includes('--uid 1000') && c.endsWith(` ${user}`))).toBe(true);
    }
  });

  it.each(finals.map((s) => [s.name, s] as const))('%s: models/ and data/ are volumes the service user owns, with MODEL_DIR and DATA_DIR in them', (_name, stage) => {
    const models = path.posix.join(image.workdir(stage), 'models');
    const data = path.posix.join(image.workdir(stage), 'data');
    const volume = stage.instructions.find((ins) => ins.keyword === 'VOLUME');
    const user = image.last(stage, 'USER')?.args.split(':')[0] ?? '';
    const at = stage.instructions.indexOf(volume as Instruction);
    for (const dir of [models, data]) {
      expect(volume?.exec ?? shellWords(volume?.args ?? '')).toContain(dir);
      // Docker discards changes to a volume's path made after VOLUME: the chown must come first.
      const chown = stage.instructions.findIndex((ins) => ins.keyword === 'RUN' && shellCommands(ins).some((c) => c.startsWith(`chown ${user}`) && c.endsWith(dir)));
      expect(chown).toBeGreaterThanOrEqual(0);
      expect(chown).toBeLessThan(at);
    }
    const after = stage.instructions.slice(at + 1).filter((ins) => ins.keyword === 'RUN' || ins.keyword === 'COPY');
    expect(after).toEqual([]);
    expect(path.posix.dirname(image.env(stage).MODEL_DIR)).toBe(models);
    expect(image.env(stage).DATA_DIR).toBe(data);
  });

  it.each(finals.map((s) => [s.name, s] as const))('%s: EXPOSE 8789, and HOST/PORT make the service listen there', (_name, stage) => {
    expect(image.inherited(stage, 'EXPOSE').flatMap((ins) => ins.args.split(/\s+/))).toEqual(['8789']);
    expect(image.env(stage)).toMatchObject({ HOST: '0.0.0.0', PORT: '8789' });
  });

  it.each(finals.map((s) => [s.name, s] as const))('%s: ffmpeg from the distribution, installed lean, at FFMPEG_PATH', (_name, stage) => {
    const installs = image.ancestry(stage).flatMap((s) => s.instructions.filter((ins) => ins.keyword === 'RUN' && /apt-get install/.test(ins.args)));
    expect(installs.length).toBeGreaterThan(0);
    for (const ins of installs) {
      const install = shellCommands(ins).find((c) => /apt-get install/.test(c)) ?? '';
      expect(install).toMatch(/ -y /);
      expect(install).toMatch(/--no-install-recommends/);
      expect(shellCommands(ins)).toContain('rm -rf /var/lib/apt/lists/*');
    }
    expect(installs.some((ins) => / ffmpeg\b/.test(ins.args))).toBe(true);
    expect(image.env(stage).FFMPEG_PATH).toBe('/usr/bin/ffmpeg');
  });

  it('runs on the CPU in the CPU image and on CUDA in the GPU image', () => {
    expect(image.env(cpu).DEVICE).toBe('cpu');
    expect(image.env(gpu).DEVICE).toBe('cuda');
  });

  it.each(finals.map((s) => [s.name, s] as const))('%s: every ENV is a setting of the service (or NODE_ENV) and is explained by the comment above it', (_name, stage) => {
    const envs = stage.instructions.filter((ins) => ins.keyword === 'ENV');
    expect(envs.length).toBeGreaterThan(0);
    for (const ins of envs) {
      for (const [key] of envPairs(ins)) {
        expect(key === 'NODE_ENV' || CONFIG_KEYS.has(key), `${key} (line ${ins.line})`).toBe(true);
        expect(ins.comments.join('\n'), `${key} (line ${ins.line})`).toMatch(new RegExp(`\\b${key}\\b`));
      }
    }
    expect(image.env(stage).NODE_ENV).toBe('production');
  });

  it.each(finals.map((s) => [s.name, s] as const))('%s: CMD starts node itself (exec form, no npm, no shell), and SIGTERM stops it', (_name, stage) => {
    const cmd = image.last(stage, 'CMD');
    expect(cmd?.exec).toEqual(['node', 'dist/src/main.js']);
    expect(image.inherited(stage, 'ENTRYPOINT')).toEqual([]);
    expect(image.last(stage, 'STOPSIGNAL')?.args).toBe('SIGTERM');
  });

  it.each(finals.map((s) => [s.name, s] as const))('%s: HEALTHCHECK asks /healthz with node, with a start period for the first model download', (_name, stage) => {
    const check = image.last(stage, 'HEALTHCHECK');
    expect(check?.args.startsWith('CMD ')).toBe(true);
    const argv = execForm(check?.args.slice(4).trim() ?? '');
    expect(argv?.[0]).toBe('node');
    expect(argv?.join(' ')).toContain('/healthz');
    const flags = check?.flags ?? {};
    expect(seconds(flags['start-period'])).toBeGreaterThanOrEqual(300);
    expect(seconds(flags.timeout)).toBeLessThan(seconds(flags.interval));
  });

  it.each(finals.map((s) => [s.name, s] as const))('%s: copies what the compiled service loads (package.json, node_modules, bin/, dist/) and no source', (_name, stage) => {
    const workdir = image.workdir(stage);
    const destinations = image.inherited(stage, 'COPY').flatMap((ins) => {
      const words = ins.exec ?? shellWords(ins.args);
      const target = words.at(-1) ?? '';
      const dest = path.posix.resolve(workdir, target);
      // Several sources, or a destination ending in `/`: each goes into that folder by its name.
      return words.length > 2 || target.endsWith('/') ? words.slice(0, -1).map((src) => path.posix.join(dest, path.posix.basename(src))) : [dest];
    });
    for (const needed of ['package.json', 'node_modules', 'bin', 'dist']) expect(destinations).toContain(path.posix.join(workdir, needed));
    for (const source of ['src', 'adapters', 'test', 'bench', 'testkit', 'scripts']) expect(destinations).not.toContain(path.posix.join(workdir, source));
  });
});

describe('Dockerfile and .dockerignore: the build context', () => {
  const copies = dockerfile.stages.flatMap((s) => s.instructions.filter((ins) => ins.keyword === 'COPY' && !ins.flags.from));

  it('every COPY source exists in the repository and is sent to the builder', () => {
    expect(copies.length).toBeGreaterThan(0);
    for (const ins of copies) {
      const words = ins.exec ?? shellWords(ins.args);
      for (const source of words.slice(0, -1)) {
        const full = path.join(ROOT, source);
        expect(existsSync(full), `${source} (line ${ins.line})`).toBe(true);
        expect(excluded(source), `${source} is excluded by .dockerignore (line ${ins.line})`).toBe(false);
        if (statSync(full).isDirectory()) {
          const files = filesUnder(source);
          expect(files.length).toBeGreaterThan(0);
          expect(files.filter(excluded), `files of ${source} excluded by .dockerignore`).toEqual([]);
        }
      }
    }
  });

  it('keeps secrets, weights, installed modules and local output out of the context', () => {
    for (const file of [
      '.env',
      '.env.production',
      'node_modules/fastify/package.json',
      'models/wav2vec2-base-vietnamese-160h/model.onnx',
      'models/wav2vec2-base-vietnamese-160h/.download/abc/model.safetensors',
      '.git/HEAD',
      'test-output/tone-model/model.onnx',
      '.cache/bench-base-model/model.onnx',
      'scratch/svc.log',
      'coverage/index.html',
      'src/debug.log',
    ]) {
      expect(excluded(file), file).toBe(true);
    }
    for (const file of ['models/README.md', '.env.example', '.npmrc', 'package-lock.json', 'src/main.ts']) expect(excluded(file), file).toBe(false);
  });

  it('the matcher follows Docker\'s rules', () => {
    const match = dockerignore('a/*\n!a/keep\n**/*.tmp\n/b\nc?d\n');
    expect(match('a/x/y')).toBe(true);
    expect(match('a/keep')).toBe(false);
    expect(match('deep/er/f.tmp')).toBe(true);
    expect(match('f.tmp')).toBe(true);
    expect(match('b/c')).toBe(true);
    expect(match('x/b')).toBe(false);
    expect(match('cxd')).toBe(true);
    expect(match('cd')).toBe(false);
  });
});

describe('compose.yaml', () => {
  const compose = asMap(parseYaml(read('compose.yaml')));
  const services = asMap(compose.services);
  const stageNames = dockerfile.stages.map((s) => s.name);
  const entries = Object.entries(services).map(([name, value]) => [name, asMap(value)] as const);
  const gpuServices = entries.filter(([, s]) => asMap(s.build).target === 'gpu');

  it('is read the same by js-yaml, when it is installed', () => {
    let load: ((text: string) => unknown) | undefined;
    try {
      load = (createRequire(import.meta.url)('js-yaml') as { load: (text: string) => unknown }).load;
    } catch {
      load = undefined;
    }
    if (load) expect(parseYaml(read('compose.yaml'))).toEqual(load(read('compose.yaml')));
    expect(Object.keys(services).length).toBeGreaterThan(0);
  });

  it('builds the Dockerfile\'s targets: the CPU service by default, the GPU one under a profile', () => {
    for (const [name, service] of entries) {
      const build = asMap(service.build);
      expect(build.context, name).toBe('.');
      expect(build.dockerfile ?? 'Dockerfile', name).toBe('Dockerfile');
      expect(stageNames, name).toContain(build.target);
    }
    const always = entries.filter(([, s]) => s.profiles === undefined);
    expect(always.map(([, s]) => asMap(s.build).target)).toEqual(['cpu']);
    expect(gpuServices.length).toBe(1);
    expect(asList(gpuServices[0][1].profiles)).toContain('gpu');
  });

  it('reserves an NVIDIA GPU for the GPU service', () => {
    const devices = asList(asMap(asMap(asMap(gpuServices[0][1].deploy).resources).reservations).devices).map(asMap);
    expect(devices.some((d) => d.driver === 'nvidia' && asList(d.capabilities).includes('gpu'))).toBe(true);
  });

  it.each(entries)('%s: port 8789, the models volume, bot tokens from the environment or .env, a restart policy, the image\'s healthcheck', (_name, service) => {
    const stage = image.stage(String(asMap(service.build).target));
    expect(asList(service.ports).map(String)).toContain('8789:8789');
    const models = path.posix.join(image.workdir(stage), 'models');
    const mounts = asList(service.volumes).map(String);
    const named = mounts.find((m) => m.split(':')[1] === models)?.split(':')[0];
    expect(named).toBeDefined();
    expect(Object.keys(asMap(compose.volumes))).toContain(named);

    const envFiles = asList(service.env_file).map((e) => (typeof e === 'string' ? e : String(asMap(e).path)));
    expect(envFiles).toContain('.env');
    const environment = asMap(service.environment);
    for (const token of ['TELEGRAM_BOT_TOKEN', 'DISCORD_BOT_TOKEN']) expect(String(environment[token])).toMatch(new RegExp(`^\\$\\{${token}(:-)?\\}$`));
    for (const key of Object.keys(environment)) expect(CONFIG_KEYS.has(key), key).toBe(true);
    expect(String(environment.PORT ?? '8789')).toBe('8789');

    expect(['always', 'unless-stopped', 'on-failure']).toContain(service.restart);
    expect(service.healthcheck).toBeUndefined();
  });
});

// ---------------------------------------------------------------------------------------------
// The image, assembled here as the Dockerfile assembles it, and its own commands run in it: the
// build stage's command on a folder holding only what that stage copies (so a source that needs
// anything else, testkit/ included, fails to build), then the final stage's /app: the context
// files it copies, dist/ from the build, and node_modules as `npm prune --omit=dev` leaves it (a
// link to each package of this checkout that the lockfile does not mark dev). The CMD with the
// image's ENV (container-only values swapped for this machine's) starts the service, the
// HEALTHCHECK sees it, and SIGTERM stops it cleanly.

/** Copies what a COPY instruction without --from takes from the context into `dir` (its WORKDIR). */
async function copyFromContext(ins: Instruction, workdir: string, dir: string): Promise<void> {
  const words = ins.exec ?? shellWords(ins.args);
  const target = words.at(-1) ?? '';
  const dest = path.join(dir, path.posix.relative(workdir, path.posix.resolve(workdir, target)));
  const intoFolder = words.length > 2 || target.endsWith('/');
  for (const source of words.slice(0, -1)) {
    const from = path.join(ROOT, source);
    // As Docker copies: a folder's contents go to the destination; a file into it when it is a folder.
    const to = statSync(from).isDirectory() || !intoFolder ? dest : path.join(dest, path.basename(source));
    await mkdir(path.dirname(to), { recursive: true });
    await cp(from, to, { recursive: true });
  }
}

interface AssembledImage {
  /** The image's /app. */
  app: string;
  /** What the build printed. */
  buildLog: string;
}

let assembling: Promise<AssembledImage> | undefined;

/** The CPU image's /app, assembled once per run of this file. */
function assembledImage(): Promise<AssembledImage> {
  assembling ??= (async () => {
    const root = await mkdtemp(path.join(os.tmpdir(), 'image-'));
    const build = copiedFrom(cpu, 'dist');
    const buildDir = path.join(root, 'build');
    for (const stage of image.ancestry(build)) {
      for (const ins of stage.instructions.filter((x) => x.keyword === 'COPY' && !x.flags.from)) await copyFromContext(ins, image.workdir(build), buildDir);
    }
    await symlink(path.join(ROOT, 'node_modules'), path.join(buildDir, 'node_modules'));
    const buildLog = await new Promise<string>((resolve, reject) => {
      execFile('sh', ['-c', image.commands(build).at(-1) ?? ''], { cwd: buildDir, env: { PATH: process.env.PATH, HOME: process.env.HOME } }, (error, stdout, stderr) =>
        error ? reject(new Error(`the build stage's command failed:\n${stdout}${stderr}`)) : resolve(stdout + stderr),
      );
    });

    const app = path.join(root, 'app');
    for (const ins of cpu.instructions.filter((x) => x.keyword === 'COPY' && !x.flags.from)) await copyFromContext(ins, image.workdir(cpu), app);
    await cp(path.join(buildDir, 'dist'), path.join(app, 'dist'), { recursive: true });
    const lock = JSON.parse(read('package-lock.json')) as { packages: Record<string, { dev?: boolean }> };
    for (const [at, entry] of Object.entries(lock.packages)) {
      if (!/^node_modules\/(?:@[^/]+\/)?[^/@][^/]*$/.test(at) || entry.dev || !existsSync(path.join(ROOT, at))) continue;
      await mkdir(path.dirname(path.join(app, at)), { recursive: true });
      await symlink(path.join(ROOT, at), path.join(app, at));
    }
    return { app, buildLog };
  })();
  return assembling;
}

/** Every file under `dir`, relative to it, `/`-separated, without following links. */
async function filesIn(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries.filter((e) => e.isFile()).map((e) => path.relative(dir, path.join(e.parentPath, e.name)).split(path.sep).join('/'));
}

function healthcheck(stage: Stage, port: number): Promise<number> {
  const argv = execForm(image.last(stage, 'HEALTHCHECK')?.args.slice(4).trim() ?? '') ?? [];
  return new Promise((resolve) => {
    execFile(process.execPath, argv.slice(1), { env: { PATH: process.env.PATH, PORT: String(port) }, timeout: 15_000 }, (error) =>
      resolve(error ? (typeof error.code === 'number' ? error.code : 1) : 0),
    );
  });
}

async function stubServer(status: number): Promise<{ port: number; close(): Promise<void> }> {
  const server = http.createServer((_req, res) => res.writeHead(status, { 'content-type': 'application/json' }).end('{}'));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { port: (server.address() as AddressInfo).port, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

/** The top-level folders that the relative imports of the .ts files under `dir` reach. */
function foldersImportedFrom(dir: string): Map<string, string> {
  const reached = new Map<string, string>();
  for (const file of filesUnder(dir).filter((f) => f.endsWith('.ts'))) {
    for (const m of read(file).matchAll(/(?:from\s+|import\(\s*)['"](\.{1,2}\/[^'"]+)['"]/g)) {
      reached.set(path.posix.normalize(path.posix.join(path.posix.dirname(file), m[1])).split('/')[0], file);
    }
  }
  return reached;
}

describe('what ships and what is shared', () => {
  it('the service (src/, adapters/) imports nothing from test/, bench/ or testkit/', () => {
    const reached = new Map([...foldersImportedFrom('src'), ...foldersImportedFrom('adapters')]);
    for (const folder of ['test', 'bench', 'testkit']) expect(reached.get(folder), `imported from ${folder}/ by ${reached.get(folder)}`).toBeUndefined();
  });

  it('the benchmarks import nothing from test/: what both need is in testkit/', () => {
    const reached = foldersImportedFrom('bench');
    expect(reached.get('test'), `imported from test/ by ${reached.get('test')}`).toBeUndefined();
    expect(reached.has('testkit')).toBe(true);
  });
});

describe('the image, assembled here', () => {
  it('holds the service compiled from src/ and adapters/ and no test double: nothing of test/, bench/ or testkit/', async () => {
    const { app } = await assembledImage();
    const files = (await filesIn(app)).filter((f) => !f.startsWith('node_modules/'));
    expect(files).toContain('dist/src/main.js');
    expect(files).toContain('dist/src/core/inference-worker.js');
    expect(files).toContain('dist/src/http/public/index.html');
    for (const file of files) expect(file, file).toMatch(/^(package\.json|bin\/[^/]+|dist\/\.tsbuildinfo|dist\/(src|adapters)\/.+)$/);
    expect(files.filter((f) => /tone|random-weights|testkit|\.ts$/.test(f))).toEqual([]);
    // The bootstrap that loads TypeScript workers through tsx is for the sources only.
    expect(files).not.toContain('dist/src/core/worker-bootstrap.mjs');
  });

  it('the compiled service imports only production dependencies, and tsx is a dev one', async () => {
    const { app } = await assembledImage();
    expect(Object.keys(pkg.dependencies)).not.toContain('tsx');
    expect(Object.keys(pkg.devDependencies)).toContain('tsx');
    const imported = new Set<string>();
    for (const file of (await filesIn(path.join(app, 'dist'))).filter((f) => f.endsWith('.js'))) {
      const text = await readFile(path.join(app, 'dist', file), 'utf8');
      for (const m of text.matchAll(/^(?:import|export)\b[^'"]*?from\s+['"]([^'"]+)['"]|\bimport\(\s*['"]([^'"]+)['"]\s*\)|^import\s+['"]([^'"]+)['"]/gm)) {
        const spec = m[1] ?? m[2] ?? m[3];
        if (spec.startsWith('.') || spec.startsWith('node:')) continue;
        imported.add(spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]);
      }
    }
    expect(imported.size).toBeGreaterThan(5);
    for (const name of imported) expect(pkg.dependencies, `${name} is imported by the service`).toHaveProperty([name]);
  });

  it('the HEALTHCHECK fails on a non-2xx answer and when nothing listens', async () => {
    const stub = await stubServer(503);
    try {
      expect(await healthcheck(cpu, stub.port)).toBe(1);
    } finally {
      await stub.close();
    }
    expect(await healthcheck(cpu, stub.port)).toBe(1);
  });

  it('the CMD serves with the image\'s settings, passes the HEALTHCHECK, and exits 0 on SIGTERM', async () => {
    const { app } = await assembledImage();
    const argv = image.last(cpu, 'CMD')?.exec ?? [];
    const env: Record<string, string> = {
      ...image.env(cpu),
      // Container-only values, swapped for this machine's.
      HOST: '127.0.0.1',
      PORT: '0',
      MODEL_DIR: TONE_MODEL_DIR,
      MODEL_AUTO_FETCH: 'false',
      DATA_DIR: path.join(os.tmpdir(), 'image-data'),
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '',
      TMPDIR: os.tmpdir(),
      DOTENV_CONFIG_PATH: path.join(ROOT, 'test-output', 'no-such.env'),
    };
    if (!existsSync(env.FFMPEG_PATH)) env.FFMPEG_PATH = resolveFfmpegPath(undefined);
    const child = spawn(process.execPath, argv.slice(1), { cwd: app, env, stdio: ['ignore', 'pipe', 'pipe'] });
    const exit = once(child, 'exit').then(([code, signal]) => ({ code: code as number | null, signal: signal as NodeJS.Signals | null }));
    let output = '';
    try {
      const url = await new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no "listening" in 30 s:\n${output}`)), 30_000);
        const onData = (chunk: Buffer): void => {
          output += chunk.toString();
          // Whole lines only: a chunk may end inside one.
          for (const line of output.split('\n').slice(0, -1)) {
            if (!line.startsWith('{')) continue;
            const entry = JSON.parse(line) as { msg?: string; url?: string };
            if (entry.msg === 'listening' && entry.url) {
              clearTimeout(timer);
              resolve(entry.url);
            }
          }
        };
        child.stdout.on('data', onData);
        child.stderr.on('data', onData);
        void exit.then(({ code }) => {
          clearTimeout(timer);
          reject(new Error(`exited with ${code} before listening:\n${output}`));
        });
      });
      const port = Number(new URL(url).port);
      const health = (await (await fetch(`${url}/healthz`)).json()) as { status: string; device: string };
      expect(health).toMatchObject({ status: 'ok', device: 'cpu' });
      expect(await healthcheck(cpu, port)).toBe(0);
      // The page's files came along with the compiled modules.
      const page = await fetch(`${url}/`);
      expect(page.status).toBe(200);
      expect(await page.text()).toContain('<html');
      // The inference worker, compiled too, transcribes.
      const form = new FormData();
      form.append('file', new Blob([new Uint8Array(await speech('xin chào'))]), 'a.wav');
      const answer = await fetch(`${url}/wav2vec2`, { method: 'POST', body: form });
      expect(((await answer.json()) as { transcript: string }).transcript).toBe('xin chào');

      child.kill('SIGTERM');
      const ended = await Promise.race([exit, new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), 15_000))]);
      expect(ended, output).toEqual({ code: 0, signal: null });
      expect(await healthcheck(cpu, port)).toBe(1);
      // No TypeScript loader ran: tsx would have left its cache in TMPDIR.
      expect((await readdir(os.tmpdir())).filter((name) => name.startsWith('tsx-'))).toEqual([]);
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
  });

  it('its viet-stt command runs the compiled CLI, without tsx', async () => {
    const { app } = await assembledImage();
    const wav = path.join(os.tmpdir(), 'cli.wav');
    await writeFile(wav, await speech('một hai ba'));
    const run = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      execFile(
        process.execPath,
        ['bin/viet-stt.js', 'transcribe', wav],
        { cwd: app, env: { PATH: process.env.PATH, HOME: process.env.HOME, TMPDIR: os.tmpdir(), MODEL_DIR: TONE_MODEL_DIR, MODEL_AUTO_FETCH: 'false', DEVICE: 'cpu' } },
        (error, stdout, stderr) => resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr }),
      );
    });
    expect(run.stderr).not.toMatch(/tsx|Cannot find/);
    expect(run, run.stderr).toMatchObject({ code: 0, stdout: 'một hai ba\n' });
  });
});
