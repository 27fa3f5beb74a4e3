// Loads a TypeScript worker module through tsx, when the service runs from its TypeScript
// sources (the tests, the CLI in a source checkout); the worker's path comes in
// workerData.entry. Compiled (dist/, `npm start`, the Docker image), the pool starts the .js
// worker itself, and the build leaves this file out, so nothing compiled needs tsx.
import { workerData } from 'node:worker_threads';
import { tsImport } from 'tsx/esm/api';

await tsImport(workerData.entry, import.meta.url);
