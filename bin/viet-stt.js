#!/usr/bin/env node
// The viet-stt command: runs the TypeScript CLI through tsx (a runtime dependency).
import { register } from 'tsx/esm/api';

register();
const { runCli } = await import('../src/cli.ts');
await import('dotenv/config');
try {
  process.exit(await runCli(process.argv.slice(2)));
} catch (error) {
  // One line, never a stack: whatever went wrong is said in its message.
  process.stderr.write(`viet-stt: ${error instanceof Error ? error.message.split('\n')[0] : String(error)}\n`);
  process.exit(1);
}
