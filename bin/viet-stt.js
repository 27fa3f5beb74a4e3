#!/usr/bin/env node
// The viet-stt command: runs the TypeScript CLI through tsx (a runtime dependency).
import { register } from 'tsx/esm/api';

register();
const { runCli } = await import('../src/cli.ts');
await import('dotenv/config');
process.exit(await runCli(process.argv.slice(2)));
