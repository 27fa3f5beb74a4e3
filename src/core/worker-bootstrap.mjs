// Loads a TypeScript worker module through tsx. Used only when the service runs from its
// TypeScript sources (npm start, tests); the worker's path comes in workerData.entry.
import { workerData } from 'node:worker_threads';
import { tsImport } from 'tsx/esm/api';

await tsImport(workerData.entry, import.meta.url);
