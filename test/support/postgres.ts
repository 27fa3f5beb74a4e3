import { execFile } from 'node:child_process';
import { chown, mkdtemp, rm } from 'node:fs/promises';
import { existsSync, readdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { freePort } from '../../testkit/free-port.js';

const run = promisify(execFile);

/** A PostgreSQL server the test started itself, on a free port, with its cluster in a temp dir. */
export interface TestPostgres {
  /** The `postgres` database: postgres://postgres@127.0.0.1:<port>/postgres (trust auth, no password). */
  url: string;
  /** A new, empty database on this server, for a test that wants one of its own. */
  createDatabase(): Promise<string>;
  /** Stops the server and removes its folder. */
  stop(): Promise<void>;
}

/** The folder with initdb and pg_ctl: Debian's postgresql package, or POSTGRES_BIN. */
function postgresBin(): string {
  const configured = process.env.POSTGRES_BIN;
  if (configured) {
    if (!existsSync(path.join(configured, 'initdb'))) throw new Error(`POSTGRES_BIN=${configured} holds no initdb. Point it at PostgreSQL's bin folder.`);
    return configured;
  }
  // Newest major version first, so a machine with two picks the one CI installs.
  const root = '/usr/lib/postgresql';
  const found = (existsSync(root) ? readdirSync(root) : [])
    .filter((version) => existsSync(path.join(root, version, 'bin', 'initdb')))
    .sort((a, b) => Number(b) - Number(a))
    .map((version) => path.join(root, version, 'bin'));
  if (found.length === 0) {
    throw new Error(
      'The store tests need PostgreSQL and found no /usr/lib/postgresql/*/bin/initdb. ' +
        "Install Debian's: `apt-get update && apt-get install -y postgresql`, or set POSTGRES_BIN=/path/to/bin.",
    );
  }
  return found[0];
}

/**
 * initdb refuses to run as root, so as root the cluster belongs to the `postgres` user and every
 * server command runs as it. Its uid and gid come from the system's own lookup.
 */
async function serverUser(): Promise<{ uid: number; gid: number } | undefined> {
  if (process.getuid?.() !== 0) return undefined;
  try {
    const [uid, gid] = await Promise.all([run('id', ['-u', 'postgres']), run('id', ['-g', 'postgres'])]);
    return { uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) };
  } catch (error) {
    throw new Error("Running as root, the store tests need the `postgres` user to own the test cluster; Debian's postgresql package creates it.", {
      cause: error,
    });
  }
}

/**
 * initdb into a fresh temp dir, then `pg_ctl start` on a free port with its unix socket inside
 * that dir, durability switched off (a test's data dies with it, and fsync is most of the start
 * time). Share one per test file (beforeAll/afterAll) and take a database per test.
 */
export async function startPostgres(): Promise<TestPostgres> {
  const bin = postgresBin();
  const user = await serverUser();
  // The per-file TMPDIR is private to root (0700), which the postgres user cannot enter.
  const dir = await mkdtemp(path.join(user ? '/tmp' : os.tmpdir(), 'stt-postgres-'));
  const data = path.join(dir, 'data');
  if (user) await chown(dir, user.uid, user.gid);
  const as = user ? { uid: user.uid, gid: user.gid } : {};
  const port = await freePort();
  const options = [
    `-p ${port}`,
    '-c listen_addresses=127.0.0.1',
    `-c unix_socket_directories=${dir}`,
    '-c fsync=off',
    '-c synchronous_commit=off',
    '-c full_page_writes=off',
    '-c max_connections=50',
  ].join(' ');
  try {
    await run(path.join(bin, 'initdb'), ['-D', data, '-U', 'postgres', '-A', 'trust', '-E', 'UTF8', '--locale=C.UTF-8', '--no-sync'], { ...as, cwd: dir });
    await run(path.join(bin, 'pg_ctl'), ['start', '-D', data, '-w', '-t', '30', '-l', path.join(dir, 'server.log'), '-o', options], {
      ...as,
      cwd: dir,
      timeout: 40_000,
    });
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw new Error('PostgreSQL did not start for the test', { cause: error });
  }

  const base = `postgres://postgres@127.0.0.1:${port}`;
  let databases = 0;
  return {
    url: `${base}/postgres`,
    async createDatabase() {
      const name = `test_${++databases}`;
      const client = new pg.Client({ connectionString: `${base}/postgres` });
      await client.connect();
      try {
        await client.query(`CREATE DATABASE ${name} TEMPLATE template0 ENCODING 'UTF8'`);
      } finally {
        await client.end();
      }
      return `${base}/${name}`;
    },
    async stop() {
      try {
        await run(path.join(bin, 'pg_ctl'), ['stop', '-D', data, '-m', 'immediate', '-w', '-t', '30'], { ...as, cwd: dir, timeout: 40_000 });
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    },
  };
}
